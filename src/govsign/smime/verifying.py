"""Verify every S/MIME signature in a message and say what it proves.

A :class:`Verifier` holds the trust anchors, revocation data and policy;
create one and reuse it (it caches validated paths).  :func:`verify` is the
one-shot form.  The result (:mod:`govsign.result`) has one bottom line:

- ``unsigned``: no signature anywhere;
- ``invalid``: a signature is broken (changed content, wrong key,
  malformed, revoked before signing);
- ``indeterminate``: nothing is broken, but validity cannot be
  established (unknown or unverifiable chain, no revocation data, weak
  algorithm, signer is not the sender, only part of the message signed);
- ``valid``: every signature verifies, chains to a given anchor, and
  covers everything a reader is shown, and a signer is the sender.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import functools
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from email.message import Message

from cryptography import x509
from cryptography.x509.oid import NameOID

from govsign.cms.signed import (
    ParsedSignedData,
    ParsedSignerInfo,
    SignatureCheck,
    check_signer_info,
    digest_content,
    parse_signed_data,
)
from govsign.errors import MalformedMessageError, VerificationError
from govsign.pki.fetch import RevocationFetcher
from govsign.pki.trust import TrustStore
from govsign.pki.validate import (
    PathOutcome,
    PathValidator,
    PolicySettings,
    RevocationMode,
    certificate_sha256,
)
from govsign.result import (
    CertificateInfo,
    Coverage,
    Indication,
    SignerResult,
    SubIndication,
    Verdict,
    VerificationResult,
)
from govsign.smime._longterm import LongTermOutcome, validate_signer
from govsign.smime._mime import (
    Entity,
    decode_body,
    has_content,
    parse_entity,
)
from govsign.smime.canonical import canonical_chunks

__all__ = ["Verifier", "verify", "verify_or_raise"]

log = logging.getLogger(__name__)

_SIGNATURE_TYPES = (
    "application/pkcs7-signature",
    "application/x-pkcs7-signature",
)
_OPAQUE_TYPES = ("application/pkcs7-mime", "application/x-pkcs7-mime")
_DEFAULT_DATE_TOLERANCE = dt.timedelta(hours=1)

_CHECK_FAILURES: dict[str, tuple[Indication, SubIndication]] = {
    "hash": (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE),
    "crypto": (Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE),
    "format": (Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE),
    "weak": (
        Indication.INDETERMINATE,
        SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
    ),
    "no-certificate": (
        Indication.INDETERMINATE,
        SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
    ),
    "certificate-binding": (
        Indication.INDETERMINATE,
        SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
    ),
}

_SEVERITY = {
    Indication.TOTAL_PASSED: 0,
    Indication.INDETERMINATE: 1,
    Indication.TOTAL_FAILED: 2,
}


@dataclass
class _Context:
    """The message a layer belongs to (the top one or an attached one)."""

    senders: tuple[str, ...]
    from_address: str | None
    date: dt.datetime | None
    header_problem: str | None = None
    signers: list[SignerResult] = field(default_factory=list)
    outermost_layer: str | None = None


@dataclass
class _Walk:
    """What the walk over the MIME tree collected."""

    contexts: list[_Context] = field(default_factory=list)
    covered: list[str] = field(default_factory=list)
    uncovered: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class Verifier:
    """Verifies S/MIME messages against a fixed trust store.

    Parameters:

    ``trust``
        The only anchors; nothing else is trusted.
    ``crls`` / ``ocsps``
        Revocation data (cryptography CRLs or DER bytes).
    ``revocation``
        :class:`RevocationMode`; the default requires revocation data for
        every certificate below the anchor.
    ``allow_weak``
        Names of weakenings the caller accepts: ``"sha1"``, ``"md5"``,
        ``"rsa-short"``.  Each is logged as a warning.
    ``fetcher``
        A :class:`~govsign.pki.fetch.RevocationFetcher` to fetch CRLs and
        OCSP responses the certificates point to; None (the default)
        fetches nothing and uses only supplied and embedded data.
    ``policy``
        RFC 5280 initial policy settings
        (:class:`~govsign.pki.validate.PolicySettings`); default: any
        policy, none required.
    ``date_tolerance``
        Largest accepted difference between the signing time and the
        message's Date header (default one hour, as Thunderbird); None
        switches the check off.
    """

    def __init__(
        self,
        trust: TrustStore,
        *,
        crls: Iterable[x509.CertificateRevocationList | bytes] = (),
        ocsps: Iterable[bytes] = (),
        revocation: RevocationMode = RevocationMode.REQUIRE,
        allow_weak: Iterable[str] = (),
        date_tolerance: dt.timedelta | None = _DEFAULT_DATE_TOLERANCE,
        fetcher: RevocationFetcher | None = None,
        policy: PolicySettings | None = None,
    ) -> None:
        self._allow_weak = tuple(sorted({a.lower() for a in allow_weak}))
        unknown = set(self._allow_weak) - {"sha1", "md5", "rsa-short"}
        if unknown:
            raise ValueError(f"unknown weakening(s): {sorted(unknown)}")
        for name in self._allow_weak:
            log.warning("weak algorithm %s accepted by the caller", name)
        self._paths = PathValidator(
            trust,
            crls=crls,
            ocsps=ocsps,
            revocation=revocation,
            allow_weak_hashes=[
                a for a in self._allow_weak if a in ("sha1", "md5")
            ],
            fetcher=fetcher,
            policy=policy,
        )
        self._date_tolerance = date_tolerance
        weakened = [f"accept {a}" for a in self._allow_weak]
        if revocation is not RevocationMode.REQUIRE:
            weakened.append(f"revocation {revocation.value}")
        self._weakened = tuple(weakened)

    def verify(
        self, message: bytes, *, at: dt.datetime | None = None
    ) -> VerificationResult:
        """Verify every signature in ``message`` at ``at`` (default now).

        Raises :class:`MalformedMessageError` when ``message`` is not a
        MIME message at all; a broken signature inside a well-formed
        message is reported in the result, not raised.
        """
        moment = at or dt.datetime.now(dt.UTC)
        if moment.tzinfo is None:
            raise ValueError("'at' must carry a time zone")
        root = parse_entity(message)
        walk = _Walk()
        top = _context_of(root.headers)
        walk.contexts.append(top)
        self._visit(root, walk, top, covered=False, moment=moment)
        return self._conclude(walk, top, moment)

    # ---------------------------------------------------------- the walk

    def _visit(
        self,
        entity: Entity,
        walk: _Walk,
        context: _Context,
        *,
        covered: bool,
        moment: dt.datetime,
    ) -> None:
        ctype = entity.content_type
        if ctype == "multipart/signed":
            self._visit_detached(entity, walk, context, moment)
            return
        if ctype in _OPAQUE_TYPES and _is_signed_data(entity):
            self._visit_opaque(entity, walk, context, moment)
            return
        if ctype == "message/rfc822" and entity.children:
            inner = entity.children[0]
            inner_context = _context_of(inner.headers)
            walk.contexts.append(inner_context)
            self._visit(
                inner, walk, inner_context, covered=covered, moment=moment
            )
            return
        if entity.children:
            for child in entity.children:
                self._visit(
                    child, walk, context, covered=covered, moment=moment
                )
            return
        if ctype in _OPAQUE_TYPES:
            walk.problems.append(
                f"part {entity.number or '(message)'} is encrypted; "
                "decrypt it to verify what it contains"
            )
        if not covered and _shows_something(entity):
            walk.uncovered.append(entity.number or "1")

    def _visit_detached(
        self,
        entity: Entity,
        walk: _Walk,
        context: _Context,
        moment: dt.datetime,
    ) -> None:
        where = entity.number or "(message)"
        # RFC 1847 2.1: exactly two parts, the second of the type the
        # protocol parameter names.  A third part would be shown unsigned.
        if len(entity.children) != 2:
            raise MalformedMessageError(
                f"multipart/signed part {where} has "
                f"{len(entity.children)} parts; it must have exactly two",
                part=entity.number,
            )
        content, signature_part = entity.children[0], entity.children[1]
        protocol = (entity.param("protocol") or "").lower()
        if protocol and protocol not in _SIGNATURE_TYPES:
            # Another signature scheme (OpenPGP): not ours to judge.
            walk.problems.append(
                f"part {where} is signed with {protocol}, which govsign "
                "does not verify"
            )
            self._visit(content, walk, context, covered=False, moment=moment)
            return
        if signature_part.content_type not in _SIGNATURE_TYPES:
            raise MalformedMessageError(
                f"multipart/signed part {where}: the second part is "
                f"{signature_part.content_type}, not the S/MIME signature",
                part=entity.number,
            )
        walk.covered.append(entity.number)
        if context.outermost_layer is None:
            context.outermost_layer = entity.number
        signers = self._check_layer(
            signature_part,
            detached=(content.data, content.start, content.end),
            part=entity.number,
            form="multipart/signed",
            moment=moment,
        )
        context.signers.extend(signers)
        self._visit(content, walk, context, covered=True, moment=moment)

    def _visit_opaque(
        self,
        entity: Entity,
        walk: _Walk,
        context: _Context,
        moment: dt.datetime,
    ) -> None:
        walk.covered.append(entity.number)
        if context.outermost_layer is None:
            context.outermost_layer = entity.number
        signers, inner = self._check_opaque(entity, moment)
        context.signers.extend(signers)
        if inner is not None:
            inner_entity = _parse_inner(inner, entity.number)
            self._visit(
                inner_entity, walk, context, covered=True, moment=moment
            )

    # ----------------------------------------------------- one CMS layer

    def _check_layer(
        self,
        signature_part: Entity,
        *,
        detached: tuple[bytes, int, int],
        part: str,
        form: str,
        moment: dt.datetime,
    ) -> list[SignerResult]:
        try:
            parsed = parse_signed_data(decode_body(signature_part))
        except MalformedMessageError as exc:
            return [_format_failure(part, form, str(exc))]
        if parsed.content is not None:
            # RFC 8551 3.5.3: a detached signature carries no content; one
            # that does was signed over something other than what is shown.
            return [
                _format_failure(
                    part,
                    form,
                    "the signature embeds content of its own, which differs "
                    "from the message shown",
                )
            ]
        data, start, end = detached
        digests = _digests(parsed, lambda: canonical_chunks(data, start, end))
        return self._check_signers(parsed, digests, part, form, moment)

    def _check_opaque(
        self, entity: Entity, moment: dt.datetime
    ) -> tuple[list[SignerResult], bytes | None]:
        form = "application/pkcs7-mime"
        try:
            parsed = parse_signed_data(decode_body(entity))
        except MalformedMessageError as exc:
            return [_format_failure(entity.number, form, str(exc))], None
        if parsed.content is None:
            return [
                _format_failure(
                    entity.number,
                    form,
                    "signed-data without content: nothing was signed",
                )
            ], None
        content = parsed.content
        digests = _digests(parsed, lambda: [content])
        signers = self._check_signers(
            parsed, digests, entity.number, form, moment
        )
        return signers, content

    def _check_signers(
        self,
        parsed: ParsedSignedData,
        digests: dict[str, bytes],
        part: str,
        form: str,
        moment: dt.datetime,
    ) -> list[SignerResult]:
        if not parsed.signers:
            return [_format_failure(part, form, "the signature has no signer")]
        results = []
        for index, signer in enumerate(parsed.signers):
            digest = digests.get(signer.digest_algorithm)
            if digest is None:
                check = SignatureCheck(
                    "format",
                    f"unsupported digest {signer.digest_algorithm}",
                )
            else:
                check = check_signer_info(
                    signer, digest, allow_weak=self._allow_weak
                )
            results.append(
                self._signer_result(
                    signer, parsed, check, part, form, moment, digests, index
                )
            )
        return results

    def _signer_result(
        self,
        signer: ParsedSignerInfo,
        parsed: ParsedSignedData,
        check: SignatureCheck,
        part: str,
        form: str,
        moment: dt.datetime,
        digests: dict[str, bytes] | None = None,
        index: int = 0,
    ) -> SignerResult:
        cert = signer.certificate
        problems: list[str] = []
        chain: tuple[x509.Certificate, ...] = ()
        long_term: LongTermOutcome | None = None
        sub: SubIndication | None
        if check.failure is not None:
            indication, sub = _CHECK_FAILURES[check.failure]
            problems.append(check.reason or check.failure)
        else:
            assert cert is not None  # a passed check found it
            # Timestamps, embedded validation data, best-signature-time.
            long_term = validate_signer(
                self._paths,
                signer,
                index,
                parsed,
                parsed.der,
                (digests or {}).get,
                moment,
            )
            outcome: PathOutcome = long_term.path
            indication, sub = outcome.indication, outcome.sub_indication
            chain = outcome.chain
            problems.extend(long_term.problems)
            if outcome.message:
                problems.append(outcome.message)
            problems.extend(outcome.fetch_problems)
        return SignerResult(
            indication=indication,
            sub_indication=sub,
            name=_common_name(cert),
            email=_emails(cert),
            issuer=cert.issuer.rfc4514_string() if cert else None,
            serial=f"{cert.serial_number:x}" if cert else None,
            signing_time=signer.signing_time,
            digest_algorithm=signer.digest_algorithm,
            signature_algorithm=signer.signature_algorithm,
            chain=tuple(_cert_info(c) for c in (chain or _just(cert))),
            part=part,
            form=form,
            address_matches_from=None,
            problems=tuple(problems),
            level=long_term.level if long_term else None,
            timestamps=long_term.timestamps if long_term else (),
            best_signature_time=(
                long_term.best_signature_time if long_term else None
            ),
            validated_at=(long_term.path.validated_at if long_term else None),
            evidence=long_term.evidence if long_term else None,
        )

    # ------------------------------------------------------ conclusions

    def _conclude(
        self, walk: _Walk, top: _Context, moment: dt.datetime
    ) -> VerificationResult:
        signers: list[SignerResult] = []
        for context in walk.contexts:
            signers.extend(self._apply_mail_constraints(context))
        if not signers:
            return VerificationResult.unsigned(
                top.from_address,
                moment,
                uncovered_parts=tuple(walk.uncovered),
                problems=tuple(walk.problems) or ("no signature found",),
                weakened=self._weakened,
            )
        worst = max(signers, key=lambda s: _SEVERITY[s.indication])
        indication, sub = worst.indication, worst.sub_indication
        problems = list(walk.problems)
        for signer in signers:
            if not signer.passed:
                who = (
                    ", ".join(signer.email)
                    or signer.name
                    or f"signature in part {signer.part or '(message)'}"
                )
                problems.extend(f"{who}: {p}" for p in signer.problems)
        if not top.signers:
            # A signed message forwarded as an attachment proves who wrote
            # the attachment, not who sent this message.
            problems.append(
                "only an attached message is signed; the message from "
                f"{top.from_address or 'an unknown sender'} itself is not"
            )
            if indication is Indication.TOTAL_PASSED:
                indication = Indication.INDETERMINATE
                sub = SubIndication.SIG_CONSTRAINTS_FAILURE
        coverage = Coverage.PARTIAL if walk.uncovered else Coverage.WHOLE
        if coverage is Coverage.PARTIAL:
            problems.append(
                "the signature covers only part "
                + ", ".join(p or "(whole)" for p in walk.covered)
                + "; not signed: part "
                + ", ".join(walk.uncovered)
            )
            if indication is Indication.TOTAL_PASSED:
                indication = Indication.INDETERMINATE
                sub = SubIndication.SIG_CONSTRAINTS_FAILURE
        verdict = {
            Indication.TOTAL_PASSED: Verdict.VALID,
            Indication.TOTAL_FAILED: Verdict.INVALID,
            Indication.INDETERMINATE: Verdict.INDETERMINATE,
        }[indication]
        return VerificationResult(
            verdict=verdict,
            indication=indication,
            sub_indication=sub,
            signers=tuple(signers),
            coverage=coverage,
            covered_parts=tuple(walk.covered),
            uncovered_parts=tuple(walk.uncovered),
            from_address=top.from_address,
            validation_time=moment,
            problems=tuple(problems),
            weakened=self._weakened,
        )

    def _apply_mail_constraints(self, context: _Context) -> list[SignerResult]:
        if not context.signers:
            return []
        senders = set(context.senders)
        signers = [
            replace(
                s,
                address_matches_from=(
                    bool(senders.intersection(e.lower() for e in s.email))
                    if senders
                    else None
                ),
            )
            for s in context.signers
        ]
        # RFC 8550 3: the sender must be among the signers.  With nested
        # signatures (a clerk's, then the agency seal's, as Decree 30
        # prescribes) one matching signer is enough; whether that signer's
        # own signature holds is its own indication.
        sender_signed = any(s.address_matches_from for s in signers)
        result = []
        for signer in signers:
            outermost = signer.part == context.outermost_layer
            problems = list(signer.problems)
            constraint_failed = False
            identified = bool(signer.email or signer.name)
            if outermost and not sender_signed and senders and identified:
                problems.append(
                    "the signer ("
                    + (", ".join(signer.email) or "no e-mail address")
                    + ") is not the sender ("
                    + ", ".join(sorted(senders))
                    + ")"
                )
                constraint_failed = True
            if outermost and context.header_problem:
                problems.append(context.header_problem)
                constraint_failed = True
            skew = self._date_skew(signer, context)
            if outermost and skew is not None:
                problems.append(
                    "the signing time differs from the Date header by "
                    f"{_hours(skew)}"
                )
                constraint_failed = True
            if constraint_failed and signer.passed:
                signer = replace(
                    signer,
                    indication=Indication.INDETERMINATE,
                    sub_indication=SubIndication.SIG_CONSTRAINTS_FAILURE,
                )
            result.append(replace(signer, problems=tuple(problems)))
        return result

    def _date_skew(
        self, signer: SignerResult, context: _Context
    ) -> dt.timedelta | None:
        if (
            self._date_tolerance is None
            or signer.signing_time is None
            or context.date is None
        ):
            return None
        skew = abs(context.date - signer.signing_time)
        return skew if skew > self._date_tolerance else None


# ------------------------------------------------------------- helpers


def verify(
    message: bytes,
    trust: TrustStore,
    *,
    at: dt.datetime | None = None,
    **options: object,
) -> VerificationResult:
    """Verify ``message`` once; see :class:`Verifier` for ``options``."""
    verifier = Verifier(trust, **options)  # type: ignore[arg-type]
    return verifier.verify(message, at=at)


def verify_or_raise(
    message: bytes,
    trust: TrustStore,
    **options: object,
) -> VerificationResult:
    """Like :func:`verify`, but raise unless the verdict is ``valid``.

    Raises :class:`VerificationError` whose ``result`` is the full result.
    """
    result = verify(message, trust, **options)  # type: ignore[arg-type]
    if not result.valid:
        reason = "; ".join(result.problems) or result.verdict.value
        raise VerificationError(
            f"message is {result.verdict.value}: {reason}", result=result
        )
    return result


def _digests(
    parsed: ParsedSignedData,
    chunks: Callable[[], Iterable[bytes | memoryview]],
) -> dict[str, bytes]:
    names = {s.digest_algorithm for s in parsed.signers}
    out = {}
    for name in names:
        try:
            out[name] = digest_content(name, chunks())
        except MalformedMessageError:
            continue
    return out


def _is_signed_data(entity: Entity) -> bool:
    smime_type = (entity.param("smime-type") or "").lower()
    if smime_type:
        return smime_type == "signed-data"
    # Some clients omit smime-type: look at the CMS content type.
    try:
        parse_signed_data(decode_body(entity))
    except MalformedMessageError:
        return False
    return True


def _parse_inner(content: bytes, number: str) -> Entity:
    try:
        return parse_entity(content, number=number, top_level=False)
    except MalformedMessageError:
        raise
    except (ValueError, LookupError) as exc:
        raise MalformedMessageError(
            f"the signed content of part {number or '(message)'} is not "
            "a MIME entity",
            part=number,
        ) from exc


def _shows_something(entity: Entity) -> bool:
    # An empty or blank leaf shows a reader nothing, so leaving it outside
    # a signature hides nothing.
    return has_content(entity.data, entity.body_start, entity.end)


# RFC 5322 3.6: fields a message may carry once at most.  With two, which
# one a reader sees depends on the program, so no signature vouches for it.
_ONCE_PER_MESSAGE = (
    "From",
    "Sender",
    "Reply-To",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
)


def _single_address(
    headers: Message, name: str, problems: list[str]
) -> str | None:
    """The one mailbox of a From or Sender field, or None with a problem.

    Strict on purpose: a display name that looks like an address, two
    mailboxes, or any parse defect could show a reader another address
    than the one compared with the signer's.
    """
    values = headers.get_all(name, [])
    if not values:
        return None
    raw = re.sub(r"\r?\n(?=[ \t])", "", str(values[0]))
    try:
        field_ = email.policy.default.header_factory(name, raw)
        addresses = field_.addresses
        defects = field_.defects
    except (ValueError, TypeError, IndexError):
        addresses, defects = (), ["unparsable"]
    if defects or len(addresses) != 1 or not addresses[0].addr_spec:
        problems.append(
            f"the {name} field is not one well-formed address: {raw[:80]!r}"
        )
        return None
    return str(addresses[0].addr_spec)


def _context_of(headers: Message) -> _Context:
    problems: list[str] = []
    for name in _ONCE_PER_MESSAGE:
        count = len(headers.get_all(name, []))
        if count > 1:
            problems.append(
                f"the message has {count} {name} header fields; which one "
                "a reader sees depends on the mail program"
            )
    from_address = _single_address(headers, "From", problems)
    sender = _single_address(headers, "Sender", problems)
    if not headers.get_all("From"):
        problems.append("the message has no From field")
    senders = tuple(a.lower() for a in (from_address, sender) if a)
    date = None
    date_value = headers.get("Date")
    if date_value:
        try:
            date = email.utils.parsedate_to_datetime(str(date_value))
        except (TypeError, ValueError):
            date = None
        if date is not None and date.tzinfo is None:
            date = None  # "-0000": unknown zone, no basis to compare
    return _Context(senders, from_address, date, "; ".join(problems) or None)


def _format_failure(part: str, form: str, reason: str) -> SignerResult:
    return SignerResult(
        indication=Indication.TOTAL_FAILED,
        sub_indication=SubIndication.FORMAT_FAILURE,
        name=None,
        email=(),
        issuer=None,
        serial=None,
        signing_time=None,
        digest_algorithm=None,
        signature_algorithm=None,
        chain=(),
        part=part,
        form=form,
        address_matches_from=None,
        problems=(reason,),
    )


def _common_name(cert: x509.Certificate | None) -> str | None:
    if cert is None:
        return None
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()


def _emails(cert: x509.Certificate | None) -> tuple[str, ...]:
    """RFC 8550 3: SAN rfc822Name, else the subject's emailAddress."""
    if cert is None:
        return ()
    try:
        san = cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value
        found = san.get_values_for_type(x509.RFC822Name)
    except x509.ExtensionNotFound:
        found = []
    if not found:
        found = [
            str(a.value)
            for a in cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)
        ]
    return tuple(found)


def _just(cert: x509.Certificate | None) -> Sequence[x509.Certificate]:
    return [cert] if cert is not None else []


@functools.lru_cache(maxsize=1024)
def _cert_info(cert: x509.Certificate) -> CertificateInfo:
    # Cached: a gateway describes the same few CA certificates all day.
    return CertificateInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=f"{cert.serial_number:x}",
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        sha256=certificate_sha256(cert),
    )


def _hours(delta: dt.timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.1f} h"
