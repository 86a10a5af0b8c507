"""Bad input: every defect gets a clear error or a failing verdict.

Each case is named after its defect.  None may raise anything but
:class:`MalformedMessageError`, none may hang, and none may come out
``valid``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest

from govsign.errors import MalformedMessageError
from govsign.pki.demo import DemoPKI
from govsign.result import Verdict
from govsign.smime.signing import sign_message
from govsign.smime.verifying import Verifier
from tests.conftest import make_message

Builder = Callable[[bytes, bytes], bytes]


def _signed_parts(signed: bytes) -> tuple[bytes, bytes]:
    """Split a detached signed message into (before sig, base64 sig)."""
    marker = b'filename="smime.p7s"\r\n'
    head, _, tail = signed.partition(marker)
    head += marker
    sig_start = tail.index(b"\r\n\r\n") + 4
    sig_end = tail.index(b"\r\n--", sig_start)
    return head + tail[:sig_start], tail[sig_start:sig_end]


def _replace_signature(signed: bytes, new_der: bytes) -> bytes:
    before, old = _signed_parts(signed)
    return signed.replace(
        old,
        base64.encodebytes(new_der).replace(b"\n", b"\r\n").rstrip(b"\r\n"),
    )


def _der_of(signed: bytes) -> bytes:
    return base64.b64decode(_signed_parts(signed)[1])


MULTIPART_HEAD = b"From: an.nv@snv.demo.gov.vn\r\nMIME-Version: 1.0\r\n"

DEFECTS: dict[str, Builder] = {
    "empty_file": lambda s, o: b"",
    "only_whitespace": lambda s, o: b"\r\n \r\n\t\r\n",
    "binary_garbage": lambda s, o: bytes(range(256)) * 4,
    "der_cms_instead_of_mail": lambda s, o: _der_of(s),
    "multipart_without_boundary": lambda s, o: (
        MULTIPART_HEAD + b"Content-Type: multipart/mixed\r\n\r\nbody\r\n"
    ),
    "multipart_boundary_never_used": lambda s, o: (
        MULTIPART_HEAD
        + b'Content-Type: multipart/mixed; boundary="b"\r\n\r\nno parts\r\n'
    ),
    "multipart_signed_with_one_part": lambda s, o: (
        MULTIPART_HEAD
        + b'Content-Type: multipart/signed; protocol="application/'
        b'pkcs7-signature"; boundary="b"\r\n\r\n--b\r\n\r\ntext\r\n--b--\r\n'
    ),
    "truncated_cms": lambda s, o: _replace_signature(s, _der_of(s)[:200]),
    "garbage_cms": lambda s, o: _replace_signature(s, b"\x30\x03abc" * 20),
    "cms_of_wrong_content_type": lambda s, o: _replace_signature(
        s,
        bytes.fromhex("3014")
        + bytes.fromhex("06092a864886f70d010703")  # envelopedData
        + bytes.fromhex("a0073005020100310000")[:9],
    ),
    "signature_not_base64": lambda s, o: s.replace(
        _signed_parts(s)[1], b"!!!! not base64 at all ####"
    ),
    "signature_base64_bad_padding": lambda s, o: s.replace(
        _signed_parts(s)[1], b"QUJD="
    ),
    "opaque_body_garbage": lambda s, o: (
        o.split(b"\r\n\r\n")[0]
        + b"\r\n\r\n"
        + base64.encodebytes(b"\x30\x80garbage")
    ),
    "opaque_truncated": lambda s, o: o[: len(o) // 2],
    "deeply_nested_multiparts": lambda s, o: (
        MULTIPART_HEAD
        + b"".join(
            b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n'
            % (i, i)
            for i in range(200)
        )
        + b"Content-Type: text/plain\r\n\r\nx\r\n"
    ),
    "ten_thousand_empty_parts": lambda s, o: (
        MULTIPART_HEAD
        + b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        + b"--b\r\n\r\n" * 20_000
        + b"--b--\r\n"
    ),
    "header_without_body_separator": lambda s, o: (
        b"From: x@y\r\nContent-Type: multipart/signed; boundary=zz"
    ),
    "signed_data_without_signers": lambda s, o: _replace_signature(
        s,
        bytes.fromhex(
            "302306092a864886f70d010702a0163014020101310030"
            "0b06092a864886f70d0107013100"
        ),
    ),
}


@pytest.fixture(scope="module")
def samples(demo_pki: DemoPKI) -> tuple[bytes, bytes]:
    message = make_message()
    return (
        sign_message(message, demo_pki.clerk),
        sign_message(message, demo_pki.clerk, opaque=True),
    )


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_defect_gives_clear_error_or_failing_verdict(
    defect: str, samples: tuple[bytes, bytes], demo_verifier: Verifier
) -> None:
    data = DEFECTS[defect](*samples)
    try:
        result = demo_verifier.verify(data)
    except MalformedMessageError as exc:
        assert str(exc)
        assert "Traceback" not in str(exc)
        return
    assert result.verdict is not Verdict.VALID
    if result.verdict is not Verdict.UNSIGNED:
        assert result.problems
