"""Path validation of a signer certificate, in ETSI EN 319 102-1 terms.

pyhanko-certvalidator does the RFC 5280 work (path building, signatures,
validity, name constraints, policies, CRL and OCSP); this module keeps it
behind a typed interface, adds the S/MIME certificate checks of RFC 8550
and maps every failure to an ETSI indication and sub-indication.

Successful outcomes are cached for as long as the certificates and CRLs
they rest on stay current, because a gateway sees the same few signers
thousands of times a day.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import enum
import hashlib
import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator import errors as cv_errors
from pyhanko_certvalidator.policy_decl import PKIXValidationParams

from govsign.pki._revinfo import (
    CURABLE_BY_POE,
    Revinfo,
    about_chain,
    chain_candidates,
    issued_after,
)
from govsign.pki.fetch import RevocationFetcher
from govsign.pki.trust import TrustStore
from govsign.result import Indication, SubIndication

__all__ = [
    "RevocationMode",
    "PathOutcome",
    "PathValidator",
    "PolicySettings",
    "WEAK_HASHES",
]

log = logging.getLogger(__name__)

WEAK_HASHES = frozenset({"md2", "md5", "sha1"})
"""Digests refused in certificates unless the caller allows one by name."""

_DER = serialization.Encoding.DER


class RevocationMode(enum.Enum):
    """How much revocation data a valid path needs.

    ``REQUIRE`` (the default for official mail): every certificate below
    the anchor must have a current CRL or OCSP response, else the outcome
    is INDETERMINATE/TRY_LATER.  ``SOFT_FAIL`` checks what is available
    and lets missing data pass.  ``NO_CHECK`` does not look at revocation.
    The last two are weakenings: choosing them is logged as a warning.
    """

    REQUIRE = "require"
    SOFT_FAIL = "soft-fail"
    NO_CHECK = "no-check"


@dataclass(frozen=True)
class PolicySettings:
    """RFC 5280 6.1.1 initial inputs about certificate policies.

    ``initial_policy_set`` holds dotted OIDs, or ``"any_policy"`` (the
    default: every policy is acceptable).
    """

    initial_policy_set: frozenset[str] = frozenset({"any_policy"})
    explicit_policy: bool = False
    policy_mapping_inhibit: bool = False
    any_policy_inhibit: bool = False

    def _pkix(self) -> PKIXValidationParams:
        anypolicy = "2.5.29.32.0"
        return PKIXValidationParams(
            user_initial_policy_set=frozenset(
                "any_policy" if p == anypolicy else p
                for p in self.initial_policy_set
            ),
            initial_explicit_policy=self.explicit_policy,
            initial_policy_mapping_inhibit=self.policy_mapping_inhibit,
            initial_any_policy_inhibit=self.any_policy_inhibit,
        )


@dataclass(frozen=True)
class PathOutcome:
    """The result of validating one signer certificate's path.

    ``chain`` runs from the signer to the anchor when a path was found.
    ``revocation_time`` is set when a certificate on the path is revoked.
    ``validated_at`` is the moment the path was found valid at: the
    validation time, or the time a timestamp proves the signature existed
    (ETSI EN 319 102-1 5.6.2.4, past signature validation).  ``crls`` and
    ``ocsps`` are the revocation data (DER) about the chain that the
    validation had, supplied or fetched: the evidence to keep.
    ``fetch_problems`` says which revocation sources could not be reached.
    """

    indication: Indication
    sub_indication: SubIndication | None
    chain: tuple[x509.Certificate, ...]
    message: str | None = None
    revocation_time: dt.datetime | None = None
    validated_at: dt.datetime | None = None
    crls: tuple[bytes, ...] = ()
    ocsps: tuple[bytes, ...] = ()
    fetch_problems: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.indication is Indication.TOTAL_PASSED


@dataclass(frozen=True)
class _CacheEntry:
    outcome: PathOutcome
    valid_from: dt.datetime
    valid_until: dt.datetime


def _fingerprint(cert: x509.Certificate) -> bytes:
    return hashlib.sha256(cert.public_bytes(_DER)).digest()


class PathValidator:
    """Validates signer certificates against a fixed trust store.

    ``crls`` and ``ocsps`` are revocation data the caller supplies (DER
    bytes or cryptography CRL objects).  ``fetcher``, when given, fetches
    more from the certificates' CRL distribution points and OCSP
    responders; without one nothing is fetched.  ``policy`` sets the
    RFC 5280 initial policy inputs.  ``allow_weak_hashes`` names digest
    algorithms (e.g. ``{"sha1"}``) to accept in certificate signatures;
    every such weakening is logged.
    """

    def __init__(
        self,
        trust: TrustStore,
        *,
        crls: Iterable[x509.CertificateRevocationList | bytes] = (),
        ocsps: Iterable[bytes] = (),
        revocation: RevocationMode = RevocationMode.REQUIRE,
        allow_weak_hashes: Iterable[str] = (),
        fetcher: RevocationFetcher | None = None,
        policy: PolicySettings | None = None,
    ) -> None:
        self._trust = trust
        self._fetcher = fetcher
        self._pkix = policy._pkix() if policy else None
        self._roots = [
            asn1_x509.Certificate.load(der) for der in trust.der_roots()
        ]
        self._crls = [_load_crl(c) for c in crls]
        self._ocsps = [asn1_ocsp.OCSPResponse.load(o) for o in ocsps]
        self._revocation = revocation
        allowed = {h.lower() for h in allow_weak_hashes}
        self._weak_hashes = WEAK_HASHES - allowed
        if revocation is not RevocationMode.REQUIRE:
            log.warning(
                "revocation checking weakened to %r by the caller",
                revocation.value,
            )
        for name in sorted(allowed & WEAK_HASHES):
            log.warning("weak digest %s allowed in certificates", name)
        self._cache: dict[tuple[bytes, ...], _CacheEntry] = {}
        self._lock = threading.Lock()
        self._crl_window = _crl_window(self._crls)

    @property
    def revocation(self) -> RevocationMode:
        return self._revocation

    @property
    def trust(self) -> TrustStore:
        return self._trust

    @property
    def fetcher(self) -> RevocationFetcher | None:
        return self._fetcher

    def validate(
        self,
        signer: x509.Certificate,
        others: Sequence[x509.Certificate] = (),
        *,
        moment: dt.datetime | None = None,
        signing_time: dt.datetime | None = None,
        poe_time: dt.datetime | None = None,
        crls: Iterable[bytes] = (),
        ocsps: Iterable[bytes] = (),
        usage: str = "smime",
        fresh_after_poe: bool = True,
    ) -> PathOutcome:
        """Validate ``signer`` for S/MIME signing at ``moment`` (default now).

        ``others`` are candidate intermediates (usually those in the
        message).  ``signing_time`` is the claimed signing time, used to
        tell a signature made before its certificate's revocation from one
        made after (ETSI EN 319 102-1 5.3.4).  ``poe_time`` is a proof of
        existence of the signature (a validated signature timestamp's
        time): when the path fails now only for a reason time can cure
        (revoked or expired since, revocation data no longer current), it
        is validated again at ``poe_time`` (best-signature-time, EN 319
        102-1 5.6.2.4).  ``crls``/``ocsps`` add revocation data for this
        call only (as embedded in the message, CAdES-LT).  ``usage`` is
        ``"smime"`` (RFC 8550 signer checks) or ``"any"`` (the caller
        checks key usage, e.g. for a timestamping unit).

        ``fresh_after_poe``: at ``poe_time``, the signer's own status must
        come from a CRL or OCSP response issued at or after it (EN 319
        102-1 5.2.5.4 revocation freshness): an older CRL that was still
        current then cannot show a revocation made shortly before.  CA
        certificates need data that covers ``poe_time``.  A TSA's
        validation at its own token's time passes False (data embedded at
        LT time for the TSA covers that time).
        """
        at = moment or dt.datetime.now(dt.UTC)
        extra_crls = tuple(crls)
        extra_ocsps = tuple(ocsps)
        cacheable = (
            self._fetcher is None
            and poe_time is None
            and not extra_crls
            and not extra_ocsps
            and usage == "smime"
        )
        key = (_fingerprint(signer), *sorted(_fingerprint(c) for c in others))
        if cacheable:
            with self._lock:
                entry = self._cache.get(key)
            if entry and entry.valid_from <= at <= entry.valid_until:
                return entry.outcome

        revinfo = Revinfo(
            [
                *self._crls,
                *(asn1_crl.CertificateList.load(c) for c in extra_crls),
            ],
            [
                *self._ocsps,
                *(asn1_ocsp.OCSPResponse.load(o) for o in extra_ocsps),
            ],
            [],
        )
        outcome = self._validate_in_time(
            signer,
            others,
            at,
            signing_time,
            poe_time,
            revinfo,
            usage,
            fresh_after_poe,
        )

        # Fetch only when the data at hand (supplied, embedded, cached)
        # cannot establish the status: a current CRL or OCSP response
        # already in the message needs no network.
        if (
            self._fetcher is not None
            and self._revocation is not RevocationMode.NO_CHECK
            and outcome.sub_indication is SubIndication.TRY_LATER
        ):
            fetched = self._fetcher.fetch_for(
                chain_candidates(signer, others, self._trust.roots),
                [*self._trust.roots, *others],
            )
            revinfo.crls.extend(
                asn1_crl.CertificateList.load(c) for c in fetched.crls
            )
            revinfo.ocsps.extend(
                asn1_ocsp.OCSPResponse.load(o) for o in fetched.ocsps
            )
            revinfo.problems.extend(fetched.problems)
            outcome = self._validate_in_time(
                signer,
                others,
                at,
                signing_time,
                poe_time,
                revinfo,
                usage,
                fresh_after_poe,
            )
        if not outcome.passed and revinfo.problems:
            outcome = _with(outcome, fetch_problems=tuple(revinfo.problems))
        if outcome.passed and cacheable:
            entry = self._cache_entry(outcome)
            with self._lock:
                self._cache[key] = entry
        return outcome

    def _validate_in_time(
        self,
        signer: x509.Certificate,
        others: Sequence[x509.Certificate],
        at: dt.datetime,
        signing_time: dt.datetime | None,
        poe_time: dt.datetime | None,
        revinfo: Revinfo,
        usage: str,
        fresh_after_poe: bool,
    ) -> PathOutcome:
        outcome = self._validate_uncached(
            signer, others, at, signing_time, revinfo, usage
        )
        if (
            poe_time is None
            or poe_time >= at
            or outcome.sub_indication not in CURABLE_BY_POE
        ):
            return outcome

        # EN 319 102-1 5.6.2.4: past signature validation at the proof of
        # existence, with revocation data issued up to now counting.
        log.debug(
            "path not valid now (%s); validating at the proof of existence %s",
            outcome.sub_indication,
            poe_time.isoformat(),
        )
        if fresh_after_poe:
            revinfo = issued_after(revinfo, signer, poe_time)
        past = self._validate_uncached(
            signer,
            others,
            poe_time,
            signing_time,
            revinfo,
            usage,
            retroactive=True,
        )
        if past.passed or past.sub_indication not in CURABLE_BY_POE:
            return past
        return outcome

    def _cache_entry(self, outcome: PathOutcome) -> _CacheEntry:
        starts = [c.not_valid_before_utc for c in outcome.chain]
        ends = [c.not_valid_after_utc for c in outcome.chain]
        if (
            self._crl_window
            and self._revocation is not RevocationMode.NO_CHECK
        ):
            starts.append(self._crl_window[0])
            ends.append(self._crl_window[1])
        return _CacheEntry(outcome, max(starts), min(ends))

    def _validate_uncached(
        self,
        signer: x509.Certificate,
        others: Sequence[x509.Certificate],
        at: dt.datetime,
        signing_time: dt.datetime | None,
        revinfo: Revinfo,
        usage: str = "smime",
        *,
        retroactive: bool = False,
    ) -> PathOutcome:
        # The signer's own validity first: past its end, missing revocation
        # data would otherwise be reported (TRY_LATER) instead of the
        # cause (EN 319 102-1 5.2.6: OUT_OF_BOUNDS_NO_POE).
        if at > signer.not_valid_after_utc:
            return PathOutcome(
                Indication.INDETERMINATE,
                SubIndication.OUT_OF_BOUNDS_NO_POE,
                (),
                "the signer's certificate expired on "
                f"{signer.not_valid_after_utc:%Y-%m-%d %H:%M} UTC",
            )
        leaf = asn1_x509.Certificate.load(signer.public_bytes(_DER))
        intermediates = [
            asn1_x509.Certificate.load(c.public_bytes(_DER)) for c in others
        ]
        try:
            context = self._context(at, revinfo, retroactive)
            validator = CertificateValidator(
                leaf,
                intermediates,
                validation_context=context,
                pkix_params=self._pkix,
            )
            path = asyncio.run(validator.async_validate_path())
        except cv_errors.RevokedError as exc:
            return _revoked_outcome(exc, signer, signing_time)
        except cv_errors.ValidationError as exc:
            # Every other certvalidator failure leaves the signature's
            # validity unknown: INDETERMINATE, with the most specific
            # sub-indication its type allows (EN 319 102-1 5.2.6).
            sub = _sub_indication_for(exc)
            log.debug("path validation: %s: %s", sub.value, exc)
            return PathOutcome(
                Indication.INDETERMINATE, sub, (), _describe(exc)
            )
        except cv_errors.PathBuildingError as exc:
            return PathOutcome(
                Indication.INDETERMINATE,
                SubIndication.NO_CERTIFICATE_CHAIN_FOUND,
                (),
                _describe(exc),
            )
        except (ValueError, TypeError) as exc:
            # asn1crypto parses lazily: a certificate from the message
            # whose encoding it rejects only fails here, mid-validation.
            # It is outside the signature, so the path is unknown, not
            # the signature broken.
            log.debug("path validation: unparsable certificate: %s", exc)
            first_line = str(exc).splitlines()[0] if str(exc) else ""
            return PathOutcome(
                Indication.INDETERMINATE,
                SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE,
                (),
                "a certificate on the path cannot be parsed: " + first_line,
            )

        chain = tuple(
            x509.load_der_x509_certificate(c.dump())
            for c in reversed(list(path.iter_certs(include_root=True)))
        )
        crls, ocsps = about_chain(chain, revinfo)
        usage_problem = (
            smime_signing_usage_problem(signer) if usage == "smime" else None
        )
        if usage_problem:
            return PathOutcome(
                Indication.INDETERMINATE,
                SubIndication.CHAIN_CONSTRAINTS_FAILURE,
                chain,
                usage_problem,
                crls=crls,
                ocsps=ocsps,
            )
        return PathOutcome(
            Indication.TOTAL_PASSED,
            None,
            chain,
            validated_at=at,
            crls=crls,
            ocsps=ocsps,
        )

    def _context(
        self, at: dt.datetime, revinfo: Revinfo, retroactive: bool
    ) -> ValidationContext:
        mode = {
            RevocationMode.REQUIRE: "require",
            RevocationMode.SOFT_FAIL: "soft-fail",
            RevocationMode.NO_CHECK: "soft-fail",
        }[self._revocation]
        checking = self._revocation is not RevocationMode.NO_CHECK
        return ValidationContext(
            trust_roots=self._roots,
            moment=at,
            allow_fetching=False,
            crls=revinfo.crls if checking else [],
            ocsps=revinfo.ocsps if checking else [],
            revocation_mode=mode,
            weak_hash_algos=self._weak_hashes,
            # At a proof of existence, revocation data issued after it
            # counts: it says whether the certificate was revoked then.
            retroactive_revinfo=retroactive,
        )


def _with(outcome: PathOutcome, **changes: object) -> PathOutcome:
    return dataclasses.replace(outcome, **changes)  # type: ignore[arg-type]


def smime_signing_usage_problem(cert: x509.Certificate) -> str | None:
    """Return why ``cert`` may not sign mail (RFC 8550 4.4), or None."""
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and not (
        usage.digital_signature or usage.content_commitment
    ):
        return (
            "the signer certificate's key usage allows neither "
            "digitalSignature nor nonRepudiation"
        )
    try:
        eku = cert.extensions.get_extension_for_class(
            x509.ExtendedKeyUsage
        ).value
    except x509.ExtensionNotFound:
        return None
    allowed = {
        ExtendedKeyUsageOID.EMAIL_PROTECTION,
        ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    }
    if not allowed.intersection(eku):
        return (
            "the signer certificate's extended key usage does not "
            "include emailProtection"
        )
    return None


def _load_crl(
    value: x509.CertificateRevocationList | bytes,
) -> asn1_crl.CertificateList:
    der = value if isinstance(value, bytes) else value.public_bytes(_DER)
    return asn1_crl.CertificateList.load(der)


def _crl_window(
    crls: Sequence[asn1_crl.CertificateList],
) -> tuple[dt.datetime, dt.datetime] | None:
    if not crls:
        return None
    starts = []
    ends = []
    for item in crls:
        tbs = item["tbs_cert_list"]
        starts.append(tbs["this_update"].native)
        next_update = tbs["next_update"].native
        if next_update is not None:
            ends.append(next_update)
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    return max(starts), min(ends) if ends else far


# Most specific first: several of these subclass PathValidationError.
_SUB_INDICATIONS: tuple[tuple[type[Exception], SubIndication], ...] = (
    (cv_errors.InsufficientRevinfoError, SubIndication.TRY_LATER),
    (cv_errors.ExpiredError, SubIndication.OUT_OF_BOUNDS_NO_POE),
    (cv_errors.NotYetValidError, SubIndication.NOT_YET_VALID),
    (
        cv_errors.DisallowedAlgorithmError,
        SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
    ),
)


def _sub_indication_for(exc: Exception) -> SubIndication:
    for kind, sub in _SUB_INDICATIONS:
        if isinstance(exc, kind):
            return sub
    return SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE


def _describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.rstrip(".")


def _revoked_outcome(
    exc: cv_errors.RevokedError,
    signer: x509.Certificate,
    signing_time: dt.datetime | None,
) -> PathOutcome:
    revoked_at = exc.revocation_dt
    leaf_revoked = bool(getattr(exc, "is_ee_cert", True))
    if not leaf_revoked:
        sub = SubIndication.REVOKED_CA_NO_POE
        indication = Indication.INDETERMINATE
    elif signing_time is not None and revoked_at <= signing_time:
        # EN 319 102-1 5.3.4: revoked before the claimed signing time.
        indication, sub = Indication.TOTAL_FAILED, SubIndication.REVOKED
    else:
        indication, sub = (
            Indication.INDETERMINATE,
            SubIndication.REVOKED_NO_POE,
        )
    return PathOutcome(indication, sub, (), _describe(exc), revoked_at)


def certificate_sha256(cert: x509.Certificate) -> str:
    """Hex SHA-256 of a certificate's DER, as reports show it."""
    return hashlib.sha256(cert.public_bytes(_DER)).hexdigest()
