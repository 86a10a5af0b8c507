"""Put the certificate the CA issued beside its key: in the .p12 file or
on the token.  The last step after :mod:`govsign.keys.csr`.

The certificate is checked against the key first: a certificate for
another key is refused, never stored.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from asn1crypto import core as asn1_core
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from pkcs11 import Attribute, CertificateType, ObjectClass
from pkcs11 import exceptions as p11e

from govsign.errors import KeySourceError
from govsign.keys import _token
from govsign.keys._lookup import PublicKey, check_public_key
from govsign.keys.local import LocalKey, _key_matches
from govsign.keys.uri import Pkcs11Uri, parse_pkcs11_uri

__all__ = ["add_certificate_to_p12", "add_certificate_to_token"]

log = logging.getLogger(__name__)


def _split_leaf(
    certificates: Sequence[x509.Certificate], matches: Any
) -> tuple[x509.Certificate, list[x509.Certificate]]:
    leaf = next((c for c in certificates if matches(c)), None)
    if leaf is None:
        raise KeySourceError(
            "none of the certificates given belongs to the key: was the "
            "request made with this key?"
        )
    return leaf, [c for c in certificates if c is not leaf]


def _common_name(certificate: x509.Certificate) -> str:
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def add_certificate_to_p12(
    path: str | os.PathLike[str],
    password: bytes,
    certificates: Sequence[x509.Certificate],
) -> LocalKey:
    """Rewrite the .p12 at ``path`` with its key, the certificate that
    belongs to it and the rest of ``certificates`` as chain.

    The file keeps its password; it is replaced atomically.  Raises
    :class:`KeySourceError` for a wrong password or no matching
    certificate.
    """
    target = Path(path)
    try:
        bundle = pkcs12.load_pkcs12(target.read_bytes(), password)
    except OSError as exc:
        raise KeySourceError(f"cannot read {target}: {exc.strerror}") from exc
    except ValueError as exc:
        raise KeySourceError(
            f"cannot open {target}: wrong password or not a PKCS#12 file"
        ) from exc
    key = bundle.key
    if not isinstance(
        key,
        rsa.RSAPrivateKey
        | ec.EllipticCurvePrivateKey
        | ed25519.Ed25519PrivateKey,
    ):
        raise KeySourceError(f"{target} holds no usable private key")
    leaf, chain = _split_leaf(certificates, lambda c: _key_matches(key, c))
    local = LocalKey(key, leaf, chain)
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(200_000)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password)
    )
    data = pkcs12.serialize_key_and_certificates(
        _common_name(leaf).encode() or None, key, leaf, chain, encryption
    )
    tmp = target.with_name(f".{target.name}.govsign-tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    tmp.replace(target)
    return local


def add_certificate_to_token(
    uri: str | Pkcs11Uri,
    secret: _token.SecretSource,
    certificates: Sequence[x509.Certificate],
    *,
    module: str | os.PathLike[str] | None = None,
) -> str:
    """Store the certificate beside its key on the token (same CKA_ID and
    label), and the other certificates as CA certificates.

    Certificates already on the token are not stored twice.  Returns a
    ``pkcs11:`` URI naming the key.  Raises :class:`KeySourceError` when
    no key on the token matches, or the token refuses the objects.
    """
    parsed = parse_pkcs11_uri(uri) if isinstance(uri, str) else uri
    module_path = _token.resolve_module_path(parsed, module)
    lib = _token.load_module(module_path)
    token = _token.select_token(lib, parsed)
    session, _ = _token.login(token, secret, rw=True)
    try:
        keys = _token.find_private_keys(session, Pkcs11Uri())
        matched: list[Any] = []

        def matches(certificate: x509.Certificate) -> bool:
            public = certificate.public_key()
            if not isinstance(public, PublicKey):
                return False
            for key in keys:
                try:
                    check_public_key(session, key, public)
                except KeySourceError:
                    continue
                matched.append(key)
                return True
            return False

        leaf, chain = _split_leaf(certificates, matches)
        key = matched[-1]
        present = {
            c.public_bytes(serialization.Encoding.DER)
            for _, c in _token.find_certificates(session)
        }
        key_id, label = _token.id_of(key), _token.label_of(key)
        _store(session, leaf, label, key_id, present)
        for ca in chain:
            _store(session, ca, _common_name(ca), b"", present)
        return str(
            Pkcs11Uri(
                token=_token.token_label(token),
                id=key_id or None,
                object=None if key_id else label,
                module_path=str(module_path),
            )
        )
    finally:
        session.close()


def _store(
    session: Any,
    certificate: x509.Certificate,
    label: str,
    key_id: bytes,
    present: set[bytes],
) -> None:
    der = certificate.public_bytes(serialization.Encoding.DER)
    if der in present:
        log.info("certificate %r is already on the token", label)
        return
    template = {
        Attribute.CLASS: ObjectClass.CERTIFICATE,
        Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
        Attribute.TOKEN: True,
        Attribute.PRIVATE: False,
        Attribute.LABEL: label,
        Attribute.ID: key_id,
        Attribute.SUBJECT: certificate.subject.public_bytes(),
        Attribute.ISSUER: certificate.issuer.public_bytes(),
        Attribute.SERIAL_NUMBER: asn1_core.Integer(
            certificate.serial_number
        ).dump(),
        Attribute.VALUE: der,
    }
    try:
        session.create_object(template)
    except p11e.PKCS11Error as exc:
        raise KeySourceError(
            f"the token refused to store certificate {label!r}: "
            f"{exc or type(exc).__name__}"
        ) from exc
    present.add(der)
