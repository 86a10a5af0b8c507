"""Properties of signing and verification, over generated messages.

1. Whatever message govsign signs (Vietnamese text in NFC or NFD, 8-bit
   bytes, lines over 998 octets, bare CR and LF, lines starting with
   "From " or "-", trailing white space, Vietnamese subjects, binary
   attachments), its own verifier says ``valid``, detached and opaque.
2. One changed byte in what a signature covers, or in the signature
   itself, never leaves the message ``valid``.

Outside property 2, by design of CMS (RFC 5652), are a few bytes no
signature covers and no verifier reads: the SignedData and SignerInfo
version numbers, the SignedData digestAlgorithms set (a one-pass hint;
the SignerInfo's own digestAlgorithm counts), the NULL parameters of an
AlgorithmIdentifier, and the unused-bits octet of a certificate's
signature BIT STRING (pyhanko-certvalidator reads it leniently).
tests/der_walk.py finds them by walking the DER, and the
property asserts they stay few.  The outer headers of a multipart/signed
message (From, Subject, ...) are not signed either and are not mutated.
"""

from __future__ import annotations

import base64
import email.utils
import os
import re
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from govsign.errors import MalformedMessageError
from govsign.pki.demo import DemoPKI
from govsign.result import Coverage, Verdict
from govsign.smime.signing import sign_message
from govsign.smime.verifying import Verifier
from tests.der_walk import unprotected_offsets

SENDER = "an.nv@snv.demo.gov.vn"

# 40 examples keep the suite quick on two cores; a nightly or a bug hunt
# raises it with GOVSIGN_PROPERTY_EXAMPLES.
PROPERTY_SETTINGS = settings(
    max_examples=int(os.environ.get("GOVSIGN_PROPERTY_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ------------------------------------------------------------ strategies

_VIETNAMESE = (
    "aăâbcdđeêghiklmnoôơpqrstuưvxy"
    "AĂÂBCDĐEÊGHIKLMNOÔƠPQRSTUƯVXY"
    "áàảãạắằẳẵặấầẩẫậéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵ"
    "ÁÀẢÃẠẮẰẲẴẶẤẦẨẪẬÉÈẺẼẸẾỀỂỄỆÍÌỈĨỊÓÒỎÕỌỐỒỔỖỘỚỜỞỠỢÚÙỦŨỤỨỪỬỮỰÝỲỶỸỴ"
)
# Combining marks as NFD text and old keyboards leave them.
_COMBINING = "\u0300\u0301\u0303\u0309\u0323\u0302\u0306\u031b"
_ALPHABET = _VIETNAMESE + _COMBINING + " \t.,;:-=/_()%0123456789\"'"

vietnamese_text = st.builds(
    lambda text, form: unicodedata.normalize(form, text) if form else text,
    st.text(alphabet=_ALPHABET, max_size=80),
    st.sampled_from(["NFC", "NFD", None]),
)

special_line = st.sampled_from(
    [
        "From the Director's office",
        "From ",
        ">From quoted",
        "-",
        "--",
        "-- ",
        "---- not a boundary",
        ".",
        "..",
        "=",
        "=3D",
        "begin 644 file",
        "",
    ]
)

long_line = st.builds(
    lambda n, word: (word * (n // max(len(word), 1) + 1))[:n],
    st.integers(min_value=999, max_value=2500),
    st.sampled_from(["x", "Trân trọng ", "ab cd ", "=="]),
)

trailing_space_line = st.builds(
    lambda text, pad: text + pad,
    vietnamese_text,
    st.sampled_from([" ", "  ", "\t", " \t "]),
)

line = st.one_of(vietnamese_text, special_line, long_line, trailing_space_line)
line_end = st.sampled_from(["\r\n", "\n", "\r", "\r\n"])


@st.composite
def text_body(draw: st.DrawFn) -> bytes:
    pieces = draw(st.lists(st.tuples(line, line_end), max_size=12))
    return "".join(text + end for text, end in pieces).encode("utf-8")


def _attachment(data: bytes, name: str, boundary: str, raw: bool) -> bytes:
    if raw:
        encoded, cte = data, b"binary"
    else:
        encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
        cte = b"base64"
    return (
        f"--{boundary}\r\n".encode()
        + b"Content-Type: application/octet-stream\r\n"
        + b"Content-Transfer-Encoding: "
        + cte
        + b"\r\n"
        + b'Content-Disposition: attachment; filename="'
        + name.encode("utf-8")
        + b'"\r\n\r\n'
        + encoded
        + b"\r\n"
    )


@st.composite
def mail_body(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """(content header fields, body): one of four shapes."""
    kind = draw(st.sampled_from(["bare", "utf8", "8bit", "mixed"]))
    if kind == "bare":
        # No Content-Type at all: govsign must pick one.
        return b"", draw(text_body())
    if kind == "utf8":
        return (
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n",
            draw(text_body()),
        )
    if kind == "8bit":
        # Legacy Vietnamese encodings (TCVN3, VNI) arrive as 8-bit bytes.
        return (
            b"Content-Type: text/plain; charset=windows-1258\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n",
            draw(st.binary(max_size=400)),
        )
    boundary = "=_b_" + draw(
        st.text("0123456789abcdef", min_size=16, max_size=16)
    )
    body = (
        f"--{boundary}\r\n".encode()
        + b"Content-Type: text/plain; charset=utf-8\r\n"
        + b"Content-Transfer-Encoding: 8bit\r\n\r\n"
        + draw(text_body())
        + b"\r\n"
    )
    attachments = draw(
        st.lists(
            st.tuples(
                st.binary(max_size=3000), vietnamese_text, st.booleans()
            ),
            min_size=1,
            max_size=3,
        )
    )
    for data, name, raw in attachments:
        clean = name.replace('"', "").replace("\\", "") or "tep.bin"
        body += _attachment(data, clean, boundary, raw)
    body += f"--{boundary}--\r\n".encode()
    return (
        f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n'.encode(),
        body,
    )


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    subject = draw(vietnamese_text).replace("\r", " ").replace("\n", " ")
    name = draw(vietnamese_text).replace("\r", " ").replace("\n", " ")
    name = name.replace('"', "").replace("\\", "").replace("<", "")
    sep = draw(st.sampled_from(["\r\n", "\n"])).encode()
    headers = [
        f'From: "{name}" <{SENDER}>'.encode(),
        b"To: binh.tt@stc.demo.gov.vn",
        b"Subject: " + subject.encode("utf-8"),
        b"Date: " + email.utils.formatdate().encode(),
        b"Message-ID: <prop@snv.demo.gov.vn>",
    ]
    content_headers, body = draw(mail_body())
    if content_headers:
        headers.append(b"MIME-Version: 1.0")
        headers.extend(content_headers.rstrip(b"\r\n").split(b"\r\n"))
    return sep.join(headers) + sep + sep + body


_CMS_BLOB = re.compile(
    rb"Content-Type: application/pkcs7-(?:signature|mime)[^\r\n]*"
    rb"(?:\r\n[^\r\n]+)*\r\n\r\n([A-Za-z0-9+/=\r\n]+)"
)


def cms_span(message: bytes) -> tuple[int, int]:
    found = _CMS_BLOB.search(message)
    assert found
    return found.start(1), found.end(1)


def with_cms(message: bytes, der: bytes) -> bytes:
    start, end = cms_span(message)
    blob = base64.encodebytes(der).replace(b"\n", b"\r\n")
    return message[:start] + blob + message[end:].lstrip(b"\r\n")


def signed_entity_span(message: bytes) -> tuple[int, int]:
    boundary = re.search(rb'boundary="([^"]+)"', message)
    assert boundary
    delimiter = b"--" + boundary.group(1)
    start = message.index(delimiter + b"\r\n") + len(delimiter) + 2
    return start, message.index(b"\r\n" + delimiter, start)


def verdict(verifier: Verifier, message: bytes) -> str:
    try:
        return verifier.verify(message).verdict.value
    except MalformedMessageError:
        return "malformed"


# --------------------------------------------------------- properties

both_forms = pytest.mark.parametrize(
    "opaque", [False, True], ids=["detached", "opaque"]
)


@both_forms
@PROPERTY_SETTINGS
@given(message=messages())
def test_whatever_govsign_signs_its_verifier_finds_valid(
    demo_pki: DemoPKI, demo_verifier: Verifier, opaque: bool, message: bytes
) -> None:
    signed = sign_message(message, demo_pki.clerk, opaque=opaque)

    result = demo_verifier.verify(signed)

    assert result.verdict is Verdict.VALID, result.problems
    assert result.coverage is Coverage.WHOLE
    assert signed.isascii()
    assert all(len(x) <= 998 for x in signed.split(b"\r\n"))


@both_forms
@PROPERTY_SETTINGS
@given(message=messages(), data=st.data())
def test_one_changed_byte_in_the_signature_is_never_valid(
    demo_pki: DemoPKI,
    demo_verifier: Verifier,
    opaque: bool,
    message: bytes,
    data: st.DataObject,
) -> None:
    signed = sign_message(message, demo_pki.clerk, opaque=opaque)
    start, end = cms_span(signed)
    der = base64.b64decode(signed[start:end])
    skip = unprotected_offsets(der)
    assert len(skip) < 40  # a handful of version, hint and NULL bytes
    offset = data.draw(
        st.integers(0, len(der) - 1).filter(lambda i: i not in skip),
        label="offset",
    )
    new = data.draw(
        st.integers(0, 255).filter(lambda b: b != der[offset]), label="byte"
    )
    changed = bytearray(der)
    changed[offset] = new

    outcome = verdict(demo_verifier, with_cms(signed, bytes(changed)))

    assert outcome != "valid"


@PROPERTY_SETTINGS
@given(message=messages(), data=st.data())
def test_one_changed_byte_in_the_signed_part_is_never_valid(
    demo_pki: DemoPKI,
    demo_verifier: Verifier,
    message: bytes,
    data: st.DataObject,
) -> None:
    signed = sign_message(message, demo_pki.clerk)
    start, end = signed_entity_span(signed)
    offset = data.draw(st.integers(start, end - 1), label="offset")
    new = data.draw(
        st.integers(0, 255).filter(lambda b: b != signed[offset]),
        label="byte",
    )
    changed = bytearray(signed)
    changed[offset] = new

    outcome = verdict(demo_verifier, bytes(changed))

    assert outcome != "valid"


def test_unprotected_offsets_are_few_and_really_unprotected(
    demo_pki: DemoPKI, demo_verifier: Verifier
) -> None:
    # The exclusions of the property above are not a blind spot: they are
    # exactly the fields named in the module docstring, and changing them
    # does leave a signature valid (so excluding them is necessary).
    signed = sign_message(
        b"From: " + SENDER.encode() + b"\r\n\r\nKinh gui\r\n", demo_pki.clerk
    )
    start, end = cms_span(signed)
    der = base64.b64decode(signed[start:end])

    skip = unprotected_offsets(der)

    # SignedData version (3) and digestAlgorithms (17), the unused-bits
    # octet of 2 certificates, SignerInfo version (3), and the NULL
    # parameters (2 x 2) of RSA PKCS#1 v1.5's two AlgorithmIdentifiers.
    assert len(skip) == 3 + 17 + 2 + 3 + 2 * 2
    version_value = min(skip) + 2
    changed = bytearray(der)
    changed[version_value] = 0x03
    assert verdict(demo_verifier, with_cms(signed, bytes(changed))) == "valid"
