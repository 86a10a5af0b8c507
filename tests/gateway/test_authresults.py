"""Authentication-Results formatting and forged-field removal."""

from __future__ import annotations

import dataclasses
import datetime as dt
from email import message_from_string, policy

import pytest

from govsign.gateway.authresults import (
    SmimeResult,
    authserv_id_of,
    forged_indices,
    format_authentication_results,
    format_error_results,
    smime_result,
)
from govsign.pki.trust import TrustStore, load_crls
from govsign.result import (
    Coverage,
    Indication,
    SignerResult,
    SubIndication,
    Verdict,
    VerificationResult,
)
from govsign.smime.verifying import Verifier
from tests.gateway.conftest import Material, signed_by

AUTHSERV = "mx.snv.demo.gov.vn"


def _verify(material: Material, message: bytes) -> VerificationResult:
    verifier = Verifier(
        TrustStore.from_pem_file(material.pki.trust_file),
        crls=load_crls(material.pki.crl_files),
    )
    return verifier.verify(message)


def _signer(**changes: object) -> SignerResult:
    base = SignerResult(
        indication=Indication.TOTAL_PASSED,
        sub_indication=None,
        name="Nguyễn Văn An",
        email=("an.nv@snv.demo.gov.vn",),
        issuer="CN=Demo Ministry CA,O=Bộ Nội vụ (demo),C=VN",
        serial="1A2B",
        signing_time=None,
        digest_algorithm="sha256",
        signature_algorithm="rsa",
        chain=(),
        part="1",
        form="multipart/signed",
        address_matches_from=True,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _result(
    verdict: Verdict,
    sub: SubIndication | None = None,
    signers: tuple[SignerResult, ...] = (),
) -> VerificationResult:
    return VerificationResult(
        verdict=verdict,
        indication=None,
        sub_indication=sub,
        signers=signers,
        coverage=Coverage.WHOLE,
        covered_parts=(),
        uncovered_parts=(),
        from_address=None,
        validation_time=dt.datetime.now(dt.UTC),
    )


def _parse(value: str) -> str:
    # The value must survive a round trip through an RFC 5322 parser.
    text = f"Authentication-Results: {value}\r\n\r\n"
    msg = message_from_string(text, policy=policy.default)
    return str(msg["Authentication-Results"])


def test_valid_signature_is_pass_with_signer_identity(
    material: Material,
) -> None:
    result = _verify(material, signed_by(material.pki.clerk))
    assert result.verdict is Verdict.VALID
    value = format_authentication_results(AUTHSERV, result)
    assert value.startswith(AUTHSERV + ";")
    assert "smime=pass" in value
    assert "body.smime-identifier=an.nv@snv.demo.gov.vn" in value
    serial = format(material.pki.clerk.certificate.serial_number, "X")
    assert serial.lower() in value.lower()
    assert "body.smime-issuer=" in value
    assert value.isascii()
    assert "smime=pass" in _parse(value)


def test_revoked_signer_is_fail(material: Material) -> None:
    result = _verify(material, signed_by(material.revoked))
    assert smime_result(result) is SmimeResult.FAIL
    value = format_authentication_results(AUTHSERV, result)
    assert "smime=fail" in value
    assert "REVOKED" in value


def test_tampered_body_is_fail(material: Material) -> None:
    signed = signed_by(material.pki.clerk)
    tampered = signed.replace(b"Noi dung cong van.", b"Noi dung DA SUA.")
    assert tampered != signed
    result = _verify(material, tampered)
    assert smime_result(result) is SmimeResult.FAIL


def test_unsigned_is_none() -> None:
    value = format_authentication_results(AUTHSERV, _result(Verdict.UNSIGNED))
    assert value.endswith("smime=none")


@pytest.mark.parametrize(
    ("sub", "expected"),
    [
        (SubIndication.TRY_LATER, SmimeResult.TEMPERROR),
        (SubIndication.REVOKED_NO_POE, SmimeResult.FAIL),
        (SubIndication.CRYPTO_CONSTRAINTS_FAILURE, SmimeResult.POLICY),
        (SubIndication.NO_CERTIFICATE_CHAIN_FOUND, SmimeResult.NEUTRAL),
        (SubIndication.NO_SIGNING_CERTIFICATE_FOUND, SmimeResult.PERMERROR),
        (None, SmimeResult.NEUTRAL),
    ],
)
def test_indeterminate_maps_by_sub_indication(
    sub: SubIndication | None, expected: SmimeResult
) -> None:
    assert smime_result(_result(Verdict.INDETERMINATE, sub)) is expected


def test_one_resinfo_per_signer() -> None:
    first = _signer()
    second = _signer(
        indication=Indication.INDETERMINATE,
        sub_indication=SubIndication.TRY_LATER,
        email=("vanthu@snv.demo.gov.vn",),
        part="",
    )
    value = format_authentication_results(
        AUTHSERV, _result(Verdict.INDETERMINATE, signers=(first, second))
    )
    assert value.count("smime=") == 2
    assert "smime=temperror (INDETERMINATE/TRY_LATER)" in value
    assert "body.smime-identifier=vanthu@snv.demo.gov.vn" in value


def test_non_ascii_issuer_is_escaped_and_quoted() -> None:
    value = format_authentication_results(
        AUTHSERV, _result(Verdict.VALID, signers=(_signer(),))
    )
    assert value.isascii()
    assert 'body.smime-issuer="CN=Demo Ministry CA,O=B\\\\E1\\\\BB\\\\99' in (
        value
    )


def test_quote_in_name_cannot_break_out_of_the_value() -> None:
    signer = _signer(email=(), name='Evil"; smime=pass')
    value = format_authentication_results(
        AUTHSERV, _result(Verdict.VALID, signers=(signer,))
    )
    assert 'body.smime-identifier="Evil\\"; smime=pass"' in value


def test_newline_in_name_cannot_add_a_header() -> None:
    signer = _signer(email=(), name="x\r\nX-Evil: 1")
    value = format_authentication_results(
        AUTHSERV, _result(Verdict.VALID, signers=(signer,))
    )
    assert "\r\nX-Evil" not in value


def test_error_results_carry_a_comment() -> None:
    value = format_error_results(
        AUTHSERV, SmimeResult.PERMERROR, "malformed (bad CMS)"
    )
    assert "smime=permerror (malformed [bad CMS])" in value


@pytest.mark.parametrize(
    ("value", "ident"),
    [
        ("mx.snv.demo.gov.vn; smime=pass", "mx.snv.demo.gov.vn"),
        ("  MX.SNV.DEMO.GOV.VN 1; none", "MX.SNV.DEMO.GOV.VN"),
        ("(comment) mx.snv.demo.gov.vn; none", "mx.snv.demo.gov.vn"),
        ('"mx.snv.demo.gov.vn"; none', "mx.snv.demo.gov.vn"),
        ("", None),
    ],
)
def test_authserv_id_is_read(value: str, ident: str | None) -> None:
    assert authserv_id_of(value) == ident


def test_only_fields_with_our_id_are_forged() -> None:
    headers = [
        ("Received", "from x"),
        ("Authentication-Results", "other.example; dkim=pass"),
        ("Authentication-Results", "MX.snv.demo.gov.vn; smime=pass"),
        ("Subject", "hi"),
        ("authentication-results", "mx.snv.demo.gov.vn;\n\tsmime=pass"),
        ("Authentication-Results", "mx.snv.demo.gov.vn.evil; smime=pass"),
    ]
    assert forged_indices(headers, AUTHSERV) == [2, 3]
