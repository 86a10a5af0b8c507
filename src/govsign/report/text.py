"""Verification results as text a clerk reads, in Vietnamese or English.

The fields follow what Vietnamese rules ask a verifier to show: who signed,
who issued the certificate, when it was signed, whether the content is
intact, and whether the certificate was valid.
"""

from __future__ import annotations

import datetime as dt
import json
import locale
import os
from collections.abc import Mapping

from govsign.report.longterm import long_term_rows
from govsign.result import (
    Coverage,
    Indication,
    SignerResult,
    Verdict,
    VerificationResult,
)

__all__ = ["LANGUAGES", "default_language", "render_text", "render_json"]

LANGUAGES = ("vi", "en")

_LABELS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "title": "S/MIME signature verification",
        "verdict": "Result",
        "indication": "ETSI indication",
        "from": "From",
        "checked_at": "Checked at",
        "coverage": "Signed content",
        "signer": "Signer",
        "email": "E-mail",
        "issuer": "Issued by",
        "serial": "Certificate serial",
        "signing_time": "Signing time",
        "integrity": "Integrity",
        "certificate": "Certificate",
        "sender": "Signer is the sender",
        "algorithm": "Algorithm",
        "part": "MIME part",
        "problems": "Problems",
        "weakened": "Weakened checks",
        "unsigned_headers": "Note: the Subject, To and Date lines are "
        "not covered by an S/MIME signature; compare them with the "
        "signed text.",
        "none": "none",
        "yes": "yes",
        "no": "no",
        "unknown": "unknown",
        "whole": "the whole message",
        "partial": "only part of the message",
        "whole_part": "whole message",
        "intact": "intact",
        "changed": "CHANGED after signing",
        "not_checked": "not established",
        "cert_valid": "valid, chains to a trusted root",
        "cert_not": "not established",
        "valid": "VALID",
        "invalid": "INVALID",
        "indeterminate": "INDETERMINATE (cannot be established)",
        "unsigned": "NOT SIGNED",
    },
    "vi": {
        "title": "Kiểm tra chữ ký số thư điện tử (S/MIME)",
        "verdict": "Kết quả",
        "indication": "Chỉ báo ETSI",
        "from": "Người gửi",
        "checked_at": "Thời điểm kiểm tra",
        "coverage": "Nội dung được ký",
        "signer": "Người ký",
        "email": "Thư điện tử",
        "issuer": "Tổ chức cấp chứng thư",
        "serial": "Số hiệu chứng thư",
        "signing_time": "Thời điểm ký",
        "integrity": "Tính toàn vẹn",
        "certificate": "Chứng thư số",
        "sender": "Người ký là người gửi",
        "algorithm": "Thuật toán",
        "part": "Phần MIME",
        "problems": "Vấn đề",
        "weakened": "Kiểm tra bị nới lỏng",
        "unsigned_headers": "Lưu ý: tiêu đề (Subject), người nhận (To) "
        "và ngày gửi (Date) không được chữ ký S/MIME bảo vệ; hãy đối "
        "chiếu với nội dung đã ký.",
        "none": "không có",
        "yes": "có",
        "no": "không",
        "unknown": "không rõ",
        "whole": "toàn bộ thư",
        "partial": "chỉ một phần của thư",
        "whole_part": "toàn bộ thư",
        "intact": "nguyên vẹn",
        "changed": "BỊ THAY ĐỔI sau khi ký",
        "not_checked": "chưa xác định được",
        "cert_valid": "hợp lệ, dẫn tới gốc tin cậy",
        "cert_not": "chưa xác định được",
        "valid": "HỢP LỆ",
        "invalid": "KHÔNG HỢP LỆ",
        "indeterminate": "CHƯA XÁC ĐỊNH ĐƯỢC",
        "unsigned": "KHÔNG CÓ CHỮ KÝ",
    },
}


def default_language() -> str:
    """Vietnamese when the user's locale is Vietnamese, else English."""
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(variable)
        if value:
            return "vi" if value.lower().startswith("vi") else "en"
    code = locale.getlocale()[0] or ""
    return "vi" if code.lower().startswith("vi") else "en"


def _when(value: dt.datetime | None, labels: Mapping[str, str]) -> str:
    if value is None:
        return labels["unknown"]
    # Vietnam is UTC+7; show UTC as well so nothing is ambiguous.
    local = value.astimezone(dt.timezone(dt.timedelta(hours=7)))
    return (
        f"{local:%d/%m/%Y %H:%M:%S} (UTC+7) = "
        f"{value.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC"
    )


def _integrity(signer: SignerResult, labels: Mapping[str, str]) -> str:
    sub = signer.sub_indication.value if signer.sub_indication else ""
    if sub in ("HASH_FAILURE", "SIG_CRYPTO_FAILURE"):
        return labels["changed"]
    if sub == "FORMAT_FAILURE" or signer.name is None:
        return labels["not_checked"]
    if sub in ("CRYPTO_CONSTRAINTS_FAILURE", "NO_SIGNING_CERTIFICATE_FOUND"):
        return labels["not_checked"]
    return labels["intact"]


def _certificate(signer: SignerResult, labels: Mapping[str, str]) -> str:
    if signer.indication is Indication.TOTAL_PASSED or (
        signer.sub_indication is not None
        and signer.sub_indication.value == "SIG_CONSTRAINTS_FAILURE"
    ):
        if len(signer.chain) > 1:
            return labels["cert_valid"]
    if signer.sub_indication is not None:
        return f"{labels['cert_not']} ({signer.sub_indication.value})"
    return labels["cert_not"]


def render_text(result: VerificationResult, language: str = "en") -> str:
    """Return a report of ``result`` in ``language`` (``vi`` or ``en``)."""
    labels = _LABELS.get(language, _LABELS["en"])
    lines = [labels["title"], "=" * len(labels["title"])]

    def row(key: str, value: str, indent: str = "") -> None:
        lines.append(f"{indent}{labels[key]}: {value}")

    row("verdict", labels[result.verdict.value])
    if result.indication is not None:
        sub = (
            f" / {result.sub_indication.value}"
            if result.sub_indication
            else ""
        )
        row("indication", result.indication.value + sub)
    row("from", result.from_address or labels["unknown"])
    row("checked_at", _when(result.validation_time, labels))
    if result.verdict is not Verdict.UNSIGNED:
        coverage = labels[
            "whole" if result.coverage is Coverage.WHOLE else "partial"
        ]
        row("coverage", coverage)
    for index, signer in enumerate(result.signers, start=1):
        lines.append("")
        lines.append(f"{labels['signer']} {index}: {signer.name or '?'}")
        indent = "  "
        row("email", ", ".join(signer.email) or labels["none"], indent)
        row("issuer", signer.issuer or labels["unknown"], indent)
        row("serial", signer.serial or labels["unknown"], indent)
        row("signing_time", _when(signer.signing_time, labels), indent)
        row("integrity", _integrity(signer, labels), indent)
        row("certificate", _certificate(signer, labels), indent)
        if signer.address_matches_from is not None:
            row(
                "sender",
                labels["yes" if signer.address_matches_from else "no"],
                indent,
            )
        algorithm = "/".join(
            a
            for a in (signer.signature_algorithm, signer.digest_algorithm)
            if a
        )
        row("algorithm", algorithm or labels["unknown"], indent)
        row("part", signer.part or labels["whole_part"], indent)
        sub = (
            f" / {signer.sub_indication.value}"
            if signer.sub_indication
            else ""
        )
        row("indication", signer.indication.value + sub, indent)
        # Level, timestamps, validity at signing time (report.longterm).
        for label, value in long_term_rows(signer, language):
            lines.append(f"{indent}{label}: {value}")
    if result.problems:
        lines.append("")
        lines.append(f"{labels['problems']}:")
        lines.extend(f"  - {p}" for p in result.problems)
    if result.weakened:
        lines.append("")
        row("weakened", ", ".join(result.weakened))
    if result.signers:
        lines.append("")
        lines.append(labels["unsigned_headers"])
    return "\n".join(lines) + "\n"


def render_json(result: VerificationResult) -> str:
    """Return ``result`` as indented JSON (UTF-8 text, not escaped)."""
    return json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n"
