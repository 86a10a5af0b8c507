"""NIST PKITS: every signed message gives the expected path result.

The corpus (../shared/corpora/pkits) holds one S/MIME message per PKITS
test, signed by the test's end-entity certificate, with the chain and the
CRLs in the CMS.  MANIFEST.json gives, per message, the expected RFC 5280
result under each case's initial policy settings.  Each case parses the
message's CMS, checks its signature value, and validates the signer's path
with the certificates and CRLs the message carries, at the frozen time of
the expectations (2022-05-01), with the case's initial settings.

The EE certificates carry no e-mail address and the messages come from a
placeholder sender, so the sender binding of RFC 8550 is not part of
these cases; PKITS keys are 1024-bit RSA, so the short-key rule for the
CMS signature value is waived here (it is a path-validation suite).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

import pytest

from govsign.cms.signed import (
    check_signer_info,
    digest_content,
    parse_signed_data,
)
from govsign.errors import ConfigurationError
from govsign.pki.trust import TrustStore, load_certificates
from govsign.pki.validate import PathValidator, PolicySettings, RevocationMode
from govsign.result import Indication, SubIndication
from govsign.smime._mime import decode_body, parse_entity
from govsign.smime.canonical import canonical_chunks
from govsign.smime.verifying import Verifier
from tests.services.corpora import shared_dir

pytestmark = pytest.mark.corpus


PKITS = shared_dir() / "corpora" / "pkits"
MOMENT = dt.datetime(2022, 5, 1, tzinfo=dt.UTC)


def _manifest() -> dict[str, Any]:
    path = PKITS / "MANIFEST.json"
    if not path.exists():
        if os.environ.get("CI") == "true":
            raise RuntimeError(f"PKITS corpus missing at {PKITS}")
        return {"messages": []}
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _cases() -> list[Any]:
    out = []
    for message in _manifest()["messages"]:
        cases = message["expected_cases"]
        if not cases:
            # PKITS 4.8.20 has no machine-readable expectation; the PKITS
            # document lists it as a valid path under default settings.
            cases = [
                {
                    "pyhanko_case": "cps_pointer_qualifier_test20",
                    "expected": "SUCCESS",
                    "initial_params": {},
                }
            ]
        for case in cases:
            out.append(
                pytest.param(
                    message, case, id=case.get("pyhanko_case", message["file"])
                )
            )
    return out


CASES = _cases()


@pytest.fixture(scope="module")
def anchors() -> TrustStore:
    der = (PKITS / "certs" / "TrustAnchorRootCertificate.crt").read_bytes()
    return TrustStore.of(load_certificates(der, "PKITS anchor"))


def test_corpus_is_present() -> None:
    # A missing corpus must fail loudly, never pass by running nothing.
    assert (PKITS / "MANIFEST.json").exists(), PKITS
    assert len(CASES) >= 223


def _settings(params: dict[str, Any]) -> PolicySettings:
    return PolicySettings(
        initial_policy_set=frozenset(
            params.get("user_initial_policy_set", ["any_policy"])
        ),
        explicit_policy=bool(params.get("initial_explicit_policy", False)),
        policy_mapping_inhibit=bool(
            params.get("initial_policy_mapping_inhibit", False)
        ),
        any_policy_inhibit=bool(
            params.get("initial_any_policy_inhibit", False)
        ),
    )


def _der(kind: str, name: str) -> bytes:
    path = PKITS / kind / name if kind else PKITS / name
    return path.read_bytes()


# DSA keys (PKITS 4.1.4-4.1.6) sign with DSA/SHA-1: govsign refuses both
# for a message signature (Circular 15/2025), whatever the path says.
_DSA_MESSAGES = {
    "smime/SignedValidDSASignaturesTest4.eml",
    "smime/SignedValidDSAParameterInheritanceTest5.eml",
    "smime/SignedInvalidDSASignatureTest6.eml",
}


# Cases where govsign rightly gives another answer than the RFC 5280 path
# result, with why.  The test asserts govsign's answer, so a change shows.
RIGHTLY_DIFFERENT = {
    "valid_dsa_parameter_inheritance_test5": (
        "FAILURE",
        "the end-entity key inherits its DSA parameters from the CA "
        "(RFC 3279 2.3.2); cryptography cannot load such a certificate, so "
        "govsign cannot use it, and Circular 15/2025 accepts no DSA",
    ),
    "valid_dsa_signatures_test4": (
        "FAILURE",
        "the certificates are signed with DSA-1024/SHA-1; govsign refuses "
        "SHA-1 in certificate signatures (DESIGN.md, Circular 15/2025) "
        "and reports CRYPTO_CONSTRAINTS_FAILURE",
    ),
}


# Cases where the full Verifier rightly differs from the bare path result.
VERIFIER_DIFFERENT: dict[str, tuple[str, str]] = {}


@pytest.mark.parametrize(("message", "case"), CASES)
def test_pkits_case(
    message: dict[str, Any], case: dict[str, Any], anchors: TrustStore
) -> None:
    # The message: its CMS names the PKITS end-entity certificate and its
    # signature value checks out over the canonical content.
    raw = (PKITS / message["file"]).read_bytes()
    root = parse_entity(raw)
    assert root.content_type == "multipart/signed"
    content, signature = root.children[0], root.children[1]
    parsed = parse_signed_data(decode_body(signature))
    (signer,) = parsed.signers
    case_id = case.get("pyhanko_case")
    if case_id == "valid_dsa_parameter_inheritance_test5":
        with pytest.raises(ConfigurationError):
            load_certificates(
                _der("", message["signer_cert"]), message["signer_cert"]
            )
        assert RIGHTLY_DIFFERENT[case_id][0] != case["expected"]
        return
    expected_signer = load_certificates(
        _der("", message["signer_cert"]), message["signer_cert"]
    )[0]
    assert expected_signer in parsed.certificates
    if signer.certificate is None:
        # DSA parameter inheritance: the EE key is unusable on its own.
        assert message["file"] in _DSA_MESSAGES
    else:
        assert signer.certificate == expected_signer
        digest = digest_content(
            signer.digest_algorithm,
            canonical_chunks(content.data, content.start, content.end),
        )
        check = check_signer_info(
            signer, digest, allow_weak=("rsa-short", "sha1")
        )
        if message["file"] in _DSA_MESSAGES:
            assert check.failure in ("weak", "format"), check.reason
        else:
            assert check.failure is None, check.reason

    # The path, with the case's certificates, CRLs and initial settings.
    revocation = (
        RevocationMode.NO_CHECK
        if case.get("check_revocation") is False
        else RevocationMode.REQUIRE
    )
    # As pyhanko's driver: the anchor's CRL always, plus the case's.
    crls = [_der("crls", n) for n in case.get("crls") or []]
    crls.append(_der("crls", "TrustAnchorRootCRL.crl"))
    others = [
        load_certificates(_der("certs", n), n)[0]
        for n in case.get("other_certs") or []
    ]
    if "other_certs" not in case:
        # user-notice cases list no files: use what the message carries.
        crls = list(parsed.crls)
        others = [c for c in parsed.certificates if c != expected_signer]
    validator = PathValidator(
        anchors,
        crls=crls,
        revocation=revocation,
        policy=_settings(case.get("initial_params") or {}),
    )
    outcome = validator.validate(
        expected_signer, others, moment=MOMENT, usage="any"
    )
    got = "SUCCESS" if outcome.passed else "FAILURE"
    want = RIGHTLY_DIFFERENT.get(case_id, (case["expected"], ""))[0]
    assert got == want, (
        f"{message['file']}: {outcome.sub_indication} {outcome.message}; "
        f"hint: {case.get('error_hint')}"
    )
    if outcome.passed and case.get("path_len"):
        assert len(outcome.chain) == case["path_len"]


def _verifier_answer(result: Any) -> str:
    """SUCCESS when the signer's path passed under the full Verifier.

    PKITS end-entity certificates carry no e-mail address, so RFC 8550's
    sender binding always fails on these messages (placeholder sender):
    a signer whose only problem is that still had a valid path.
    """
    (signer,) = result.signers
    if signer.indication is Indication.TOTAL_PASSED:
        return "SUCCESS"
    if signer.sub_indication is SubIndication.SIG_CONSTRAINTS_FAILURE and all(
        "is not the sender" in p for p in signer.problems
    ):
        return "SUCCESS"
    return "FAILURE"


@pytest.mark.parametrize(("message", "case"), CASES)
def test_pkits_message_through_verifier(
    message: dict[str, Any], case: dict[str, Any], anchors: TrustStore
) -> None:
    # The whole message through govsign's Verifier: MIME, CMS, the
    # certificates and CRLs the message carries, the case's settings.
    case_id = case.get("pyhanko_case")
    if message["file"] in _DSA_MESSAGES:
        # Refused before path validation (DSA/SHA-1 message signature).
        want = "FAILURE"
    else:
        want = RIGHTLY_DIFFERENT.get(case_id, (case["expected"], ""))[0]
    crls = [_der("crls", "TrustAnchorRootCRL.crl")]
    crls += [_der("crls", n) for n in case.get("crls") or []]
    verifier = Verifier(
        anchors,
        crls=crls,
        revocation=(
            RevocationMode.NO_CHECK
            if case.get("check_revocation") is False
            else RevocationMode.REQUIRE
        ),
        allow_weak=("rsa-short",),
        date_tolerance=None,
        policy=_settings(case.get("initial_params") or {}),
    )
    result = verifier.verify((PKITS / message["file"]).read_bytes(), at=MOMENT)
    got = _verifier_answer(result)
    want = VERIFIER_DIFFERENT.get(case_id, (want, ""))[0]
    assert got == want, (message["file"], result.problems)
