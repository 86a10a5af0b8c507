"""Finding a token's key and its certificate, and checking they match.

Private to :mod:`govsign.keys`: used by the token key, the listing and
the certificate import.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from pkcs11 import Attribute, KeyType
from pkcs11 import exceptions as p11e

from govsign.errors import KeySourceError
from govsign.keys import _token
from govsign.keys.uri import Pkcs11Uri

__all__ = [
    "PublicKey",
    "check_public_key",
    "describe",
    "find_certificate",
    "find_key",
    "issuer_chain",
    "public_matches",
    "unwrap_point",
]

log = logging.getLogger(__name__)

PublicKey = (
    rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
)
"""The public key types a token key may have."""


def find_key(session: Any, token: Any, uri: Pkcs11Uri) -> Any:
    keys = (
        _token.find_private_keys(session, uri)
        if uri.type in (None, "private")
        else []
    )
    if not keys and uri.type in (None, "cert") and (uri.object or uri.id):
        # The label or id may name the certificate: take its key.
        ids = {
            _token.id_of(obj)
            for obj, _ in _token.find_certificates(session)
            if (uri.object is None or _token.label_of(obj) == uri.object)
            and (uri.id is None or _token.id_of(obj) == uri.id)
        }
        keys = [
            k
            for i in ids - {b""}
            for k in _token.find_private_keys(session, Pkcs11Uri(id=i))
        ]
    everything = _token.find_private_keys(session, Pkcs11Uri())
    present = ", ".join(describe(k) for k in everything) or "none visible"
    name = _token.token_name(token)
    if not keys:
        raise KeySourceError(
            f"no private key with {uri.describe_object()} on token {name} "
            f"(private keys there: {present})"
        )
    if len(keys) > 1:
        raise KeySourceError(
            f"{len(keys)} private keys match {uri.describe_object()} on "
            f"token {name} ({present}); name one with object= or id="
        )
    return keys[0]


def describe(obj: Any) -> str:
    return f"{_token.label_of(obj)!r} id {_token.id_of(obj).hex() or '-'}"


def find_certificate(
    session: Any, token: Any, key: Any
) -> tuple[x509.Certificate, list[x509.Certificate]]:
    on_token = _token.find_certificates(session)
    key_id, key_label = _token.id_of(key), _token.label_of(key)
    candidates = [
        c for o, c in on_token if key_id and _token.id_of(o) == key_id
    ]
    if not candidates:
        candidates = [
            c
            for o, c in on_token
            if key_label and _token.label_of(o) == key_label
        ]
    if not candidates:
        candidates = [
            c for _, c in on_token if public_matches(session, key, c)
        ]
    if not candidates:
        raise KeySourceError(
            f"no certificate for key {describe(key)} on token "
            f"{_token.token_name(token)}; import the certificate the CA "
            "issued onto the token, or give it as a file (--cert)"
        )
    # Several (a renewed certificate for the same key): the latest.
    leaf = max(candidates, key=lambda c: c.not_valid_after_utc)
    return leaf, issuer_chain(leaf, [c for _, c in on_token])


def issuer_chain(
    leaf: x509.Certificate, pool: Sequence[x509.Certificate]
) -> list[x509.Certificate]:
    chain: list[x509.Certificate] = []
    current = leaf
    while current.issuer != current.subject and len(chain) < 8:
        issuer = next(
            (
                c
                for c in pool
                if c.subject == current.issuer and c not in chain and c != leaf
            ),
            None,
        )
        if issuer is None or issuer.issuer == issuer.subject:
            break  # Roots are the verifier's anchors, not sent along.
        chain.append(issuer)
        current = issuer
    return chain


def public_matches(
    session: Any, key: Any, certificate: x509.Certificate
) -> bool:
    public = certificate.public_key()
    if not isinstance(public, PublicKey):
        return False
    try:
        check_public_key(session, key, public)
    except KeySourceError:
        return False
    return True


def check_public_key(session: Any, key: Any, public: PublicKey) -> None:
    key_type = KeyType(key[Attribute.KEY_TYPE])
    mismatch = KeySourceError(
        f"the key {describe(key)} on the token does not belong to the "
        "certificate"
    )
    if key_type == KeyType.RSA:
        if not isinstance(public, rsa.RSAPublicKey):
            raise mismatch
        try:
            modulus = int.from_bytes(key[Attribute.MODULUS], "big")
        except p11e.PKCS11Error:
            log.debug("token hides the modulus of %s", describe(key))
            return
        if modulus != public.public_numbers().n:
            raise mismatch
        return
    if key_type == KeyType.EC:
        if not isinstance(public, ec.EllipticCurvePublicKey):
            raise mismatch
        point = public.public_bytes(
            serialization.Encoding.X962,
            serialization.PublicFormat.UncompressedPoint,
        )
    elif key_type == KeyType.EC_EDWARDS:
        if not isinstance(public, ed25519.Ed25519PublicKey):
            raise mismatch
        point = public.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
    else:
        raise KeySourceError(
            f"key {describe(key)} is of a type govsign cannot use "
            f"({key_type.name})"
        )
    # The private key object does not show its point; the public key
    # object with the same id does, when the token keeps one.  Signatures
    # are verified anyway, so without it nothing wrong can be produced.
    key_id = _token.id_of(key)
    for obj in _token.find_public_keys(session) if key_id else []:
        if _token.id_of(obj) == key_id:
            if unwrap_point(obj[Attribute.EC_POINT]) != point:
                raise mismatch
            return


def unwrap_point(value: bytes) -> bytes:
    value = bytes(value)
    # PKCS#11 2.40 asks for a DER OCTET STRING; some tokens give it raw.
    if value[:1] == b"\x04" and len(value) > 2:
        length = value[1]
        if length < 0x80 and length == len(value) - 2:
            return value[2:]
        if length == 0x81 and value[2] == len(value) - 3:
            return value[3:]
    return value
