"""The recipients' certificate directory."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from govsign.errors import ConfigurationError
from govsign.gateway.directory import certificate_addresses, load_directory
from tests.gateway.conftest import PEER, Material

PEM = serialization.Encoding.PEM


def test_folder_is_indexed_by_address(material: Material) -> None:
    directory = load_directory(material.directory / "recipients")
    assert sorted(directory) == [f"binh.tt@{PEER}", f"cuong.lv@{PEER}"]
    assert directory[f"binh.tt@{PEER}"] == material.pki.recipient.certificate


def test_one_pem_file_with_many_certificates(
    material: Material, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(
        material.pki.recipient.certificate.public_bytes(PEM)
        + material.pki.recipient_ec.certificate.public_bytes(PEM)
    )
    assert len(load_directory(bundle)) == 2


def test_expired_and_signing_only_certificates_are_skipped(
    material: Material, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    now = dt.datetime.now(dt.UTC)
    expired = material.pki.ministry.issue_end_entity(
        "Hết Hạn",
        "Sở Demo",
        f"het.han@{PEER}",
        not_before=now - dt.timedelta(days=30),
        not_after=now - dt.timedelta(days=1),
    )
    folder = tmp_path / "certs"
    folder.mkdir()
    (folder / "expired.pem").write_bytes(expired.certificate.public_bytes(PEM))
    # The seal certificate has no keyEncipherment: not for encryption.
    (folder / "seal.crt").write_bytes(
        material.pki.seal.certificate.public_bytes(PEM)
    )
    (folder / "notes.txt").write_text("ignored", encoding="utf-8")
    with caplog.at_level(logging.WARNING, "govsign.gateway.directory"):
        assert load_directory(folder) == {}
    assert len(caplog.records) == 2


def test_addresses_come_from_san_and_subject(material: Material) -> None:
    assert certificate_addresses(material.pki.clerk.certificate) == [
        "an.nv@snv.demo.gov.vn"
    ]


def test_unreadable_directory_is_a_configuration_error(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_directory(tmp_path / "absent.pem")
