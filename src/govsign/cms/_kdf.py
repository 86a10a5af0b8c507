"""Key-encryption-key derivation for CMS key agreement.

RFC 5753 (ECDH on the NIST curves) uses the ANSI X9.63 KDF; RFC 8418
(X25519) uses HKDF.  Both take the DER of ECC-CMS-SharedInfo as their
"other info".  Private to govsign.cms.
"""

from __future__ import annotations

from asn1crypto import core
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF

from govsign.cms._asn1 import ECC_CMS_SharedInfo

__all__ = ["shared_info", "derive_kek", "hash_by_name"]

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def hash_by_name(name: str) -> hashes.HashAlgorithm:
    """Return the hash object for ``name`` ("sha256", ...)."""
    return _HASHES[name]()


def shared_info(wrap_oid: str, kek_length: int, ukm: bytes | None) -> bytes:
    """DER of ECC-CMS-SharedInfo (RFC 5753 section 7.2).

    ``keyInfo`` names the key-wrap algorithm with absent parameters (AES
    wrap); ``suppPubInfo`` is the KEK length in bits, 32-bit big-endian.
    """
    value = {
        "key_info": {"algorithm": wrap_oid},
        "supp_pub_info": (kek_length * 8).to_bytes(4, "big"),
    }
    if ukm is not None:
        value["entity_u_info"] = core.OctetString(ukm)
    return bytes(ECC_CMS_SharedInfo(value).dump())


def derive_kek(
    family: str,
    hash_name: str,
    secret: bytes,
    info: bytes,
    kek_length: int,
    ukm: bytes | None = None,
) -> bytes:
    """Derive the key-encryption key from the (EC)DH shared secret.

    ``family`` is ``"ecdh"`` (X9.63 KDF, RFC 5753 section 3.1.2) or
    ``"x25519"`` (HKDF, RFC 8418 section 2.2, whose salt is the user
    keying material when the sender gave one; it is also in ``info``).
    """
    algorithm = hash_by_name(hash_name)
    if family == "x25519":
        return HKDF(
            algorithm=algorithm, length=kek_length, salt=ukm, info=info
        ).derive(secret)
    return X963KDF(
        algorithm=algorithm, length=kek_length, sharedinfo=info
    ).derive(secret)
