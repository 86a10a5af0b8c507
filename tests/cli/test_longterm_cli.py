"""The command line for timestamps, levels, evidence and printable reports.

``sign --tsa --level``, ``extend``, ``verify --no-fetch --evidence --html
--lang``, against the loopback CRL server, OCSP responder and openssl TSA.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from govsign_cli.main import cli

from govsign.pki.demo import write_pkcs12
from tests.conftest import make_message
from tests.services.pki import OnlinePKI

_PASSWORD = "mật khẩu thử"
_ENV = {"GOVSIGN_PASSWORD": _PASSWORD}


@pytest.fixture
def files(pki: OnlinePKI, tmp_path: Path) -> dict[str, Path]:
    p12 = tmp_path / "clerk.p12"
    write_pkcs12(p12, pki.signer, _PASSWORD.encode(), "clerk")
    trust = tmp_path / "trust.pem"
    trust.write_bytes(
        pki.root.certificate.public_bytes(serialization.Encoding.PEM)
    )
    letter = tmp_path / "letter.eml"
    letter.write_bytes(make_message())
    return {"p12": p12, "trust": trust, "letter": letter}


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env=_ENV)
    return result.exit_code, result.output


def test_sign_lt_then_verify_offline_with_evidence_and_html(
    pki: OnlinePKI, files: dict[str, Path], tmp_path: Path
) -> None:
    signed = tmp_path / "signed.eml"
    code, out = _run(
        "sign", "--key", str(files["p12"]), "--tsa", pki.tsa.url,
        "--level", "LT", "--trust", str(files["trust"]),
        str(files["letter"]), "-o", str(signed),
    )  # fmt: skip
    assert code == 0, out
    pki.stop()  # responders gone: LT must verify from what it embeds

    evidence = tmp_path / "evidence"
    html = tmp_path / "report.html"
    code, out = _run(
        "verify", "--trust", str(files["trust"]), "--no-fetch",
        "--lang", "vi", "--evidence", str(evidence), "--html", str(html),
        str(signed),
    )  # fmt: skip
    assert code == 0, out
    assert "HỢP LỆ" in out
    assert "Mức CAdES: LT" in out
    assert "Dấu thời gian:" in out
    assert "được dấu thời gian chứng minh" in out

    page = html.read_text(encoding="utf-8")
    assert '<html lang="vi">' in page
    assert "size: A4" in page
    assert "Hiệu lực tại thời điểm ký" in page

    manifest = json.loads((evidence / "MANIFEST.json").read_text())
    assert manifest["verdict"] == "valid"
    kinds = {f["kind"] for f in manifest["files"]}
    assert kinds >= {
        "message",
        "report",
        "certificate",
        "ocsp-response",
        "crl",
        "timestamp-token",
    }
    for entry in manifest["files"]:
        data = (evidence / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    assert (evidence / "signer-1" / "certificate-1.pem").read_bytes() == (
        pki.signer.certificate.public_bytes(serialization.Encoding.PEM)
    )
    # sha256sum can check the bundle on its own.
    check = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"],
        cwd=evidence,
        capture_output=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout
    # Each piece reads with OpenSSL, as docs/revocation-and-evidence.md
    # tells an auditor.
    commands = {
        "crl": ["openssl", "crl", "-inform", "DER", "-noout", "-in"],
        "ocsp-response": ["openssl", "ocsp", "-noverify", "-respin"],
        "timestamp-token": [
            "openssl", "ts", "-reply", "-token_in", "-text", "-in",
        ],
        "certificate": ["openssl", "x509", "-noout", "-in"],
    }  # fmt: skip
    for entry in manifest["files"]:
        if entry["kind"] in commands:
            proc = subprocess.run(
                [*commands[entry["kind"]], str(evidence / entry["path"])],
                capture_output=True,
                check=False,
            )
            assert proc.returncode == 0, (entry, proc.stderr)


def test_english_report_has_the_same_fields(
    pki: OnlinePKI, files: dict[str, Path], tmp_path: Path
) -> None:
    signed = tmp_path / "signed.eml"
    code, out = _run(
        "sign", "--key", str(files["p12"]), "--tsa", pki.tsa.url,
        "--level", "T", str(files["letter"]), "-o", str(signed),
    )  # fmt: skip
    assert code == 0, out
    code, out = _run(
        "verify", "--trust", str(files["trust"]), "--lang", "en",
        str(signed),
    )  # fmt: skip
    assert code == 0, out
    for label in (
        "Issued by",
        "Signer 1",
        "Signing time",
        "Timestamp",
        "Integrity",
        "Validity at signing time",
        "CAdES level: T",
    ):
        assert label in out


def test_extend_raises_a_signed_message(
    pki: OnlinePKI, files: dict[str, Path], tmp_path: Path
) -> None:
    signed = tmp_path / "signed.eml"
    code, out = _run(
        "sign", "--key", str(files["p12"]), str(files["letter"]),
        "-o", str(signed),
    )  # fmt: skip
    assert code == 0, out
    extended = tmp_path / "extended.eml"
    # A real process, as an archive job would run it.
    proc = subprocess.run(
        [
            sys.executable, "-m", "govsign_cli", "extend",
            "--tsa", pki.tsa.url, "--level", "LTA",
            "--trust", str(files["trust"]), str(signed),
            "-o", str(extended),
        ],
        capture_output=True,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    code, out = _run(
        "verify", "--trust", str(files["trust"]), "--json", str(extended)
    )
    assert code == 0, out
    signer = json.loads(out)["signers"][0]
    assert signer["level"] == "LTA"
    assert {t["kind"] for t in signer["timestamps"]} == {
        "signature",
        "archive",
    }
    assert len(signer["evidence"]["timestamp_tokens"]) == 2


def test_level_t_without_tsa_is_a_usage_error(
    files: dict[str, Path],
) -> None:
    code, out = _run(
        "sign", "--key", str(files["p12"]), "--level", "T",
        str(files["letter"]),
    )  # fmt: skip
    assert code == 2
    assert "--tsa" in out


def test_level_lt_without_trust_is_a_usage_error(
    pki: OnlinePKI, files: dict[str, Path]
) -> None:
    code, out = _run(
        "extend", "--level", "LT", "--tsa", pki.tsa.url,
        str(files["letter"]),
    )  # fmt: skip
    assert code == 2
    assert "--trust" in out


def test_extend_of_an_unsigned_message_is_an_error(
    pki: OnlinePKI, files: dict[str, Path]
) -> None:
    code, out = _run(
        "extend", "--level", "T", "--tsa", pki.tsa.url,
        str(files["letter"]),
    )  # fmt: skip
    assert code == 2
    assert "not signed" in out


def test_evidence_directory_must_be_empty(
    pki: OnlinePKI, files: dict[str, Path], tmp_path: Path
) -> None:
    signed = tmp_path / "signed.eml"
    _run(
        "sign", "--key", str(files["p12"]), str(files["letter"]),
        "-o", str(signed),
    )  # fmt: skip
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "other.txt").write_text("x")
    code, out = _run(
        "verify", "--trust", str(files["trust"]), "--evidence", str(busy),
        str(signed),
    )  # fmt: skip
    assert code == 2
    assert "not empty" in out


def test_verify_fetches_by_default(
    pki: OnlinePKI, files: dict[str, Path], tmp_path: Path
) -> None:
    signed = tmp_path / "signed.eml"
    _run(
        "sign", "--key", str(files["p12"]), str(files["letter"]),
        "-o", str(signed),
    )  # fmt: skip
    code, out = _run("verify", "--trust", str(files["trust"]), str(signed))
    assert code == 0, out
    assert pki.ocsp is not None and pki.ocsp.count("/ocsp") == 1
    code, out = _run(
        "verify", "--trust", str(files["trust"]), "--no-fetch", str(signed)
    )
    assert code == 4, out  # indeterminate: no revocation data
    assert pki.ocsp.count("/ocsp") == 1


def test_verify_offline_with_an_ocsp_response_file(
    pki: OnlinePKI, files: dict[str, Path], tmp_path: Path
) -> None:
    from govsign.pki.fetch import RevocationFetcher

    signed = tmp_path / "signed.eml"
    _run(
        "sign", "--key", str(files["p12"]), str(files["letter"]),
        "-o", str(signed),
    )  # fmt: skip
    assert pki.ocsp is not None
    response = RevocationFetcher().ocsp(
        pki.ocsp.url, pki.signer.certificate, pki.issuing.certificate
    )
    (tmp_path / "signer.ocsp").write_bytes(response)
    (tmp_path / "root.crl").write_bytes(pki.crl("root"))
    pki.stop()
    code, out = _run(
        "verify", "--trust", str(files["trust"]), "--no-fetch",
        "--ocsp", str(tmp_path / "signer.ocsp"),
        "--crl", str(tmp_path / "root.crl"), str(signed),
    )  # fmt: skip
    assert code == 0, out


def test_ocsp_file_that_is_not_ocsp_is_refused(
    files: dict[str, Path], tmp_path: Path
) -> None:
    junk = tmp_path / "junk.ocsp"
    junk.write_bytes(b"not an OCSP response")
    code, out = _run(
        "verify", "--trust", str(files["trust"]), "--ocsp", str(junk),
        str(files["letter"]),
    )  # fmt: skip
    assert code == 2
    assert "not a DER OCSP response" in out
