"""Validation of one signer with its timestamps and embedded evidence.

ETSI EN 319 102-1 in the order it prescribes: archive timestamps first
(they prove when the rest existed), then signature timestamps (they prove
when the signature existed: best-signature-time), then the signer's path,
now or, when time has cured a failure, at best-signature-time (5.6.2.4).
Revocation data embedded in the message (CAdES-LT) counts like data the
caller supplies, so an LT message verifies with nothing fetched.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from govsign.cms import cades
from govsign.cms.signed import ParsedSignedData, ParsedSignerInfo
from govsign.cms.timestamp import (
    TimestampCheck,
    parse_timestamp,
    validate_timestamp,
)
from govsign.errors import MalformedMessageError
from govsign.pki.validate import PathOutcome, PathValidator
from govsign.result import (
    Evidence,
    Indication,
    SubIndication,
    TimestampInfo,
)

__all__ = ["LongTermOutcome", "validate_signer"]

# What garbled unsigned attributes raise while being read: asn1crypto's
# ValueError/TypeError/KeyError, and govsign's MalformedMessageError.
_BAD_INPUT = (MalformedMessageError, ValueError, TypeError, KeyError)

_INDETERMINATE_SUBS = frozenset(
    {
        SubIndication.SIG_CONSTRAINTS_FAILURE,
        SubIndication.CHAIN_CONSTRAINTS_FAILURE,
        SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE,
        SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
        SubIndication.NO_CERTIFICATE_CHAIN_FOUND,
        SubIndication.REVOKED_NO_POE,
        SubIndication.REVOKED_CA_NO_POE,
        SubIndication.OUT_OF_BOUNDS_NO_POE,
        SubIndication.OUT_OF_BOUNDS_NOT_REVOKED,
        SubIndication.TRY_LATER,
    }
)

log = logging.getLogger(__name__)

_DER = serialization.Encoding.DER


@dataclass(frozen=True)
class LongTermOutcome:
    """The path outcome of a signer, with what its timestamps proved."""

    path: PathOutcome
    level: str
    timestamps: tuple[TimestampInfo, ...]
    best_signature_time: dt.datetime | None
    problems: tuple[str, ...]
    evidence: Evidence

    @property
    def indication(self) -> Indication:
        return self.path.indication


def _info(check: TimestampCheck, kind: str) -> TimestampInfo:
    tsa = check.token.tsa_certificate
    return TimestampInfo(
        kind=kind,
        time=check.token.gen_time,
        authority=tsa.subject.rfc4514_string() if tsa else None,
        indication=check.indication,
        sub_indication=check.sub_indication,
        problem=check.problem,
    )


def _unparsable(kind: str, exc: BaseException) -> TimestampInfo:
    return TimestampInfo(
        kind=kind,
        time=None,
        authority=None,
        indication=Indication.TOTAL_FAILED,
        sub_indication=SubIndication.FORMAT_FAILURE,
        problem=str(exc),
    )


def _broken_archive(token: bytes, problem: str) -> TimestampInfo:
    try:
        parsed = parse_timestamp(token)
        when, tsa = parsed.gen_time, parsed.tsa_certificate
    except MalformedMessageError:
        when, tsa = None, None
    return TimestampInfo(
        kind="archive",
        time=when,
        authority=tsa.subject.rfc4514_string() if tsa else None,
        indication=Indication.TOTAL_FAILED,
        sub_indication=SubIndication.HASH_FAILURE,
        problem=problem,
    )


def validate_signer(
    paths: PathValidator,
    signer: ParsedSignerInfo,
    index: int,
    parsed: ParsedSignedData,
    cms_der: bytes,
    content_digest: Callable[[str], bytes | None],
    moment: dt.datetime,
) -> LongTermOutcome:
    """Validate ``signer`` (the ``index``-th SignerInfo) at ``moment``.

    ``content_digest(name)`` gives the signed content's digest with the
    named algorithm (None if unknown), for archive timestamps.
    """
    assert signer.certificate is not None
    infos: list[TimestampInfo] = []
    problems: list[str] = []
    crls = list(parsed.crls)
    ocsps = list(parsed.ocsps)
    ev_certs: list[x509.Certificate] = []
    ev_crls: list[bytes] = []
    ev_ocsps: list[bytes] = []
    tokens: list[bytes] = []

    # EN 319 102-1 5.6.3: an archive timestamp proves that the signature,
    # its timestamps and the validation data existed at its time.
    archive_poe = None
    # Without unsigned attributes there are no timestamps: level B, and
    # nothing more to parse (the common case on a busy gateway).
    has_unsigned = cades.has_unsigned_attributes(signer.info)
    stamps: list[cades.ArchiveStamp] = []
    if has_unsigned:
        try:
            stamps = cades.archive_stamps(cms_der, index, content_digest)
        except _BAD_INPUT as exc:
            infos.append(_unparsable("archive", exc))
            problems.append(f"archive timestamp: {exc}")
    for stamp in stamps:
        tokens.append(stamp.token)
        if stamp.missing:
            problem = (
                "archive timestamp: what it covers was removed or changed "
                f"({stamp.missing})"
            )
            problems.append(problem)
            infos.append(_broken_archive(stamp.token, problem))
            continue
        try:
            check = validate_timestamp(
                stamp.token,
                stamp.covered,
                paths,
                moment=moment,
                crls=crls,
                ocsps=ocsps,
            )
        except _BAD_INPUT as exc:
            infos.append(_unparsable("archive", exc))
            problems.append(f"archive timestamp: {exc}")
            continue
        infos.append(_info(check, "archive"))
        if check.passed:
            _collect(check, ev_certs, ev_crls, ev_ocsps)
            when = check.token.gen_time
            archive_poe = (
                when if archive_poe is None else min(archive_poe, when)
            )
        elif check.problem:
            problems.append(check.problem)

    # EN 319 122-1 5.3: the signature timestamp is over the signature
    # value; its time is the best-signature-time (EN 319 102-1 5.6.2.4).
    best = None
    try:
        signature_tokens = cades.signature_timestamps(signer.info)
        signature_value = cades.signature_value(signer.info)
    except _BAD_INPUT as exc:
        signature_tokens, signature_value = [], b""
        infos.append(_unparsable("signature", exc))
        problems.append(f"signature timestamp: {exc}")
    for token in signature_tokens:
        tokens.append(token)
        try:
            check = validate_timestamp(
                token,
                signature_value,
                paths,
                moment=moment,
                poe_time=archive_poe,
                crls=crls,
                ocsps=ocsps,
            )
        except _BAD_INPUT as exc:
            infos.append(_unparsable("signature", exc))
            problems.append(f"signature timestamp: {exc}")
            continue
        infos.append(_info(check, "signature"))
        if check.passed:
            _collect(check, ev_certs, ev_crls, ev_ocsps)
            when = check.token.gen_time
            best = when if best is None else min(best, when)
        elif check.problem:
            problems.append(check.problem)

    # The signer's path: now, or at best-signature-time if time cured it.
    others = [c for c in parsed.certificates if c != signer.certificate]
    outcome = paths.validate(
        signer.certificate,
        others,
        moment=moment,
        signing_time=signer.signing_time,
        poe_time=best,
        crls=crls,
        ocsps=ocsps,
    )
    broken = [i for i in infos if not i.passed]
    if outcome.passed and broken:
        # Every timestamp in the message must hold: one that does not
        # (forged, over other data, untrusted TSA, garbled) makes the
        # signature's own claims about time unreliable.
        sub = broken[0].sub_indication
        outcome = PathOutcome(
            Indication.INDETERMINATE,
            sub
            if sub in _INDETERMINATE_SUBS
            else SubIndication.SIG_CONSTRAINTS_FAILURE,
            outcome.chain,
            f"the {broken[0].kind} timestamp does not hold",
            crls=outcome.crls,
            ocsps=outcome.ocsps,
        )
    ev_certs = [*outcome.chain, *ev_certs]
    if not outcome.chain:
        ev_certs.insert(0, signer.certificate)
    evidence = Evidence(
        certificates=_unique(c.public_bytes(_DER) for c in ev_certs),
        crls=_unique([*outcome.crls, *ev_crls]),
        ocsps=_unique([*outcome.ocsps, *ev_ocsps]),
        timestamps=tuple(tokens),
    )
    try:
        level = cades.level_of(cms_der, index) if has_unsigned else "B"
    except _BAD_INPUT:
        level = "B"
    log.debug(
        "signer %d: level %s, best-signature-time %s", index, level, best
    )
    return LongTermOutcome(
        path=outcome,
        level=level,
        timestamps=tuple(infos),
        best_signature_time=best,
        problems=tuple(problems),
        evidence=evidence,
    )


def _collect(
    check: TimestampCheck,
    certs: list[x509.Certificate],
    crls: list[bytes],
    ocsps: list[bytes],
) -> None:
    certs.extend(check.chain)
    crls.extend(check.crls)
    ocsps.extend(check.ocsps)


def _unique(items: Iterable[bytes]) -> tuple[bytes, ...]:
    out: list[bytes] = []
    for item in items:
        if item not in out:
            out.append(item)
    return tuple(out)
