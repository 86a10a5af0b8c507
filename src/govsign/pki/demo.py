"""A small certificate authority for demonstrations, pilots and tests.

:func:`build_demo_pki` lays down the hierarchy an agency pilot needs: a
government root CA, a ministry intermediate CA, a clerk and an agency-seal
certificate at one agency, and recipients at another, with a CRL per CA and
the keys in password-protected PKCS#12 files.  :class:`CertificateAuthority`
issues further certificates and CRLs, so tests can declare the PKI they
need (revoked signers, expired CAs, EC recipients) instead of shipping it.

Nothing here is fit for production keys: the CA keys live in memory.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from govsign.keys.local import LocalKey, PrivateKey

__all__ = [
    "CertificateAuthority",
    "DemoPKI",
    "KeySpec",
    "build_demo_pki",
    "new_private_key",
    "write_pkcs12",
]

KeySpec = str
"""``"rsa2048"``, ``"rsa3072"``, ``"rsa4096"``, ``"p256"``, ``"p384"`` or
``"ed25519"`` or ``"x25519"`` (encryption only)."""

_ONE_DAY = dt.timedelta(days=1)

SigningKey = (
    rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
)
"""Keys that can sign certificates and CRLs (not X25519)."""


def _signing_key(key: PrivateKey) -> SigningKey:
    if isinstance(key, x25519.X25519PrivateKey):
        raise ValueError("an X25519 key cannot sign")
    return key


def new_private_key(spec: KeySpec) -> PrivateKey:
    """Generate a private key of the kind ``spec`` names."""
    if spec.startswith("rsa"):
        return rsa.generate_private_key(65537, int(spec[3:]))
    curves: dict[str, ec.EllipticCurve] = {
        "p256": ec.SECP256R1(),
        "p384": ec.SECP384R1(),
        "p521": ec.SECP521R1(),
    }
    if spec in curves:
        return ec.generate_private_key(curves[spec])
    if spec == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if spec == "x25519":
        return x25519.X25519PrivateKey.generate()
    raise ValueError(f"unknown key spec {spec!r}")


def _name(
    common_name: str,
    organization: str | None = None,
    email: str | None = None,
) -> x509.Name:
    # TCVN 6909:2001: Vietnamese text is stored precomposed (NFC).
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "VN")]
    if organization:
        attrs.append(
            x509.NameAttribute(
                NameOID.ORGANIZATION_NAME,
                unicodedata.normalize("NFC", organization),
            )
        )
    attrs.append(
        x509.NameAttribute(
            NameOID.COMMON_NAME, unicodedata.normalize("NFC", common_name)
        )
    )
    if email:
        attrs.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, email))
    return x509.Name(attrs)


def _signing_hash(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384 | None:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and (
        key.curve.key_size >= 384
    ):
        return hashes.SHA384()
    return hashes.SHA256()


@dataclass
class CertificateAuthority:
    """A CA whose key is held in memory; issues certificates and CRLs."""

    key: SigningKey
    certificate: x509.Certificate
    crl_url: str | None = None
    ocsp_url: str | None = None
    _next_serial: int = 2
    revoked: dict[int, dt.datetime] = field(default_factory=dict)

    @classmethod
    def new_root(
        cls,
        common_name: str,
        organization: str,
        *,
        key_spec: KeySpec = "rsa3072",
        not_before: dt.datetime,
        not_after: dt.datetime,
    ) -> CertificateAuthority:
        """Create a self-signed root CA."""
        key = _signing_key(new_private_key(key_spec))
        name = _name(common_name, organization)
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(1)
            .not_valid_before(not_before)
            .not_valid_after(not_after)
        )
        builder = _ca_extensions(builder, key, key, path_length=1)
        certificate = builder.sign(key, _signing_hash(key))
        return cls(key=key, certificate=certificate)

    def issue_ca(
        self,
        common_name: str,
        organization: str,
        *,
        key_spec: KeySpec = "rsa3072",
        not_before: dt.datetime,
        not_after: dt.datetime,
    ) -> CertificateAuthority:
        """Issue an intermediate CA certificate below this CA."""
        key = _signing_key(new_private_key(key_spec))
        builder = self._base_builder(
            _name(common_name, organization), key, not_before, not_after
        )
        builder = _ca_extensions(builder, key, self.key, path_length=0)
        certificate = builder.sign(self.key, _signing_hash(self.key))
        return CertificateAuthority(key=key, certificate=certificate)

    def issue_end_entity(
        self,
        common_name: str,
        organization: str,
        email: str,
        *,
        key_spec: KeySpec = "rsa2048",
        encipher: bool = True,
        not_before: dt.datetime,
        not_after: dt.datetime,
        email_in_subject: bool = False,
        key: PrivateKey | None = None,
        eku: Sequence[x509.ObjectIdentifier] = (
            ExtendedKeyUsageOID.EMAIL_PROTECTION,
        ),
    ) -> LocalKey:
        """Issue an S/MIME end-entity certificate and return its key.

        ``encipher`` adds keyEncipherment (RSA) or keyAgreement (EC) so
        the certificate can receive encrypted mail.
        """
        key = key if key is not None else new_private_key(key_spec)
        subject = _name(
            common_name, organization, email if email_in_subject else None
        )
        builder = self._base_builder(subject, key, not_before, not_after)
        is_rsa = isinstance(key, rsa.RSAPrivateKey)
        # X25519 (RFC 8410) can only agree keys, never sign.
        agree_only = isinstance(key, x25519.X25519PrivateKey)
        is_ec = agree_only or isinstance(key, ec.EllipticCurvePrivateKey)
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=not agree_only,
                content_commitment=not agree_only,
                key_encipherment=encipher and is_rsa,
                data_encipherment=False,
                key_agreement=encipher and is_ec,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        if eku:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage(list(eku)), critical=False
            )
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.RFC822Name(email)]),
            critical=False,
        )
        builder = builder.add_extension(
            x509.BasicConstraints(ca=False, path_length=None), critical=True
        )
        certificate = builder.sign(self.key, _signing_hash(self.key))
        return LocalKey(key, certificate, [self.certificate])

    def issue_service(
        self,
        common_name: str,
        organization: str,
        purpose: x509.ObjectIdentifier,
        *,
        key_spec: KeySpec = "rsa2048",
        not_before: dt.datetime,
        not_after: dt.datetime,
    ) -> LocalKey:
        """Issue an OCSP responder or timestamping authority certificate.

        ``purpose`` is ``ExtendedKeyUsageOID.OCSP_SIGNING`` or
        ``ExtendedKeyUsageOID.TIME_STAMPING``; RFC 3161 2.3 wants the
        timeStamping EKU critical and alone, and RFC 6960 4.2.2.2.1 lets a
        delegated responder carry id-pkix-ocsp-nocheck so that its own
        status need not be looked up.
        """
        key = new_private_key(key_spec)
        builder = self._base_builder(
            _name(common_name, organization), key, not_before, not_after
        )
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=(
                    purpose == ExtendedKeyUsageOID.TIME_STAMPING
                ),
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([purpose]),
            critical=purpose == ExtendedKeyUsageOID.TIME_STAMPING,
        )
        builder = builder.add_extension(
            x509.BasicConstraints(ca=False, path_length=None), critical=True
        )
        if purpose == ExtendedKeyUsageOID.OCSP_SIGNING:
            builder = builder.add_extension(x509.OCSPNoCheck(), False)
        certificate = builder.sign(self.key, _signing_hash(self.key))
        return LocalKey(key, certificate, [self.certificate])

    def revoke(self, serial: int, when: dt.datetime) -> None:
        """Mark ``serial`` revoked from ``when`` on, for later CRLs."""
        self.revoked[serial] = when

    def issue_crl(
        self,
        *,
        this_update: dt.datetime,
        next_update: dt.datetime,
        number: int = 1,
    ) -> x509.CertificateRevocationList:
        """Issue a CRL listing every serial revoked so far."""
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(this_update)
            .next_update(next_update)
            .add_extension(x509.CRLNumber(number), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.key.public_key()
                ),
                critical=False,
            )
        )
        for serial, when in sorted(self.revoked.items()):
            if when <= this_update:
                builder = builder.add_revoked_certificate(
                    x509.RevokedCertificateBuilder()
                    .serial_number(serial)
                    .revocation_date(when)
                    .build()
                )
        return builder.sign(self.key, _signing_hash(self.key))

    def _base_builder(
        self,
        subject: x509.Name,
        key: PrivateKey,
        not_before: dt.datetime,
        not_after: dt.datetime,
    ) -> x509.CertificateBuilder:
        serial = self._next_serial
        self._next_serial += 1
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.key.public_key()
                ),
                critical=False,
            )
        )
        if self.crl_url:
            builder = builder.add_extension(
                x509.CRLDistributionPoints(
                    [
                        x509.DistributionPoint(
                            [x509.UniformResourceIdentifier(self.crl_url)],
                            None,
                            None,
                            None,
                        )
                    ]
                ),
                critical=False,
            )
        if self.ocsp_url:
            builder = builder.add_extension(
                x509.AuthorityInformationAccess(
                    [
                        x509.AccessDescription(
                            x509.oid.AuthorityInformationAccessOID.OCSP,
                            x509.UniformResourceIdentifier(self.ocsp_url),
                        )
                    ]
                ),
                critical=False,
            )
        return builder


def _ca_extensions(
    builder: x509.CertificateBuilder,
    key: PrivateKey,
    issuer_key: PrivateKey,
    *,
    path_length: int,
) -> x509.CertificateBuilder:
    builder = builder.add_extension(
        x509.BasicConstraints(ca=True, path_length=path_length),
        critical=True,
    ).add_extension(
        x509.KeyUsage(
            digital_signature=False,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=True,
            crl_sign=True,
            encipher_only=False,
            decipher_only=False,
        ),
        critical=True,
    )
    if key is issuer_key:
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
            critical=False,
        )
    return builder


def write_pkcs12(
    path: Path, key: LocalKey, password: bytes, friendly_name: str
) -> None:
    """Write ``key`` with its certificate and chain as a .p12 file.

    Uses AES-256 and PBKDF2 (not the legacy RC2/3DES encryption), which
    OpenSSL 3, NSS and Windows 10+ read.
    """
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(200_000)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password)
    )
    data = pkcs12.serialize_key_and_certificates(
        friendly_name.encode("utf-8"),
        _signing_key(key.private_key),
        key.certificate,
        list(key.chain),
        encryption,
    )
    path.write_bytes(data)
    path.chmod(0o600)


@dataclass(frozen=True)
class DemoPKI:
    """Paths and objects of a demo hierarchy written by build_demo_pki."""

    directory: Path
    root: CertificateAuthority
    ministry: CertificateAuthority
    clerk: LocalKey
    seal: LocalKey
    recipient: LocalKey
    recipient_ec: LocalKey
    trust_file: Path
    crl_files: tuple[Path, ...]
    p12_files: dict[str, Path]

    @property
    def crls(self) -> tuple[x509.CertificateRevocationList, ...]:
        """The CRLs of both CAs, as written to :attr:`crl_files`."""
        return tuple(
            x509.load_der_x509_crl(p.read_bytes()) for p in self.crl_files
        )


AGENCY_DOMAIN = "snv.demo.gov.vn"
RECIPIENT_DOMAIN = "stc.demo.gov.vn"


def build_demo_pki(
    directory: str | Path,
    password: bytes,
    *,
    now: dt.datetime | None = None,
    crl_base_url: str | None = None,
    ocsp_url: str | None = None,
    end_entity_keys: Iterable[KeySpec] = ("rsa2048",),
) -> DemoPKI:
    """Create the demo hierarchy under ``directory`` and return it.

    Writes ``trust.pem`` (the root, the only anchor to trust),
    ``ministry-ca.pem``, ``root.crl`` and ``ministry.crl`` (DER), and
    ``clerk.p12``, ``seal.p12``, ``recipient.p12``, ``recipient-ec.p12``
    protected by ``password``, with each certificate as ``NAME.pem``.

    ``crl_base_url`` and ``ocsp_url`` put distribution points into the
    issued certificates; by default they carry none, and the CRL files are
    handed to the verifier directly.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    now = now or dt.datetime.now(dt.UTC)
    start = now - _ONE_DAY
    (ee_key_spec,) = tuple(end_entity_keys)

    root = CertificateAuthority.new_root(
        "Demo Government Root CA",
        "Ban Cơ yếu Chính phủ (demo)",
        not_before=start,
        not_after=now + dt.timedelta(days=3650),
    )
    if crl_base_url:
        root.crl_url = f"{crl_base_url}/root.crl"
    ministry = root.issue_ca(
        "Demo Ministry CA",
        "Bộ Nội vụ (demo)",
        not_before=start,
        not_after=now + dt.timedelta(days=1825),
    )
    if crl_base_url:
        ministry.crl_url = f"{crl_base_url}/ministry.crl"
    ministry.ocsp_url = ocsp_url

    end = now + dt.timedelta(days=730)
    clerk = ministry.issue_end_entity(
        "Nguyễn Văn An",
        "Sở Nội vụ tỉnh Demo",
        f"an.nv@{AGENCY_DOMAIN}",
        key_spec=ee_key_spec,
        not_before=start,
        not_after=end,
    )
    seal = ministry.issue_end_entity(
        "Sở Nội vụ tỉnh Demo",
        "Sở Nội vụ tỉnh Demo",
        f"vanthu@{AGENCY_DOMAIN}",
        key_spec=ee_key_spec,
        encipher=False,
        not_before=start,
        not_after=end,
    )
    recipient = ministry.issue_end_entity(
        "Trần Thị Bình",
        "Sở Tài chính tỉnh Demo",
        f"binh.tt@{RECIPIENT_DOMAIN}",
        key_spec="rsa2048",
        not_before=start,
        not_after=end,
    )
    recipient_ec = ministry.issue_end_entity(
        "Lê Văn Cường",
        "Sở Tài chính tỉnh Demo",
        f"cuong.lv@{RECIPIENT_DOMAIN}",
        key_spec="p256",
        not_before=start,
        not_after=end,
    )

    pem = serialization.Encoding.PEM
    trust_file = directory / "trust.pem"
    trust_file.write_bytes(root.certificate.public_bytes(pem))
    (directory / "ministry-ca.pem").write_bytes(
        ministry.certificate.public_bytes(pem)
    )
    crl_files = []
    for name, ca in (("root", root), ("ministry", ministry)):
        crl = ca.issue_crl(this_update=start, next_update=now + 7 * _ONE_DAY)
        crl_path = directory / f"{name}.crl"
        crl_path.write_bytes(crl.public_bytes(serialization.Encoding.DER))
        crl_files.append(crl_path)

    p12_files = {}
    holders = {
        "clerk": clerk,
        "seal": seal,
        "recipient": recipient,
        "recipient-ec": recipient_ec,
    }
    for name, holder in holders.items():
        p12 = directory / f"{name}.p12"
        cn = holder.certificate.subject.get_attributes_for_oid(
            NameOID.COMMON_NAME
        )[0].value
        write_pkcs12(p12, holder, password, str(cn))
        (directory / f"{name}.pem").write_bytes(
            holder.certificate.public_bytes(pem)
        )
        p12_files[name] = p12

    return DemoPKI(
        directory=directory,
        root=root,
        ministry=ministry,
        clerk=clerk,
        seal=seal,
        recipient=recipient,
        recipient_ec=recipient_ec,
        trust_file=trust_file,
        crl_files=tuple(crl_files),
        p12_files=p12_files,
    )
