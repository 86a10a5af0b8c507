"""Announced SMIMECapabilities decide when AES-CBC is needed."""

from __future__ import annotations

import base64
import email

import pytest
from asn1crypto import cms, x509

from govsign.cms.capabilities import announced_ciphers
from govsign.cms.enveloped import ContentEncryption, Recipient
from govsign.errors import MalformedMessageError
from govsign.smime.encryption import decrypt, encrypt
from govsign.smime.signing import sign_message
from tests.conftest import make_message


def _signed_data(capability_oids: list[str] | None) -> bytes:
    attrs = [
        {"type": "content_type", "values": ["data"]},
        {"type": "message_digest", "values": [bytes(32)]},
    ]
    if capability_oids is not None:
        attrs.append(
            {
                "type": "smime_capabilities",
                "values": [[{"capability_id": o} for o in capability_oids]],
            }
        )
    signer = {
        "version": "v1",
        "sid": {
            "issuer_and_serial_number": {
                "issuer": x509.Name.build({"common_name": "Old client CA"}),
                "serial_number": 7,
            }
        },
        "digest_algorithm": {"algorithm": "sha256"},
        "signed_attrs": attrs,
        "signature_algorithm": {"algorithm": "rsassa_pkcs1v15"},
        "signature": bytes(256),
    }
    return cms.ContentInfo(
        {
            "content_type": "signed_data",
            "content": {
                "version": "v1",
                "digest_algorithms": [{"algorithm": "sha256"}],
                "encap_content_info": {"content_type": "data"},
                "signer_infos": [signer],
            },
        }
    ).dump()


def test_govsign_signatures_announce_gcm_first(demo_pki):
    signed = sign_message(make_message(), demo_pki.clerk)
    message = email.message_from_bytes(signed)
    p7s = next(
        p.get_payload(decode=True)
        for p in message.walk()
        if p.get_content_type() == "application/pkcs7-signature"
    )
    assert announced_ciphers(p7s) == (
        ContentEncryption.AES256_GCM,
        ContentEncryption.AES128_GCM,
        ContentEncryption.AES256_CBC,
        ContentEncryption.AES128_CBC,
    )


def test_old_client_gets_cbc_and_3des_is_never_chosen(enc_pki):
    capabilities = announced_ciphers(
        _signed_data(["2.16.840.1.101.3.4.1.2", "1.2.840.113549.3.7"])
    )
    assert capabilities == (ContentEncryption.AES128_CBC,)
    recipient = Recipient(
        enc_pki.keys["rsa"].certificate, capabilities=capabilities
    )
    encrypted = encrypt(make_message(), [recipient])
    assert b"smime-type=enveloped-data" in encrypted
    result = decrypt(encrypted, enc_pki.keys["rsa"]).result
    assert result.content_encryption is ContentEncryption.AES128_CBC


def test_nothing_announced_means_unknown():
    assert announced_ciphers(_signed_data(None)) is None


def test_not_signed_data_raises_malformed():
    with pytest.raises(MalformedMessageError):
        announced_ciphers(base64.b64decode("MAA="))
