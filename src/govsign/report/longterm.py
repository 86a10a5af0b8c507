"""Report fields about time: level, timestamps, validity at signing time.

Circular 15/2025 asks a verifier to show the signing time or timestamp and
whether the certificate was valid at signing time.  These rows say what
proved it: a trusted timestamp (ETSI EN 319 102-1 best-signature-time), or
nothing but the signer's own claim.  Shared by the text and HTML reports.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from govsign.result import SignerResult

__all__ = ["LONG_TERM_LABELS", "long_term_rows", "format_time"]

LONG_TERM_LABELS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "level": "CAdES level",
        "timestamp": "Timestamp",
        "archive": "Archive timestamp",
        "at_signing": "Validity at signing time",
        "evidence": "Revocation data used",
        "trusted": "trusted",
        "untrusted": "NOT trusted",
        "by": "issued by {tsa}",
        "valid_at_ts": "valid at {time}, as the timestamp proves",
        "valid_now": (
            "valid when checked; the signing time is only claimed by the "
            "signer (no timestamp)"
        ),
        "not_established": "not established",
        "revocation": "{crls} CRL(s), {ocsps} OCSP response(s)",
        "unknown": "unknown",
        "levels": "B: basic; T: timestamped; LT: with validation data; "
        "LTA: archived",
    },
    "vi": {
        "level": "Mức CAdES",
        "timestamp": "Dấu thời gian",
        "archive": "Dấu thời gian lưu trữ",
        "at_signing": "Hiệu lực tại thời điểm ký",
        "evidence": "Dữ liệu thu hồi đã dùng",
        "trusted": "tin cậy",
        "untrusted": "KHÔNG tin cậy",
        "by": "do {tsa} cấp",
        "valid_at_ts": "hợp lệ tại {time}, được dấu thời gian chứng minh",
        "valid_now": (
            "hợp lệ tại thời điểm kiểm tra; thời điểm ký chỉ do người ký "
            "tự khai (không có dấu thời gian)"
        ),
        "not_established": "chưa xác định được",
        "revocation": "{crls} CRL, {ocsps} phản hồi OCSP",
        "unknown": "không rõ",
        "levels": "B: cơ bản; T: có dấu thời gian; LT: kèm dữ liệu kiểm "
        "tra; LTA: lưu trữ dài hạn",
    },
}


def format_time(value: dt.datetime | None, unknown: str) -> str:
    """Vietnam time (UTC+7) with UTC beside it, so nothing is ambiguous."""
    if value is None:
        return unknown
    local = value.astimezone(dt.timezone(dt.timedelta(hours=7)))
    return (
        f"{local:%d/%m/%Y %H:%M:%S} (UTC+7) = "
        f"{value.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC"
    )


def long_term_rows(
    signer: SignerResult, language: str = "en"
) -> list[tuple[str, str]]:
    """(label, value) rows about the signer's level, timestamps, validity.

    ``language`` is ``"vi"`` or ``"en"`` (anything else reads English).
    """
    labels = LONG_TERM_LABELS.get(language, LONG_TERM_LABELS["en"])
    rows: list[tuple[str, str]] = []
    if signer.level:
        rows.append((labels["level"], signer.level))
    for stamp in signer.timestamps:
        label = labels["archive" if stamp.kind == "archive" else "timestamp"]
        state = labels["trusted" if stamp.passed else "untrusted"]
        value = f"{format_time(stamp.time, labels['unknown'])} ({state}"
        if stamp.authority:
            value += ", " + labels["by"].format(tsa=stamp.authority)
        value += ")"
        if stamp.problem and not stamp.passed:
            value += f": {stamp.problem}"
        rows.append((label, value))
    if signer.passed and signer.best_signature_time is not None:
        when = format_time(signer.validated_at, labels["unknown"])
        at_signing = labels["valid_at_ts"].format(time=when)
    elif signer.passed:
        at_signing = labels["valid_now"]
    else:
        at_signing = labels["not_established"]
        if signer.sub_indication is not None:
            at_signing += f" ({signer.sub_indication.value})"
    rows.append((labels["at_signing"], at_signing))
    if signer.evidence is not None:
        rows.append(
            (
                labels["evidence"],
                labels["revocation"].format(
                    crls=len(signer.evidence.crls),
                    ocsps=len(signer.evidence.ocsps),
                ),
            )
        )
    return rows
