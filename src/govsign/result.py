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
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Verdict",
    "Indication",
    "SubIndication",
    "Coverage",
    "CertificateInfo",
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
