"""``govsign keys list`` and ``govsign sign`` with token keys; the signed
messages are checked by ``openssl cms -verify``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from govsign_cli.main import cli

from govsign.pki.demo import write_pkcs12
from tests.softhsm import (
    CLERK_TOKEN,
    EC_LABEL,
    ED_LABEL,
    OTHER_PIN,
    PIN,
    PIN_TOKEN,
    RSA_LABEL,
    TokenWorld,
    openssl_cms_verify,
)

MESSAGE = (
    "From: an@snv.gov.vn\r\n"
    "To: vanthu@stc.gov.vn\r\n"
    "Subject: =?utf-8?b?Q8O0bmcgdsSDbg==?=\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "Kính gửi Sở Tài chính,\r\nĐề nghị phối hợp.\r\nSo 12/SNV-VP\r\n"
).encode()


def _run(args: list[str], **env: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, args, env=env)
    return result.exit_code, result.stdout, result.stderr


def test_keys_list_shows_vietnamese_labels_subjects_and_usage(
    token_world: TokenWorld,
) -> None:
    code, out, err = _run(
        [
            "keys",
            "list",
            token_world.uri(module=False),
            "--pkcs11-module",
            str(token_world.module),
        ],
        GOVSIGN_PIN=PIN,
    )
    assert code == 0, err
    assert f"Token '{CLERK_TOKEN}'" in out
    assert f"Certificate '{RSA_LABEL}' id 01 [with private key]" in out
    assert "subject: CN=Nguyễn Văn An,O=Sở Nội vụ tỉnh Demo,C=VN" in out
    assert "e-mail:  an@snv.gov.vn" in out
    assert "(valid now)" in out
    assert (
        "usage:   digitalSignature, nonRepudiation, keyEncipherment; "
        "emailProtection" in out
    )
    assert "CA certificate 'Demo Ministry CA'" in out
    ec_line = next(
        line
        for line in out.splitlines()
        if f"Private key '{EC_LABEL}'" in line
    )
    assert "id 02: EC P-256, may sign" in ec_line
    assert "derive" in ec_line
    assert "sign with: --key 'pkcs11:id=%01;" in out


def test_keys_list_json(token_world: TokenWorld) -> None:
    code, out, err = _run(
        ["keys", "list", token_world.uri(), "--json"], GOVSIGN_PIN=PIN
    )
    assert code == 0, err
    (store,) = json.loads(out)
    assert store["kind"] == "token"
    by_label = {c["label"]: c for c in store["certificates"]}
    assert by_label[RSA_LABEL]["emails"] == ["an@snv.gov.vn"]
    assert by_label[RSA_LABEL]["has_private_key"] is True
    assert by_label["Demo Ministry CA"]["is_ca"] is True
    assert {k["label"] for k in store["keys"]} >= {RSA_LABEL, EC_LABEL}


def test_keys_list_without_login_shows_certificates_only(
    token_world: TokenWorld,
) -> None:
    code, out, err = _run(["keys", "list", token_world.uri(), "--no-login"])
    assert code == 0, err
    assert "not logged in" in out
    assert "Private key" not in out
    assert f"Certificate '{RSA_LABEL}'" in out


def test_keys_list_every_token_of_a_module_does_not_spend_pins(
    token_world: TokenWorld,
) -> None:
    code, out, err = _run(
        ["keys", "list", "--pkcs11-module", str(token_world.module)],
        GOVSIGN_PIN="000000",
    )
    assert code == 0, err
    assert f"Token '{CLERK_TOKEN}'" in out
    assert f"Token '{PIN_TOKEN}'" in out
    # Three tokens: none logged into, so the wrong PIN was tried on none.
    assert out.count("not logged in") == 3
    assert "wrong PIN for token" not in err


def test_keys_list_p12_with_vietnamese_friendly_name(
    token_world: TokenWorld, tmp_path: Path
) -> None:
    p12 = tmp_path / "an.p12"
    write_pkcs12(p12, token_world.rsa, b"mat-khau-1", "Nguyễn Văn An")
    code, out, err = _run(
        ["keys", "list", str(p12)], GOVSIGN_PASSWORD="mat-khau-1"
    )
    assert code == 0, err
    assert "Certificate 'Nguyễn Văn An' [with private key]" in out
    assert "Private key 'an.p12': RSA 2048, may sign, decrypt" in out


def test_keys_list_wrong_pin_is_a_clear_error(
    token_world: TokenWorld,
) -> None:
    code, _, err = _run(
        ["keys", "list", token_world.uri(token=PIN_TOKEN)],
        GOVSIGN_PIN="999999",
    )
    assert code == 2
    assert f"wrong PIN for token '{PIN_TOKEN}'" in err


def test_keys_list_locked_token_is_a_clear_error(
    token_world: TokenWorld,
) -> None:
    code, _, err = _run(
        [
            "keys",
            "list",
            f"pkcs11:token={PIN_TOKEN}",
            "--pkcs11-module",
            str(token_world.locked_module),
        ],
        GOVSIGN_PIN=OTHER_PIN,
    )
    assert code == 2
    assert "is locked after too many wrong tries" in err


def test_keys_list_missing_module_is_a_clear_error(tmp_path: Path) -> None:
    code, _, err = _run(
        ["keys", "list", "--pkcs11-module", str(tmp_path / "libx.so")]
    )
    assert code == 2
    assert "does not exist" in err


def test_keys_list_without_pin_source_says_how_to_give_it(
    token_world: TokenWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GOVSIGN_PIN", raising=False)
    code, _, err = _run(["keys", "list", token_world.uri(token=PIN_TOKEN)])
    assert code == 2
    assert "--pin-file" in err and "GOVSIGN_PIN" in err


@pytest.mark.interop
@pytest.mark.parametrize(
    ("label", "extra"),
    [(RSA_LABEL, []), (RSA_LABEL, ["--pss"]), (EC_LABEL, ["--opaque"])],
    ids=["rsa-pkcs1", "rsa-pss", "ecdsa-opaque"],
)
def test_sign_with_token_key_verifies_with_openssl(
    token_world: TokenWorld, tmp_path: Path, label: str, extra: list[str]
) -> None:
    message = tmp_path / "in.eml"
    message.write_bytes(MESSAGE)
    pin_file = tmp_path / "pin"
    pin_file.write_text(PIN + "\n")
    signed = tmp_path / "signed.eml"
    code, _, err = _run(
        [
            "sign",
            "--key",
            token_world.uri(object=label, module=False),
            "--pkcs11-module",
            str(token_world.module),
            "--pin-file",
            str(pin_file),
            *extra,
            str(message),
            "-o",
            str(signed),
        ],
    )
    assert code == 0, err
    done = openssl_cms_verify(signed, token_world.trust_file)
    assert done.returncode == 0, done.stderr
    assert "Verification successful" in done.stderr


def test_sign_with_ed25519_token_key(
    token_world: TokenWorld, tmp_path: Path
) -> None:
    # OpenSSL 3.0 cannot verify Ed25519 in CMS ("invalid digest", also for
    # software keys); the raw token signature is checked by openssl
    # pkeyutl in tests/keys, the message here by govsign verify.
    message = tmp_path / "in.eml"
    message.write_bytes(MESSAGE.replace(b"an@snv", b"ed@snv"))
    signed = tmp_path / "signed.eml"
    code, _, err = _run(
        [
            "sign",
            "--key",
            token_world.uri(object=ED_LABEL),
            str(message),
            "-o",
            str(signed),
        ],
        GOVSIGN_PIN=PIN,
    )
    assert code == 0, err
    code, out, err = _run(
        [
            "verify",
            "--trust",
            str(token_world.trust_file),
            "--revocation",
            "no-check",
            "--lang",
            "en",
            "--no-date-check",
            str(signed),
        ]
    )
    assert code == 0, out + err


@pytest.mark.interop
def test_openssl_rejects_a_tampered_token_signed_message(
    token_world: TokenWorld, tmp_path: Path
) -> None:
    message = tmp_path / "in.eml"
    message.write_bytes(MESSAGE)
    signed = tmp_path / "signed.eml"
    code, _, err = _run(
        [
            "sign",
            "--key",
            token_world.uri(object=EC_LABEL),
            str(message),
            "-o",
            str(signed),
        ],
        GOVSIGN_PIN=PIN,
    )
    assert code == 0, err
    original = signed.read_bytes()
    assert original.count(b"So 12/SNV-VP") == 1
    signed.write_bytes(original.replace(b"So 12/SNV-VP", b"So 13/SNV-VP"))
    assert openssl_cms_verify(signed, token_world.trust_file).returncode != 0


@pytest.mark.interop
def test_sign_subprocess_with_module_from_environment(
    token_world: TokenWorld, tmp_path: Path
) -> None:
    message = tmp_path / "in.eml"
    message.write_bytes(MESSAGE)
    signed = tmp_path / "signed.eml"
    env = dict(
        token_world.env,
        GOVSIGN_PIN=PIN,
        GOVSIGN_PKCS11_MODULE=str(token_world.module),
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "govsign_cli",
            "sign",
            "--key",
            token_world.uri(object=RSA_LABEL, module=False),
            str(message),
            "-o",
            str(signed),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert PIN not in done.stdout + done.stderr
    verified = openssl_cms_verify(signed, token_world.trust_file)
    assert verified.returncode == 0, verified.stderr
    # The signer certificate in the message is the token's.
    certs = subprocess.run(
        [
            "openssl",
            "cms",
            "-verify",
            "-in",
            str(signed),
            "-CAfile",
            str(token_world.trust_file),
            "-signer",
            str(tmp_path / "s.pem"),
            "-out",
            "/dev/null",
        ],
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert certs.returncode == 0
    assert (tmp_path / "s.pem").read_bytes() == (
        token_world.rsa.certificate.public_bytes(serialization.Encoding.PEM)
    )


def test_sign_with_wrong_pin_is_a_clear_error(
    token_world: TokenWorld, tmp_path: Path
) -> None:
    message = tmp_path / "in.eml"
    message.write_bytes(MESSAGE)
    code, out, err = _run(
        ["sign", "--key", token_world.uri(token=PIN_TOKEN), str(message)],
        GOVSIGN_PIN="111111",
    )
    assert code == 2
    assert "wrong PIN" in err
    assert out == ""


def test_sign_with_missing_token_key_is_a_clear_error(
    token_world: TokenWorld, tmp_path: Path
) -> None:
    message = tmp_path / "in.eml"
    message.write_bytes(MESSAGE)
    code, out, err = _run(
        ["sign", "--key", token_world.uri(object="Khóa đã mất"), str(message)],
        GOVSIGN_PIN=PIN,
    )
    assert code == 2
    assert "no private key with label 'Khóa đã mất'" in err
    assert out == ""


def test_keys_list_certificate_file_needs_no_secret(
    token_world: TokenWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GOVSIGN_PASSWORD", raising=False)
    cert = tmp_path / "chung-thu.pem"
    cert.write_bytes(
        token_world.ec.certificate.public_bytes(serialization.Encoding.PEM)
        + token_world.ministry.certificate.public_bytes(
            serialization.Encoding.PEM
        )
    )
    code, out, err = _run(["keys", "list", str(cert)])
    assert code == 0, err
    assert "note: certificate file: no private key" in out
    assert "subject: CN=Lê Văn Cường" in out
    assert "CA certificate" in out
