"""Encrypted mail opened with keys on a PKCS#11 token (SoftHSM2).

decrypt reaches the key only through the Decrypter interface, so a token
key must work as a .p12 does: RSA-OAEP and v1.5 key transport and ECDH,
with GCM and CBC content, as far as the token implements them.  SoftHSM2
offers RSA-OAEP only with SHA-1, which govsign reads but never writes.
"""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator

import pytest
from asn1crypto import cms
from cryptography.hazmat.primitives import serialization

from govsign.cms.enveloped import ContentEncryption, Recipient
from govsign.errors import DecryptionError, KeySourceError
from govsign.keys.base import KeyTransportPadding
from govsign.keys.pkcs11 import Pkcs11Key, open_pkcs11
from govsign.smime.encryption import decrypt, encrypt
from tests.conftest import make_message, require_tool
from tests.softhsm import EC_LABEL, PIN, RSA_LABEL, TokenWorld

pytestmark = pytest.mark.interop

ENTITY = b"Content-Type: text/plain\r\n\r\nG\xe1\xbb\xadi token.\r\n"


@pytest.fixture
def token_key(
    token_world: TokenWorld, request: pytest.FixtureRequest
) -> Iterator[Pkcs11Key]:
    key = open_pkcs11(
        token_world.uri(object=request.param), lambda: PIN.encode()
    )
    yield key
    key.close()


@pytest.mark.parametrize(
    ("token_key", "padding", "cipher"),
    [
        (RSA_LABEL, KeyTransportPadding.PKCS1V15, "aes256-gcm"),
        (RSA_LABEL, KeyTransportPadding.PKCS1V15, "aes128-cbc"),
        (EC_LABEL, KeyTransportPadding.OAEP_SHA256, "aes256-gcm"),
        (EC_LABEL, KeyTransportPadding.OAEP_SHA256, "aes256-cbc"),
    ],
    indirect=["token_key"],
)
def test_token_key_decrypts_govsign_mail(token_key, padding, cipher):
    message = make_message()
    encrypted = encrypt(
        message,
        [Recipient(token_key.certificate, padding)],
        content_encryption=ContentEncryption(cipher),
    )
    decrypted = decrypt(encrypted, token_key)
    assert "Đây là công văn.".encode() in decrypted.entity
    assert decrypted.result.content_encryption.value == cipher


@pytest.mark.parametrize("token_key", [RSA_LABEL], indirect=True)
def test_oaep_sha256_on_softhsm_is_a_clear_error(token_key):
    encrypted = encrypt(make_message(), [token_key.certificate])
    with pytest.raises(KeySourceError, match="cannot decrypt rsaes-oaep"):
        decrypt(encrypted, token_key)


@pytest.mark.parametrize("token_key", [RSA_LABEL], indirect=True)
def test_token_reads_openssl_oaep_sha1(token_key, tmp_path):
    openssl = require_tool("openssl")
    cert = tmp_path / "token.crt"
    cert.write_bytes(
        token_key.certificate.public_bytes(serialization.Encoding.PEM)
    )
    done = subprocess.run(
        [
            openssl,
            "cms",
            "-encrypt",
            "-binary",
            "-aes-256-gcm",
            "-recip",
            str(cert),
            "-keyopt",
            "rsa_padding_mode:oaep",
        ],
        input=ENTITY,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    decrypted = decrypt(done.stdout, token_key)
    assert decrypted.entity == ENTITY
    assert decrypted.result.key_management == "rsaes-oaep-sha1"


@pytest.mark.parametrize("token_key", [RSA_LABEL], indirect=True)
def test_token_pkcs1v15_failures_share_the_generic_error(token_key):
    # A wrapped key from another message (valid padding, wrong key) and
    # random bytes (bad padding): the same error, from the same place.
    def encrypted() -> bytes:
        return encrypt(
            make_message(),
            [Recipient(token_key.certificate, KeyTransportPadding.PKCS1V15)],
        )

    head, body = encrypted().split(b"\n\n", 1)
    der = base64.b64decode(body)
    wrapped = _wrapped_key(der)
    other = _wrapped_key(base64.b64decode(encrypted().split(b"\n\n", 1)[1]))
    for replacement in (other, b"\x00" + b"\x5a" * (len(wrapped) - 1)):
        tampered = base64.encodebytes(der.replace(wrapped, replacement))
        with pytest.raises(DecryptionError, match="^decryption failed$"):
            decrypt(head + b"\n\n" + tampered, token_key)


def _wrapped_key(der: bytes) -> bytes:
    ri = cms.ContentInfo.load(der)["content"]["recipient_infos"][0]
    return bytes(ri.chosen["encrypted_key"].native)
