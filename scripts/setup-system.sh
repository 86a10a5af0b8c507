#!/usr/bin/env bash
# Install the system packages govsign's tests use as real peers.
# Idempotent: installs only what is missing.  Needs root (or sudo).
set -euo pipefail

packages=(
    openssl          # openssl cms: interop peer
    libnss3-tools    # certutil, cmsutil: NSS, Thunderbird's engine
    gpgsm            # GnuPG's S/MIME tool
    gpg-agent        #   holds gpgsm's secret keys (only recommended)
    softhsm2         # PKCS#11 token for key-source tests
    opensc           # pkcs11-tool
    gcc              # builds the tests' locked-PIN PKCS#11 shim
    libc6-dev        #   (with gcc)
    libp11-kit-dev   #   pkcs11.h for that shim
    postfix          # the gateway's integration tests
    libmilter-dev    # pymilter builds against it
)

missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null |
        grep -q "install ok installed" || missing+=("$pkg")
done
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
# Package lists first, always: an old list can name versions the mirror
# no longer has.
$sudo apt-get update -q
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
