"""HTML report and evidence bundle, from results built by hand."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from govsign.errors import ConfigurationError
from govsign.report.evidence import write_evidence
from govsign.report.html import render_html
from govsign.report.longterm import long_term_rows
from govsign.result import (
    Coverage,
    Evidence,
    Indication,
    SignerResult,
    SubIndication,
    TimestampInfo,
    Verdict,
    VerificationResult,
)

_T = dt.datetime(2026, 12, 4, 9, 0, tzinfo=dt.UTC)


def _result(name: str, **signer: object) -> VerificationResult:
    fields: dict[str, object] = {
        "indication": Indication.TOTAL_PASSED,
        "sub_indication": None,
        "name": name,
        "email": ("an.nv@snv.demo.gov.vn",),
        "issuer": "CN=Bộ Nội vụ",
        "serial": "3",
        "signing_time": _T,
        "digest_algorithm": "sha256",
        "signature_algorithm": "rsassa_pkcs1v15",
        "chain": (),
        "part": "",
        "form": "multipart/signed",
        "address_matches_from": True,
    }
    fields.update(signer)
    return VerificationResult(
        verdict=Verdict.VALID,
        indication=Indication.TOTAL_PASSED,
        sub_indication=None,
        signers=(SignerResult(**fields),),  # type: ignore[arg-type]
        coverage=Coverage.WHOLE,
        covered_parts=("",),
        uncovered_parts=(),
        from_address="an.nv@snv.demo.gov.vn",
        validation_time=_T,
    )


def test_html_escapes_markup_in_certificate_names() -> None:
    page = render_html(_result("<script>alert(1)</script>"), "en")
    assert "<script>" not in page
    assert "&lt;script&gt;" in page


def test_html_is_utf8_vietnamese_nfc() -> None:
    page = render_html(_result("Nguyễn Văn An"), "vi")
    assert '<meta charset="utf-8">' in page
    assert "Nguyễn Văn An" in page
    assert "Người ký 1" in page


def test_validity_at_signing_time_says_what_proved_it() -> None:
    stamp = TimestampInfo(
        "signature", _T, "CN=TSA", Indication.TOTAL_PASSED, None
    )
    proved = _result(
        "A",
        timestamps=(stamp,),
        best_signature_time=_T,
        validated_at=_T,
        level="T",
    ).signers[0]
    rows = dict(long_term_rows(proved, "en"))
    assert rows["Validity at signing time"].startswith("valid at 04/12/2026")
    assert "timestamp proves" in rows["Validity at signing time"]
    claimed = dict(long_term_rows(_result("A", level="B").signers[0], "vi"))
    assert "tự khai" in claimed["Hiệu lực tại thời điểm ký"]
    failed = _result(
        "A",
        indication=Indication.INDETERMINATE,
        sub_indication=SubIndication.TRY_LATER,
    ).signers[0]
    rows = dict(long_term_rows(failed, "vi"))
    assert "TRY_LATER" in rows["Hiệu lực tại thời điểm ký"]


def test_untrusted_timestamp_is_shown_as_such() -> None:
    stamp = TimestampInfo(
        "signature",
        _T,
        None,
        Indication.TOTAL_FAILED,
        SubIndication.HASH_FAILURE,
        "the timestamp is not over this signature",
    )
    rows = long_term_rows(_result("A", timestamps=(stamp,)).signers[0], "en")
    assert any("NOT trusted" in v and "not over" in v for _, v in rows)


def test_evidence_bundle_without_message_keeps_its_hash(
    tmp_path: Path,
) -> None:
    evidence = Evidence(crls=(b"crl-bytes",), timestamps=(b"token",))
    result = _result("A", evidence=evidence)
    manifest = write_evidence(
        result, b"the message", tmp_path / "b", include_message=False
    )
    data = json.loads(manifest.read_text())
    paths = {f["path"] for f in data["files"]}
    assert "message.eml" not in paths
    assert {"signer-1/crl-1.crl", "signer-1/timestamp-1.tst"} <= paths
    assert data["message_sha256"] == hashlib.sha256(b"the message").hexdigest()


def test_evidence_refuses_a_file_as_directory(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(ConfigurationError):
        write_evidence(_result("A"), b"m", target)
