"""Token keys decrypt what ``openssl cms -encrypt`` made for them.

The EnvelopedData is taken apart here with asn1crypto (the CMS decrypt
command is another part of govsign); what this proves is that the token
key's decrypt_key_transport and key_agreement give OpenSSL's keys.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from asn1crypto import cms
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap

from govsign.errors import KeySourceError
from govsign.keys.base import KeyTransportPadding
from govsign.keys.pkcs11 import Pkcs11Key, open_pkcs11
from tests.softhsm import EC_LABEL, PIN, RSA_LABEL, TokenWorld

pytestmark = pytest.mark.interop

PLAINTEXT = "Tài liệu mật: chỉ Sở Tài chính được đọc.\r\n".encode()

# RFC 5753 / SEC 1: key agreement schemes -> the X9.63 KDF hash.
_KDF_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "1.3.133.16.840.63.0.2": hashes.SHA1,
    "1.3.132.1.11.0": hashes.SHA224,
    "1.3.132.1.11.1": hashes.SHA256,
    "1.3.132.1.11.2": hashes.SHA384,
    "1.3.132.1.11.3": hashes.SHA512,
}
_WRAP_KEY_BYTES = {
    "2.16.840.1.101.3.4.1.5": 16,
    "2.16.840.1.101.3.4.1.25": 24,
    "2.16.840.1.101.3.4.1.45": 32,
}


@pytest.fixture
def rsa_key(token_world: TokenWorld) -> Iterator[Pkcs11Key]:
    key = open_pkcs11(token_world.uri(object=RSA_LABEL), lambda: PIN.encode())
    yield key
    key.close()


@pytest.fixture
def ec_key(token_world: TokenWorld) -> Iterator[Pkcs11Key]:
    key = open_pkcs11(token_world.uri(object=EC_LABEL), lambda: PIN.encode())
    yield key
    key.close()


def _openssl_encrypt(
    tmp_path: Path, key: Pkcs11Key, *keyopts: str
) -> cms.EnvelopedData:
    plain = tmp_path / "plain.bin"
    plain.write_bytes(PLAINTEXT)
    cert = tmp_path / "recipient.pem"
    cert.write_bytes(key.certificate.public_bytes(serialization.Encoding.PEM))
    out = tmp_path / "enveloped.der"
    argv = [
        "openssl",
        "cms",
        "-encrypt",
        "-binary",
        "-aes-256-cbc",
        "-in",
        str(plain),
        "-outform",
        "DER",
        "-out",
        str(out),
        "-recip",
        str(cert),
    ]
    for option in keyopts:
        argv += ["-keyopt", option]
    subprocess.run(argv, check=True, capture_output=True, timeout=60)
    info = cms.ContentInfo.load(out.read_bytes())
    assert info["content_type"].native == "enveloped_data"
    return info["content"]


def _content(enveloped: cms.EnvelopedData, cek: bytes) -> bytes:
    eci = enveloped["encrypted_content_info"]
    algorithm = eci["content_encryption_algorithm"]
    assert algorithm["algorithm"].native == "aes256_cbc"
    iv = algorithm["parameters"].native
    decryptor = Cipher(algorithms.AES(cek), modes.CBC(iv)).decryptor()
    padded = decryptor.update(eci["encrypted_content"].native)
    padded += decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


@pytest.mark.parametrize(
    ("keyopts", "kind"),
    [
        ((), KeyTransportPadding.PKCS1V15),
        (
            ("rsa_padding_mode:oaep", "rsa_oaep_md:sha1"),
            KeyTransportPadding.OAEP_SHA1,
        ),
    ],
    ids=["pkcs1v15", "oaep-sha1"],
)
def test_rsa_key_transport_from_openssl(
    rsa_key: Pkcs11Key,
    tmp_path: Path,
    keyopts: tuple[str, ...],
    kind: KeyTransportPadding,
) -> None:
    enveloped = _openssl_encrypt(tmp_path, rsa_key, *keyopts)
    ktri = enveloped["recipient_infos"][0].chosen
    cek = rsa_key.decrypt_key_transport(ktri["encrypted_key"].native, kind)
    assert _content(enveloped, cek) == PLAINTEXT


def test_rsa_oaep_sha256_from_openssl_is_a_clear_token_limit(
    rsa_key: Pkcs11Key, tmp_path: Path
) -> None:
    enveloped = _openssl_encrypt(
        tmp_path, rsa_key, "rsa_padding_mode:oaep", "rsa_oaep_md:sha256"
    )
    ktri = enveloped["recipient_infos"][0].chosen
    with pytest.raises(KeySourceError, match="cannot decrypt"):
        rsa_key.decrypt_key_transport(
            ktri["encrypted_key"].native, KeyTransportPadding.OAEP_SHA256
        )


def test_ecdh_key_agreement_from_openssl(
    ec_key: Pkcs11Key, tmp_path: Path
) -> None:
    enveloped = _openssl_encrypt(tmp_path, ec_key)
    kari = enveloped["recipient_infos"][0].chosen
    originator = kari["originator"].chosen
    ephemeral = ec.EllipticCurvePublicKey.from_encoded_point(
        ec.SECP256R1(), originator["public_key"].native
    )

    # The token's part: the raw ECDH secret Z.
    shared = ec_key.key_agreement(ephemeral)

    # RFC 5753 section 7.2: X9.63 KDF over ECC-CMS-SharedInfo.
    scheme = kari["key_encryption_algorithm"]["algorithm"].dotted
    wrap_der = kari["key_encryption_algorithm"]["parameters"].dump()
    wrap = cms.KeyEncryptionAlgorithm.load(wrap_der)
    size = _WRAP_KEY_BYTES[wrap["algorithm"].dotted]
    ukm = kari["ukm"].native
    shared_info = b"".join(
        [
            wrap_der,
            _explicit(0, _octets(ukm)) if ukm else b"",
            _explicit(2, _octets((size * 8).to_bytes(4, "big"))),
        ]
    )
    kek = X963KDF(_KDF_HASHES[scheme](), size, _der(0x30, shared_info)).derive(
        shared
    )
    encrypted = kari["recipient_encrypted_keys"][0]["encrypted_key"].native
    cek = aes_key_unwrap(kek, encrypted)
    assert _content(enveloped, cek) == PLAINTEXT


def _der(tag: int, body: bytes) -> bytes:
    assert len(body) < 0x80
    return bytes([tag, len(body)]) + body


def _octets(data: bytes) -> bytes:
    return _der(0x04, data)


def _explicit(number: int, inner: bytes) -> bytes:
    return _der(0xA0 | number, inner)
