"""MIME part headers in raw UTF-8 (RFC 6532) are signed in 7-bit form.

Mail clients that speak SMTPUTF8 write a Vietnamese attachment name as
raw UTF-8 (``filename="Phụ lục 01.pdf"``).  govsign refused to sign such
a message ("a header could not be expressed in 7-bit form"); found by
the property tests in tests/property.  RFC 8551 3.1 wants the signed
entity 7-bit, so the header is rewritten with RFC 2231 before signing.
"""

from __future__ import annotations

import email.parser
import email.policy

import pytest

from govsign.errors import MalformedMessageError
from govsign.pki.demo import DemoPKI
from govsign.result import Verdict
from govsign.smime.canonical import prepare_signed_entity
from govsign.smime.signing import sign_message
from govsign.smime.verifying import Verifier
from tests.conftest import make_message

_NAME = "Phụ lục 01 - Danh sách.pdf"


def _with_attachment(disposition: bytes) -> bytes:
    head = make_message(body="").split(b"\n\n", 1)[0].replace(b"\n", b"\r\n")
    return (
        head + b"\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + "Kính gửi Sở Tài chính\r\n".encode()
        + b"--b1\r\nContent-Type: application/pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n"
        + disposition
        + b"\r\n\r\nJVBERi0xLjcK\r\n--b1--\r\n"
    )


def test_raw_utf8_attachment_name_is_signed_and_valid(
    demo_pki: DemoPKI, demo_verifier: Verifier
) -> None:
    message = _with_attachment(
        b'Content-Disposition: attachment; filename="'
        + _NAME.encode("utf-8")
        + b'"'
    )

    signed = sign_message(message, demo_pki.clerk)

    assert signed.isascii()
    assert demo_verifier.verify(signed).verdict is Verdict.VALID
    entity = prepare_signed_entity(message).entity
    parsed = email.parser.BytesParser(policy=email.policy.SMTP).parsebytes(
        entity
    )
    attachment = list(parsed.iter_attachments())[0]
    assert attachment.get_filename() == _NAME


def test_attachment_name_in_undeclared_8bit_charset_is_still_refused() -> None:
    # Not UTF-8 (a TCVN3/VNI-era name in some 8-bit code): govsign cannot
    # know the characters, so it says so rather than guess.
    message = _with_attachment(
        b'Content-Disposition: attachment; filename="Ph\xf5 l\xf5c.pdf"'
    )

    with pytest.raises(MalformedMessageError, match="7-bit"):
        prepare_signed_entity(message)
