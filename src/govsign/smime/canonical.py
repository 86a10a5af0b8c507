"""RFC 8551 section 3.1: the canonical, 7-bit form of what gets signed.

A signature survives relays only if no relay has reason to touch the signed
bytes: lines end in CRLF, no line is longer than 998 octets, and nothing
but 7-bit text travels.  :func:`prepare_signed_entity` turns a message
into that form and separates the headers that stay outside the signature
(From, To, Subject...) from the content headers that go inside.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import quopri
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message

from govsign.errors import MalformedMessageError
from govsign.smime._mime import check_message

__all__ = [
    "PreparedMessage",
    "prepare_signed_entity",
    "canonical_chunks",
    "to_crlf",
    "encode_outer_header",
]

_MAX_LINE = 998
_CHUNK = 1 << 20
_BARE_LF = re.compile(rb"(?<!\r)\n")
_UNFOLD = re.compile(r"\r?\n(?=[ \t])")


def to_crlf(data: bytes) -> bytes:
    """Return ``data`` with every bare LF turned into CRLF."""
    if data.count(b"\n") == data.count(b"\r\n"):
        return data
    return _BARE_LF.sub(b"\r\n", data)


def canonical_chunks(
    data: bytes, start: int, end: int
) -> Iterator[bytes | memoryview]:
    """Yield ``data[start:end]`` with bare LFs as CRLF, without a full copy.

    Already-canonical content (the usual case: mail arrives with CRLF) is
    yielded as one zero-copy view.
    """
    if data.count(b"\n", start, end) == data.count(b"\r\n", start, end):
        yield memoryview(data)[start:end]
        return
    pos = start
    while pos < end:
        stop = min(pos + _CHUNK, end)
        # Never split between a CR and the LF after it.
        if stop < end and data[stop - 1] == 13:
            stop += 1
        yield _BARE_LF.sub(b"\r\n", data[pos:stop])
        pos = stop


@dataclass(frozen=True)
class PreparedMessage:
    """A message split for signing.

    ``outer_headers`` are complete header fields (folded, CRLF-terminated,
    7-bit) that stay outside the signature; ``entity`` is the MIME entity
    to sign, canonical and 7-bit.
    """

    outer_headers: tuple[bytes, ...]
    entity: bytes


def _split_header_block(block: bytes) -> list[bytes]:
    fields: list[bytes] = []
    for line in block.split(b"\r\n"):
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\r\n" + line
        else:
            fields.append(line)
    return fields


def _field_name(field: bytes) -> str:
    return field.split(b":", 1)[0].strip().decode("ascii", "replace").lower()


def encode_outer_header(field: bytes) -> bytes:
    """Return a header field as 7-bit bytes (RFC 2047 for UTF-8 text)."""
    if field.isascii():
        return field + b"\r\n"
    name, _, value = field.partition(b":")
    text = value.decode("utf-8", "replace").strip()
    text = " ".join(text.split())  # unfold before refolding
    policy = email.policy.SMTP
    header = policy.header_factory(name.decode("ascii", "replace"), text)
    folded: str = header.fold(policy=policy)
    return folded.encode("ascii")


def prepare_signed_entity(message: bytes) -> PreparedMessage:
    """Split ``message`` into outer headers and a canonical 7-bit entity.

    Raises :class:`MalformedMessageError` when ``message`` has no header.
    """
    check_message(message)
    data = to_crlf(message)
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        block, body = data, b""
    else:
        block, body = data[:head_end], data[head_end + 4 :]
    fields = _split_header_block(block)
    if not fields or b":" not in fields[0]:
        raise MalformedMessageError(
            "the input does not start with a mail header line"
        )

    content_fields = [
        f for f in fields if _field_name(f).startswith("content-")
    ]
    outer = [
        encode_outer_header(f)
        for f in fields
        if not _field_name(f).startswith("content-")
        and _field_name(f) != "mime-version"
    ]
    if not content_fields:
        # RFC 2045 5.2 default, except that text which is not ASCII is
        # taken to be UTF-8 (TCVN 6909:2001 is Unicode).
        charset = "us-ascii" if body.isascii() else "utf-8"
        content_fields = [
            b"Content-Type: text/plain; charset=" + charset.encode()
        ]
    entity = b"\r\n".join(content_fields) + b"\r\n\r\n" + body
    if _needs_reencoding(entity):
        entity = _reencode_seven_bit(entity)
    return PreparedMessage(tuple(outer), entity)


def _has_long_line(data: bytes) -> bool:
    # RFC 5322 2.1.1: 998 octets at most.  A find loop, not a regex or a
    # split: linear, and no copy of a 10 MB entity.
    start, size = 0, len(data)
    while start < size:
        end = data.find(b"\n", start)
        if end < 0:
            end = size
        if end - start > _MAX_LINE + 1:  # + 1 for the CR before the LF
            return True
        start = end + 1
    return False


def _needs_reencoding(entity: bytes) -> bool:
    return not entity.isascii() or _has_long_line(entity)


def _reencode_seven_bit(entity: bytes) -> bytes:
    # RFC 8551 3.1.2: 8-bit and binary parts get a 7-bit transfer
    # encoding before signing, so no relay converts them afterwards.
    parser = email.parser.BytesParser(policy=email.policy.SMTP)
    parsed = parser.parsebytes(entity)
    for part in parsed.walk():
        _reencode_utf8_headers(part)
        if part.is_multipart():
            continue
        _reencode_leaf(part)
    generated = parsed.as_bytes(policy=email.policy.SMTP)
    if not generated.isascii():
        raise MalformedMessageError(
            "a header could not be expressed in 7-bit form"
        )
    return generated


def _reencode_utf8_headers(part: Message) -> None:
    # RFC 6532 lets part headers carry raw UTF-8 (SMTPUTF8 clients write
    # Vietnamese file names so).  Set such fields again from their text,
    # so the generator writes them as RFC 2047 / RFC 2231.  Raw bytes
    # that are not UTF-8 stay, and the caller refuses the message.
    items = list(part.raw_items())
    if all(value.isascii() for _, value in items):
        return
    fixed = []
    for name, value in items:
        if not value.isascii():
            try:
                value = value.encode("ascii", "surrogateescape").decode()
            except UnicodeDecodeError:
                return
        fixed.append((name, _UNFOLD.sub("", value)))
    for name in {name for name, _ in items}:
        del part[name]
    for name, value in fixed:
        part[name] = value


def _reencode_leaf(part: Message) -> None:
    raw = part.get_payload(decode=False)
    raw_bytes = (
        raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
    )
    long_lines = any(len(line) > _MAX_LINE for line in raw_bytes.split(b"\n"))
    cte = str(part.get("Content-Transfer-Encoding", "7bit")).lower().strip()
    if (
        raw_bytes.isascii()
        and not long_lines
        and cte
        in (
            "7bit",
            "quoted-printable",
            "base64",
        )
    ):
        return
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        payload = b""
    if part.get_content_maintype() == "text":
        text = payload.replace(b"\r\n", b"\n")
        encoded = quopri.encodestring(text, quotetabs=False)
        encoded = encoded.replace(b"\n", b"\r\n")
        new_cte = "quoted-printable"
    else:
        encoded = base64.encodebytes(payload).replace(b"\n", b"\r\n")
        new_cte = "base64"
    del part["Content-Transfer-Encoding"]
    part["Content-Transfer-Encoding"] = new_cte
    part.set_payload(encoded.decode("ascii"))
