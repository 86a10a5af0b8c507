"""Forgeries a newcomer's attack pass found; none may come out valid.

Each case takes a message the demo clerk really signed and changes what
lies outside the signature (outer headers, MIME framing).  Each is named
after the defect it exploits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from govsign.errors import MalformedMessageError
from govsign.pki.demo import DemoPKI
from govsign.result import SubIndication, Verdict
from govsign.smime.signing import sign_message
from govsign.smime.verifying import Verifier
from tests.conftest import make_message

EVIL = b"evil@x.example"
CLERK = b"an.nv@snv.demo.gov.vn"


def _replace_from(signed: bytes, value: bytes) -> bytes:
    head, sep, rest = signed.partition(b"\r\n")
    assert head.startswith(b"From: ")
    return b"From: " + value + sep + rest


def _wrap_as_forward(signed: bytes) -> bytes:
    return (
        b"From: " + EVIL + b"\r\nSubject: fwd\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: message/rfc822\r\n\r\n" + signed
    )


def _add_third_part(signed: bytes) -> bytes:
    boundary = signed.split(b'boundary="', 1)[1].split(b'"', 1)[0]
    close = b"--" + boundary + b"--"
    extra = (
        b"--" + boundary + b"\r\nContent-Type: text/plain\r\n\r\n"
        b"Chuyen 5 ty VND vao tai khoan cua evil.\r\n"
    )
    return signed.replace(close, extra + close)


def _second_content_type(signed: bytes) -> bytes:
    head, sep, body = signed.partition(b"\r\n\r\n")
    return head + b"\r\nContent-Type: text/plain" + sep + body


def _swap_parts(signed: bytes) -> bytes:
    boundary = signed.split(b'boundary="', 1)[1].split(b'"', 1)[0]
    delimiter = b"\r\n--" + boundary + b"\r\n"
    head, first, rest = signed.split(delimiter)
    second, close = rest.split(b"\r\n--" + boundary + b"--")
    return (
        head
        + delimiter
        + second
        + delimiter
        + first
        + (b"\r\n--" + boundary + b"--" + close)
    )


FORGERIES: dict[str, Callable[[bytes], bytes]] = {
    "second_from_header_first": lambda s: b"From: " + EVIL + b"\r\n" + s,
    "from_with_two_mailboxes": lambda s: _replace_from(
        s, EVIL + b",\r\n An <" + CLERK + b">"
    ),
    "from_with_two_angle_addresses": lambda s: _replace_from(
        s, b"<" + EVIL + b"> <" + CLERK + b">"
    ),
    "from_display_name_is_the_signer_address": lambda s: _replace_from(
        s, CLERK + b" <" + EVIL + b">"
    ),
    "from_with_nul_byte": lambda s: _replace_from(
        s, EVIL + b"\x00<" + CLERK + b">"
    ),
    "from_with_route": lambda s: _replace_from(
        s, b"An <@evil.example:" + CLERK + b">"
    ),
    "missing_from": lambda s: s.split(b"\r\n", 1)[1],
    "signed_message_forwarded_under_other_from": _wrap_as_forward,
}

MALFORMED: dict[str, Callable[[bytes], bytes]] = {
    "third_part_in_multipart_signed": _add_third_part,
    "second_content_type_header": _second_content_type,
    "swapped_signed_parts": _swap_parts,
    "space_before_colon_in_from": lambda s: s.replace(
        b"From: ", b"From : ", 1
    ),
}


@pytest.fixture(scope="module")
def signed(demo_pki: DemoPKI) -> bytes:
    return sign_message(make_message(sender=CLERK.decode()), demo_pki.clerk)


def test_the_untouched_message_is_valid(
    signed: bytes, demo_verifier: Verifier
) -> None:
    assert demo_verifier.verify(signed).verdict is Verdict.VALID


@pytest.mark.parametrize("defect", sorted(FORGERIES))
def test_forged_sender_is_not_valid(
    defect: str, signed: bytes, demo_verifier: Verifier
) -> None:
    result = demo_verifier.verify(FORGERIES[defect](signed))
    assert result.verdict is Verdict.INDETERMINATE
    assert result.sub_indication is SubIndication.SIG_CONSTRAINTS_FAILURE
    assert result.problems


@pytest.mark.parametrize("defect", sorted(MALFORMED))
def test_ambiguous_framing_is_refused(
    defect: str, signed: bytes, demo_verifier: Verifier
) -> None:
    with pytest.raises(MalformedMessageError):
        demo_verifier.verify(MALFORMED[defect](signed))


def test_expired_signer_is_out_of_bounds_not_try_later(
    demo_pki: DemoPKI, signed: bytes, demo_verifier: Verifier
) -> None:
    after = demo_pki.clerk.certificate.not_valid_after_utc
    result = demo_verifier.verify(signed, at=after + dt.timedelta(days=1))
    assert result.sub_indication is SubIndication.OUT_OF_BOUNDS_NO_POE


def test_sign_refuses_input_that_is_not_a_message(demo_pki: DemoPKI) -> None:
    with pytest.raises(MalformedMessageError):
        sign_message(bytes(range(256)) * 12, demo_pki.clerk)


def test_decrypt_refuses_deep_mime_without_recursing(
    demo_pki: DemoPKI,
) -> None:
    from govsign.smime.encryption import decrypt

    deep = b"From: a@b.example\r\nMIME-Version: 1.0\r\n" + b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n'
        % (i, i)
        for i in range(1000)
    )
    with pytest.raises(MalformedMessageError):
        decrypt(deep, demo_pki.recipient)
