"""What a token or key file holds: certificates and keys, described.

Backs ``govsign keys list``: for each certificate its subject, e-mail,
issuer, validity and usage, and whether its private key is there; for each
key its type, size and what it may do.  Nothing here reveals key material.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pkcs11 import Attribute, KeyType, TokenFlag
from pkcs11 import exceptions as p11e

from govsign.errors import KeySourceError
from govsign.keys import _token
from govsign.keys.source import SecretSource, load_certificates
from govsign.keys.uri import Pkcs11Uri, nfc, parse_pkcs11_uri

__all__ = [
    "CertificateInfo",
    "KeyInfo",
    "KeyStoreContents",
    "describe_certificate",
    "inspect_file",
    "inspect_tokens",
]

log = logging.getLogger(__name__)

_EKU_NAMES = {
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
}
_KEY_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)
_CURVES = {
    bytes.fromhex("06082a8648ce3d030107"): "P-256",
    bytes.fromhex("06052b81040022"): "P-384",
    bytes.fromhex("06052b81040023"): "P-521",
}


@dataclass(frozen=True)
class CertificateInfo:
    """A certificate as ``keys list`` shows it."""

    subject: str
    issuer: str
    emails: tuple[str, ...]
    serial: str
    not_before: dt.datetime
    not_after: dt.datetime
    key_usage: tuple[str, ...]
    extended_key_usage: tuple[str, ...]
    public_key: str
    is_ca: bool
    label: str | None = None
    id: str | None = None
    has_private_key: bool = False
    uri: str | None = None

    def valid_at(self, moment: dt.datetime) -> bool:
        """True when ``moment`` lies within the validity period."""
        return self.not_before <= moment <= self.not_after


@dataclass(frozen=True)
class KeyInfo:
    """A private key as ``keys list`` shows it (never its value)."""

    label: str
    id: str
    key_type: str
    can: tuple[str, ...]
    has_certificate: bool
    uri: str | None = None


@dataclass(frozen=True)
class KeyStoreContents:
    """One token or file: where it is and what it holds."""

    kind: str  # "token" or "file"
    name: str
    location: str
    certificates: tuple[CertificateInfo, ...] = ()
    keys: tuple[KeyInfo, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (times in ISO 8601)."""
        data = asdict(self)
        for cert in data["certificates"]:
            cert["not_before"] = cert["not_before"].isoformat()
            cert["not_after"] = cert["not_after"].isoformat()
        return data


def describe_certificate(
    certificate: x509.Certificate, **extra: Any
) -> CertificateInfo:
    """Describe ``certificate``; ``extra`` fills the token fields."""
    emails = [
        str(a.value)
        for a in certificate.subject.get_attributes_for_oid(
            NameOID.EMAIL_ADDRESS
        )
    ]
    try:
        san = certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value
        emails += [e for e in san.get_values_for_type(x509.RFC822Name)]
    except x509.ExtensionNotFound:
        pass
    return CertificateInfo(
        subject=certificate.subject.rfc4514_string(),
        issuer=certificate.issuer.rfc4514_string(),
        emails=tuple(dict.fromkeys(emails)),
        serial=f"{certificate.serial_number:x}",
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        key_usage=_key_usage(certificate),
        extended_key_usage=_eku(certificate),
        public_key=_public_key_text(certificate),
        is_ca=_is_ca(certificate),
        **extra,
    )


def _key_usage(certificate: x509.Certificate) -> tuple[str, ...]:
    try:
        usage = certificate.extensions.get_extension_for_class(
            x509.KeyUsage
        ).value
    except x509.ExtensionNotFound:
        return ()
    names = []
    for attribute in _KEY_USAGES:
        if getattr(usage, attribute):
            # RFC 5280 spelling: digitalSignature, nonRepudiation, ...
            head, *rest = (
                "non_repudiation"
                if attribute == "content_commitment"
                else attribute
            ).split("_")
            names.append(head + "".join(p.title() for p in rest))
    return tuple(names)


def _eku(certificate: x509.Certificate) -> tuple[str, ...]:
    try:
        eku = certificate.extensions.get_extension_for_class(
            x509.ExtendedKeyUsage
        ).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(_EKU_NAMES.get(o, o.dotted_string) for o in eku)


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return certificate.extensions.get_extension_for_class(
            x509.BasicConstraints
        ).value.ca
    except x509.ExtensionNotFound:
        return False


def _public_key_text(certificate: x509.Certificate) -> str:
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    return type(key).__name__


def inspect_file(
    path: str | os.PathLike[str], secret: SecretSource
) -> KeyStoreContents:
    """Describe a .p12/.pfx file (opened with ``secret``) or a certificate
    file (PEM or DER; no secret asked).

    Raises :class:`KeySourceError` for an unreadable file or wrong
    password.
    """
    file_path = Path(path)
    if file_path.suffix.lower() in (".p12", ".pfx"):
        return _inspect_p12(file_path, secret())
    certificates = load_certificates(file_path)
    return KeyStoreContents(
        kind="file",
        name=file_path.name,
        location=str(file_path),
        certificates=tuple(describe_certificate(c) for c in certificates),
        notes=("certificate file: no private key",),
    )


def _inspect_p12(path: Path, password: bytes) -> KeyStoreContents:
    try:
        bundle = pkcs12.load_pkcs12(path.read_bytes(), password)
    except OSError as exc:
        raise KeySourceError(f"cannot read {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise KeySourceError(
            f"cannot open {path}: wrong password or not a PKCS#12 file"
        ) from exc
    certificates = []
    if bundle.cert is not None:
        certificates.append(
            describe_certificate(
                bundle.cert.certificate,
                has_private_key=bundle.key is not None,
                label=_friendly_name(bundle.cert.friendly_name),
            )
        )
    certificates += [
        describe_certificate(
            c.certificate, label=_friendly_name(c.friendly_name)
        )
        for c in bundle.additional_certs
    ]
    keys = []
    if bundle.key is not None:
        keys.append(
            KeyInfo(
                label=path.name,
                id="",
                key_type=_software_key_type(bundle.key),
                can=_local_abilities(bundle.key),
                has_certificate=bundle.cert is not None,
            )
        )
    return KeyStoreContents(
        kind="file",
        name=path.name,
        location=str(path),
        certificates=tuple(certificates),
        keys=tuple(keys),
    )


def _friendly_name(raw: bytes | None) -> str | None:
    # PKCS#12 friendly names are BMPString; cryptography gives UTF-8.
    return nfc(raw.decode("utf-8", "replace")) if raw else None


def _software_key_type(key: object) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return f"EC {key.curve.name}"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "Ed25519"
    return type(key).__name__


def _local_abilities(key: object) -> tuple[str, ...]:
    if isinstance(key, rsa.RSAPrivateKey):
        return ("sign", "decrypt")
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return ("sign", "derive")
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return ("sign",)
    return ()


def inspect_tokens(
    uri: str | Pkcs11Uri | None,
    secret: SecretSource | None,
    *,
    module: str | os.PathLike[str] | None = None,
) -> list[KeyStoreContents]:
    """Describe every initialised token of the module the URI (or
    ``module``) names, or the one token the URI selects.

    ``secret`` gives the PIN, so private keys are listed too; it is used
    only when one token is listed, since a PIN tried on the wrong token
    counts against that token.  None lists public objects only.  Raises
    :class:`KeySourceError` for a missing module, a wrong or locked PIN.
    """
    parsed = (
        parse_pkcs11_uri(uri) if isinstance(uri, str) else uri or Pkcs11Uri()
    )
    module_path = _token.resolve_module_path(parsed, module)
    lib = _token.load_module(module_path)
    selector = parsed.without_module()
    if selector == Pkcs11Uri():
        tokens = [
            t
            for t in _token.list_tokens(lib)
            if TokenFlag(t.flags) & TokenFlag.TOKEN_INITIALIZED
        ]
    else:
        tokens = [_token.select_token(lib, selector)]
    if len(tokens) > 1 and secret is not None:
        # One PIN for several tokens would spend a try on each token it
        # does not belong to: list them without logging in.
        log.info("%d tokens: listing without logging in", len(tokens))
        secret = None
    return [_inspect_token(t, secret, module_path) for t in tokens]


def _inspect_token(
    token: Any, secret: SecretSource | None, module_path: Path
) -> KeyStoreContents:
    base = Pkcs11Uri(
        token=nfc(token.label),
        serial=_token.serial_text(token) or None,
    )
    notes = _flag_notes(token)
    session, _ = _token.login(token, secret)
    try:
        on_token = _token.find_certificates(session)
        keys = _token.find_private_keys(session, Pkcs11Uri())
        key_ids = {_token.id_of(k) for k in keys} - {b""}
        cert_ids = {_token.id_of(o) for o, _ in on_token} - {b""}
        certificates = tuple(
            describe_certificate(
                certificate,
                label=_token.label_of(obj),
                id=_token.id_of(obj).hex(),
                has_private_key=_token.id_of(obj) in key_ids,
                uri=str(_object_uri(base, obj, module_path)),
            )
            for obj, certificate in on_token
        )
        key_infos = tuple(
            KeyInfo(
                label=_token.label_of(k),
                id=_token.id_of(k).hex(),
                key_type=_token_key_type(k),
                can=_token_abilities(k),
                has_certificate=_token.id_of(k) in cert_ids,
                uri=str(_object_uri(base, k, module_path)),
            )
            for k in keys
        )
    finally:
        session.close()
    if secret is None:
        notes.append(
            "not logged in: private keys are not shown (select one token "
            "with a pkcs11:token=... URI to log in)"
        )
    return KeyStoreContents(
        kind="token",
        name=_token.token_name(token),
        location=str(_with_module(base, module_path)),
        certificates=certificates,
        keys=key_infos,
        notes=tuple(notes),
    )


def _with_module(uri: Pkcs11Uri, module_path: Path) -> Pkcs11Uri:
    return Pkcs11Uri(
        token=uri.token, serial=uri.serial, module_path=str(module_path)
    )


def _object_uri(base: Pkcs11Uri, obj: Any, module_path: Path) -> Pkcs11Uri:
    key_id = _token.id_of(obj)
    label = _token.label_of(obj)
    return Pkcs11Uri(
        token=base.token,
        serial=base.serial,
        id=key_id or None,
        object=None if key_id else label,
        module_path=str(module_path),
    )


def _flag_notes(token: Any) -> list[str]:
    flags = TokenFlag(token.flags)
    notes = []
    checks: Sequence[tuple[Any, str]] = (
        (TokenFlag.USER_PIN_LOCKED, "PIN locked"),
        (TokenFlag.USER_PIN_FINAL_TRY, "one PIN try left"),
        (TokenFlag.USER_PIN_COUNT_LOW, "a wrong PIN was entered"),
        (TokenFlag.USER_PIN_TO_BE_CHANGED, "PIN must be changed"),
        (TokenFlag.PROTECTED_AUTHENTICATION_PATH, "PIN pad"),
    )
    for flag, text in checks:
        if flags & flag:
            notes.append(text)
    return notes


def _token_key_type(key: Any) -> str:
    key_type = KeyType(key[Attribute.KEY_TYPE])
    try:
        if key_type == KeyType.RSA:
            bits = len(bytes(key[Attribute.MODULUS]).lstrip(b"\0")) * 8
            return f"RSA {bits}"
        if key_type == KeyType.EC:
            params = bytes(key[Attribute.EC_PARAMS])
            return f"EC {_CURVES.get(params, params.hex())}"
    except p11e.PKCS11Error:
        log.debug("token hides the size of key %r", _token.label_of(key))
    if key_type == KeyType.EC_EDWARDS:
        return "Ed25519/Ed448"
    return str(key_type.name)


def _token_abilities(key: Any) -> tuple[str, ...]:
    can = []
    for name in ("SIGN", "DECRYPT", "DERIVE", "UNWRAP"):
        try:
            if key[Attribute[name]]:
                can.append(name.lower())
        except p11e.PKCS11Error:
            continue
    return tuple(can)
