"""What verification found, as frozen objects with one bottom line.

The vocabulary is ETSI EN 319 102-1 (indications and sub-indications), so
that an auditor and a court read the same words a European validation
report would use.  :class:`VerificationResult` adds the mail-level facts a
CMS verifier does not know: whether the signer is the sender, and which
part of the message the signature covers.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Verdict",
    "Indication",
    "SubIndication",
    "Coverage",
    "CertificateInfo",
    "Evidence",
    "TimestampInfo",
    "SignerResult",
    "VerificationResult",
]


class Verdict(enum.Enum):
    """The one bottom line of a verification."""

    VALID = "valid"
    INVALID = "invalid"
    INDETERMINATE = "indeterminate"
    UNSIGNED = "unsigned"


class Indication(enum.Enum):
    """ETSI EN 319 102-1 main status indication."""

    TOTAL_PASSED = "TOTAL-PASSED"
    TOTAL_FAILED = "TOTAL-FAILED"
    INDETERMINATE = "INDETERMINATE"


class SubIndication(enum.Enum):
    """ETSI EN 319 102-1 sub-indications govsign reports."""

    # TOTAL-FAILED
    FORMAT_FAILURE = "FORMAT_FAILURE"
    HASH_FAILURE = "HASH_FAILURE"
    SIG_CRYPTO_FAILURE = "SIG_CRYPTO_FAILURE"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"
    NOT_YET_VALID = "NOT_YET_VALID"
    # INDETERMINATE
    SIG_CONSTRAINTS_FAILURE = "SIG_CONSTRAINTS_FAILURE"
    CHAIN_CONSTRAINTS_FAILURE = "CHAIN_CONSTRAINTS_FAILURE"
    CERTIFICATE_CHAIN_GENERAL_FAILURE = "CERTIFICATE_CHAIN_GENERAL_FAILURE"
    CRYPTO_CONSTRAINTS_FAILURE = "CRYPTO_CONSTRAINTS_FAILURE"
    NO_SIGNING_CERTIFICATE_FOUND = "NO_SIGNING_CERTIFICATE_FOUND"
    NO_CERTIFICATE_CHAIN_FOUND = "NO_CERTIFICATE_CHAIN_FOUND"
    REVOKED_NO_POE = "REVOKED_NO_POE"
    REVOKED_CA_NO_POE = "REVOKED_CA_NO_POE"
    OUT_OF_BOUNDS_NO_POE = "OUT_OF_BOUNDS_NO_POE"
    OUT_OF_BOUNDS_NOT_REVOKED = "OUT_OF_BOUNDS_NOT_REVOKED"
    TRY_LATER = "TRY_LATER"
    GENERIC = "GENERIC"


class Coverage(enum.Enum):
    """How much of the message, as shown to a reader, a signature covers."""

    WHOLE = "whole"
    PARTIAL = "partial"
    NONE = "none"


@dataclass(frozen=True)
class CertificateInfo:
    """A certificate as a report shows it."""

    subject: str
    issuer: str
    serial: str  # hexadecimal, as CAs print it
    not_before: dt.datetime
    not_after: dt.datetime
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "serial": self.serial,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "sha256": self.sha256,
        }


@dataclass(frozen=True)
class TimestampInfo:
    """An RFC 3161 timestamp on a signature, and what checking it found.

    ``kind`` is ``"signature"`` (CAdES-T: proves when the signature
    existed) or ``"archive"`` (CAdES-LTA: proves when the signature and
    its validation data existed).
    """

    kind: str
    time: dt.datetime | None
    authority: str | None
    indication: Indication
    sub_indication: SubIndication | None
    problem: str | None = None

    @property
    def passed(self) -> bool:
        return self.indication is Indication.TOTAL_PASSED

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "time": self.time.isoformat() if self.time else None,
            "authority": self.authority,
            "indication": self.indication.value,
            "sub_indication": (
                self.sub_indication.value if self.sub_indication else None
            ),
            "problem": self.problem,
        }


@dataclass(frozen=True)
class Evidence:
    """What a verdict rested on, as DER, for an evidence bundle.

    The signer's chain and the TSAs' chains, the CRLs and OCSP responses
    used (supplied, fetched or embedded), and the timestamp tokens.
    """

    certificates: tuple[bytes, ...] = ()
    crls: tuple[bytes, ...] = ()
    ocsps: tuple[bytes, ...] = ()
    timestamps: tuple[bytes, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """SHA-256 of every item, so a report names what it rests on."""

        def digests(items: tuple[bytes, ...]) -> list[str]:
            return [hashlib.sha256(i).hexdigest() for i in items]

        return {
            "certificates": digests(self.certificates),
            "crls": digests(self.crls),
            "ocsp_responses": digests(self.ocsps),
            "timestamp_tokens": digests(self.timestamps),
        }


@dataclass(frozen=True)
class SignerResult:
    """What was established about one signature of the message.

    ``part`` is the MIME part the signature sits on ("" for the whole
    message, "1.2" for the second child of the first part); ``problems``
    lists, in plain words, every check that did not pass.
    """

    indication: Indication
    sub_indication: SubIndication | None
    name: str | None
    email: tuple[str, ...]
    issuer: str | None
    serial: str | None
    signing_time: dt.datetime | None
    digest_algorithm: str | None
    signature_algorithm: str | None
    chain: tuple[CertificateInfo, ...]
    part: str
    form: str  # "multipart/signed" or "application/pkcs7-mime"
    address_matches_from: bool | None
    problems: tuple[str, ...] = ()
    # Long-term validation (ETSI EN 319 122-1 level, EN 319 102-1
    # best-signature-time): ``validated_at`` is the moment the path was
    # found valid at, which is the timestamp's when time cured a failure.
    level: str | None = None
    timestamps: tuple[TimestampInfo, ...] = ()
    best_signature_time: dt.datetime | None = None
    validated_at: dt.datetime | None = None
    evidence: Evidence | None = field(default=None, compare=False, repr=False)

    @property
    def passed(self) -> bool:
        return self.indication is Indication.TOTAL_PASSED

    def to_dict(self) -> dict[str, Any]:
        return {
            "indication": self.indication.value,
            "sub_indication": (
                self.sub_indication.value if self.sub_indication else None
            ),
            "name": self.name,
            "email": list(self.email),
            "issuer": self.issuer,
            "serial": self.serial,
            "signing_time": (
                self.signing_time.isoformat() if self.signing_time else None
            ),
            "digest_algorithm": self.digest_algorithm,
            "signature_algorithm": self.signature_algorithm,
            "chain": [c.to_dict() for c in self.chain],
            "part": self.part,
            "form": self.form,
            "address_matches_from": self.address_matches_from,
            "problems": list(self.problems),
            "level": self.level,
            "timestamps": [t.to_dict() for t in self.timestamps],
            "best_signature_time": (
                self.best_signature_time.isoformat()
                if self.best_signature_time
                else None
            ),
            "validated_at": (
                self.validated_at.isoformat() if self.validated_at else None
            ),
            "evidence": self.evidence.to_dict() if self.evidence else None,
        }


@dataclass(frozen=True)
class VerificationResult:
    """The outcome of verifying one message.

    ``verdict`` is the bottom line; ``indication``/``sub_indication`` are
    those of the deciding signer (the worst one); ``covered_parts`` and
    ``uncovered_parts`` name MIME parts by number ("1", "1.2").
    """

    verdict: Verdict
    indication: Indication | None
    sub_indication: SubIndication | None
    signers: tuple[SignerResult, ...]
    coverage: Coverage
    covered_parts: tuple[str, ...]
    uncovered_parts: tuple[str, ...]
    from_address: str | None
    validation_time: dt.datetime
    problems: tuple[str, ...] = ()
    weakened: tuple[str, ...] = field(default=())

    @classmethod
    def unsigned(
        cls,
        from_address: str | None,
        validation_time: dt.datetime,
        *,
        uncovered_parts: tuple[str, ...] = (),
        problems: tuple[str, ...] = ("no signature found",),
        weakened: tuple[str, ...] = (),
    ) -> VerificationResult:
        """The result for a message that carries no signature."""
        return cls(
            verdict=Verdict.UNSIGNED,
            indication=None,
            sub_indication=None,
            signers=(),
            coverage=Coverage.NONE,
            covered_parts=(),
            uncovered_parts=uncovered_parts,
            from_address=from_address,
            validation_time=validation_time,
            problems=problems,
            weakened=weakened,
        )

    @property
    def valid(self) -> bool:
        return self.verdict is Verdict.VALID

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON-ready data, with stable field names."""
        return {
            "verdict": self.verdict.value,
            "indication": self.indication.value if self.indication else None,
            "sub_indication": (
                self.sub_indication.value if self.sub_indication else None
            ),
            "signers": [s.to_dict() for s in self.signers],
            "coverage": self.coverage.value,
            "covered_parts": list(self.covered_parts),
            "uncovered_parts": list(self.uncovered_parts),
            "from": self.from_address,
            "validation_time": self.validation_time.isoformat(),
            "problems": list(self.problems),
            "weakened": list(self.weakened),
        }
