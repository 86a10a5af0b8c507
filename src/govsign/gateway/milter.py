"""The milter: Postfix (or Sendmail) hands every message to the gateway.

pymilter calls one :class:`GovsignMilter` per SMTP connection, from a
libmilter thread.  Header fields are kept in a list and the body is
spooled to a :class:`tempfile.SpooledTemporaryFile` as it streams in; at
end of message the :class:`~govsign.gateway.engine.Gateway` decides and
the decision is applied with milter actions.

Any exception while handling a message answers tempfail (451 4.3.0):
Postfix keeps the message and retries, so no mail is lost or passed
unverified.  Configure ``milter_default_action = tempfail`` too, so that
a milter that is down or hung has the same effect.

Every log line starts with the queue id (or ``NOQUEUE``) and the line
for a finished message carries its Message-ID and verdict; bodies,
subjects and keys are never logged.
"""

from __future__ import annotations

import functools
import logging
import re
import socket
from collections.abc import Callable
from typing import Any, TypeVar

import Milter

from govsign.gateway.engine import (
    Gateway,
    MessageSpool,
    Outcome,
    split_message,
)
from govsign.gateway.logcontext import message_context
from govsign.gateway.policy import TEMPFAIL_REPLY, Envelope, Reply

__all__ = ["GovsignMilter", "serve"]

log = logging.getLogger(__name__)


_REPLACE_CHUNK = 64 * 1024
_F = TypeVar("_F", bound=Callable[..., Any])


def _guarded(method: _F) -> _F:
    """Turn any exception in a callback into a logged tempfail."""

    @functools.wraps(method)
    def wrapper(self: GovsignMilter, *args: Any) -> Any:
        try:
            return method(self, *args)
        except Exception:
            log.exception(
                "%s: internal error in %s, answering tempfail",
                self.log_id(),
                method.__name__,
            )
            self.failed = True
            return self.answer(TEMPFAIL_REPLY)

    return wrapper  # type: ignore[return-value]


def _fold_for_milter(value: str) -> str:
    # libmilter and Postfix expect folded header values with bare LF.
    return value.replace("\r\n", "\n")


def _norm(value: str) -> str:
    return re.sub(r"\s+", " ", value).strip()


class GovsignMilter(Milter.Base):  # type: ignore[misc]
    """Per-connection milter state; see the module docstring."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.client_address: str | None = None
        self.local = False
        self.spool: MessageSpool | None = None
        self.sender: str | None = None
        self.recipients: list[str] = []
        self.authenticated = False
        self.failed = False

    def log_id(self) -> str:
        """The queue id, for the start of every log line."""
        try:
            queue_id = self.getsymval("i")
        except Exception:  # no context (tests, closed connection)
            queue_id = None
        return str(queue_id) if queue_id else "NOQUEUE"

    def answer(self, reply: Reply) -> int:
        """Set the SMTP reply and return REJECT or TEMPFAIL."""
        # libmilter drops a reply with a single '%'.
        self.setreply(reply.code, reply.xcode, reply.text.replace("%", "%%"))
        return int(Milter.TEMPFAIL if reply.temporary else Milter.REJECT)

    def _reset(self) -> None:
        if self.spool is not None:
            self.spool.close()
        self.spool = None
        self.sender = None
        self.recipients = []
        self.authenticated = False
        self.failed = False

    # -- callbacks ---------------------------------------------------------

    @_guarded
    def connect(self, hostname: str, family: int, hostaddr: Any) -> int:
        if family in (socket.AF_INET, socket.AF_INET6) and hostaddr:
            self.client_address = str(hostaddr[0])
        else:
            # Postfix's non_smtpd_milters (sendmail, pickup) and unix
            # socket clients: submitted on this host.
            self.local = True
        return int(Milter.CONTINUE)

    @_guarded
    def envfrom(self, mailfrom: str, *params: str) -> int:
        self._reset()
        self.spool = MessageSpool(self.gateway.config.spool_memory)
        self.sender = mailfrom.strip("<>") or None
        self.authenticated = bool(self.getsymval("{auth_authen}"))
        return int(Milter.CONTINUE)

    @_guarded
    def envrcpt(self, to: str, *params: str) -> int:
        self.recipients.append(to.strip("<>"))
        return int(Milter.CONTINUE)

    @_guarded
    def header(self, name: str, value: str) -> int:
        # pymilter decodes the raw bytes with surrogateescape, so nothing
        # is lost for 8-bit headers.  This method must exist on the class:
        # pymilter asks Postfix for no headers when only the base class
        # (marked @nocallback) has one.
        assert self.spool is not None
        self.spool.add_header(name, value)
        return int(Milter.CONTINUE)

    @_guarded
    def body(self, chunk: bytes) -> int:
        assert self.spool is not None
        self.spool.write_body(chunk)
        if self.spool.body_size > self.gateway.config.max_message_size:
            return self.answer(
                Reply("552", "5.3.4", "message too large for the gateway")
            )
        return int(Milter.CONTINUE)

    @_guarded
    def eom(self) -> int:
        assert self.spool is not None
        spool = self.spool
        queue_id = self.log_id()
        envelope = Envelope(
            queue_id=queue_id,
            sender=self.sender,
            recipients=tuple(self.recipients),
            client_address=self.client_address,
            authenticated=self.authenticated,
            local=self.local,
        )
        with message_context(queue_id):
            outcome = self.gateway.process(envelope, spool)
        result = self._apply(outcome, spool)
        message_id = _norm(
            next(
                (v for n, v in spool.headers if n.lower() == "message-id"),
                "-",
            )
        )
        log.info(
            "%s: %s %s message-id=%s size=%d rcpts=%d",
            queue_id,
            outcome.direction.value,
            outcome.verdict,
            message_id,
            spool.body_size,
            len(self.recipients),
        )
        self._reset()
        return result

    def abort(self) -> int:
        self._reset()
        return int(Milter.CONTINUE)

    def close(self) -> int:
        self._reset()
        return int(Milter.CONTINUE)

    # -- applying a decision ---------------------------------------------

    def _apply(self, outcome: Outcome, spool: MessageSpool) -> int:
        if outcome.reply is not None:
            return self.answer(outcome.reply)
        if outcome.replacement is not None:
            self._replace(spool, outcome.replacement)
        for name, index in outcome.remove:
            self.chgheader(name, index, None)
        if outcome.subject is not None:
            if any(n.lower() == "subject" for n, _ in spool.headers):
                self.chgheader("Subject", 1, outcome.subject)
            else:
                self.addheader("Subject", outcome.subject)
        for name, value in reversed(outcome.add):
            self.addheader(name, _fold_for_milter(value), 0)
        if outcome.quarantine is not None:
            self.quarantine(outcome.quarantine)
        return int(Milter.ACCEPT)

    def _replace(self, spool: MessageSpool, message: bytes) -> None:
        # Milter cannot swap a whole message: delete the header fields the
        # new message lacks, add the ones it has anew, replace the body.
        new_headers, body = split_message(message)
        wanted: dict[tuple[str, str], int] = {}
        for name, value in new_headers:
            key = (name.lower(), _norm(value))
            wanted[key] = wanted.get(key, 0) + 1
        seen: dict[str, int] = {}
        deletions: list[tuple[str, int]] = []
        for name, value in spool.headers:
            lower = name.lower()
            seen[lower] = seen.get(lower, 0) + 1
            key = (lower, _norm(value))
            if wanted.get(key, 0) > 0:
                wanted[key] -= 1
                continue
            deletions.append((name, seen[lower]))
        # Later indices first, so earlier ones keep their numbers.
        for name, index in sorted(deletions, key=lambda d: -d[1]):
            self.chgheader(name, index, None)
        for name, value in new_headers:
            key = (name.lower(), _norm(value))
            if wanted.get(key, 0) > 0:
                wanted[key] -= 1
                self.addheader(name, _fold_for_milter(value))
        view = memoryview(body)
        for start in range(0, len(view), _REPLACE_CHUNK):
            self.replacebody(bytes(view[start : start + _REPLACE_CHUNK]))
        if not body:
            self.replacebody(b"")


def serve(gateway: Gateway, listen: str, *, timeout: int = 600) -> None:
    """Run the milter on ``listen`` (libmilter socket spec) until stopped.

    Blocks; libmilter stops on SIGTERM, SIGINT or SIGHUP.  ``timeout`` is
    how long libmilter waits on the MTA before dropping a connection.
    """
    Milter.factory = functools.partial(GovsignMilter, gateway)
    Milter.set_flags(
        Milter.ADDHDRS + Milter.CHGHDRS + Milter.CHGBODY + Milter.QUARANTINE
    )
    log.info("govsign milter listening on %s", listen)
    try:
        Milter.runmilter("govsign", listen, timeout)
    finally:
        gateway.close()
    log.info("govsign milter stopped")
