"""The govsign command line: sign, verify, demo, exit codes, secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from govsign_cli.main import cli

from govsign.pki.demo import DemoPKI
from tests.conftest import DEMO_PASSWORD, make_message


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def letter(tmp_path: Path) -> Path:
    path = tmp_path / "letter.eml"
    path.write_bytes(make_message())
    return path


def _verify_args(pki: DemoPKI) -> list[str]:
    args = ["verify", "--trust", str(pki.trust_file)]
    for crl in pki.crl_files:
        args += ["--crl", str(crl)]
    return args


def _sign(
    runner: CliRunner, pki: DemoPKI, letter: Path, out: Path, *extra: str
) -> None:
    result = runner.invoke(
        cli,
        [
            "sign",
            "--key",
            str(pki.p12_files["clerk"]),
            str(letter),
            "-o",
            str(out),
            *extra,
        ],
        env={"GOVSIGN_PASSWORD": DEMO_PASSWORD.decode()},
    )
    assert result.exit_code == 0, result.output


def test_sign_then_verify_exits_zero(
    runner: CliRunner, demo_pki: DemoPKI, letter: Path, tmp_path: Path
) -> None:
    out = tmp_path / "signed.eml"
    _sign(runner, demo_pki, letter, out)
    result = runner.invoke(
        cli, [*_verify_args(demo_pki), "--lang", "en", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "Result: VALID" in result.output
    assert "Nguyễn Văn An" in result.output


def test_verify_report_in_vietnamese(
    runner: CliRunner, demo_pki: DemoPKI, letter: Path, tmp_path: Path
) -> None:
    out = tmp_path / "signed.eml"
    _sign(runner, demo_pki, letter, out, "--opaque")
    result = runner.invoke(
        cli, [*_verify_args(demo_pki), "--lang", "vi", str(out)]
    )
    assert result.exit_code == 0
    assert "Kết quả: HỢP LỆ" in result.output
    assert "Tính toàn vẹn: nguyên vẹn" in result.output


def test_json_report_has_documented_fields(
    runner: CliRunner, demo_pki: DemoPKI, letter: Path, tmp_path: Path
) -> None:
    out = tmp_path / "signed.eml"
    _sign(runner, demo_pki, letter, out)
    result = runner.invoke(cli, [*_verify_args(demo_pki), "--json", str(out)])
    report = json.loads(result.output)
    assert report["verdict"] == "valid"
    assert report["indication"] == "TOTAL-PASSED"
    assert report["sub_indication"] is None
    signer = report["signers"][0]
    for field in (
        "name",
        "email",
        "issuer",
        "serial",
        "signing_time",
        "chain",
        "indication",
        "sub_indication",
    ):
        assert field in signer
    assert report["coverage"] == "whole"


@pytest.mark.parametrize(
    "transform, code, verdict",
    [
        (lambda b: b.replace(b"T=C3=A0i", b"T=C3=A1i"), 3, "invalid"),
        (None, 5, "unsigned"),
    ],
    ids=["tampered-exits-3", "unsigned-exits-5"],
)
def test_verdict_exit_codes(
    runner: CliRunner,
    demo_pki: DemoPKI,
    letter: Path,
    tmp_path: Path,
    transform: object,
    code: int,
    verdict: str,
) -> None:
    target = letter
    if transform is not None:
        out = tmp_path / "signed.eml"
        _sign(runner, demo_pki, letter, out)
        data = out.read_bytes()
        changed = transform(data)  # type: ignore[operator]
        assert changed != data
        out.write_bytes(changed)
        target = out
    result = runner.invoke(
        cli, [*_verify_args(demo_pki), "--json", str(target)]
    )
    assert result.exit_code == code
    assert json.loads(result.output)["verdict"] == verdict


def test_missing_revocation_data_exits_4(
    runner: CliRunner, demo_pki: DemoPKI, letter: Path, tmp_path: Path
) -> None:
    out = tmp_path / "signed.eml"
    _sign(runner, demo_pki, letter, out)
    result = runner.invoke(
        cli, ["verify", "--trust", str(demo_pki.trust_file), str(out)]
    )
    assert result.exit_code == 4


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\x00\x01garbage",
        b"From: x@y\r\nContent-Type: multipart/mixed\r\n\r\nno boundary\r\n",
    ],
    ids=["empty-file", "binary-garbage", "multipart-without-boundary"],
)
def test_malformed_input_exits_2_without_traceback(
    runner: CliRunner, demo_pki: DemoPKI, tmp_path: Path, content: bytes
) -> None:
    bad = tmp_path / "bad.eml"
    bad.write_bytes(content)
    result = runner.invoke(cli, [*_verify_args(demo_pki), str(bad)])
    assert result.exit_code == 2
    assert "govsign: error:" in result.output
    assert "Traceback" not in result.output


def test_wrong_password_is_a_clear_error(
    runner: CliRunner, demo_pki: DemoPKI, letter: Path
) -> None:
    result = runner.invoke(
        cli,
        ["sign", "--key", str(demo_pki.p12_files["clerk"]), str(letter)],
        env={"GOVSIGN_PASSWORD": "wrong"},
    )
    assert result.exit_code == 2
    assert "wrong password" in result.output
    assert "wrong\n" not in result.output  # the password is not echoed


def test_password_file_is_read(
    runner: CliRunner, demo_pki: DemoPKI, letter: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "pw"
    secret.write_bytes(DEMO_PASSWORD + b"\n")
    result = runner.invoke(
        cli,
        [
            "sign",
            "--key",
            str(demo_pki.p12_files["clerk"]),
            "--password-file",
            str(secret),
            str(letter),
        ],
        env={"GOVSIGN_PASSWORD": None},
    )
    assert result.exit_code == 0, result.output
    assert b"multipart/signed" in result.stdout_bytes


def test_no_password_option_on_the_command_line(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["sign", "--help"])
    assert "--password " not in result.output
    assert "--password-file" in result.output


def test_no_password_and_no_terminal_says_how(
    runner: CliRunner, demo_pki: DemoPKI, letter: Path
) -> None:
    result = runner.invoke(
        cli,
        ["sign", "--key", str(demo_pki.p12_files["clerk"]), str(letter)],
        env={"GOVSIGN_PASSWORD": None},
    )
    assert result.exit_code == 2
    assert "GOVSIGN_PASSWORD" in result.output


def test_sign_reads_stdin_and_writes_stdout(
    runner: CliRunner, demo_pki: DemoPKI
) -> None:
    result = runner.invoke(
        cli,
        ["sign", "--key", str(demo_pki.p12_files["clerk"])],
        input=make_message(),
        env={"GOVSIGN_PASSWORD": DEMO_PASSWORD.decode()},
    )
    assert result.exit_code == 0
    verified = runner.invoke(
        cli, [*_verify_args(demo_pki), "-"], input=result.stdout_bytes
    )
    assert verified.exit_code == 0, verified.output


def test_bad_at_time_is_a_usage_error(
    runner: CliRunner, demo_pki: DemoPKI, letter: Path
) -> None:
    result = runner.invoke(
        cli, [*_verify_args(demo_pki), "--at", "yesterday", str(letter)]
    )
    assert result.exit_code == 2
    assert "ISO 8601" in result.output


def test_demo_runs_as_a_real_process(tmp_path: Path) -> None:
    env = {**os.environ, "GOVSIGN_PASSWORD": "demo", "LANG": "vi_VN.UTF-8"}
    completed = subprocess.run(
        [sys.executable, "-m", "govsign_cli", "demo", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "Kết quả: HỢP LỆ" in completed.stdout
    # A password from the environment is never printed back.
    assert "from GOVSIGN_PASSWORD" in completed.stdout
    assert "shown once" not in completed.stdout
    signed = tmp_path / "d" / "cong-van.signed.eml"
    verify = subprocess.run(
        [
            sys.executable,
            "-m",
            "govsign_cli",
            "verify",
            "--json",
            "--trust",
            str(tmp_path / "d" / "trust.pem"),
            "--crl",
            str(tmp_path / "d" / "root.crl"),
            "--crl",
            str(tmp_path / "d" / "ministry.crl"),
            str(signed),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert verify.returncode == 0
    assert len(json.loads(verify.stdout)["signers"]) == 2
