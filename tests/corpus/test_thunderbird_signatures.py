"""Thunderbird's own verdicts on NSS-made signed mail, matched by govsign.

Every unencrypted message in ../shared/corpora/thunderbird-smime whose
Thunderbird test states a signature verdict (good or bad) is verified;
"good" must be govsign's ``valid`` and "bad" must not be.  Thunderbird
checks no revocation (its test CA publishes none), so these tests pass
``RevocationMode.NO_CHECK``, and they validate at a fixed moment inside
the corpus certificates' validity.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from govsign.pki.trust import TrustStore
from govsign.pki.validate import RevocationMode
from govsign.result import Verdict
from govsign.smime.verifying import Verifier
from tests.conftest import require_corpus

pytestmark = pytest.mark.corpus

MOMENT = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
SHA1_PREF = "accept_insecure_sha1"

# Where govsign rightly differs from Thunderbird, and why.
RIGHTLY_DIFFERENT = {
    # Thunderbird checks the inner signer (Alice) of a nested signature
    # against the outer From (Dave) and reports "bad"
    # (mimecms.cpp VERIFY_HEADER_MISMATCH).  govsign verifies every layer
    # and asks that one signer be the sender: Decree 30/2020 has the
    # person sign and then the agency seal sign over it, so nested
    # signers that differ from From are normal in official mail.
    "nested-multipart-layer": Verdict.VALID,
}


def _cases() -> list[Any]:
    corpus = Path(__file__).resolve().parents[2].parent / "shared"
    manifest = corpus / "corpora" / "thunderbird-smime" / "MANIFEST.json"
    if not manifest.exists():
        # The ``corpus`` fixture then fails in CI and skips elsewhere.
        return [pytest.param({}, {}, False, id="corpus-missing")]
    data = json.loads(manifest.read_text())
    cases = []
    for message in data["messages"]:
        for expectation in message["expectations"]:
            expected = expectation["expected"]
            if expected.get("encrypted"):
                continue
            if expected.get("signature") not in ("good", "bad"):
                continue
            sha1 = SHA1_PREF in (expectation.get("prefs") or "")
            case_id = message["file"].split("/")[-1] + (
                "-sha1pref" if sha1 else ""
            )
            cases.append(pytest.param(message, expectation, sha1, id=case_id))
    return cases


@pytest.fixture(scope="module")
def corpus() -> Path:
    return require_corpus("thunderbird-smime")


@pytest.fixture(scope="module")
def verifiers(corpus: Path) -> dict[bool, Verifier]:
    trust = TrustStore.from_pem_file(corpus / "smime" / "TestCA.pem")
    return {
        False: Verifier(trust, revocation=RevocationMode.NO_CHECK),
        True: Verifier(
            trust, revocation=RevocationMode.NO_CHECK, allow_weak=["sha1"]
        ),
    }


def _difference(message: dict[str, Any], sha1_allowed: bool) -> str:
    # Alice's signature inside Dave's, at least one of them
    # multipart/signed.  The manifest notes attribute the SHA-1 variants
    # to SHA-1, but with the SHA-1 preference set Thunderbird still says
    # bad: the nested layer is the cause there too.  The alice.env.dsig.*
    # variants also carry an outer signature made over LF line endings
    # (DESIGN.md), so govsign agrees those are bad.
    name = message["file"].split("/")[-1]
    nested = name.startswith("alice.plain.") and ".dave." in name
    sha1_refused = ".SHA1." in name and not sha1_allowed
    if nested and ".dsig." in name and not sha1_refused:
        return "nested-multipart-layer"
    return ""


@pytest.mark.parametrize("message, expectation, sha1", _cases())
def test_thunderbird_signature_verdict_matches(
    corpus: Path,
    verifiers: dict[bool, Verifier],
    message: dict[str, Any],
    expectation: dict[str, Any],
    sha1: bool,
) -> None:
    raw = (corpus / message["file"]).read_bytes()
    result = verifiers[sha1].verify(raw, at=MOMENT)
    expected = expectation["expected"]

    difference = _difference(message, sha1)
    if difference:
        assert result.verdict is RIGHTLY_DIFFERENT[difference]
        return

    if expected["signature"] == "good":
        assert result.verdict is Verdict.VALID, result.problems
        reported = expected.get("reported_signer")
        if reported:
            emails = {e.lower() for s in result.signers for e in s.email}
            assert reported.lower() in emails
    else:
        assert result.verdict in (Verdict.INVALID, Verdict.INDETERMINATE)
        assert result.problems


def test_stale_corpus_copy_fails_path_validation(corpus: Path) -> None:
    # The manifest notes that this copy was signed under an earlier CA
    # with the same name: the signature holds, the chain does not.
    trust = TrustStore.from_pem_file(corpus / "smime" / "TestCA.pem")
    verifier = Verifier(trust, revocation=RevocationMode.NO_CHECK)
    raw = (
        corpus / "browser-smime-data" / "alice.html.sig.SHA256.opaque.eml"
    ).read_bytes()
    result = verifier.verify(raw, at=MOMENT)
    assert result.verdict is Verdict.INDETERMINATE
    assert result.signers[0].sub_indication is not None
    assert "chain" in result.signers[0].sub_indication.value.lower() or (
        "CERTIFICATE" in result.signers[0].sub_indication.value
    )


@pytest.mark.parametrize(
    "name, covered, uncovered",
    [
        ("alice.dsig.SHA256.multipart.in.mixed.eml", ("1",), ("2",)),
        (
            "alice.dsig.SHA256.multipart.in.mixed.with.header.eml",
            ("2",),
            ("1", "3"),
        ),
    ],
)
def test_partial_signature_names_the_unsigned_parts(
    corpus: Path,
    name: str,
    covered: tuple[str, ...],
    uncovered: tuple[str, ...],
) -> None:
    # A mailing list added an unsigned header/footer around a signed part:
    # the signature must not be extended to the additions.
    trust = TrustStore.from_pem_file(corpus / "smime" / "TestCA.pem")
    verifier = Verifier(trust, revocation=RevocationMode.NO_CHECK)
    raw = (corpus / "browser-smime-data" / name).read_bytes()
    result = verifier.verify(raw, at=MOMENT)
    assert result.verdict is Verdict.INDETERMINATE
    assert result.coverage.value == "partial"
    assert result.covered_parts == covered
    assert result.uncovered_parts == uncovered
    assert all(s.passed for s in result.signers)
