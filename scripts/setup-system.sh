#!/usr/bin/env bash
# Install the system packages govsign's tests use as real peers.
# Idempotent: installs only what is missing.  Needs root (or sudo).
set -euo pipefail

packages=(
    openssl          # openssl cms: interop peer
    libnss3-tools    # certutil, cmsutil: NSS, Thunderbird's engine
    gpgsm            # GnuPG's S/MIME tool
    softhsm2         # PKCS#11 token for key-source tests
    opensc           # pkcs11-tool
    postfix          # the gateway's integration tests
    libmilter-dev    # pymilter builds against it
)

missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null |
        grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
