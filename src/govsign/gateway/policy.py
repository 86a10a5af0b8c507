"""The gateway's decisions, as pure functions of facts about a message.

Nothing here reads a socket, a key or a file: the milter, the pipe
filter and the sendmail wrapper gather the facts (envelope, headers,
verification outcome) and ask these functions what to do, so every rule
can be tested without Postfix.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.header import Header
from email.utils import getaddresses

from govsign.gateway.authresults import SmimeResult
from govsign.gateway.classification import Marking
from govsign.gateway.config import Action, GatewayConfig, SealMode

__all__ = [
    "Direction",
    "Envelope",
    "Reply",
    "address_domain",
    "classified_reply",
    "direction",
    "encryption_targets",
    "header_domain",
    "inbound_action",
    "inbound_reply",
    "is_enveloped",
    "is_signed",
    "should_seal",
    "TEMPFAIL_REPLY",
    "first_header",
    "tagged_subject",
]


class Direction(enum.Enum):
    """Whether the gateway treats a message as arriving or leaving."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


@dataclass(frozen=True)
class Envelope:
    """What the MTA told us about a message besides its content.

    ``client_address`` is None for mail submitted locally (Postfix's
    ``non_smtpd_milters`` path, the sendmail wrapper, the pipe filter).
    """

    queue_id: str
    sender: str | None
    recipients: tuple[str, ...]
    client_address: str | None = None
    authenticated: bool = False
    local: bool = False


@dataclass(frozen=True)
class Reply:
    """An SMTP reply refusing or deferring a message."""

    code: str  # "550", "451"
    xcode: str  # "5.7.1"
    text: str

    @property
    def temporary(self) -> bool:
        """True for a 4xx reply (the client should retry)."""
        return self.code.startswith("4")


TEMPFAIL_REPLY = Reply(
    "451", "4.3.0", "govsign gateway: internal error, try again later"
)


def address_domain(address: str | None) -> str | None:
    """Return the lower-case domain of an address, or None."""
    if not address:
        return None
    address = address.strip().strip("<>")
    if "@" not in address:
        return None
    return address.rsplit("@", 1)[1].lower().rstrip(".") or None


def header_domain(value: str | None) -> str | None:
    """Return the domain of the first address in a From header value."""
    if not value:
        return None
    addresses = getaddresses([value])
    for _name, addr in addresses:
        domain = address_domain(addr)
        if domain:
            return domain
    return None


def direction(
    config: GatewayConfig, envelope: Envelope, from_domain: str | None
) -> Direction:
    """Decide whether a message leaves the agency or arrives at it.

    Outbound means: the envelope sender (or, when the envelope is empty,
    the From header) is in an agency domain, and the message comes from
    inside -- locally submitted, from an internal network or after SMTP
    AUTH.  A message from outside that merely claims an agency address
    is inbound: it gets verified, not sealed, so that nobody outside can
    borrow the agency's seal.
    """
    domain = address_domain(envelope.sender) or from_domain
    if not config.is_agency_domain(domain):
        return Direction.INBOUND
    trusted = (
        envelope.local
        or envelope.authenticated
        or config.is_internal(envelope.client_address)
    )
    return Direction.OUTBOUND if trusted else Direction.INBOUND


_SIGNED_TYPES = (
    "multipart/signed",
    "application/pkcs7-mime",
    "application/x-pkcs7-mime",
)


def is_signed(content_type: str | None) -> bool:
    """True when a top-level Content-Type is an S/MIME signature form.

    ``application/pkcs7-mime`` counts as signed only with
    ``smime-type=signed-data``; enveloped data is not a signature.
    """
    if not content_type:
        return False
    value = re.sub(r"\s+", " ", content_type).strip().lower()
    media = value.split(";", 1)[0].strip()
    if media == "multipart/signed":
        return True
    if media in _SIGNED_TYPES:
        return bool(re.search(r"smime-type\s*=\s*\"?signed-data", value))
    return False


def is_enveloped(content_type: str | None) -> bool:
    """True when a top-level Content-Type is S/MIME encrypted data."""
    if not content_type:
        return False
    value = re.sub(r"\s+", " ", content_type).strip().lower()
    media = value.split(";", 1)[0].strip()
    if media not in ("application/pkcs7-mime", "application/x-pkcs7-mime"):
        return False
    return bool(
        re.search(r"smime-type\s*=\s*\"?(authenveloped|enveloped)-data", value)
    )


def should_seal(config: GatewayConfig, already_signed: bool) -> bool:
    """True when an outbound message gets the agency seal."""
    if config.seal_mode is SealMode.OFF:
        return False
    if config.seal_mode is SealMode.ALWAYS:
        return True
    return not already_signed


def classified_reply(marking: Marking) -> Reply:
    """The refusal for outbound mail bearing a secrecy marking.

    The text names the level and where it was found, in Vietnamese and
    English, and says why: classified documents do not travel by
    ordinary e-mail.  It stays ASCII-safe for SMTP (no diacritics).
    """
    level = marking.level.ascii
    return Reply(
        "550",
        "5.7.1",
        f"Refused: {marking.where} carries the secrecy marking {level}; "
        "classified documents do not travel by ordinary e-mail "
        "(tai lieu mat khong gui qua thu dien tu thong thuong)",
    )


def inbound_action(
    config: GatewayConfig, from_domain: str | None, outcome: SmimeResult
) -> Action:
    """What to do with an inbound message after stamping it.

    A passing signature is always accepted.  Otherwise the policy of the
    sender's domain applies (the most specific entry of
    ``[inbound.domains]``, else ``default-action``).
    """
    if outcome is SmimeResult.PASS:
        return Action.ACCEPT
    return config.inbound_action(from_domain)


def inbound_reply(outcome: SmimeResult, from_domain: str | None) -> Reply:
    """The refusal for inbound mail under a ``reject`` policy.

    ``temperror`` (revocation data missing or stale) is deferred with a
    4xx reply instead: the signature may well be valid, and the sending
    server will retry once the gateway's CRLs are current again.
    """
    if outcome is SmimeResult.TEMPERROR:
        return Reply(
            "451",
            "4.7.5",
            "Deferred: the S/MIME signature cannot be checked right now "
            "(revocation data unavailable); try again later",
        )
    what = (
        "is not signed"
        if outcome is SmimeResult.NONE
        else f"has no valid S/MIME signature (smime={outcome.value})"
    )
    return Reply(
        "550",
        "5.7.1",
        f"Refused: mail from {from_domain or 'this sender'} {what}, "
        "and the receiving agency requires one",
    )


def encryption_targets(
    recipients: Sequence[str], directory: Mapping[str, object]
) -> list[object] | None:
    """Return one certificate per recipient, or None if any is unknown.

    Encryption is all or nothing: a message encrypted for some of its
    recipients would reach the others unreadable.  ``directory`` maps
    lower-case addresses to certificates.
    """
    if not recipients:
        return None
    found = []
    for rcpt in recipients:
        cert = directory.get(rcpt.strip().strip("<>").lower())
        if cert is None:
            return None
        found.append(cert)
    return found


def first_header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    """Return the value of the first header field called ``name``."""
    lower = name.lower()
    for key, value in headers:
        if key.lower() == lower:
            return value
    return None


def tagged_subject(tag: str, subject: str | None) -> str:
    """Return ``subject`` (raw, possibly RFC 2047) with ``tag`` in front.

    A non-ASCII tag is written as an RFC 2047 encoded word; a subject
    already carrying the tag is left as it is.
    """
    if tag.isascii():
        encoded = tag
    else:
        encoded = Header(tag, "utf-8").encode()
    subject = subject or ""
    if subject.startswith((tag, encoded)):
        return subject
    return f"{encoded} {subject}".rstrip()
