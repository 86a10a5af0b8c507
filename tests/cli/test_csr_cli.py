"""``govsign csr`` and ``govsign keys import-cert``: from no key to a
signed message, in a .p12 and on a token; ``openssl req`` and ``openssl
cms`` check the results."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from govsign_cli.main import cli

from govsign.keys.csr import CsrSubject
from tests.softhsm import (
    CSR_TOKEN,
    PIN,
    TokenWorld,
    issue_from_csr,
    openssl_cms_verify,
)

PASSWORD = "mat-khau-moi-1"
MESSAGE = (
    b"From: an@snv.gov.vn\r\nTo: vanthu@stc.gov.vn\r\nSubject: test\r\n"
    b"\r\nSo 12/SNV-VP\r\n"
)
CLERK = [
    "--name",
    "Nguyễn Văn An",
    "--email",
    "an@snv.gov.vn",
    "--org",
    "Sở Nội vụ tỉnh Demo",
    "--province",
    "Hà Nội",
    "--uid",
    "CCCD:001203004567",
]


def _run(args: list[str], **env: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, args, env=env)
    return result.exit_code, result.stdout, result.stderr


def _openssl_req_verify(path: Path) -> str:
    done = subprocess.run(
        [
            "openssl",
            "req",
            "-in",
            str(path),
            "-verify",
            "-noout",
            "-text",
            "-nameopt",
            "utf8,sep_comma_plus_space",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "self-signature verify OK" in done.stderr + done.stdout
    return done.stdout


def _sign_and_verify(
    token_world: TokenWorld, tmp_path: Path, key: str, **env: str
) -> None:
    message = tmp_path / "in.eml"
    message.write_bytes(MESSAGE)
    signed = tmp_path / "signed.eml"
    code, _, err = _run(
        ["sign", "--key", key, str(message), "-o", str(signed)], **env
    )
    assert code == 0, err
    done = openssl_cms_verify(signed, token_world.trust_file)
    assert done.returncode == 0, done.stderr


@pytest.mark.interop
def test_csr_in_p12_then_certificate_then_signed_mail(
    token_world: TokenWorld, tmp_path: Path
) -> None:
    p12 = tmp_path / "an.p12"
    request = tmp_path / "an.csr"
    code, _, err = _run(
        [
            "csr",
            *CLERK,
            "--key-type",
            "p256",
            "--p12",
            str(p12),
            "-o",
            str(request),
        ],
        GOVSIGN_PASSWORD=PASSWORD,
    )
    assert code == 0, err
    assert "Send the request to your CA" in err
    assert p12.stat().st_mode & 0o077 == 0
    text = _openssl_req_verify(request)
    assert "ST=Hà Nội, O=Sở Nội vụ tỉnh Demo, CN=Nguyễn Văn An" in text
    assert "UID=CCCD:001203004567" in text
    assert "email:an@snv.gov.vn" in text
    assert "Key Agreement" in text

    # Before the CA answers, the file holds a key and no certificate.
    code, out, err = _run(
        ["keys", "list", str(p12)], GOVSIGN_PASSWORD=PASSWORD
    )
    assert code == 0, err
    assert "no certificate for this key yet" in out

    csr = x509.load_pem_x509_csr(request.read_bytes())
    certificate = issue_from_csr(token_world.ministry, csr)
    cert_file = tmp_path / "an.pem"
    cert_file.write_bytes(
        certificate.public_bytes(serialization.Encoding.PEM)
        + token_world.ministry.certificate.public_bytes(
            serialization.Encoding.PEM
        )
    )
    code, out, err = _run(
        ["keys", "import-cert", str(p12), str(cert_file)],
        GOVSIGN_PASSWORD=PASSWORD,
    )
    assert code == 0, err
    assert "CN=Nguyễn Văn An" in out
    _sign_and_verify(
        token_world, tmp_path, str(p12), GOVSIGN_PASSWORD=PASSWORD
    )


@pytest.mark.interop
def test_csr_on_token_then_certificate_then_signed_mail(
    token_world: TokenWorld, tmp_path: Path
) -> None:
    request = tmp_path / "seal.csr"
    token = token_world.uri(token=CSR_TOKEN)
    code, _, err = _run(
        [
            "csr",
            "--seal",
            "--email",
            "vanthu@snv.gov.vn",
            "--org",
            "Sở Nội vụ tỉnh Demo",
            "--uid",
            "MST:0101234567",
            "--key-type",
            "rsa2048",
            "--token",
            token,
            "--label",
            "Dấu Sở Nội vụ",
            "--id",
            "5e",
            "-o",
            str(request),
        ],
        GOVSIGN_PIN=PIN,
    )
    assert code == 0, err
    assert "label 'Dấu Sở Nội vụ', id 5e" in err
    text = _openssl_req_verify(request)
    assert "O=Sở Nội vụ tỉnh Demo, CN=Sở Nội vụ tỉnh Demo" in text
    assert "Key Encipherment" not in text  # a seal only signs

    # The key was made on the token and cannot be read out.
    listing = token_world.tool(
        "--login",
        "--pin",
        PIN,
        "--list-objects",
        "--type",
        "privkey",
        token=CSR_TOKEN,
    )
    assert "Dấu Sở Nội vụ" in listing
    assert "never extractable" in listing

    csr = x509.load_pem_x509_csr(request.read_bytes())
    cert_file = tmp_path / "seal.pem"
    cert_file.write_bytes(
        issue_from_csr(token_world.ministry, csr).public_bytes(
            serialization.Encoding.PEM
        )
        + token_world.ministry.certificate.public_bytes(
            serialization.Encoding.PEM
        )
    )
    code, out, err = _run(
        ["keys", "import-cert", token, str(cert_file)], GOVSIGN_PIN=PIN
    )
    assert code == 0, err
    assert "sign with --key 'pkcs11:id=%5E;" in out
    _sign_and_verify(
        token_world,
        tmp_path,
        token_world.uri(token=CSR_TOKEN, object="Dấu Sở Nội vụ"),
        GOVSIGN_PIN=PIN,
    )


def test_import_of_a_certificate_for_another_key_is_refused(
    token_world: TokenWorld, tmp_path: Path
) -> None:
    p12 = tmp_path / "k.p12"
    code, _, err = _run(
        [
            "csr",
            *CLERK,
            "--key-type",
            "p256",
            "--p12",
            str(p12),
            "-o",
            str(tmp_path / "k.csr"),
        ],
        GOVSIGN_PASSWORD=PASSWORD,
    )
    assert code == 0, err
    other = tmp_path / "other.pem"
    other.write_bytes(
        token_world.ec.certificate.public_bytes(serialization.Encoding.PEM)
    )
    code, _, err = _run(
        ["keys", "import-cert", str(p12), str(other)],
        GOVSIGN_PASSWORD=PASSWORD,
    )
    assert code == 2
    assert "none of the certificates given belongs to the key" in err


def test_csr_subprocess_default_rsa3072(tmp_path: Path) -> None:
    p12 = tmp_path / "an.p12"
    request = tmp_path / "an.csr"
    password = tmp_path / "password"
    password.write_text(PASSWORD + "\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "govsign_cli",
            "csr",
            *CLERK,
            "--p12",
            str(p12),
            "--password-file",
            str(password),
            "--der",
            "-o",
            str(request),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    csr = x509.load_der_x509_csr(request.read_bytes())
    public = csr.public_key()
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 3072
    assert csr.is_signature_valid
    uid = csr.subject.get_attributes_for_oid(NameOID.USER_ID)
    assert [a.value for a in uid] == ["CCCD:001203004567"]
    assert PASSWORD not in done.stdout + done.stderr


def test_csr_names_are_nfc(tmp_path: Path) -> None:
    decomposed = "Nguye\u0302\u0303n Va\u0306n An"
    request = tmp_path / "r.csr"
    code, _, err = _run(
        [
            "csr",
            "--name",
            decomposed,
            "--email",
            "an@snv.gov.vn",
            "--org",
            "Sở",
            "--key-type",
            "p256",
            "--p12",
            str(tmp_path / "x.p12"),
            "-o",
            str(request),
        ],
        GOVSIGN_PASSWORD=PASSWORD,
    )
    assert code == 0, err
    csr = x509.load_pem_x509_csr(request.read_bytes())
    cn = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == "Nguyễn Văn An"
    assert isinstance(csr.public_key(), ec.EllipticCurvePublicKey)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--uid", "CCCD:12345"], "CCCD needs a 12-digit citizen ID"),
        (["--uid", "SSN:123"], "should be PREFIX:NUMBER"),
        (["--email", "an@gmail.com"], "is not a gov.vn address"),
        (["--email", "an"], "is not an e-mail address"),
        (["--email", "thư@snv.gov.vn"], "non-ASCII"),
        (["--seal", "--uid", "CCCD:001203004567"], "not a personal CCCD"),
    ],
    ids=["short-cccd", "unknown-uid", "non-gov", "no-at", "utf8", "seal"],
)
def test_bad_subject_is_refused_naming_the_field(
    tmp_path: Path, args: list[str], message: str
) -> None:
    base = ["--name", "An", "--email", "an@snv.gov.vn", "--org", "Sở"]
    code, _, err = _run(
        ["csr", *base, *args, "--p12", str(tmp_path / "x.p12")],
        GOVSIGN_PASSWORD=PASSWORD,
    )
    assert code == 2
    assert message in err
    assert not (tmp_path / "x.p12").exists()


def test_non_gov_email_is_allowed_when_asked(tmp_path: Path) -> None:
    code, _, err = _run(
        [
            "csr",
            "--name",
            "An",
            "--email",
            "an@example.org",
            "--org",
            "Sở",
            "--allow-non-gov-email",
            "--key-type",
            "p256",
            "--p12",
            str(tmp_path / "x.p12"),
            "-o",
            str(tmp_path / "x.csr"),
        ],
        GOVSIGN_PASSWORD=PASSWORD,
    )
    assert code == 0, err


def test_existing_key_file_is_never_overwritten(tmp_path: Path) -> None:
    p12 = tmp_path / "old.p12"
    p12.write_bytes(b"old key")
    code, _, err = _run(
        ["csr", *CLERK, "--key-type", "p256", "--p12", str(p12)],
        GOVSIGN_PASSWORD=PASSWORD,
    )
    assert code == 2
    assert "never overwrites" in err
    assert p12.read_bytes() == b"old key"


def test_short_password_for_new_key_is_refused(tmp_path: Path) -> None:
    code, _, err = _run(
        [
            "csr",
            *CLERK,
            "--key-type",
            "p256",
            "--p12",
            str(tmp_path / "x.p12"),
        ],
        GOVSIGN_PASSWORD="1234",
    )
    assert code == 2
    assert "at least 8" in err


def test_p12_and_token_together_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = _run(
        [
            "csr",
            *CLERK,
            "--p12",
            str(tmp_path / "x.p12"),
            "--token",
            "pkcs11:token=x",
        ]
    )
    assert code == 2
    assert "exactly one of --p12 FILE or --token URI" in err


def test_token_key_label_already_used_is_refused(
    token_world: TokenWorld,
) -> None:
    first = [
        "csr",
        *CLERK,
        "--key-type",
        "p256",
        "--token",
        token_world.uri(token=CSR_TOKEN),
        "--label",
        "Trùng tên",
    ]
    code, _, err = _run(first, GOVSIGN_PIN=PIN)
    assert code == 0, err
    code, _, err = _run(first, GOVSIGN_PIN=PIN)
    assert code == 2
    assert "already holds a key with label 'Trùng tên'" in err


def test_seal_common_name_defaults_to_the_agency() -> None:
    subject = CsrSubject(
        email="vanthu@snv.gov.vn", organization="Sở Nội vụ", seal=True
    )
    assert subject.common_name == "Sở Nội vụ"
