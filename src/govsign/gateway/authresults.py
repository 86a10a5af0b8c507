"""Authentication-Results with the ``smime`` method (RFC 8601, RFC 7281).

:func:`format_authentication_results` turns a
:class:`~govsign.result.VerificationResult` into the value of an
Authentication-Results header field; :func:`forged_indices` finds the
fields that claim this gateway's authserv-id, which RFC 8601 section 5
says must be removed from mail arriving from outside before our own is
added.

Result mapping (RFC 7281 section 3 names the result values):

============================  ==========================================
govsign outcome               smime result
============================  ==========================================
verdict ``unsigned``          ``none``
verdict ``valid``             ``pass``
verdict ``invalid``           ``fail``
indeterminate, revoked or     ``fail`` (the signer's certificate was
out of bounds without proof   revoked or expired: no reader should trust
of existence                  it)
indeterminate, TRY_LATER      ``temperror`` (revocation data missing;
                              a later attempt may succeed)
indeterminate, crypto or      ``policy`` (verified, but algorithm or
signature constraints         key size below the agency's rules)
other indeterminate           ``neutral`` (for example an unknown CA)
malformed S/MIME structure    ``permerror``
============================  ==========================================

Each signer gets its own ``smime`` result with the properties RFC 7281
registers: ``body.smime-identifier`` (the signer's e-mail address, else
its name), ``body.smime-part``, ``body.smime-serial`` and
``body.smime-issuer``.  Everything is written in ASCII: non-ASCII
characters in a name are escaped as RFC 4514 ``\\XX`` hex pairs, so the
field survives any hop.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable

from govsign.result import (
    SignerResult,
    SubIndication,
    Verdict,
    VerificationResult,
)

__all__ = [
    "SmimeResult",
    "authserv_id_of",
    "forged_indices",
    "format_authentication_results",
    "format_error_results",
    "signer_result",
    "smime_result",
]


class SmimeResult(enum.Enum):
    """Result values of the ``smime`` method (RFC 7281 section 3)."""

    NONE = "none"
    PASS = "pass"
    FAIL = "fail"
    POLICY = "policy"
    NEUTRAL = "neutral"
    TEMPERROR = "temperror"
    PERMERROR = "permerror"


_FAIL_SUBS = frozenset(
    {
        SubIndication.REVOKED,
        SubIndication.REVOKED_NO_POE,
        SubIndication.REVOKED_CA_NO_POE,
        SubIndication.OUT_OF_BOUNDS_NO_POE,
        SubIndication.OUT_OF_BOUNDS_NOT_REVOKED,
        SubIndication.EXPIRED,
        SubIndication.NOT_YET_VALID,
        SubIndication.HASH_FAILURE,
        SubIndication.SIG_CRYPTO_FAILURE,
    }
)
_POLICY_SUBS = frozenset(
    {
        SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
        SubIndication.SIG_CONSTRAINTS_FAILURE,
        SubIndication.CHAIN_CONSTRAINTS_FAILURE,
    }
)
_PERMERROR_SUBS = frozenset(
    {
        SubIndication.FORMAT_FAILURE,
        SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
    }
)


def _from_sub(sub: SubIndication | None) -> SmimeResult:
    if sub is SubIndication.TRY_LATER:
        return SmimeResult.TEMPERROR
    if sub in _FAIL_SUBS:
        return SmimeResult.FAIL
    if sub in _POLICY_SUBS:
        return SmimeResult.POLICY
    if sub in _PERMERROR_SUBS:
        return SmimeResult.PERMERROR
    return SmimeResult.NEUTRAL


def smime_result(result: VerificationResult) -> SmimeResult:
    """Map a verification result's bottom line to an smime result."""
    if result.verdict is Verdict.UNSIGNED:
        return SmimeResult.NONE
    if result.verdict is Verdict.VALID:
        return SmimeResult.PASS
    if result.verdict is Verdict.INVALID:
        return SmimeResult.FAIL
    return _from_sub(result.sub_indication)


def signer_result(signer: SignerResult) -> SmimeResult:
    """Map one signer's outcome to an smime result."""
    if signer.passed:
        return SmimeResult.PASS
    if signer.sub_indication is None:
        return SmimeResult.NEUTRAL
    return _from_sub(signer.sub_indication)


# RFC 2045 token characters: anything else needs a quoted-string.
_TOKEN = re.compile(r"^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+$")
_ADDR = re.compile(r"^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+@[A-Za-z0-9.\-]+$")


def _ascii(text: str) -> str:
    # RFC 4514 escaping of non-ASCII as hex pairs of its UTF-8 octets;
    # control characters go the same way so nothing can fold the field.
    out = []
    for ch in text:
        if 0x20 <= ord(ch) < 0x7F:
            out.append(ch)
        else:
            out.extend(f"\\{b:02X}" for b in ch.encode("utf-8"))
    return "".join(out)


def _pvalue(text: str) -> str:
    # RFC 8601 section 2.2: pvalue is a value (token or quoted-string)
    # or [local-part] "@" domain-name.
    text = _ascii(text)
    if _TOKEN.match(text) or _ADDR.match(text):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _comment(text: str) -> str:
    clean = _ascii(text).replace("\\", "").replace("(", "[")
    return "(" + clean.replace(")", "]") + ")"


def _signer_resinfo(signer: SignerResult) -> str:
    parts = [f"smime={signer_result(signer).value}"]
    if not signer.passed:
        reason = signer.indication.value
        if signer.sub_indication is not None:
            reason += "/" + signer.sub_indication.value
        parts.append(_comment(reason))
    identity = signer.email[0] if signer.email else signer.name
    if identity:
        parts.append(f"body.smime-identifier={_pvalue(identity)}")
    if signer.part:
        parts.append(f"body.smime-part={_pvalue(signer.part)}")
    if signer.serial:
        parts.append(f"body.smime-serial={_pvalue(signer.serial)}")
    if signer.issuer:
        parts.append(f"body.smime-issuer={_pvalue(signer.issuer)}")
    return " ".join(parts)


def format_authentication_results(
    authserv_id: str, result: VerificationResult
) -> str:
    """Return an Authentication-Results value (no field name) for result.

    One ``smime`` resinfo per signer; ``smime=none`` for an unsigned
    message.  Continuation lines are folded with CRLF + tab, so the value
    can be handed to a milter as it is.
    """
    head = _pvalue(authserv_id) + ";"
    if not result.signers:
        outcome = smime_result(result)
        resinfo = f"smime={outcome.value}"
        if outcome is not SmimeResult.NONE and result.problems:
            resinfo += " " + _comment(result.problems[0][:120])
        return f"{head}\r\n\t{resinfo}"
    lines = [_signer_resinfo(s) for s in result.signers]
    return head + "\r\n\t" + ";\r\n\t".join(lines)


def format_error_results(
    authserv_id: str, result: SmimeResult, reason: str
) -> str:
    """Return an Authentication-Results value for a failed verification.

    Used when the verifier could not produce a result at all, for
    example ``permerror`` for a malformed S/MIME structure.
    """
    return (
        f"{_pvalue(authserv_id)};\r\n\tsmime={result.value} "
        f"{_comment(reason[:120])}"
    )


_AUTHSERV = re.compile(
    r'^\s*(?:\([^)]*\)\s*)*("(?:[^"\\]|\\.)*"|[^\s;()]+)', re.DOTALL
)


def authserv_id_of(value: str) -> str | None:
    """Return the authserv-id an Authentication-Results value names."""
    match = _AUTHSERV.match(value)
    if match is None:
        return None
    ident = match.group(1)
    if ident.startswith('"'):
        ident = re.sub(r"\\(.)", r"\1", ident[1:-1])
    return ident


def forged_indices(
    headers: Iterable[tuple[str, str]], authserv_id: str
) -> list[int]:
    """Return 1-based indices of Authentication-Results fields to remove.

    The index counts only Authentication-Results fields, as milter
    ``chgheader`` expects.  A field matches when its authserv-id equals
    ``authserv_id`` ignoring case (RFC 8601 section 2.5: it is a domain
    name or similar, compared case-insensitively).
    """
    found = []
    index = 0
    wanted = authserv_id.lower()
    for name, value in headers:
        if name.lower() != "authentication-results":
            continue
        index += 1
        ident = authserv_id_of(value)
        if ident is not None and ident.lower() == wanted:
            found.append(index)
    return found
