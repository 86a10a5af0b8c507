"""S/MIME framing of encrypted mail, EFAIL rules, sign+encrypt."""

from __future__ import annotations

import base64
import email
import email.policy
import email.utils

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from govsign.cms.enveloped import ContentEncryption, Recipient, build_envelope
from govsign.errors import (
    DecryptionError,
    GovsignError,
    MalformedMessageError,
)
from govsign.pki.trust import TrustStore
from govsign.result import Verdict
from govsign.smime.encryption import (
    choose_content_encryption,
    decrypt,
    encrypt,
)
from govsign.smime.sign_encrypt import decrypt_and_verify, sign_and_encrypt
from govsign.smime.signing import sign_message
from govsign.smime.verifying import Verifier

LETTER = (
    "From: an.nv@snv.demo.gov.vn\r\n"
    "To: binh.tt@stc.demo.gov.vn\r\n"
    "Subject: =?utf-8?b?Q8O0bmcgdsSDbg==?=\r\n"
    "Date: {date}\r\n"
    "Message-ID: <letter-1@snv.demo.gov.vn>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "Kính gửi: Sở Tài chính tỉnh Demo.\r\n"
    "Trân trọng.\r\n"
)


def _letter() -> bytes:
    date = email.utils.format_datetime(email.utils.localtime())
    return LETTER.format(date=date).encode("utf-8")


def _headers(message: bytes) -> email.message.Message:
    return email.message_from_bytes(message)


def test_encrypt_keeps_routing_headers_outside_content_inside(enc_pki):
    encrypted = encrypt(_letter(), [enc_pki.keys["rsa"].certificate])
    outer = _headers(encrypted)
    assert outer["From"] == "an.nv@snv.demo.gov.vn"
    assert outer["Message-ID"] == "<letter-1@snv.demo.gov.vn>"
    assert outer.get_content_type() == "application/pkcs7-mime"
    assert outer.get_param("smime-type") == "authEnveloped-data"
    assert outer.get_param("name") == "smime.p7m"
    assert outer["Content-Transfer-Encoding"] == "base64"
    assert b"Tr\xc3\xa2n tr\xe1\xbb\x8dng" not in encrypted
    assert encrypted.count(b"MIME-Version") == 1

    decrypted = decrypt(encrypted, enc_pki.keys["rsa"])
    assert decrypted.entity.startswith(
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n"
    )
    assert "Trân trọng.".encode() in decrypted.entity
    readable = _headers(decrypted.message)
    assert readable["Subject"] == "=?utf-8?b?Q8O0bmcgdsSDbg==?="
    assert readable.get_content_type() == "text/plain"


def test_lf_input_keeps_lf_outside_and_crlf_inside(enc_pki):
    letter = _letter().replace(b"\r\n", b"\n")
    encrypted = encrypt(letter, [enc_pki.keys["p256"].certificate])
    assert b"\r\n" not in encrypted
    entity = decrypt(encrypted, enc_pki.keys["p256"]).entity
    assert b"\r\n\r\nK" in entity
    assert b"\n" not in entity.replace(b"\r\n", b"")


def test_message_without_content_type_gets_text_plain_inside(enc_pki):
    message = b"From: a@example.vn\r\nSubject: x\r\n\r\nplain body\r\n"
    encrypted = encrypt(message, [enc_pki.keys["rsa"].certificate])
    entity = decrypt(encrypted, enc_pki.keys["rsa"]).entity
    assert entity == (
        b"Content-Type: text/plain; charset=us-ascii\r\n\r\nplain body\r\n"
    )


def test_empty_message_refused(enc_pki):
    with pytest.raises(MalformedMessageError, match="empty"):
        encrypt(b"  \r\n", [enc_pki.keys["rsa"].certificate])


def test_sender_copy_stays_readable(enc_pki):
    clerk = enc_pki.keys["clerk"]
    encrypted = encrypt(
        _letter(),
        [enc_pki.keys["p384"].certificate],
        sender=clerk.certificate,
    )
    result = decrypt(encrypted, clerk).result
    assert len(result.recipients) == 2
    assert decrypt(encrypted, enc_pki.keys["p384"]).entity


def test_cbc_is_reported_not_integrity_protected(enc_pki):
    encrypted = encrypt(
        _letter(),
        [enc_pki.keys["rsa"].certificate],
        content_encryption=ContentEncryption.AES256_CBC,
    )
    assert _headers(encrypted).get_param("smime-type") == "enveloped-data"
    result = decrypt(encrypted, enc_pki.keys["rsa"]).result
    assert result.integrity_protected is False
    assert result.structure == "EnvelopedData"
    assert any("not integrity-protected" in w for w in result.warnings)
    assert result.to_dict()["integrity_protected"] is False


def test_gcm_result_is_integrity_protected(enc_pki):
    encrypted = encrypt(_letter(), [enc_pki.keys["x25519"].certificate])
    result = decrypt(encrypted, enc_pki.keys["x25519"]).result
    assert result.integrity_protected is True
    assert result.content_encryption is ContentEncryption.AES256_GCM
    assert result.key_management == "x25519-hkdf-sha256+aes256-wrap"
    assert result.warnings == ()


def test_capabilities_choose_cbc_only_when_a_recipient_needs_it(enc_pki):
    cert = enc_pki.keys["rsa"].certificate
    modern = Recipient(cert)
    old = Recipient(
        cert,
        capabilities=(
            ContentEncryption.AES256_CBC,
            ContentEncryption.AES128_CBC,
        ),
    )
    gcm128 = Recipient(cert, capabilities=(ContentEncryption.AES128_GCM,))
    assert choose_content_encryption([modern]) is ContentEncryption.AES256_GCM
    assert choose_content_encryption([modern, gcm128]) is (
        ContentEncryption.AES128_GCM
    )
    assert choose_content_encryption([modern, old]) is (
        ContentEncryption.AES256_CBC
    )
    assert choose_content_encryption([gcm128, old]) is (
        ContentEncryption.AES128_CBC
    )


def test_tampered_gcm_message_releases_nothing(enc_pki):
    encrypted = encrypt(_letter(), [enc_pki.keys["rsa"].certificate])
    head, body = encrypted.split(b"\r\n\r\n", 1)
    der = bytearray(base64.b64decode(body))
    der[-20] ^= 0x01  # inside the ciphertext
    tampered = head + b"\r\n\r\n" + base64.encodebytes(bytes(der))
    with pytest.raises(DecryptionError, match="^decryption failed$"):
        decrypt(tampered, enc_pki.keys["rsa"])


def _part(content_type: str, body: bytes, encoding: str = "7bit") -> bytes:
    return (
        f"Content-Type: {content_type}\r\n"
        f"Content-Transfer-Encoding: {encoding}\r\n\r\n"
    ).encode() + body


def _multipart(subtype: str, *parts: bytes) -> bytes:
    out = (
        b"From: attacker@example.com\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/" + subtype.encode() + b'; boundary="b"'
        b"\r\n\r\n"
    )
    for part in parts:
        out += b"--b\r\n" + part + b"\r\n"
    return out + b"--b--\r\n"


def _encrypted_part(enc_pki) -> bytes:
    encrypted = encrypt(_letter(), [enc_pki.keys["rsa"].certificate])
    body = encrypted.split(b"\r\n\r\n", 1)[1]
    return _part(
        "application/pkcs7-mime; smime-type=authEnveloped-data",
        body,
        "base64",
    )


def test_efail_encrypted_part_beside_plain_text_refused(enc_pki):
    message = _multipart(
        "mixed",
        _part("text/html", b'<img src="http://attacker.example/'),
        _encrypted_part(enc_pki),
        _part("text/html", b'">'),
    )
    with pytest.raises(MalformedMessageError, match="EFAIL"):
        decrypt(message, enc_pki.keys["rsa"])


def test_efail_encrypted_alternatives_refused(enc_pki):
    message = _multipart(
        "alternative",
        _encrypted_part(enc_pki),
        _encrypted_part(enc_pki),
        _part("text/plain", b""),
    )
    with pytest.raises(MalformedMessageError, match="EFAIL"):
        decrypt(message, enc_pki.keys["rsa"])


def test_plain_message_is_not_encrypted(enc_pki):
    with pytest.raises(MalformedMessageError, match="not encrypted"):
        decrypt(_letter(), enc_pki.keys["rsa"])


def test_corrupt_base64_body_raises_malformed(enc_pki):
    encrypted = encrypt(_letter(), [enc_pki.keys["rsa"].certificate])
    head = encrypted.split(b"\r\n\r\n", 1)[0]
    with pytest.raises(MalformedMessageError):
        decrypt(head + b"\r\n\r\n!!!!not base64!!!!\r\n", enc_pki.keys["rsa"])


def test_empty_encrypted_body_raises_malformed(enc_pki):
    encrypted = encrypt(_letter(), [enc_pki.keys["rsa"].certificate])
    head = encrypted.split(b"\r\n\r\n", 1)[0]
    with pytest.raises(MalformedMessageError, match="empty"):
        decrypt(head + b"\r\n\r\n", enc_pki.keys["rsa"])


def test_outer_signature_is_peeled_and_named(enc_pki):
    encrypted = encrypt(_letter(), [enc_pki.keys["rsa"].certificate])
    head, body = encrypted.split(b"\r\n\r\n", 1)
    routing = b"\r\n".join(
        line
        for line in head.split(b"\r\n")
        if not line.lower().startswith((b"content-", b" ", b"mime-"))
    )
    wrapped = (
        routing + b"\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/signed; protocol="application/'
        b'pkcs7-signature"; micalg=sha-256; boundary="s"\r\n\r\n'
        b"--s\r\n"
        + _part(
            "application/pkcs7-mime; smime-type=authEnveloped-data",
            body,
            "base64",
        )
        + b"\r\n--s\r\n"
        + _part("application/pkcs7-signature", b"AAAA", "base64")
        + b"\r\n--s--\r\n"
    )
    decrypted = decrypt(wrapped, enc_pki.keys["rsa"])
    assert decrypted.result.outer_signature is not None
    assert "Trân trọng".encode() in decrypted.entity


def test_inner_header_fields_win_over_outer(enc_pki):
    # RFC 9788 header protection: a Subject inside replaces the outer one.
    message = (
        b"From: a@example.vn\r\nSubject: outer\r\n"
        b"Content-Type: text/plain\r\n\r\nbody\r\n"
    )
    encrypted = encrypt(message, [enc_pki.keys["rsa"].certificate])
    head = encrypted.split(b"\r\n\r\n", 1)[0]
    entity = b"Subject: inner\r\nContent-Type: text/plain\r\n\r\nbody\r\n"
    der = build_envelope(entity, [Recipient(enc_pki.keys["rsa"].certificate)])
    protected = head + b"\r\n\r\n" + base64.encodebytes(der)
    decrypted = decrypt(protected, enc_pki.keys["rsa"])
    assert decrypted.message == (
        b"From: a@example.vn\r\nMIME-Version: 1.0\r\n" + entity
    )


# ------------------------------------------------ sign, then encrypt


@pytest.fixture(scope="module")
def verifier(enc_pki) -> Verifier:
    demo = enc_pki.demo
    return Verifier(TrustStore.of([demo.root.certificate]), crls=demo.crls)


def test_sign_then_encrypt_then_decrypt_and_verify(enc_pki, verifier):
    clerk = enc_pki.keys["clerk"]
    sealed = sign_and_encrypt(
        _letter(), clerk, [enc_pki.keys["p256"].certificate]
    )
    assert _headers(sealed).get_content_type() == "application/pkcs7-mime"
    for reader in ("p256", "clerk"):  # the sender's copy too
        opened = decrypt_and_verify(sealed, enc_pki.keys[reader], verifier)
        assert opened.verification.verdict is Verdict.VALID, (
            opened.verification.problems
        )
        assert opened.trustworthy
        assert opened.decryption.content_encryption is (
            ContentEncryption.AES256_GCM
        )
        (signer,) = opened.verification.signers
        assert signer.email == ("an.nv@snv.demo.gov.vn",)
        summary = opened.to_dict()
        assert summary["decryption"]["integrity_protected"] is True
        assert summary["verification"]["verdict"] == "valid"


def test_sign_then_encrypt_without_sender_copy(enc_pki):
    sealed = sign_and_encrypt(
        _letter(),
        enc_pki.keys["clerk"],
        [enc_pki.keys["rsa"].certificate],
        include_sender=False,
    )
    with pytest.raises(DecryptionError, match="not encrypted for"):
        decrypt(sealed, enc_pki.keys["clerk"])


def test_tampered_signed_cbc_message_is_caught_by_the_signature(
    enc_pki, verifier
):
    # CBC has no integrity; the signature inside is what catches a change.
    sealed = sign_and_encrypt(
        _letter(),
        enc_pki.keys["clerk"],
        [enc_pki.keys["rsa"].certificate],
        content_encryption=ContentEncryption.AES256_CBC,
    )
    opened = decrypt_and_verify(sealed, enc_pki.keys["rsa"], verifier)
    assert opened.verification.verdict is Verdict.VALID
    assert opened.decryption.integrity_protected is False


def test_decrypt_and_verify_unsigned_message_says_unsigned(enc_pki, verifier):
    encrypted = encrypt(_letter(), [enc_pki.keys["rsa"].certificate])
    opened = decrypt_and_verify(encrypted, enc_pki.keys["rsa"], verifier)
    assert opened.verification.verdict is Verdict.UNSIGNED
    assert not opened.trustworthy


def test_sign_with_signing_only_seal_leaves_the_seal_out(enc_pki, verifier):
    seal = enc_pki.demo.seal  # keyUsage without keyEncipherment
    sealed = sign_and_encrypt(
        _letter().replace(b"an.nv@", b"vanthu@"),
        seal,
        [enc_pki.keys["rsa"].certificate],
    )
    opened = decrypt_and_verify(sealed, enc_pki.keys["rsa"], verifier)
    assert len(opened.decryption.recipients) == 1
    assert opened.verification.verdict is Verdict.VALID, (
        opened.verification.problems
    )


def test_raw_utf8_subject_travels_rfc2047_encoded(enc_pki):
    message = (
        "From: an.nv@snv.demo.gov.vn\r\nSubject: Công văn số 15\r\n"
        "\r\nNội dung.\r\n"
    ).encode()
    encrypted = encrypt(message, [enc_pki.keys["rsa"].certificate])
    head = encrypted.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    subject = email.message_from_bytes(encrypted, policy=email.policy.default)[
        "Subject"
    ]
    assert subject == "Công văn số 15"
    entity = decrypt(encrypted, enc_pki.keys["rsa"]).entity
    assert entity.startswith(b"Content-Type: text/plain; charset=utf-8\r\n")


def test_input_without_header_refused(enc_pki):
    with pytest.raises(MalformedMessageError, match="header line"):
        encrypt(b"just some text\r\n", [enc_pki.keys["rsa"].certificate])


def test_efail_extra_part_in_outer_multipart_signed_refused(enc_pki):
    # multipart/signed around the envelope, with attacker text as a third
    # part: not a signature pair, so nothing is decrypted.
    encrypted = encrypt(_letter(), [enc_pki.keys["rsa"].certificate])
    body = encrypted.split(b"\r\n\r\n", 1)[1]
    message = (
        b"From: attacker@example.com\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/signed; protocol="application/'
        b'pkcs7-signature"; micalg=sha-256; boundary="s"\r\n\r\n'
        b"--s\r\n"
        + _part(
            "application/pkcs7-mime; smime-type=authEnveloped-data",
            body,
            "base64",
        )
        + b"\r\n--s\r\n"
        + _part("text/html", b"<img src='http://attacker.example/")
        + b"\r\n--s\r\n"
        + _part("application/pkcs7-signature", b"AAAA", "base64")
        + b"\r\n--s--\r\n"
    )
    with pytest.raises(MalformedMessageError, match="EFAIL"):
        decrypt(message, enc_pki.keys["rsa"])


def test_opaque_signature_without_smime_type_is_peeled(enc_pki):
    # Older agents write application/x-pkcs7-mime with no smime-type.
    clerk = enc_pki.keys["clerk"]
    encrypted = encrypt(_letter(), [enc_pki.keys["rsa"].certificate])
    signed = sign_message(encrypted, clerk, opaque=True)
    signed = signed.replace(
        b"application/pkcs7-mime; smime-type=signed-data;",
        b"application/x-pkcs7-mime;",
    )
    assert b"smime-type" not in signed.split(b"\r\n\r\n", 1)[0]
    decrypted = decrypt(signed, enc_pki.keys["rsa"])
    assert decrypted.result.outer_signature is not None
    assert "Trân trọng".encode() in decrypted.entity


def test_envelope_without_smime_type_is_read(enc_pki):
    encrypted = encrypt(_letter(), [enc_pki.keys["rsa"].certificate])
    bare = encrypted.replace(b" smime-type=authEnveloped-data;", b"")
    assert b"smime-type" not in bare
    assert decrypt(bare, enc_pki.keys["rsa"]).entity


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_property_damaged_message_never_escapes_as_a_traceback(enc_pki, data):
    # Any byte of the whole message, headers included, changed to any
    # value: a govsign error, or the very entity that was encrypted.
    message = _DAMAGE_TARGET.get(enc_pki)
    index = data.draw(st.integers(0, len(message) - 1))
    value = data.draw(st.integers(0, 255))
    damaged = message[:index] + bytes([value]) + message[index + 1 :]
    try:
        decrypted = decrypt(damaged, enc_pki.keys["p256"])
    except GovsignError:
        return
    assert decrypted.entity == _DAMAGE_ENTITY


_DAMAGE_ENTITY = b"Content-Type: text/plain\r\n\r\nbi mat\r\n"


class _Target:
    def __init__(self) -> None:
        self._message: bytes | None = None

    def get(self, enc_pki) -> bytes:
        if self._message is None:
            self._message = encrypt(
                b"From: a@example.vn\r\n" + _DAMAGE_ENTITY,
                [
                    enc_pki.keys["rsa"].certificate,
                    enc_pki.keys["p256"].certificate,
                ],
            )
        return self._message


_DAMAGE_TARGET = _Target()
