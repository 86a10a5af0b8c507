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

from govsign.pki.trust import TrustStore
from govsign.result import Indication, SubIndication

__all__ = [
    "RevocationMode",
    "PathOutcome",
    "PathValidator",
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
class PathOutcome:
    """The result of validating one signer certificate's path.

    ``chain`` runs from the signer to the anchor when a path was found.
    ``revocation_time`` is set when a certificate on the path is revoked.
    """

    indication: Indication
    sub_indication: SubIndication | None
    chain: tuple[x509.Certificate, ...]
    message: str | None = None
    revocation_time: dt.datetime | None = None

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
    bytes or cryptography CRL objects).  ``allow_weak_hashes`` names digest
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
    ) -> None:
        self._trust = trust
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

    def validate(
        self,
        signer: x509.Certificate,
        others: Sequence[x509.Certificate] = (),
        *,
        moment: dt.datetime | None = None,
        signing_time: dt.datetime | None = None,
    ) -> PathOutcome:
        """Validate ``signer`` for S/MIME signing at ``moment`` (default now).

        ``others`` are candidate intermediates (usually those in the
        message).  ``signing_time`` is the claimed signing time, used to
        tell a signature made before its certificate's revocation from one
        made after (ETSI EN 319 102-1 5.3.4).
        """
        at = moment or dt.datetime.now(dt.UTC)
        key = (_fingerprint(signer), *sorted(_fingerprint(c) for c in others))
        with self._lock:
            entry = self._cache.get(key)
        if entry and entry.valid_from <= at <= entry.valid_until:
            return entry.outcome

        outcome = self._validate_uncached(signer, others, at, signing_time)
        if outcome.passed:
            entry = self._cache_entry(outcome)
            with self._lock:
                self._cache[key] = entry
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
    ) -> PathOutcome:
        leaf = asn1_x509.Certificate.load(signer.public_bytes(_DER))
        intermediates = [
            asn1_x509.Certificate.load(c.public_bytes(_DER)) for c in others
        ]
        try:
            context = self._context(at)
            validator = CertificateValidator(
                leaf, intermediates, validation_context=context
            )
            path = asyncio.run(validator.async_validate_path())
        except cv_errors.RevokedError as exc:
            return _revoked_outcome(exc, signer, signing_time)
        except cv_errors.InsufficientRevinfoError as exc:
            return _fail(
                Indication.INDETERMINATE, SubIndication.TRY_LATER, exc
            )
        except cv_errors.ExpiredError as exc:
            return _fail(
                Indication.INDETERMINATE,
                SubIndication.OUT_OF_BOUNDS_NO_POE,
                exc,
            )
        except cv_errors.NotYetValidError as exc:
            return _fail(
                Indication.INDETERMINATE, SubIndication.NOT_YET_VALID, exc
            )
        except cv_errors.DisallowedAlgorithmError as exc:
            return _fail(
                Indication.INDETERMINATE,
                SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
                exc,
            )
        except cv_errors.PathBuildingError as exc:
            return _fail(
                Indication.INDETERMINATE,
                SubIndication.NO_CERTIFICATE_CHAIN_FOUND,
                exc,
            )
        except (cv_errors.PathValidationError, cv_errors.ValidationError) as e:
            return _fail(
                Indication.INDETERMINATE,
                SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE,
                e,
            )

        chain = tuple(
            x509.load_der_x509_certificate(c.dump())
            for c in reversed(list(path.iter_certs(include_root=True)))
        )
        usage_problem = smime_signing_usage_problem(signer)
        if usage_problem:
            return PathOutcome(
                Indication.INDETERMINATE,
                SubIndication.CHAIN_CONSTRAINTS_FAILURE,
                chain,
                usage_problem,
            )
        return PathOutcome(Indication.TOTAL_PASSED, None, chain)

    def _context(self, at: dt.datetime) -> ValidationContext:
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
            crls=self._crls if checking else [],
            ocsps=self._ocsps if checking else [],
            revocation_mode=mode,
            weak_hash_algos=self._weak_hashes,
        )


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


def _fail(
    indication: Indication, sub: SubIndication, exc: Exception
) -> PathOutcome:
    log.debug("path validation: %s: %s", sub.value, exc)
    return PathOutcome(indication, sub, (), _describe(exc))


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
