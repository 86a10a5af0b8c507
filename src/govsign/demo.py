"""The demonstration ``govsign demo`` runs, as a library function.

It lays down the demo PKI, writes a Vietnamese official letter with an
attachment, has the clerk sign it and the agency seal sign over that
(Decree 30/2020: the competent person signs, then the agency), and
verifies the result against the demo root and CRLs.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import unicodedata
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from govsign.pki.demo import (
    AGENCY_DOMAIN,
    RECIPIENT_DOMAIN,
    DemoPKI,
    build_demo_pki,
)
from govsign.pki.trust import TrustStore
from govsign.result import VerificationResult
from govsign.smime.signing import sign_message
from govsign.smime.verifying import Verifier

__all__ = ["DemoOutcome", "official_letter", "run_demo"]

_SUBJECT = "Công văn số 15/SNV-VP về việc triển khai chữ ký số"
_BODY = """Kính gửi: Sở Tài chính tỉnh Demo

Thực hiện chỉ đạo của Ủy ban nhân dân tỉnh về chuyển đổi số, Sở Nội vụ
đề nghị Quý Sở phối hợp triển khai việc gửi, nhận văn bản điện tử có ký
số qua thư điện tử công vụ từ ngày 01/01/2027.

Phụ lục kèm theo liệt kê các đầu mối liên hệ.

Trân trọng./.

GIÁM ĐỐC
Nguyễn Văn An
"""
_ATTACHMENT_NAME = "Phụ lục 01 - Danh sách đầu mối.txt"
_ATTACHMENT = """STT;Họ và tên;Chức vụ;Thư điện tử
1;Nguyễn Văn An;Giám đốc;an.nv@snv.demo.gov.vn
2;Trần Thị Bình;Chuyên viên;binh.tt@stc.demo.gov.vn
"""


def _nfc(text: str) -> str:
    # TCVN 6909:2001: official text is precomposed Unicode.
    return unicodedata.normalize("NFC", text)


def official_letter(now: dt.datetime | None = None) -> bytes:
    """Return a Vietnamese official letter with an attachment, unsigned."""
    now = now or dt.datetime.now(dt.UTC)
    letter = EmailMessage(policy=email.policy.SMTP)
    letter["From"] = f"{_nfc('Nguyễn Văn An')} <an.nv@{AGENCY_DOMAIN}>"
    letter["To"] = f"{_nfc('Trần Thị Bình')} <binh.tt@{RECIPIENT_DOMAIN}>"
    letter["Subject"] = _nfc(_SUBJECT)
    letter["Date"] = email.utils.format_datetime(now)
    letter["Message-ID"] = email.utils.make_msgid(domain=AGENCY_DOMAIN)
    letter.set_content(_nfc(_BODY), charset="utf-8", cte="8bit")
    letter.add_attachment(
        _nfc(_ATTACHMENT).encode("utf-8"),
        maintype="text",
        subtype="plain",
        filename=_nfc(_ATTACHMENT_NAME),
    )
    return letter.as_bytes()


@dataclass(frozen=True)
class DemoOutcome:
    """What the demo produced."""

    pki: DemoPKI
    letter: Path
    signed: Path
    result: VerificationResult


def run_demo(directory: str | Path, password: bytes) -> DemoOutcome:
    """Build the demo PKI in ``directory``, sign a letter and verify it."""
    directory = Path(directory)
    pki = build_demo_pki(directory, password)
    letter = official_letter()
    letter_path = directory / "cong-van.eml"
    letter_path.write_bytes(letter)

    clerk_signed = sign_message(letter, pki.clerk)
    sealed = sign_message(clerk_signed, pki.seal)
    signed_path = directory / "cong-van.signed.eml"
    signed_path.write_bytes(sealed)

    verifier = Verifier(
        TrustStore.from_pem_file(pki.trust_file), crls=pki.crls
    )
    return DemoOutcome(pki, letter_path, signed_path, verifier.verify(sealed))
