"""The pipe filter: one message on standard input, the result on output.

For procmail, Sieve ``filter`` / ``execute`` extensions and Exim
``transport_filter``: the message is read in chunks into the same spool
the milter uses, the gateway decides, and the finished message is
written out.  The caller learns of a refusal by the exit status, using
the sendmail/sysexits convention that procmail and Exim understand.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import IO

from govsign.gateway.engine import Gateway, MessageSpool, Outcome, render
from govsign.gateway.policy import Envelope, first_header

__all__ = [
    "EX_NOPERM",
    "EX_OK",
    "EX_TEMPFAIL",
    "FilterResult",
    "QUARANTINE_HEADER",
    "filter_message",
    "read_spool",
]

log = logging.getLogger(__name__)

EX_OK = 0
EX_TEMPFAIL = 75  # sysexits.h: try again later
EX_NOPERM = 77  # sysexits.h: refused by policy

QUARANTINE_HEADER = "X-Govsign-Quarantine"
"""Added to a message the policy would quarantine; a pipe has no hold
queue, so the caller files it (e.g. a Sieve rule on this header)."""

_CHUNK = 256 * 1024


@dataclass(frozen=True)
class FilterResult:
    """The exit status for the caller and what was decided."""

    status: int
    outcome: Outcome


def read_spool(source: IO[bytes], memory_limit: int) -> MessageSpool:
    """Read a message from ``source`` into a spool, header by header."""
    spool = MessageSpool(memory_limit)
    header_lines: list[bytes] = []
    pending = b""
    in_headers = True
    while in_headers:
        chunk = source.read(_CHUNK)
        if not chunk:
            break
        pending += chunk
        while in_headers:
            end = pending.find(b"\n")
            if end < 0:
                break
            line, pending = pending[: end + 1], pending[end + 1 :]
            if line in (b"\r\n", b"\n"):
                in_headers = False
            else:
                header_lines.append(line)
    _add_headers(spool, header_lines)
    if in_headers and pending:
        _add_headers(spool, [pending])
        pending = b""
    spool.write_body(_crlf(pending))
    tail = b""
    while True:
        chunk = source.read(_CHUNK)
        if not chunk:
            break
        # Keep a trailing CR with the next chunk so CRLF is not split.
        chunk = tail + chunk
        tail = b"\r" if chunk.endswith(b"\r") else b""
        spool.write_body(_crlf(chunk[: len(chunk) - len(tail)]))
    if tail:
        spool.write_body(tail)
    return spool


def _crlf(data: bytes) -> bytes:
    # MIME canonical form, as a milter sees the body.
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _add_headers(spool: MessageSpool, lines: list[bytes]) -> None:
    current: list[bytes] = []
    for line in lines:
        if line[:1] in (b" ", b"\t") and current:
            current.append(line)
            continue
        if current:
            _add_one(spool, b"".join(current))
        current = [line]
    if current:
        _add_one(spool, b"".join(current))


def _add_one(spool: MessageSpool, raw: bytes) -> None:
    name, sep, value = raw.partition(b":")
    if not sep:
        return  # not a header line (mbox "From " line); dropped
    text = value.decode("utf-8", "surrogateescape").strip(" \t\r\n")
    text = text.replace("\r\n", "\n")
    spool.add_header(name.decode("ascii", "replace").strip(), text)


def filter_message(
    gateway: Gateway,
    source: IO[bytes],
    out: IO[bytes],
    envelope: Envelope,
) -> FilterResult:
    """Run one message from ``source`` through the gateway into ``out``.

    Returns EX_OK when a message was written, EX_NOPERM for a refusal
    (nothing written) and EX_TEMPFAIL for a temporary refusal.  A
    quarantined message is written with an :data:`QUARANTINE_HEADER`
    field.
    """
    spool = read_spool(source, gateway.config.spool_memory)
    log_id = (
        envelope.queue_id
        or first_header(spool.headers, "Message-ID")
        or "NOQUEUE"
    ).strip()
    try:
        outcome = gateway.process(envelope, spool)
        if outcome.reply is not None:
            log.info(
                "%s: %s %s",
                log_id,
                outcome.direction.value,
                outcome.verdict,
            )
            status = EX_TEMPFAIL if outcome.reply.temporary else EX_NOPERM
            return FilterResult(status, outcome)
        if outcome.quarantine is not None:
            outcome.add.append((QUARANTINE_HEADER, outcome.quarantine))
        render(spool, outcome, out)
        log.info(
            "%s: %s %s",
            log_id,
            outcome.direction.value,
            outcome.verdict,
        )
        return FilterResult(EX_OK, outcome)
    finally:
        spool.close()
