"""Keys in files: .p12 and PEM, through open_key, and what goes wrong."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from govsign.errors import KeySourceError
from govsign.keys import LocalKey, open_key
from govsign.keys.base import HashName, SignatureAlgorithm, SignatureScheme
from govsign.keys.inventory import inspect_file
from govsign.pki.demo import write_pkcs12
from tests.softhsm import TokenWorld, certificate_der

PASSWORD = b"mat-khau-1"
FRIENDLY = "Nguyễn Văn An – Sở Nội vụ"


@pytest.fixture
def p12(token_world: TokenWorld, tmp_path: Path) -> Path:
    path = tmp_path / "an.p12"
    write_pkcs12(path, token_world.rsa, PASSWORD, FRIENDLY)
    return path


def _pem_files(
    holder: LocalKey, tmp_path: Path, password: bytes | None = None
) -> tuple[Path, Path]:
    key_file = tmp_path / "key.pem"
    cert_file = tmp_path / "cert.pem"
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    key_file.write_bytes(
        holder.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            encryption,
        )
    )
    cert_file.write_bytes(
        holder.certificate.public_bytes(serialization.Encoding.PEM)
    )
    return key_file, cert_file


def test_p12_opens_with_its_password(
    p12: Path, token_world: TokenWorld
) -> None:
    key = open_key(str(p12), lambda: PASSWORD)
    assert certificate_der(key.certificate) == certificate_der(
        token_world.rsa.certificate
    )
    assert [certificate_der(c) for c in key.chain] == [
        certificate_der(token_world.ministry.certificate)
    ]


def test_p12_wrong_password(p12: Path) -> None:
    with pytest.raises(KeySourceError, match="wrong password"):
        open_key(str(p12), lambda: b"sai-mat-khau")


def test_p12_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KeySourceError, match="cannot read"):
        open_key(str(tmp_path / "none.p12"), lambda: PASSWORD)


def test_p12_vietnamese_friendly_name_is_listed(p12: Path) -> None:
    contents = inspect_file(p12, lambda: PASSWORD)
    assert contents.certificates[0].label == FRIENDLY
    assert contents.certificates[0].has_private_key


def test_p12_made_by_openssl_with_utf8_name_opens(
    token_world: TokenWorld, tmp_path: Path
) -> None:
    key_file, cert_file = _pem_files(token_world.ec, tmp_path)
    p12 = tmp_path / "openssl.p12"
    subprocess.run(
        [
            "openssl",
            "pkcs12",
            "-export",
            "-inkey",
            str(key_file),
            "-in",
            str(cert_file),
            "-name",
            FRIENDLY,
            "-out",
            str(p12),
            "-passout",
            f"pass:{PASSWORD.decode()}",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    key = open_key(str(p12), lambda: PASSWORD)
    signature = key.sign(
        b"x", SignatureAlgorithm(SignatureScheme.ECDSA, HashName.SHA256)
    )
    assert signature[0] == 0x30
    assert inspect_file(p12, lambda: PASSWORD).certificates[0].label == (
        FRIENDLY
    )


def test_pem_key_and_certificate(
    token_world: TokenWorld, tmp_path: Path
) -> None:
    key_file, cert_file = _pem_files(token_world.rsa, tmp_path)

    def no_password() -> bytes:
        raise AssertionError("an unencrypted key needs no password")

    key = open_key(str(key_file), no_password, certificate=str(cert_file))
    assert certificate_der(key.certificate) == certificate_der(
        token_world.rsa.certificate
    )


def test_encrypted_pem_wrong_password(
    token_world: TokenWorld, tmp_path: Path
) -> None:
    key_file, cert_file = _pem_files(token_world.ec, tmp_path, PASSWORD)
    key = open_key(str(key_file), lambda: PASSWORD, certificate=str(cert_file))
    assert isinstance(key, LocalKey)
    with pytest.raises(KeySourceError, match="wrong password"):
        open_key(str(key_file), lambda: b"sai", certificate=str(cert_file))


def test_pem_key_without_certificate(
    token_world: TokenWorld, tmp_path: Path
) -> None:
    key_file, _ = _pem_files(token_world.ec, tmp_path)
    with pytest.raises(KeySourceError, match="give its certificate"):
        open_key(str(key_file), lambda: b"")


def test_pem_key_with_mismatched_certificate(
    token_world: TokenWorld, tmp_path: Path
) -> None:
    key_file, _ = _pem_files(token_world.ec, tmp_path)
    other = tmp_path / "other.pem"
    other.write_bytes(
        token_world.rsa.certificate.public_bytes(serialization.Encoding.PEM)
    )
    with pytest.raises(KeySourceError, match="matches the key"):
        open_key(str(key_file), lambda: b"", certificate=str(other))


def test_unknown_key_argument(tmp_path: Path) -> None:
    with pytest.raises(KeySourceError, match="pkcs11: URI"):
        open_key(str(tmp_path / "key.txt"), lambda: b"")
