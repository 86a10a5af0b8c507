"""Signing and verification semantics, on the demo PKI."""

from __future__ import annotations

import datetime as dt

import pytest

from govsign.errors import VerificationError
from govsign.keys import HashName, LocalKey
from govsign.pki.demo import DemoPKI
from govsign.pki.trust import TrustStore
from govsign.pki.validate import RevocationMode
from govsign.result import Coverage, Indication, SubIndication, Verdict
from govsign.smime._mime import parse_entity
from govsign.smime.signing import sign_message
from govsign.smime.verifying import Verifier, verify_or_raise
from tests.conftest import make_message

UTC = dt.UTC


@pytest.fixture(scope="module")
def ec_keys(demo_pki: DemoPKI) -> dict[str, LocalKey]:
    now = dt.datetime.now(UTC)
    window = {
        "not_before": now - dt.timedelta(days=1),
        "not_after": now + dt.timedelta(days=30),
    }
    return {
        spec: demo_pki.ministry.issue_end_entity(
            f"Signer {spec}",
            "Sở Nội vụ",
            "an.nv@snv.demo.gov.vn",
            key_spec=spec,
            **window,
        )
        for spec in ("p256", "p384", "ed25519")
    }


@pytest.mark.parametrize("opaque", [False, True], ids=["detached", "opaque"])
def test_clerk_signature_is_valid(
    demo_pki: DemoPKI, demo_verifier: Verifier, opaque: bool
) -> None:
    signed = sign_message(make_message(), demo_pki.clerk, opaque=opaque)
    result = demo_verifier.verify(signed)
    assert result.verdict is Verdict.VALID, result.problems
    assert result.indication is Indication.TOTAL_PASSED
    assert result.coverage is Coverage.WHOLE
    (signer,) = result.signers
    assert signer.email == ("an.nv@snv.demo.gov.vn",)
    assert signer.name == "Nguyễn Văn An"
    assert signer.address_matches_from is True
    assert len(signer.chain) == 3
    assert signer.signing_time is not None


@pytest.mark.parametrize(
    "digest, pss, micalg",
    [
        (HashName.SHA256, False, "sha-256"),
        (HashName.SHA384, True, "sha-384"),
        (HashName.SHA512, True, "sha-512"),
    ],
)
def test_rsa_digests_and_pss_set_matching_micalg(
    demo_pki: DemoPKI,
    demo_verifier: Verifier,
    digest: HashName,
    pss: bool,
    micalg: str,
) -> None:
    signed = sign_message(
        make_message(), demo_pki.clerk, digest=digest, pss=pss
    )
    top = parse_entity(signed)
    assert top.param("micalg") == micalg
    result = demo_verifier.verify(signed)
    assert result.verdict is Verdict.VALID
    expected = "rsassa_pss" if pss else "rsassa_pkcs1v15"
    assert result.signers[0].signature_algorithm == expected
    assert result.signers[0].digest_algorithm == digest.value


@pytest.mark.parametrize("spec", ["p256", "p384", "ed25519"])
def test_ec_and_ed25519_signatures_are_valid(
    ec_keys: dict[str, LocalKey], demo_verifier: Verifier, spec: str
) -> None:
    signed = sign_message(make_message(), ec_keys[spec])
    result = demo_verifier.verify(signed)
    assert result.verdict is Verdict.VALID, result.problems
    micalg = parse_entity(signed).param("micalg")
    assert (
        micalg
        == {"p256": "sha-256", "p384": "sha-384", "ed25519": "sha-512"}[spec]
    )


def test_unsigned_message_is_unsigned(demo_verifier: Verifier) -> None:
    result = demo_verifier.verify(make_message())
    assert result.verdict is Verdict.UNSIGNED
    assert result.signers == ()


def test_changed_body_is_invalid_hash_failure(
    demo_pki: DemoPKI, demo_verifier: Verifier
) -> None:
    signed = sign_message(
        make_message(body="Số tiền: 100 đồng\n"), demo_pki.clerk
    )
    tampered = signed.replace(b"100", b"900")
    assert tampered != signed
    result = demo_verifier.verify(tampered)
    assert result.verdict is Verdict.INVALID
    assert result.sub_indication is SubIndication.HASH_FAILURE


def test_signer_who_is_not_the_sender_is_indeterminate(
    demo_pki: DemoPKI, demo_verifier: Verifier
) -> None:
    message = make_message(sender="giamdoc@snv.demo.gov.vn")
    result = demo_verifier.verify(sign_message(message, demo_pki.clerk))
    assert result.verdict is Verdict.INDETERMINATE
    assert result.sub_indication is SubIndication.SIG_CONSTRAINTS_FAILURE
    assert result.signers[0].address_matches_from is False
    assert any("not the sender" in p for p in result.problems)


def test_sender_match_ignores_case(
    demo_pki: DemoPKI, demo_verifier: Verifier
) -> None:
    message = make_message(sender="An.NV@SNV.demo.gov.vn")
    result = demo_verifier.verify(sign_message(message, demo_pki.clerk))
    assert result.verdict is Verdict.VALID


def test_clerk_then_seal_reports_both_signers(
    demo_pki: DemoPKI, demo_verifier: Verifier
) -> None:
    # Decree 30/2020: the competent person signs, then the agency seal.
    sealed = sign_message(
        sign_message(make_message(), demo_pki.clerk), demo_pki.seal
    )
    result = demo_verifier.verify(sealed)
    assert result.verdict is Verdict.VALID
    assert [s.email for s in result.signers] == [
        ("vanthu@snv.demo.gov.vn",),
        ("an.nv@snv.demo.gov.vn",),
    ]
    assert [s.part for s in result.signers] == ["", "1"]


def test_signing_time_far_from_date_header_is_indeterminate(
    demo_pki: DemoPKI, demo_verifier: Verifier
) -> None:
    later = dt.datetime.now(UTC) + dt.timedelta(hours=6)
    signed = sign_message(make_message(date=later), demo_pki.clerk)
    result = demo_verifier.verify(signed)
    assert result.verdict is Verdict.INDETERMINATE
    assert any("Date header" in p for p in result.signers[0].problems)


def test_date_check_can_be_switched_off(
    demo_pki: DemoPKI, demo_trust: TrustStore
) -> None:
    later = dt.datetime.now(UTC) + dt.timedelta(hours=6)
    signed = sign_message(make_message(date=later), demo_pki.clerk)
    verifier = Verifier(demo_trust, crls=demo_pki.crls, date_tolerance=None)
    assert verifier.verify(signed).verdict is Verdict.VALID


def test_without_revocation_data_result_is_try_later(
    demo_pki: DemoPKI, demo_trust: TrustStore
) -> None:
    signed = sign_message(make_message(), demo_pki.clerk)
    result = Verifier(demo_trust).verify(signed)
    assert result.verdict is Verdict.INDETERMINATE
    assert result.sub_indication is SubIndication.TRY_LATER


def test_soft_fail_is_a_logged_weakening(
    demo_pki: DemoPKI,
    demo_trust: TrustStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    signed = sign_message(make_message(), demo_pki.clerk)
    verifier = Verifier(demo_trust, revocation=RevocationMode.SOFT_FAIL)
    assert "soft-fail" in caplog.text
    result = verifier.verify(signed)
    assert result.verdict is Verdict.VALID
    assert result.weakened == ("revocation soft-fail",)


def test_untrusted_root_is_no_chain_found(
    demo_pki: DemoPKI, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from govsign.pki.demo import build_demo_pki

    other = build_demo_pki(tmp_path_factory.mktemp("other"), b"x")
    signed = sign_message(make_message(), demo_pki.clerk)
    verifier = Verifier(
        TrustStore.from_pem_file(other.trust_file), crls=other.crls
    )
    result = verifier.verify(signed)
    assert result.verdict is Verdict.INDETERMINATE
    assert result.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND


def test_revoked_before_signing_is_invalid(
    demo_pki: DemoPKI, demo_trust: TrustStore
) -> None:
    now = dt.datetime.now(UTC)
    key = demo_pki.ministry.issue_end_entity(
        "Revoked Clerk",
        "Sở Nội vụ",
        "an.nv@snv.demo.gov.vn",
        not_before=now - dt.timedelta(days=2),
        not_after=now + dt.timedelta(days=30),
    )
    demo_pki.ministry.revoke(
        key.certificate.serial_number, now - dt.timedelta(hours=2)
    )
    crl = demo_pki.ministry.issue_crl(
        this_update=now - dt.timedelta(minutes=5),
        next_update=now + dt.timedelta(days=1),
        number=2,
    )
    signed = sign_message(make_message(), key)
    verifier = Verifier(demo_trust, crls=[demo_pki.crls[0], crl])
    result = verifier.verify(signed)
    assert result.verdict is Verdict.INVALID
    assert result.sub_indication is SubIndication.REVOKED


def test_missing_email_protection_eku_is_chain_constraints_failure(
    demo_pki: DemoPKI, demo_verifier: Verifier
) -> None:
    from cryptography.x509.oid import ExtendedKeyUsageOID

    now = dt.datetime.now(UTC)
    key = demo_pki.ministry.issue_end_entity(
        "TLS Client",
        "Sở Nội vụ",
        "an.nv@snv.demo.gov.vn",
        not_before=now - dt.timedelta(days=1),
        not_after=now + dt.timedelta(days=30),
        eku=(ExtendedKeyUsageOID.CLIENT_AUTH,),
    )
    result = demo_verifier.verify(sign_message(make_message(), key))
    assert result.verdict is Verdict.INDETERMINATE
    assert result.sub_indication is SubIndication.CHAIN_CONSTRAINTS_FAILURE


def test_validation_after_expiry_is_out_of_bounds(
    demo_pki: DemoPKI, demo_verifier: Verifier
) -> None:
    signed = sign_message(make_message(), demo_pki.clerk)
    later = demo_pki.clerk.certificate.not_valid_after_utc + dt.timedelta(
        days=1
    )
    result = demo_verifier.verify(signed, at=later)
    assert result.verdict is Verdict.INDETERMINATE


def test_eight_bit_body_is_signed_as_seven_bit(
    demo_pki: DemoPKI, demo_verifier: Verifier
) -> None:
    message = make_message(body="Tối mật? Không. Chỉ là thư thường.\n")
    signed = sign_message(message, demo_pki.clerk)
    assert signed.isascii()
    assert demo_verifier.verify(signed).verdict is Verdict.VALID


def test_lf_converted_copy_still_verifies(
    demo_pki: DemoPKI, demo_verifier: Verifier
) -> None:
    # A message saved by a Unix MUA has LF line endings; RFC 8551 3.1.1
    # canonicalisation restores the CRLF form that was signed.
    signed = sign_message(make_message(), demo_pki.clerk)
    as_lf = signed.replace(b"\r\n", b"\n")
    assert demo_verifier.verify(as_lf).verdict is Verdict.VALID


def test_verify_or_raise_carries_the_result(
    demo_trust: TrustStore,
) -> None:
    with pytest.raises(VerificationError) as info:
        verify_or_raise(make_message(), demo_trust)
    assert info.value.result.verdict is Verdict.UNSIGNED  # type: ignore


def test_sha1_is_refused_unless_allowed_by_name(
    demo_trust: TrustStore,
) -> None:
    with pytest.raises(ValueError):
        Verifier(demo_trust, allow_weak=["sha-1-please"])


def test_rsa_1024_signer_is_refused_unless_allowed_by_name(
    demo_pki: DemoPKI,
    demo_trust: TrustStore,
    demo_verifier: Verifier,
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = dt.datetime.now(UTC)
    short = demo_pki.ministry.issue_end_entity(
        "Old Token",
        "Sở Nội vụ",
        "an.nv@snv.demo.gov.vn",
        key_spec="rsa1024",
        not_before=now - dt.timedelta(days=1),
        not_after=now + dt.timedelta(days=30),
    )
    signed = sign_message(make_message(), short)
    refused = demo_verifier.verify(signed)
    assert refused.verdict is Verdict.INDETERMINATE
    assert refused.sub_indication is SubIndication.CRYPTO_CONSTRAINTS_FAILURE

    weakened = Verifier(
        demo_trust, crls=demo_pki.crls, allow_weak=["rsa-short"]
    )
    assert "rsa-short" in caplog.text
    result = weakened.verify(signed)
    assert result.verdict is Verdict.VALID
    assert result.weakened == ("accept rsa-short",)


def test_second_from_header_added_after_signing_is_not_valid(
    demo_pki: DemoPKI, demo_verifier: Verifier
) -> None:
    # Outer headers are not signed: an attacker can add a From that some
    # mail programs show instead of the signer's.
    signed = sign_message(make_message(), demo_pki.clerk)
    forged = b"From: giamdoc@snv.demo.gov.vn\r\n" + signed
    result = demo_verifier.verify(forged)
    assert result.verdict is Verdict.INDETERMINATE
    assert result.sub_indication is SubIndication.SIG_CONSTRAINTS_FAILURE
    assert any("2 From header fields" in p for p in result.problems)


def test_display_name_that_looks_like_the_signer_is_not_the_sender(
    demo_pki: DemoPKI, demo_verifier: Verifier
) -> None:
    message = make_message(
        sender='"an.nv@snv.demo.gov.vn" <attacker@example.net>'
    )
    result = demo_verifier.verify(sign_message(message, demo_pki.clerk))
    assert result.verdict is Verdict.INDETERMINATE
    assert result.signers[0].address_matches_from is False
