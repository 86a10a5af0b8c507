"""Secrecy markings: what is refused and what is not."""

from __future__ import annotations

import unicodedata
from email.header import Header

import pytest

from govsign.gateway.classification import (
    find_marking,
    marking_in_header_value,
    marking_in_text,
)


@pytest.mark.parametrize(
    ("subject", "level"),
    [
        ("Mật", "MAT"),
        ("MẬT - Kế hoạch phòng thủ", "MAT"),
        ("[Mật] Báo cáo quý III", "MAT"),
        ("Báo cáo (mật)", "MAT"),
        ("Độ mật: Mật", "MAT"),
        ("TỐI MẬT: Phương án", "TOI MAT"),
        ("Tài liệu tối mật", "TOI MAT"),
        ("tuyệt mật", "TUYET MAT"),
        ("TUYỆT MẬT - số 01", "TUYET MAT"),
        ("V/v tài liệu Tuyệt  mật và Mật", "TUYET MAT"),
    ],
)
def test_marking_is_found(subject: str, level: str) -> None:
    found = marking_in_text(subject)
    assert found is not None
    assert found.ascii == level


@pytest.mark.parametrize(
    "subject",
    [
        "Hướng dẫn đổi mật khẩu hộp thư",
        "HƯỚNG DẪN ĐỔI MẬT KHẨU",
        "Cấp phát thiết bị mật mã",
        "Bảo mật thông tin cá nhân",
        "Giữ bí mật nhà nước",
        "Mật độ dân số năm 2025",
        "Quan hệ mật thiết giữa hai đơn vị",
        "Mua mật ong cho hội nghị",
        "Tài liệu không mật",
        "Danh mục tài liệu giải mật",
        "Matters arising",
        "Mất điện ngày 12/10",
        "Mặt trận Tổ quốc",
        "MAT khong can gui",  # no diacritics: not matched in a Subject
    ],
)
def test_ordinary_word_is_not_a_marking(subject: str) -> None:
    assert marking_in_text(subject) is None


def test_nfd_subject_matches_like_nfc() -> None:
    nfd = unicodedata.normalize("NFD", "Tối mật: Kế hoạch")
    assert nfd != unicodedata.normalize("NFC", nfd)
    found = marking_in_text(nfd)
    assert found is not None and found.ascii == "TOI MAT"


def test_rfc2047_encoded_subject_is_decoded() -> None:
    encoded = Header("Tuyệt mật - Phương án", "utf-8").encode()
    assert "=?utf-8?" in encoded
    marking = find_marking([("Subject", encoded)])
    assert marking is not None
    assert marking.level.ascii == "TUYET MAT"
    assert marking.where == "Subject"


def test_undecodable_encoded_word_is_searched_raw() -> None:
    marking = find_marking([("Subject", "=?x-unknown?Q?abc?= Mật")])
    assert marking is not None


@pytest.mark.parametrize(
    ("value", "level"),
    [
        ("MAT", "MAT"),
        ("Toi mat", "TOI MAT"),
        ("TUYET MAT", "TUYET MAT"),
        ("Mật", "MAT"),
        ("do mat: TOI MAT", "TOI MAT"),
    ],
)
def test_classification_header_accepts_forms_without_diacritics(
    value: str, level: str
) -> None:
    found = marking_in_header_value(value)
    assert found is not None and found.ascii == level


@pytest.mark.parametrize("value", ["Thuong", "Không mật", "Khong mat", ""])
def test_unclassified_header_value_is_not_a_marking(value: str) -> None:
    assert marking_in_header_value(value) is None


def test_highest_level_wins_across_fields() -> None:
    marking = find_marking(
        [
            ("Subject", "Mật - báo cáo"),
            ("X-Classification", "TUYET MAT"),
        ]
    )
    assert marking is not None
    assert marking.level.ascii == "TUYET MAT"
    assert marking.where == "X-Classification"


def test_unlisted_header_is_ignored() -> None:
    assert find_marking([("X-Note", "Tối mật")]) is None


def test_header_names_compare_case_insensitively() -> None:
    marking = find_marking([("x-classification", "MAT")])
    assert marking is not None


def test_folded_subject_is_unfolded() -> None:
    marking = find_marking([("Subject", "Kế hoạch\r\n tối\r\n mật")])
    assert marking is not None
    assert marking.level.ascii == "TOI MAT"
