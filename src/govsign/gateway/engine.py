"""One message through the gateway: gather, decide, and say what to change.

:class:`MessageSpool` collects a message as the MTA streams it: the
header fields in a list, the body in a
:class:`tempfile.SpooledTemporaryFile` that moves to disk past
``spool-memory`` bytes, so a 25 MB message is held in memory once at
most, and not at all when it carries no S/MIME content.

:class:`Gateway` applies the policy of :mod:`govsign.gateway.policy`
with the library's verifier and seal, and returns an :class:`Outcome`:
header fields to remove and add, a replacement message, a refusal, a
quarantine.  The milter turns an Outcome into milter actions;
:func:`render` turns it into the finished message for the pipe filter.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Protocol

from cryptography import x509

from govsign.errors import DecryptionError, MalformedMessageError
from govsign.gateway import policy
from govsign.gateway.authresults import (
    SmimeResult,
    forged_indices,
    format_authentication_results,
    format_error_results,
    smime_result,
)
from govsign.gateway.classification import find_marking
from govsign.gateway.config import Action, GatewayConfig
from govsign.gateway.policy import Direction, Envelope, Reply
from govsign.result import VerificationResult

__all__ = [
    "Gateway",
    "MessageSpool",
    "MessageVerifier",
    "Outcome",
    "header_block",
    "keep_original",
    "render",
    "set_sender",
    "split_message",
    "strip_forged",
]

log = logging.getLogger(__name__)

WARNING_HEADER = "X-Govsign-Warning"

Sealer = Callable[[bytes], bytes]
"""Signs a whole message with the agency seal, returns the new one."""

Encryptor = Callable[[bytes, Sequence[x509.Certificate]], bytes]
"""Encrypts a whole message to the given recipients' certificates."""

Decryptor = Callable[[bytes], bytes]
"""Decrypts a whole enveloped message with the agency's own key."""


class MessageVerifier(Protocol):
    """What the gateway needs of :class:`govsign.smime.verifying.Verifier`."""

    def verify(self, message: bytes) -> VerificationResult:
        """Verify every signature in ``message``."""


def header_block(headers: Sequence[tuple[str, str]]) -> bytes:
    """Serialise (name, value) pairs as CRLF-terminated header lines."""
    out = []
    for name, value in headers:
        # MTAs pass folded values with bare LF between lines.
        value = re.sub(r"\r?\n", "\r\n", value)
        line = f"{name}: {value}\r\n"
        out.append(line.encode("utf-8", "surrogateescape"))
    return b"".join(out)


_SMIME_MARKERS = (
    b"application/pkcs7-signature",
    b"application/x-pkcs7-signature",
    b"application/pkcs7-mime",
    b"application/x-pkcs7-mime",
)
_CHUNK = 256 * 1024


class MessageSpool:
    """A message as it arrives: a header list plus one spool file.

    The spool file holds the whole message in wire order (header lines,
    blank line, body), so :meth:`message_bytes` is a single read into a
    single bytes object: a 25 MB message is in memory once, and only
    when a signature has to be checked.
    """

    def __init__(self, memory_limit: int = 1024 * 1024) -> None:
        self.headers: list[tuple[str, str]] = []
        self.file: IO[bytes] = tempfile.SpooledTemporaryFile(
            max_size=memory_limit, mode="w+b"
        )
        self.body_offset: int | None = None
        self.body_size = 0

    def add_header(self, name: str, value: str) -> None:
        """Record one header field as the MTA passed it.

        Raises ValueError once the body has started.
        """
        if self.body_offset is not None:
            raise ValueError("a header field after the body started")
        self.headers.append((name, value))
        self.file.write(header_block([(name, value)]))

    def _start_body(self) -> int:
        if self.body_offset is None:
            self.file.seek(0, 2)
            self.file.write(b"\r\n")
            self.body_offset = self.file.tell()
        return self.body_offset

    def write_body(self, chunk: bytes) -> None:
        """Append a body chunk."""
        self._start_body()
        self.file.seek(0, 2)
        self.file.write(chunk)
        self.body_size += len(chunk)

    def close(self) -> None:
        """Release the spool (deletes a spilled file)."""
        self.file.close()

    def header_block(self) -> bytes:
        """The header fields as CRLF-terminated lines, without the gap."""
        return header_block(self.headers)

    def iter_body(self) -> Iterator[bytes]:
        """Yield the body in chunks, from its start."""
        self.file.seek(self._start_body())
        while True:
            chunk = self.file.read(_CHUNK)
            if not chunk:
                return
            yield chunk

    def has_smime_content(self) -> bool:
        """True when a header or the body names an S/MIME media type.

        Scans the spool in chunks (case-insensitively, across chunk
        boundaries) without loading the message.
        """
        for _name, value in self.headers:
            lowered = value.lower().encode("utf-8", "surrogateescape")
            if any(m in lowered for m in _SMIME_MARKERS):
                return True
        keep = max(len(m) for m in _SMIME_MARKERS)
        tail = b""
        for chunk in self.iter_body():
            window = tail + chunk.lower()
            if any(m in window for m in _SMIME_MARKERS):
                return True
            tail = window[-keep:]
        return False

    def message_bytes(self) -> bytes:
        """The whole message (headers, blank line, body) as one bytes."""
        self._start_body()
        self.file.seek(0)
        return self.file.read()


@dataclass
class Outcome:
    """What the gateway decided for one message.

    ``remove`` lists (field name, 1-based index among fields of that
    name) to delete; ``add`` lists fields to insert at the top;
    ``replacement`` is a complete new message (headers and body) when
    the content changes (seal, encryption, decryption); ``subject`` is
    a new value for the first Subject field.
    """

    direction: Direction
    verdict: str
    reply: Reply | None = None
    quarantine: str | None = None
    remove: list[tuple[str, int]] = field(default_factory=list)
    add: list[tuple[str, str]] = field(default_factory=list)
    replacement: bytes | None = None
    subject: str | None = None


class Gateway:
    """The gateway's behaviour, independent of how mail reaches it."""

    def __init__(
        self,
        config: GatewayConfig,
        verifier: MessageVerifier,
        *,
        sealer: Sealer | None = None,
        encryptor: Encryptor | None = None,
        decryptor: Decryptor | None = None,
        directory: Mapping[str, x509.Certificate] | None = None,
        seal_address: str | None = None,
    ) -> None:
        self.config = config
        self.verifier = verifier
        self.sealer = sealer
        self.encryptor = encryptor
        self.decryptor = decryptor
        self.directory = dict(directory or {})
        self.seal_address = seal_address
        self.closers: list[Callable[[], None]] = []

    def close(self) -> None:
        """Release keys the gateway holds (log out of a token)."""
        while self.closers:
            self.closers.pop()()

    def process(self, envelope: Envelope, spool: MessageSpool) -> Outcome:
        """Decide what happens to one message.

        Library errors about the message itself (malformed S/MIME) are
        handled here; any other exception propagates, and the caller
        must defer the message (tempfail).
        """
        from_value = policy.first_header(spool.headers, "From")
        from_domain = policy.header_domain(from_value)
        way = policy.direction(self.config, envelope, from_domain)
        if way is Direction.OUTBOUND:
            outcome = self._outbound(envelope, spool)
        else:
            outcome = self._inbound(spool, from_value, from_domain)

        # RFC 8601 section 5: drop fields claiming our authserv-id, in
        # both directions (an insider could forge one for a colleague),
        # also from a replacement, which carries the original's headers.
        authserv_id = self.config.authserv_id
        if outcome.replacement is not None:
            outcome.replacement = strip_forged(
                outcome.replacement, authserv_id
            )
        else:
            outcome.remove = [
                ("Authentication-Results", i)
                for i in reversed(forged_indices(spool.headers, authserv_id))
            ]
        return outcome

    # -- outbound ---------------------------------------------------------

    def _outbound(self, envelope: Envelope, spool: MessageSpool) -> Outcome:
        # Decree 30/2020 and the state-secrets law: classified documents
        # never leave by ordinary e-mail.
        marking = find_marking(
            spool.headers, self.config.classification_headers
        )
        if marking is not None:
            return Outcome(
                Direction.OUTBOUND,
                f"refused classified={marking.level.ascii.replace(' ', '_')}"
                f" in={marking.where}",
                reply=policy.classified_reply(marking),
            )

        content_type = policy.first_header(spool.headers, "Content-Type")
        signed = policy.is_signed(content_type)
        seal = self.sealer is not None and policy.should_seal(
            self.config, signed
        )
        targets = None
        if self.config.encrypt and self.encryptor is not None:
            found = policy.encryption_targets(
                envelope.recipients, self.directory
            )
            targets = [
                c for c in found or () if isinstance(c, x509.Certificate)
            ]
        if not seal and not targets:
            return Outcome(
                Direction.OUTBOUND,
                "passed signed=" + ("yes" if signed else "no"),
            )

        message = spool.message_bytes()
        steps = []
        if seal and self.sealer is not None:
            from_value = policy.first_header(spool.headers, "From") or ""
            if self.seal_address and self.seal_address not in from_value:
                # RFC 8550 section 3: the signer must be the From or the
                # Sender.  The agency, sealing, is the sender on the
                # author's behalf (RFC 5322 section 3.6.2).
                message = set_sender(message, self.seal_address)
            message = self.sealer(message)
            steps.append("sealed")
        if targets and self.encryptor is not None:
            message = self.encryptor(message, targets)
            steps.append(f"encrypted recipients={len(targets)}")
        return Outcome(
            Direction.OUTBOUND, " ".join(steps), replacement=message
        )

    # -- inbound ----------------------------------------------------------

    def _inbound(
        self,
        spool: MessageSpool,
        from_value: str | None,
        from_domain: str | None,
    ) -> Outcome:
        config = self.config
        outcome = Outcome(Direction.INBOUND, "")

        content_type = policy.first_header(spool.headers, "Content-Type")
        plain = None
        if self.decryptor is not None and policy.is_enveloped(content_type):
            original = spool.message_bytes()
            plain = self._decrypt(original)
            if plain is not None:
                outcome.replacement = (
                    keep_original(plain, original)
                    if config.keep_original
                    else plain
                )
                outcome.verdict = "decrypted "
            del original

        if plain is None and policy.is_enveloped(content_type):
            # Encrypted for a person: any signature is inside, for the
            # recipient's client to check.  Stamp that, and let the
            # unsigned-mail policy leave it alone.
            outcome.add.append(
                (
                    "Authentication-Results",
                    format_error_results(
                        config.authserv_id,
                        SmimeResult.NONE,
                        "encrypted; signature not checked by the gateway",
                    ),
                )
            )
            outcome.verdict = "smime=none action=accept encrypted"
            return outcome

        if plain is None and not spool.has_smime_content():
            result = VerificationResult.unsigned(
                from_value, dt.datetime.now(dt.UTC)
            )
            value = format_authentication_results(config.authserv_id, result)
            smime = SmimeResult.NONE
        else:
            message = plain or spool.message_bytes()
            try:
                result = self.verifier.verify(message)
            except MalformedMessageError as exc:
                smime = SmimeResult.PERMERROR
                value = format_error_results(
                    config.authserv_id, smime, f"malformed: {exc}"
                )
            else:
                smime = smime_result(result)
                value = format_authentication_results(
                    config.authserv_id, result
                )
            del message
        outcome.add.append(("Authentication-Results", value))

        action = policy.inbound_action(config, from_domain, smime)
        outcome.verdict += f"smime={smime.value} action={action.value}"
        if action is Action.REJECT:
            outcome.reply = policy.inbound_reply(smime, from_domain)
        elif action is Action.QUARANTINE:
            outcome.quarantine = (
                f"govsign: no valid S/MIME signature (smime={smime.value})"
            )
        if action in (Action.TAG, Action.QUARANTINE):
            outcome.add.append(
                (
                    WARNING_HEADER,
                    f"no valid S/MIME signature (smime={smime.value}); "
                    "authenticity not established",
                )
            )
            subject = policy.first_header(spool.headers, "Subject")
            if config.subject_tag:
                outcome.subject = policy.tagged_subject(
                    config.subject_tag, subject
                )
        return outcome

    def _decrypt(self, original: bytes) -> bytes | None:
        # Mail for the agency's own certificate is opened here; mail the
        # agency key cannot open (for a person's own certificate) goes on
        # as it came.
        assert self.decryptor is not None
        try:
            return self.decryptor(original)
        except (DecryptionError, MalformedMessageError):
            log.debug("not encrypted to the agency key; passed unopened")
            return None


def strip_forged(message: bytes, authserv_id: str) -> bytes:
    """Remove Authentication-Results fields claiming ``authserv_id``.

    ``message`` is returned unchanged (the same object) when it has none.
    """
    match = re.search(rb"\r?\n\r?\n", message)
    head = message if match is None else message[: match.start()]
    if b"authentication-results" not in head.lower():
        return message
    headers, body = split_message(message)
    forged = set(forged_indices(headers, authserv_id))
    if not forged:
        return message
    kept = []
    index = 0
    for name, value in headers:
        if name.lower() == "authentication-results":
            index += 1
            if index in forged:
                continue
        kept.append((name, value))
    return header_block(kept) + b"\r\n" + body


def set_sender(message: bytes, address: str) -> bytes:
    """Return ``message`` with one ``Sender: address`` header field.

    Existing Sender fields (with their continuation lines) are dropped.
    """
    headers, body = split_message(message)
    kept = [(n, v) for n, v in headers if n.lower() != "sender"]
    return header_block([("Sender", address), *kept]) + b"\r\n" + body


def keep_original(plain: bytes, original: bytes) -> bytes:
    """Append the encrypted original to a decrypted message.

    The decrypted message's own content becomes the first part of a
    multipart/mixed; the original, still encrypted, follows as an
    ``message/rfc822`` attachment named ``original-encrypted.eml``, so
    the recipient keeps what the sender actually sent.
    """
    headers, body = split_message(plain)
    content = [(n, v) for n, v in headers if n.lower().startswith("content-")]
    outer = [
        (n, v)
        for n, v in headers
        if not n.lower().startswith("content-") and n.lower() != "mime-version"
    ]
    boundary = "govsign-" + secrets.token_hex(12)
    if not content:
        content = [("Content-Type", "text/plain; charset=us-ascii")]
    return b"".join(
        [
            header_block(outer),
            b"MIME-Version: 1.0\r\n",
            f'Content-Type: multipart/mixed; boundary="{boundary}"'.encode(),
            b"\r\n\r\n",
            f"--{boundary}\r\n".encode(),
            header_block(content),
            b"\r\n",
            body,
            f"\r\n--{boundary}\r\n".encode(),
            b"Content-Type: message/rfc822\r\n",
            b"Content-Disposition: attachment; "
            b'filename="original-encrypted.eml"\r\n\r\n',
            original,
            f"\r\n--{boundary}--\r\n".encode(),
        ]
    )


def split_message(message: bytes) -> tuple[list[tuple[str, str]], bytes]:
    """Split a message into (name, value) header pairs and its body.

    Values keep their folding (CRLF + whitespace) but lose the space
    after the colon.  Raises MalformedMessageError without a header
    section.
    """
    match = re.search(rb"\r?\n\r?\n", message)
    if match is None:
        head, body = message, b""
    else:
        head, body = message[: match.start()], message[match.end() :]
    headers: list[tuple[str, str]] = []
    for line in re.split(rb"\r?\n(?![ \t])", head):
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep or not name.strip() or b" " in name.strip():
            raise MalformedMessageError(
                "the message does not start with header fields"
            )
        text = value.decode("utf-8", "surrogateescape")
        headers.append((name.decode("ascii", "replace"), text.lstrip(" \t")))
    return headers, body


def render(spool: MessageSpool, outcome: Outcome, out: IO[bytes]) -> None:
    """Write the message as the gateway would pass it, to ``out``.

    Applies removals and additions to the headers, or writes the
    replacement message with the additions on top.
    """
    added = "".join(
        f"{name}: {value}\r\n" for name, value in outcome.add
    ).encode("utf-8")
    if outcome.replacement is not None:
        out.write(added)
        out.write(outcome.replacement)
        return
    drop = {(n.lower(), i) for n, i in outcome.remove}
    seen: dict[str, int] = {}
    kept = []
    for name, value in spool.headers:
        key = name.lower()
        seen[key] = seen.get(key, 0) + 1
        if (key, seen[key]) in drop:
            continue
        kept.append((name, value))
    if outcome.subject is not None:
        kept = [
            (n, outcome.subject if n.lower() == "subject" else v)
            for n, v in kept
        ]
    out.write(added)
    out.write(header_block(kept))
    out.write(b"\r\n")
    for chunk in spool.iter_body():
        out.write(chunk)
