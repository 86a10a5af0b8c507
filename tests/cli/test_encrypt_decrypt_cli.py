"""``govsign encrypt`` / ``govsign decrypt``: round trips, sign+encrypt,
errors as one line with exit status 2, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from govsign_cli.main import cli

from govsign.keys.pkcs11 import open_pkcs11
from tests.conftest import DEMO_PASSWORD, EncryptionPKI, make_message
from tests.softhsm import EC_LABEL, PIN

ENV = {"GOVSIGN_PASSWORD": DEMO_PASSWORD.decode()}


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def letter(tmp_path: Path) -> Path:
    path = tmp_path / "letter.eml"
    path.write_bytes(make_message())
    return path


def _encrypt(runner: CliRunner, letter: Path, out: Path, *args: str) -> None:
    result = runner.invoke(
        cli, ["encrypt", *args, str(letter), "-o", str(out)], env=ENV
    )
    assert result.exit_code == 0, result.output


def test_encrypt_then_decrypt_round_trip(runner, enc_pki, letter, tmp_path):
    encrypted = tmp_path / "encrypted.eml"
    _encrypt(
        runner,
        letter,
        encrypted,
        "--to",
        str(enc_pki.cert_file("rsa")),
        "--to",
        str(enc_pki.cert_file("p384")),
        "--self",
        str(enc_pki.cert_file("clerk")),
    )
    assert b"smime-type=authEnveloped-data" in encrypted.read_bytes()
    for name in ("rsa", "p384", "clerk"):
        out = tmp_path / f"{name}.eml"
        result = runner.invoke(
            cli,
            [
                "decrypt",
                "--lang",
                "en",
                "--key",
                str(enc_pki.p12_file(name)),
                str(encrypted),
                "-o",
                str(out),
            ],
            env=ENV,
        )
        assert result.exit_code == 0, result.output
        assert "aes256-gcm (integrity protected)" in result.output
        assert "Đây là công văn.".encode() in out.read_bytes()


def test_cbc_and_pkcs1v15_on_request_are_reported(
    runner, enc_pki, letter, tmp_path
):
    encrypted = tmp_path / "encrypted.eml"
    _encrypt(
        runner,
        letter,
        encrypted,
        "--to",
        str(enc_pki.cert_file("rsa")),
        "--cipher",
        "aes128-cbc",
        "--legacy-rsa-pkcs1v15",
    )
    result = runner.invoke(
        cli,
        ["decrypt", "--key", str(enc_pki.p12_file("rsa")), "--json"],
        input=encrypted.read_bytes(),
        env=ENV,
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stderr)
    assert report["integrity_protected"] is False
    assert report["content_encryption"] == "aes128-cbc"
    assert report["key_management"] == "rsaes-pkcs1v15"


def test_sign_with_then_decrypt_with_trust_is_valid(
    runner, enc_pki, letter, tmp_path
):
    pki = enc_pki.demo
    sealed = tmp_path / "sealed.eml"
    _encrypt(
        runner,
        letter,
        sealed,
        "--to",
        str(enc_pki.cert_file("p256")),
        "--sign-with",
        str(pki.p12_files["clerk"]),
    )
    args = ["decrypt", "--key", str(enc_pki.p12_file("p256"))]
    args += ["--trust", str(pki.trust_file), "--json"]
    for crl in pki.crl_files:
        args += ["--crl", str(crl)]
    result = runner.invoke(cli, [*args, str(sealed)], env=ENV)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stderr)
    assert report["verification"]["verdict"] == "valid"
    assert report["decryption"]["content_encryption"] == "aes256-gcm"
    # The signer's own copy is readable too.
    clerk = runner.invoke(
        cli,
        ["decrypt", "--key", str(pki.p12_files["clerk"]), str(sealed)],
        env=ENV,
    )
    assert clerk.exit_code == 0, clerk.output


def test_decrypt_with_trust_of_unsigned_message_exits_5(
    runner, enc_pki, letter, tmp_path
):
    encrypted = tmp_path / "encrypted.eml"
    _encrypt(runner, letter, encrypted, "--to", str(enc_pki.cert_file("rsa")))
    result = runner.invoke(
        cli,
        [
            "decrypt",
            "--key",
            str(enc_pki.p12_file("rsa")),
            "--trust",
            str(enc_pki.demo.trust_file),
            str(encrypted),
        ],
        env=ENV,
    )
    assert result.exit_code == 5, result.output


@pytest.mark.parametrize(
    ("defect", "make_input", "key", "message"),
    [
        (
            "not_encrypted",
            lambda enc: make_message(),
            "rsa",
            "not encrypted",
        ),
        (
            "truncated_cms",
            lambda enc: enc[: len(enc) * 2 // 3],
            "rsa",
            "malformed CMS",
        ),
        (
            "key_matches_no_recipient",
            lambda enc: enc,
            "p256",
            "not encrypted for",
        ),
        (
            "flipped_ciphertext_byte",
            lambda enc: _flip_last_base64_line(enc),
            "rsa",
            "decryption failed",
        ),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(
    runner, enc_pki, letter, tmp_path, defect, make_input, key, message
):
    encrypted = tmp_path / "encrypted.eml"
    _encrypt(runner, letter, encrypted, "--to", str(enc_pki.cert_file("rsa")))
    bad = tmp_path / f"{defect}.eml"
    bad.write_bytes(make_input(encrypted.read_bytes()))
    out = tmp_path / "out.eml"
    result = runner.invoke(
        cli,
        ["decrypt", "--key", str(enc_pki.p12_file(key)), str(bad)],
        env=ENV,
        catch_exceptions=False,
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("govsign: error: ")
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()


def _flip_last_base64_line(encrypted: bytes) -> bytes:
    lines = encrypted.split(b"\n")
    # The last full base64 line lies in the ciphertext and tag.
    index = max(i for i, line in enumerate(lines) if len(line) > 60)
    line = bytearray(lines[index])
    line[10] = ord("A") if line[10] != ord("A") else ord("B")
    lines[index] = bytes(line)
    return b"\n".join(lines)


def test_encrypt_to_signing_only_certificate_exits_2(
    runner, enc_pki, letter, tmp_path
):
    result = runner.invoke(
        cli,
        [
            "encrypt",
            "--to",
            str(enc_pki.cert_file("signing-only")),
            str(letter),
        ],
    )
    assert result.exit_code == 2
    assert "key usage" in result.stderr


def test_encrypt_needs_a_recipient(runner, letter):
    result = runner.invoke(cli, ["encrypt", str(letter)])
    assert result.exit_code == 2
    assert "--to" in result.output


def test_real_processes_round_trip(enc_pki: EncryptionPKI, letter, tmp_path):
    # The installed entry point, through pipes, as a clerk's script runs it.
    env = {**os.environ, **ENV}
    encrypt = subprocess.run(
        [
            sys.executable,
            "-m",
            "govsign_cli",
            "encrypt",
            "--to",
            str(enc_pki.cert_file("p256")),
        ],
        input=letter.read_bytes(),
        capture_output=True,
        env=env,
        timeout=60,
    )
    assert encrypt.returncode == 0, encrypt.stderr.decode()
    decrypt = subprocess.run(
        [
            sys.executable,
            "-m",
            "govsign_cli",
            "decrypt",
            "--key",
            str(enc_pki.p12_file("p256")),
        ],
        input=encrypt.stdout,
        capture_output=True,
        env=env,
        timeout=60,
    )
    assert decrypt.returncode == 0, decrypt.stderr.decode()
    assert "Đây là công văn.".encode() in decrypt.stdout
    wrong = subprocess.run(
        [
            sys.executable,
            "-m",
            "govsign_cli",
            "decrypt",
            "--key",
            str(enc_pki.p12_file("rsa")),
        ],
        input=encrypt.stdout,
        capture_output=True,
        env=env,
        timeout=60,
    )
    assert wrong.returncode == 2
    assert b"Traceback" not in wrong.stderr
    assert wrong.stderr.startswith(b"govsign: error: ")


def test_x25519_recipient_with_pem_key(runner, enc_pki, letter, tmp_path):
    # PKCS#12 cannot carry X25519 keys (cryptography refuses), so such a
    # recipient opens mail with a PEM key and its certificate.
    encrypted = tmp_path / "encrypted.eml"
    _encrypt(
        runner, letter, encrypted, "--to", str(enc_pki.cert_file("x25519"))
    )
    result = runner.invoke(
        cli,
        [
            "decrypt",
            "--key",
            str(enc_pki.key_file("x25519")),
            "--cert",
            str(enc_pki.cert_file("x25519")),
            str(encrypted),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "x25519-hkdf-sha256+aes256-wrap" in result.stderr
    assert "Đây là công văn." in result.stdout


def test_decrypt_report_in_vietnamese(runner, enc_pki, letter, tmp_path):
    encrypted = tmp_path / "encrypted.eml"
    _encrypt(
        runner,
        letter,
        encrypted,
        "--to",
        str(enc_pki.cert_file("rsa")),
        "--cipher",
        "aes256-cbc",
    )
    result = runner.invoke(
        cli,
        [
            "decrypt",
            "--lang",
            "vi",
            "--key",
            str(enc_pki.p12_file("rsa")),
            str(encrypted),
        ],
        env=ENV,
    )
    assert result.exit_code == 0, result.output
    assert "Đã giải mã: enveloped-data, aes256-cbc" in result.stderr
    assert "KHÔNG được bảo vệ toàn vẹn" in result.stderr
    assert "Cảnh báo: nội dung có thể đã bị sửa" in result.stderr


def test_decrypt_with_a_token_key(runner, token_world, letter, tmp_path):
    uri = token_world.uri(object=EC_LABEL)
    key = open_pkcs11(uri, lambda: PIN.encode())
    cert = tmp_path / "token.crt"
    cert.write_bytes(key.certificate.public_bytes(serialization.Encoding.PEM))
    key.close()
    encrypted = tmp_path / "encrypted.eml"
    _encrypt(runner, letter, encrypted, "--to", str(cert))
    # A process of its own: a token login lasts as long as the process,
    # and other tests here expect the token logged out.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "govsign_cli",
            "decrypt",
            "--lang",
            "en",
            "--key",
            uri,
            str(encrypted),
        ],
        capture_output=True,
        env={**os.environ, "GOVSIGN_PIN": PIN},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert b"ecdh-x963-sha256+aes256-wrap" in result.stderr
    assert "Đây là công văn.".encode() in result.stdout
