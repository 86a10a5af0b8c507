"""Where a part's header ends, with CRLF, LF and mixed line ends.

Guards the bounded search in ``govsign.smime._mime._header_end``: the
earliest blank line wins, whichever line end it uses.
"""

from __future__ import annotations

import pytest

from govsign.smime._mime import parse_entity

CASES = {
    "crlf": (b"A: 1\r\nB: 2\r\n\r\nbody\n\nmore", b"body\n\nmore"),
    "lf": (b"A: 1\nB: 2\n\nbody\r\n\r\nmore", b"body\r\n\r\nmore"),
    "crlf-then-lf-blank": (b"A: 1\r\n\nbody\r\n\r\nx", b"body\r\n\r\nx"),
    "no-body": (b"A: 1\r\nB: 2\r\n", b""),
    "blank-first": (b"A: 1\r\n\r\n", b""),
}


@pytest.mark.parametrize("raw, body", CASES.values(), ids=CASES.keys())
def test_body_starts_after_the_earliest_blank_line(
    raw: bytes, body: bytes
) -> None:
    entity = parse_entity(raw)

    assert bytes(entity.body()) == body
    assert entity.headers["A"] == "1"


def test_large_crlf_part_finds_its_header_end() -> None:
    raw = b"A: 1\r\n\r\n" + b"x" * 5_000_000 + b"\r\n\r\ny"

    entity = parse_entity(raw)

    assert entity.body_start == len(b"A: 1\r\n\r\n")
