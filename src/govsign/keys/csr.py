"""New keys and certificate requests (PKCS#10, RFC 2986) for the CA.

A clerk or an agency seal gets a certificate in three steps: make a new
key (in a password-protected .p12 file, or on a token where it never
leaves), make a request carrying the subject the CA needs, send the
request to the CA.  :func:`new_key_file` and :func:`new_token_key` make
the key; :func:`build_csr` makes the request with any key that can sign.

The subject follows what Vietnamese CAs issue for official e-mail:
``C=VN``, optional ``ST``/``L``, ``O`` (the agency), optional ``OU``,
``CN`` (the person, or the agency for a seal), and optionally ``UID`` with
an identity number such as ``CCCD:001203004567`` (citizen ID) or
``MST:0101234567`` (tax code).  The e-mail address goes into the
subjectAltName (RFC 8550 section 3).  Text is NFC (TCVN 6909:2001).
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from asn1crypto import csr as asn1_csr
from asn1crypto import keys as asn1_keys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag
from pkcs11 import exceptions as p11e
from pkcs11.util.ec import encode_named_curve_parameters

from govsign.errors import ConfigurationError, KeySourceError, SigningError
from govsign.keys import _token
from govsign.keys._lookup import PublicKey
from govsign.keys.base import HashName, SignatureAlgorithm, SignatureScheme
from govsign.keys.pkcs11 import TokenKey
from govsign.keys.uri import Pkcs11Uri, nfc, parse_pkcs11_uri

__all__ = [
    "KEY_KINDS",
    "CsrSigner",
    "CsrSubject",
    "SoftwareKey",
    "build_csr",
    "new_key_file",
    "new_token_key",
]

KEY_KINDS = ("rsa3072", "rsa2048", "rsa4096", "p256", "p384")
"""Key kinds :func:`new_key_file` and :func:`new_token_key` make; the
first is the default (RSA 3072, as CAs issue for 2030 and beyond)."""

# Identity numbers in UID, by prefix; the form each takes.
_UID_FORMS = {
    "CCCD": (r"\d{12}", "a 12-digit citizen ID"),
    "CMND": (r"\d{9}|\d{12}", "a 9- or 12-digit identity card number"),
    "HC": (r"[A-Z0-9]{6,12}", "a passport number"),
    "MST": (r"\d{10}(-\d{3})?", "a 10-digit tax code, or 10-3"),
    "MNS": (r"\d{7}", "a 7-digit budget-relation code"),
}
_PERSONAL_UIDS = ("CCCD", "CMND", "HC")
_CURVES: dict[str, ec.EllipticCurve] = {
    "p256": ec.SECP256R1(),
    "p384": ec.SECP384R1(),
}
_CURVE_NAMES = {"p256": "secp256r1", "p384": "secp384r1"}
_MIN_PASSWORD = 8


@dataclass(frozen=True)
class CsrSubject:
    """Who the certificate is for.  Validated and NFC-normalised.

    ``seal`` marks an agency seal: ``common_name`` defaults to the
    organisation, and personal identity numbers are refused.  Raises
    :class:`ConfigurationError` naming the bad field.
    """

    email: str
    organization: str
    common_name: str = ""
    organizational_unit: str | None = None
    locality: str | None = None
    province: str | None = None
    uid: str | None = None
    seal: bool = False
    require_gov_vn: bool = True

    def __post_init__(self) -> None:
        for name in (
            "organization",
            "common_name",
            "organizational_unit",
            "locality",
            "province",
        ):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, nfc(value).strip())
        if not self.organization:
            raise ConfigurationError("organization: must not be empty")
        if not self.common_name:
            if not self.seal:
                raise ConfigurationError(
                    "common_name: the clerk's full name is needed"
                )
            object.__setattr__(self, "common_name", self.organization)
        object.__setattr__(self, "email", _check_email(self))
        if self.uid is not None:
            object.__setattr__(self, "uid", _check_uid(self.uid, self.seal))

    def x509_name(self) -> x509.Name:
        """The subject distinguished name, most general first."""
        attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, "VN")]
        optional = (
            (NameOID.STATE_OR_PROVINCE_NAME, self.province),
            (NameOID.LOCALITY_NAME, self.locality),
            (NameOID.ORGANIZATION_NAME, self.organization),
            (NameOID.ORGANIZATIONAL_UNIT_NAME, self.organizational_unit),
            (NameOID.COMMON_NAME, self.common_name),
            (NameOID.USER_ID, self.uid),
        )
        for oid, value in optional:
            if value:
                attributes.append(x509.NameAttribute(oid, value))
        return x509.Name(attributes)


def _check_email(subject: CsrSubject) -> str:
    local, at, domain = subject.email.strip().rpartition("@")
    domain = domain.lower().rstrip(".")
    if not at or not local or "." not in domain:
        raise ConfigurationError(
            f"email: {subject.email!r} is not an e-mail address"
        )
    if not (local + domain).isascii():
        # RFC 5280 rfc822Name is IA5String: no internationalised mailbox.
        raise ConfigurationError(
            f"email: {subject.email!r} has non-ASCII characters, which a "
            "certificate's rfc822Name cannot hold"
        )
    if subject.require_gov_vn and not (
        domain == "gov.vn" or domain.endswith(".gov.vn")
    ):
        raise ConfigurationError(
            f"email: {subject.email!r} is not a gov.vn address; official "
            "e-mail certificates are issued for agency mailboxes"
        )
    return f"{local}@{domain}"


def _check_uid(uid: str, seal: bool) -> str:
    prefix, colon, number = uid.strip().partition(":")
    prefix = prefix.upper()
    number = number.strip().upper()
    if not colon or prefix not in _UID_FORMS:
        raise ConfigurationError(
            f"uid: {uid!r} should be PREFIX:NUMBER with PREFIX one of "
            f"{', '.join(_UID_FORMS)}"
        )
    pattern, description = _UID_FORMS[prefix]
    if not re.fullmatch(pattern, number):
        raise ConfigurationError(
            f"uid: {prefix} needs {description}, not {number!r}"
        )
    if seal and prefix in _PERSONAL_UIDS:
        raise ConfigurationError(
            f"uid: an agency seal carries the agency's MST or MNS, not a "
            f"personal {prefix}"
        )
    return f"{prefix}:{number}"


class CsrSigner(Protocol):
    """A new key that can sign its own request."""

    def public_key(self) -> PublicKey:
        """The public half, which goes into the request."""

    def sign(self, data: bytes, algorithm: SignatureAlgorithm) -> bytes:
        """Sign ``data``; see :class:`govsign.keys.base.Signer`."""


class SoftwareKey:
    """A private key in memory, before it has a certificate."""

    def __init__(
        self, private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    ) -> None:
        self.private_key = private_key

    def __repr__(self) -> str:
        return f"<SoftwareKey {type(self.private_key).__name__}>"

    def public_key(self) -> PublicKey:
        """The public half."""
        return self.private_key.public_key()

    def sign(self, data: bytes, algorithm: SignatureAlgorithm) -> bytes:
        """Sign with PKCS#1 v1.5 (RSA) or ECDSA; raises SigningError."""
        digest = _hash(algorithm.digest)
        key = self.private_key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            if algorithm.scheme is not SignatureScheme.ECDSA:
                raise SigningError("an EC key signs with ECDSA only")
            return key.sign(data, ec.ECDSA(digest))
        if algorithm.scheme is not SignatureScheme.RSA_PKCS1V15:
            raise SigningError("requests are signed with RSA PKCS#1 v1.5")
        return key.sign(data, padding.PKCS1v15(), digest)


_HASHES: dict[HashName, type[hashes.HashAlgorithm]] = {
    HashName.SHA256: hashes.SHA256,
    HashName.SHA384: hashes.SHA384,
    HashName.SHA512: hashes.SHA512,
}


def _hash(name: HashName) -> hashes.HashAlgorithm:
    return _HASHES[name]()


def _generate(kind: str) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    if kind.startswith("rsa"):
        return rsa.generate_private_key(65537, int(kind[3:]))
    return ec.generate_private_key(_CURVES[kind])


def _check_kind(kind: str) -> None:
    if kind not in KEY_KINDS:
        raise ConfigurationError(
            f"key type {kind!r} is not one of {', '.join(KEY_KINDS)}"
        )


def new_key_file(
    path: str | os.PathLike[str],
    password: bytes,
    *,
    kind: str = KEY_KINDS[0],
    friendly_name: str = "",
) -> SoftwareKey:
    """Generate a key and write it, alone, to a new .p12 file.

    The file is encrypted with AES-256 and PBKDF2 and readable by its
    owner only; the CA's certificate is added later.  Raises
    :class:`ConfigurationError` for an existing file, a short password or
    an unknown ``kind``.
    """
    _check_kind(kind)
    target = Path(path)
    if target.exists():
        raise ConfigurationError(
            f"{target} exists; a new key never overwrites an old one"
        )
    if len(password) < _MIN_PASSWORD:
        raise ConfigurationError(
            f"the password of a new key file needs at least {_MIN_PASSWORD} "
            "characters"
        )
    key = _generate(kind)
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(200_000)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password)
    )
    data = pkcs12.serialize_key_and_certificates(
        nfc(friendly_name).encode() or None, key, None, None, encryption
    )
    # Created 0600 from the start: the key is never world-readable.
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return SoftwareKey(key)


def new_token_key(
    uri: str | Pkcs11Uri,
    secret: _token.SecretSource,
    *,
    label: str,
    kind: str = KEY_KINDS[0],
    key_id: bytes | None = None,
    module: str | os.PathLike[str] | None = None,
) -> TokenKey:
    """Generate a key pair on the token ``uri`` names; it never leaves.

    The private key is sensitive and not extractable, may sign, and may
    decrypt (RSA) or derive (EC) for encrypted mail.  ``key_id`` defaults
    to 8 random bytes.  Raises :class:`KeySourceError` when the token
    cannot generate the kind, or already holds a key with that label or
    id, and for PIN and module errors as :func:`open_pkcs11` does.
    """
    _check_kind(kind)
    parsed = parse_pkcs11_uri(uri) if isinstance(uri, str) else uri
    label = nfc(label)
    key_id = key_id if key_id is not None else secrets.token_bytes(8)
    lib = _token.load_module(_token.resolve_module_path(parsed, module))
    token = _token.select_token(lib, parsed)
    name = _token.token_name(token)
    session, pin = _token.login(token, secret, rw=True)
    try:
        clash = _token.find_private_keys(
            session, Pkcs11Uri(object=label)
        ) + _token.find_private_keys(session, Pkcs11Uri(id=key_id))
        if clash:
            raise KeySourceError(
                f"token {name} already holds a key with label {label!r} or "
                f"id {key_id.hex()}; choose another"
            )
        public, private = _generate_on_token(
            session, token, kind, label, key_id
        )
        return TokenKey(
            token=token,
            session=session,
            private_key=private,
            public_key=_public_from_token(public, kind),
            pin=pin,
        )
    except BaseException:
        session.close()
        raise


def _generate_on_token(
    session: Any, token: Any, kind: str, label: str, key_id: bytes
) -> tuple[Any, Any]:
    is_rsa = kind.startswith("rsa")
    mechanism = (
        Mechanism.RSA_PKCS_KEY_PAIR_GEN
        if is_rsa
        else Mechanism.EC_KEY_PAIR_GEN
    )
    flags = _token.mechanism_flags(token)
    if not flags.get(mechanism, MechanismFlag(0)) & (
        MechanismFlag.GENERATE_KEY_PAIR
    ):
        raise KeySourceError(
            f"token {_token.token_name(token)} cannot generate {kind} keys"
        )
    private_template = {
        Attribute.TOKEN: True,
        Attribute.PRIVATE: True,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        Attribute.SIGN: True,
        Attribute.DECRYPT: is_rsa,
        Attribute.DERIVE: not is_rsa,
    }
    public_template = {
        Attribute.TOKEN: True,
        Attribute.VERIFY: True,
        Attribute.ENCRYPT: is_rsa,
    }
    try:
        if is_rsa:
            result = session.generate_keypair(
                KeyType.RSA,
                int(kind[3:]),
                id=key_id,
                label=label,
                store=True,
                public_template=public_template,
                private_template=private_template,
            )
        else:
            parameters = session.create_domain_parameters(
                KeyType.EC,
                {
                    Attribute.EC_PARAMS: encode_named_curve_parameters(
                        _CURVE_NAMES[kind]
                    )
                },
                local=True,
            )
            result = parameters.generate_keypair(
                id=key_id,
                label=label,
                store=True,
                public_template=public_template,
                private_template=private_template,
            )
    except p11e.PKCS11Error as exc:
        raise KeySourceError(
            f"token {_token.token_name(token)} failed to generate a {kind} "
            f"key: {exc or type(exc).__name__}"
        ) from exc
    public, private = result
    return public, private


def _public_from_token(public: Any, kind: str) -> PublicKey:
    if kind.startswith("rsa"):
        return rsa.RSAPublicNumbers(
            int.from_bytes(public[Attribute.PUBLIC_EXPONENT], "big"),
            int.from_bytes(public[Attribute.MODULUS], "big"),
        ).public_key()
    point = bytes(public[Attribute.EC_POINT])
    # PKCS#11 wraps the point in a DER OCTET STRING.
    if point[:1] == b"\x04" and point[1:2] != b"\x04":
        point = point[3:] if point[1] == 0x81 else point[2:]
    return ec.EllipticCurvePublicKey.from_encoded_point(_CURVES[kind], point)


def build_csr(
    key: CsrSigner, subject: CsrSubject
) -> x509.CertificateSigningRequest:
    """Make and sign a PKCS#10 request for ``subject`` with ``key``.

    RSA keys sign with SHA-256 and PKCS#1 v1.5, which every CA accepts;
    EC keys with ECDSA and SHA-256 (P-256) or SHA-384 (P-384).  The
    request asks for keyUsage and extKeyUsage emailProtection; a CA may
    override them.  Raises :class:`SigningError` when the key fails or its
    signature does not verify.
    """
    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        algorithm = SignatureAlgorithm(
            SignatureScheme.RSA_PKCS1V15, HashName.SHA256
        )
        algorithm_id = {"algorithm": "sha256_rsa", "parameters": None}
    elif isinstance(public, ec.EllipticCurvePublicKey):
        digest = (
            HashName.SHA384
            if public.curve.key_size >= 384
            else (HashName.SHA256)
        )
        algorithm = SignatureAlgorithm(SignatureScheme.ECDSA, digest)
        algorithm_id = {"algorithm": f"{digest.value}_ecdsa"}
    else:
        raise SigningError("requests are made for RSA and EC keys only")

    # Let cryptography encode the name and extensions (UTF8String, the
    # right DER), with a throwaway key; then put the real public key in
    # and sign the request info with the real key (RFC 2986 section 4).
    template = _template_builder(subject, public).sign(
        ec.generate_private_key(ec.SECP256R1()), hashes.SHA256()
    )
    request = asn1_csr.CertificationRequest.load(
        template.public_bytes(serialization.Encoding.DER)
    )
    info = request["certification_request_info"]
    info["subject_pk_info"] = asn1_keys.PublicKeyInfo.load(
        public.public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
    )
    signature = key.sign(info.dump(force=True), algorithm)
    signed = asn1_csr.CertificationRequest(
        {
            "certification_request_info": info,
            "signature_algorithm": algorithm_id,
            "signature": signature,
        }
    )
    result = x509.load_der_x509_csr(signed.dump())
    if not result.is_signature_valid:
        raise SigningError("the new key's request signature does not verify")
    return result


def _template_builder(
    subject: CsrSubject, public: PublicKey
) -> x509.CertificateSigningRequestBuilder:
    is_rsa = isinstance(public, rsa.RSAPublicKey)
    # A seal signs; a clerk also receives encrypted mail.
    encipher = not subject.seal
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject.x509_name())
        .add_extension(
            x509.SubjectAlternativeName([x509.RFC822Name(subject.email)]),
            critical=False,
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=encipher and is_rsa,
                data_encipherment=False,
                key_agreement=encipher and not is_rsa,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
            critical=False,
        )
    )
