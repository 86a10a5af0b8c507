"""An independent test PKI made by the openssl command line.

govsign's own demo CA (:mod:`govsign.pki.demo`) is built with the same
library govsign verifies with, so a bug shared by both would go unseen.
This PKI is made only by ``openssl req``, ``openssl ca`` and ``openssl
ca -gencrl``: a root, an intermediate ("issuing") CA and end-entity
certificates with the S/MIME profile of RFC 8550 (keyUsage,
extendedKeyUsage emailProtection, SAN rfc822Name), plus CRLs.

Everything lives in one directory; nothing is fetched or served.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from tests.peers import run_tool

__all__ = ["OpensslPKI", "Leaf", "openssl_time"]

_CA_CONFIG = """\
[ ca ]
default_ca = CA_default

[ CA_default ]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
crlnumber = $dir/crlnumber
certificate = $dir/ca.pem
private_key = $dir/ca.key
default_md = sha256
default_days = 365
default_crl_days = 30
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no
utf8 = yes
string_mask = utf8only
crl_extensions = crl_ext

[ policy_any ]
countryName = optional
organizationName = optional
commonName = supplied
emailAddress = optional

[ req ]
distinguished_name = req_dn
string_mask = utf8only
utf8 = yes

[ req_dn ]

[ v3_root ]
basicConstraints = critical, CA:true, pathlen:1
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ v3_issuing ]
basicConstraints = critical, CA:true, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ crl_ext ]
authorityKeyIdentifier = keyid:always
"""

_LEAF_EXTENSIONS = """\
[ leaf ]
basicConstraints = critical, CA:false
keyUsage = critical, {key_usage}
{eku_line}
subjectAltName = email:{email}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""

_KEY_OPTIONS = {
    "rsa2048": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    "rsa3072": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"],
    "p256": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    "p384": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
    "ed25519": ["-algorithm", "ED25519"],
}


def openssl_time(when: dt.datetime) -> str:
    """``when`` as openssl ca's -startdate/-enddate want it."""
    return when.astimezone(dt.UTC).strftime("%Y%m%d%H%M%SZ")


@dataclass(frozen=True)
class Leaf:
    """An end-entity certificate and its unencrypted PEM key."""

    name: str
    email: str
    key_spec: str
    key: Path
    cert: Path
    chain: Path  # the issuing CA, to ship inside signatures

    def pkcs12(self, path: Path, password: str, nickname: str) -> Path:
        """Export key, certificate and chain as a .p12 (for NSS)."""
        run_tool(
            [
                "openssl",
                "pkcs12",
                "-export",
                "-inkey",
                self.key,
                "-in",
                self.cert,
                "-certfile",
                self.chain,
                "-name",
                nickname,
                "-passout",
                f"pass:{password}",
                "-out",
                path,
            ]
        )
        return path


class _CA:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        (directory / "newcerts").mkdir(parents=True)
        (directory / "index.txt").write_text("")
        (directory / "index.txt.attr").write_text("unique_subject = no\n")
        (directory / "serial").write_text("1000\n")
        (directory / "crlnumber").write_text("01\n")
        self.config = directory / "ca.cnf"
        self.config.write_text(_CA_CONFIG.format(dir=directory))
        self.key = directory / "ca.key"
        self.cert = directory / "ca.pem"
        self.crl = directory / "ca.crl.pem"

    def sign_csr(
        self,
        csr: Path,
        out: Path,
        *,
        extensions: str,
        extfile: Path | None = None,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        days: int = 365,
    ) -> None:
        argv: list[str | Path] = [
            "openssl",
            "ca",
            "-batch",
            "-notext",
            "-utf8",
            "-config",
            self.config,
            "-extensions",
            extensions,
            "-in",
            csr,
            "-out",
            out,
        ]
        if extfile is not None:
            argv += ["-extfile", extfile]
        if start is not None:
            argv += ["-startdate", openssl_time(start)]
        if end is not None:
            argv += ["-enddate", openssl_time(end)]
        else:
            argv += ["-days", str(days)]
        run_tool(argv)

    def gencrl(self) -> Path:
        run_tool(
            [
                "openssl",
                "ca",
                "-config",
                self.config,
                "-gencrl",
                "-crldays",
                "30",
                "-out",
                self.crl,
            ]
        )
        return self.crl

    def revoke(self, cert: Path, reason: str) -> None:
        run_tool(
            [
                "openssl",
                "ca",
                "-config",
                self.config,
                "-revoke",
                cert,
                "-crl_reason",
                reason,
            ]
        )


def _genkey(spec: str, out: Path) -> None:
    run_tool(["openssl", "genpkey", *_KEY_OPTIONS[spec], "-out", out])


class OpensslPKI:
    """Root CA -> issuing CA -> S/MIME leaves, all made by openssl.

    ``label`` goes into the CA names, so two PKIs built side by side (a
    trusted one and a stranger) are told apart in failure messages.
    """

    def __init__(self, directory: Path, label: str = "Interop") -> None:
        self.directory = directory
        self.root = _CA(directory / "root")
        self.issuing = _CA(directory / "issuing")
        self._count = 0

        # The root: self-signed by openssl req -x509.
        _genkey("rsa3072", self.root.key)
        run_tool(
            [
                "openssl",
                "req",
                "-x509",
                "-new",
                "-utf8",
                "-config",
                self.root.config,
                "-extensions",
                "v3_root",
                "-key",
                self.root.key,
                "-sha256",
                "-days",
                "3650",
                "-subj",
                f"/C=VN/O=Ban Cơ yếu {label}/CN={label} Root CA",
                "-out",
                self.root.cert,
            ]
        )

        # The issuing CA, signed by the root with openssl ca.
        _genkey("rsa3072", self.issuing.key)
        csr = self.issuing.dir / "ca.csr"
        run_tool(
            [
                "openssl",
                "req",
                "-new",
                "-utf8",
                "-config",
                self.issuing.config,
                "-key",
                self.issuing.key,
                "-subj",
                f"/C=VN/O=Bộ Nội vụ {label}/CN={label} Issuing CA",
                "-out",
                csr,
            ]
        )
        self.root.sign_csr(
            csr, self.issuing.cert, extensions="v3_issuing", days=1825
        )

    @property
    def trust_file(self) -> Path:
        """The root certificate: the only anchor to trust."""
        return self.root.cert

    @property
    def issuing_cert(self) -> Path:
        return self.issuing.cert

    def issue(
        self,
        name: str,
        email: str,
        *,
        key_spec: str = "rsa2048",
        eku: str | None = "emailProtection",
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
    ) -> Leaf:
        """Issue an S/MIME certificate from the issuing CA.

        ``eku`` is the extendedKeyUsage value (None leaves it out);
        ``start``/``end`` override the default one-year validity.
        """
        self._count += 1
        stem = self.directory / f"leaf{self._count}"
        key, csr, cert = (
            stem.with_suffix(s) for s in (".key", ".csr", ".pem")
        )
        _genkey(key_spec, key)
        run_tool(
            [
                "openssl",
                "req",
                "-new",
                "-utf8",
                "-config",
                self.issuing.config,
                "-key",
                key,
                "-subj",
                f"/C=VN/O=Sở Nội vụ/CN={name}",
                "-out",
                csr,
            ]
        )
        usage = "digitalSignature, nonRepudiation"
        if key_spec.startswith("rsa"):
            usage += ", keyEncipherment"
        extfile = stem.with_suffix(".ext")
        extfile.write_text(
            _LEAF_EXTENSIONS.format(
                key_usage=usage,
                eku_line=f"extendedKeyUsage = {eku}" if eku else "",
                email=email,
            ),
            encoding="utf-8",
        )
        self.issuing.sign_csr(
            csr, cert, extensions="leaf", extfile=extfile, start=start, end=end
        )
        return Leaf(name, email, key_spec, key, cert, self.issuing.cert)

    def revoke(self, leaf: Leaf, reason: str = "keyCompromise") -> None:
        """Revoke ``leaf`` now (openssl ca records the current time)."""
        self.issuing.revoke(leaf.cert, reason)

    def crls(self) -> list[Path]:
        """Issue fresh CRLs of both CAs (PEM) and return their paths."""
        return [self.root.gencrl(), self.issuing.gencrl()]
