"""A MIME walker that keeps every part's exact bytes.

A signature covers bytes, not a parsed model: re-serialising a message with
the ``email`` package can change it.  This walker finds headers and part
boundaries by offset into the original buffer (no copies), and parses only
the small header blocks with the standard library.
"""

from __future__ import annotations

import base64
import binascii
import email.parser
import email.policy
import email.utils
import quopri
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message

from govsign.errors import MalformedMessageError

__all__ = [
    "Entity",
    "MAX_DEPTH",
    "check_message",
    "MAX_PARTS",
    "decode_body",
    "has_content",
    "parse_entity",
]

MAX_DEPTH = 32
MAX_PARTS = 10_000

_HEADER_LINE = re.compile(rb"[!-9;-~]+[ \t]*:")
_NOT_BLANK = re.compile(rb"\S")


def has_content(data: bytes, start: int, end: int) -> bool:
    """True when ``data[start:end]`` holds a non-blank byte (no copy)."""
    return _NOT_BLANK.search(data, start, end) is not None


_HEADER_PARSER = email.parser.BytesHeaderParser(policy=email.policy.compat32)


@dataclass
class Entity:
    """One MIME entity: byte offsets into ``data`` and its parsed headers.

    ``number`` is the IMAP-style part number ("" for the whole message,
    "1.2" for the second child of the first part).
    """

    data: bytes
    start: int
    body_start: int
    end: int
    headers: Message
    number: str
    children: list[Entity] = field(default_factory=list)

    @property
    def content_type(self) -> str:
        return self.headers.get_content_type()

    def param(self, name: str) -> str | None:
        value = self.headers.get_param(name)
        if value is None or isinstance(value, str):
            return value
        return email.utils.collapse_rfc2231_value(value)

    def raw(self) -> memoryview:
        """The entity's bytes, headers included, without copying."""
        return memoryview(self.data)[self.start : self.end]

    def body(self) -> memoryview:
        return memoryview(self.data)[self.body_start : self.end]

    def walk(self) -> Iterator[Entity]:
        yield self
        for child in self.children:
            yield from child.walk()


def _header_end(data: bytes, start: int, end: int) -> tuple[int, int]:
    """Return (end of header block, start of body) within [start, end)."""
    if data.startswith(b"\r\n", start) and start + 2 <= end:
        return start, start + 2
    if data.startswith(b"\n", start) and start + 1 <= end:
        return start, start + 1
    crlf = data.find(b"\r\n\r\n", start, end)
    # Only a "\n\n" before the CRLF one can win; without this bound every
    # part of a CRLF message scanned all the rest of it (10 MB: 5 scans).
    lf = data.find(b"\n\n", start, end if crlf < 0 else crlf)
    candidates = [(crlf, 4), (lf, 2)]
    found = [(pos, size) for pos, size in candidates if pos >= 0]
    if not found:
        return end, end
    pos, size = min(found)
    return pos + size // 2, pos + size


# Fields that decide how a part is read: two of them make the part mean
# different things to different readers (RFC 2045 and 2183).
_ONCE_PER_ENTITY = (
    "content-type",
    "content-transfer-encoding",
    "content-disposition",
)
_FIELD_NAME = re.compile(rb"([^:\s]*)(\s*):")


def _check_header_block(block: bytes, number: str) -> None:
    """Refuse header blocks that readers could parse differently."""
    where = f"part {number}" if number else "the message"
    seen: dict[bytes, int] = {}
    for line in block.splitlines():
        if not line or line[:1] in (b" ", b"\t"):
            continue
        match = _FIELD_NAME.match(line)
        if match is None or not match.group(1):
            raise MalformedMessageError(
                f"{where} has a header line that is not a field: "
                f"{line[:40]!r}",
                part=number,
            )
        if match.group(2):
            # RFC 5322 3.6.8: no white space before the colon; some
            # readers still accept "From :" and some do not.
            raise MalformedMessageError(
                f"{where} has white space before the colon of the "
                f"{match.group(1).decode('ascii', 'replace')} field",
                part=number,
            )
        name = match.group(1).lower()
        seen[name] = seen.get(name, 0) + 1
    for name in _ONCE_PER_ENTITY:
        count = seen.get(name.encode("ascii"), 0)
        if count > 1:
            raise MalformedMessageError(
                f"{where} has {count} {name} fields", part=number
            )


def parse_entity(
    data: bytes,
    start: int = 0,
    end: int | None = None,
    *,
    number: str = "",
    depth: int = 0,
    counter: list[int] | None = None,
    top_level: bool = True,
) -> Entity:
    """Parse the entity in ``data[start:end]`` and, recursively, its parts.

    Raises :class:`MalformedMessageError` for input that is not a MIME
    message, for a multipart without its boundary, and beyond
    :data:`MAX_DEPTH` nesting or :data:`MAX_PARTS` parts.
    """
    end = len(data) if end is None else end
    counter = counter if counter is not None else [0]
    counter[0] += 1
    if counter[0] > MAX_PARTS:
        raise MalformedMessageError(f"more than {MAX_PARTS} MIME parts")
    if depth > MAX_DEPTH:
        raise MalformedMessageError(
            f"MIME parts nested deeper than {MAX_DEPTH}", part=number
        )
    if top_level:
        if not has_content(data, start, end):
            raise MalformedMessageError("the message is empty")
        if not _HEADER_LINE.match(data, start):
            raise MalformedMessageError(
                "the input does not start with a mail header line"
            )

    header_end, body_start = _header_end(data, start, end)
    block = data[start:header_end]
    _check_header_block(block, number)
    headers = _HEADER_PARSER.parsebytes(block)
    entity = Entity(data, start, body_start, end, headers, number)
    ctype = entity.content_type
    if ctype.startswith("multipart/"):
        entity.children = _split_multipart(entity, depth, counter)
    elif ctype == "message/rfc822" and body_start < end:
        inner_number = f"{number}.1" if number else "1"
        entity.children = [
            parse_entity(
                data,
                body_start,
                end,
                number=inner_number,
                depth=depth + 1,
                counter=counter,
                top_level=False,
            )
        ]
    return entity


def _split_multipart(
    entity: Entity, depth: int, counter: list[int]
) -> list[Entity]:
    boundary = entity.param("boundary")
    where = f"part {entity.number}" if entity.number else "the message"
    where = where[0].upper() + where[1:]
    if not boundary:
        raise MalformedMessageError(
            f"{where} is multipart but has no boundary parameter",
            part=entity.number,
        )
    data = entity.data
    delimiter = b"--" + boundary.encode("ascii", "replace")
    positions = []
    pos = entity.body_start
    closed = False
    while True:
        found = data.find(delimiter, pos, entity.end)
        if found < 0:
            break
        pos = found + len(delimiter)
        at_line_start = found == entity.body_start or data[found - 1] == 10
        if not at_line_start:
            continue
        # The delimiter line may end in "--" (close) and white space.
        is_close = data.startswith(b"--", pos)
        line_end = data.find(b"\n", pos, entity.end)
        line_end = entity.end if line_end < 0 else line_end + 1
        if data[pos + (2 if is_close else 0) : line_end].strip():
            continue  # a longer boundary that merely starts like ours
        positions.append((found, line_end, is_close))
        if is_close:
            closed = True
            break
        pos = line_end
    if not positions:
        raise MalformedMessageError(
            f"{where} is multipart but no part is delimited by its boundary",
            part=entity.number,
        )
    del closed  # a missing close delimiter is tolerated, as in every MUA

    children = []
    for index, (_, line_end, is_close) in enumerate(positions):
        if is_close:
            break
        next_found = (
            positions[index + 1][0] if index + 1 < len(positions) else None
        )
        part_end = entity.end if next_found is None else next_found
        # RFC 2046 5.1.1: the CRLF before a delimiter belongs to it.
        if next_found is not None:
            if data[part_end - 2 : part_end] == b"\r\n":
                part_end -= 2
            elif data[part_end - 1 : part_end] == b"\n":
                part_end -= 1
        part_end = max(part_end, line_end)
        child_number = (
            f"{entity.number}.{index + 1}" if entity.number else str(index + 1)
        )
        children.append(
            parse_entity(
                data,
                line_end,
                part_end,
                number=child_number,
                depth=depth + 1,
                counter=counter,
                top_level=False,
            )
        )
    return children


def check_message(data: bytes) -> None:
    """Raise :class:`MalformedMessageError` unless ``data`` is a message.

    The same checks verification applies (a header first, unambiguous
    header blocks, bounded nesting and part count), for the commands that
    sign, encrypt or decrypt, so that none of them accepts what another
    would refuse, and no stdlib parser recurses without bound.
    """
    parse_entity(data)


def decode_body(entity: Entity) -> bytes:
    """Return the entity's body with its transfer encoding undone.

    Raises :class:`MalformedMessageError` for undecodable base64.
    """
    encoding = (
        str(entity.headers.get("Content-Transfer-Encoding", "7bit"))
        .strip()
        .lower()
    )
    body = bytes(entity.body())
    if encoding == "base64":
        try:
            # Non-alphabet bytes (line breaks) are skipped, as RFC 2045
            # 6.8 asks; bad padding still fails.
            return base64.b64decode(body)
        except (binascii.Error, ValueError) as exc:
            raise MalformedMessageError(
                "bad base64 in part " + (entity.number or "(message)"),
                part=entity.number,
            ) from exc
    if encoding == "quoted-printable":
        return quopri.decodestring(body)
    return body
