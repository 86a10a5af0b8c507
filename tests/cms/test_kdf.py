"""Key derivation for key agreement: the exact bytes RFC 5753 and
RFC 8418 prescribe."""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF

from govsign.cms._kdf import derive_kek, shared_info

AES256_WRAP = "2.16.840.1.101.3.4.1.45"


def test_shared_info_der_layout():
    # RFC 5753 section 7.2: keyInfo (AES wrap, parameters absent) and
    # suppPubInfo = the KEK length in bits as a 32-bit big-endian number.
    assert (
        shared_info(AES256_WRAP, 32, None)
        == bytes.fromhex(
            "3015"  # ECC-CMS-SharedInfo
            "300b0609" + "60864801650304012d"  # keyInfo: id-aes256-wrap
            "a2060404" + "00000100"  # suppPubInfo: 256
        )
    )


def test_shared_info_carries_ukm_as_entity_u_info():
    der = shared_info(AES256_WRAP, 32, b"\x01\x02")
    assert bytes.fromhex("a00404020102") in der


def test_x963_kdf_is_used_for_ecdh():
    secret, info = bytes(range(32)), shared_info(AES256_WRAP, 32, None)
    expected = X963KDF(hashes.SHA256(), 32, info).derive(secret)
    assert derive_kek("ecdh", "sha256", secret, info, 32) == expected


def _hkdf_rfc5869(
    ikm: bytes, info: bytes, length: int, salt: bytes = bytes(32)
) -> bytes:
    # Written out from RFC 5869; no salt means HashLen zero bytes.
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(
            prk, block + info + bytes([counter]), hashlib.sha256
        ).digest()
        out += block
        counter += 1
    return out[:length]


def test_hkdf_without_salt_is_used_for_x25519():
    # RFC 8418 section 2.2: HKDF, IKM = the shared secret, info = the DER
    # of ECC-CMS-SharedInfo, no salt when the sender gave no ukm.
    secret, info = bytes(range(32)), shared_info(AES256_WRAP, 32, None)
    assert derive_kek("x25519", "sha256", secret, info, 32) == (
        _hkdf_rfc5869(secret, info, 32)
    )


def test_hkdf_salt_is_the_ukm_when_present():
    # RFC 8418 section 2.2: salt = ukm, and the ukm is in the info too.
    secret, ukm = bytes(range(32)), b"sender's ukm"
    info = shared_info(AES256_WRAP, 32, ukm)
    assert derive_kek("x25519", "sha256", secret, info, 32, ukm) == (
        _hkdf_rfc5869(secret, info, 32, salt=ukm)
    )


def test_x963_kdf_ignores_the_salt_argument():
    # RFC 5753 has no salt: the ukm reaches the X9.63 KDF only in info.
    secret, info = bytes(range(32)), shared_info(AES256_WRAP, 32, b"u")
    assert derive_kek("ecdh", "sha256", secret, info, 32, b"u") == (
        X963KDF(hashes.SHA256(), 32, info).derive(secret)
    )
