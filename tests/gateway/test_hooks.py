"""Client hooks (govsign filter, govsign sendmail) and govsign milter."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from govsign_cli.main import cli

from govsign.errors import PolicyError
from govsign.gateway._library import build_gateway
from govsign.gateway.config import GatewayConfig
from govsign.gateway.filter import (
    EX_NOPERM,
    EX_OK,
    QUARANTINE_HEADER,
    filter_message,
    read_spool,
)
from govsign.gateway.policy import Envelope
from govsign.gateway.sendmail import (
    load_sendmail_config,
    parse_sendmail_args,
)
from govsign.pki.trust import TrustStore, load_crls
from govsign.smime.verifying import Verifier
from tests.gateway.conftest import (
    AGENCY,
    PASSWORD,
    PEER,
    Material,
    plain_message,
    signed_by,
)


def _verifier(material: Material) -> Verifier:
    return Verifier(
        TrustStore.from_pem_file(material.pki.trust_file),
        crls=load_crls(material.pki.crl_files),
    )


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    # `govsign milter` configures logging for its process; in-process
    # CLI runs must not leave that behind for other tests.
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    names = ("govsign", "govsign.gateway")
    levels = {n: logging.getLogger(n).level for n in names}
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


# -- reading a message from a pipe ----------------------------------------


def test_read_spool_handles_lf_folding_and_chunks() -> None:
    raw = b"From: a@b.vn\nSubject: one\n two\nX-Empty:\n\nline1\nline2\n"
    spool = read_spool(io.BytesIO(raw), 1024)
    assert spool.headers == [
        ("From", "a@b.vn"),
        ("Subject", "one\n two"),
        ("X-Empty", ""),
    ]
    assert b"".join(spool.iter_body()) == b"line1\r\nline2\r\n"


def test_read_spool_of_headers_only() -> None:
    spool = read_spool(io.BytesIO(b"From: a@b.vn\r\nSubject: x"), 1024)
    assert [n for n, _ in spool.headers] == ["From", "Subject"]
    assert spool.body_size == 0


def test_read_spool_keeps_crlf_across_chunk_edges() -> None:
    body = b"x" * (256 * 1024 - 1) + b"\r\nend\r\n"
    spool = read_spool(io.BytesIO(b"From: a@b.vn\r\n\r\n" + body), 1024)
    assert b"".join(spool.iter_body()) == body


# -- govsign filter -----------------------------------------------------


def test_filter_stamps_inbound(
    config: GatewayConfig, material: Material
) -> None:
    out = io.BytesIO()
    result = filter_message(
        build_gateway(config),
        io.BytesIO(signed_by(material.pki.recipient)),
        out,
        Envelope("", f"binh.tt@{PEER}", (f"an.nv@{AGENCY}",)),
    )
    assert result.status == EX_OK
    text = out.getvalue()
    assert text.startswith(f"Authentication-Results: mx.{AGENCY};".encode())
    assert b"smime=pass" in text
    assert _verifier(material).verify(text).valid


def test_filter_marks_what_policy_would_quarantine(
    config: GatewayConfig,
) -> None:
    import dataclasses

    from govsign.gateway.config import Action

    held = dataclasses.replace(
        config, inbound_domains={"gov.vn": Action.QUARANTINE}
    )
    out = io.BytesIO()
    result = filter_message(
        build_gateway(held),
        io.BytesIO(plain_message()),
        out,
        Envelope("", None, ()),
    )
    assert result.status == EX_OK
    assert f"\r\n{QUARANTINE_HEADER}: ".encode() in out.getvalue()


def test_filter_cli_seals_outbound(material: Material, tmp_path: Path) -> None:
    message = plain_message(sender=f"an.nv@{AGENCY}", to=f"binh.tt@{PEER}")
    result = CliRunner().invoke(
        cli,
        ["filter", "--config", str(material.config_path), "--outbound"],
        input=message,
    )
    assert result.exit_code == 0, result.output
    sealed = result.stdout_bytes
    assert b"multipart/signed" in sealed
    assert _verifier(material).verify(sealed).valid


def test_filter_cli_refuses_classified_with_77(material: Material) -> None:
    message = plain_message(sender=f"an.nv@{AGENCY}", subject="TỐI MẬT")
    result = CliRunner().invoke(
        cli,
        ["filter", "--config", str(material.config_path), "--outbound"],
        input=message,
    )
    assert result.exit_code == EX_NOPERM
    assert result.stdout_bytes == b""
    assert "TOI MAT" in result.stderr


def test_filter_subprocess_inbound(material: Material) -> None:
    # A real pipe, as procmail or Exim would run it.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "govsign_cli",
            "filter",
            "--config",
            str(material.config_path),
        ],
        input=plain_message().replace(b"\r\n", b"\n"),
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(b"Authentication-Results: ")
    assert b"X-Govsign-Warning: " in done.stdout


# -- govsign milter --check ------------------------------------------------


def test_milter_check_loads_everything(material: Material) -> None:
    result = CliRunner().invoke(
        cli, ["milter", "--config", str(material.config_path), "--check"]
    )
    assert result.exit_code == 0, result.output
    assert "configuration OK" in result.output


def test_milter_refuses_public_listen(material: Material) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "milter",
            "--config",
            str(material.config_path),
            "--listen",
            "inet:8891@0.0.0.0",
            "--check",
        ],
    )
    assert result.exit_code == 2
    assert "loopback" in result.output


def test_milter_wrong_seal_password_stops_start(
    material: Material, tmp_path: Path
) -> None:
    text = material.config_path.read_text(encoding="utf-8")
    (tmp_path / "seal.pass").write_text("wrong\n", encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["milter", "--config", str(bad), "--check"]
    )
    assert result.exit_code == 2
    assert "wrong password" in result.output


# -- govsign sendmail ------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "recipients", "from_headers", "sender"),
    [
        (["-t", "-i"], (), True, None),
        (["-oi", "-f", "an@x.vn", "b@y.vn"], ("b@y.vn",), False, "an@x.vn"),
        (["-fan@x.vn", "--", "-odd@y.vn"], ("-odd@y.vn",), False, "an@x.vn"),
        (
            ["-F", "An Nguyen", "b@y.vn", "c@y.vn"],
            ("b@y.vn", "c@y.vn"),
            False,
            None,
        ),
    ],
)
def test_sendmail_arguments(
    args: list[str],
    recipients: tuple[str, ...],
    from_headers: bool,
    sender: str | None,
) -> None:
    request = parse_sendmail_args(args)
    assert request.args == tuple(args)
    assert request.recipients == recipients
    assert request.from_headers is from_headers
    assert request.sender == sender


def test_sendmail_refuses_other_modes() -> None:
    with pytest.raises(PolicyError, match="-bs"):
        parse_sendmail_args(["-bs"])


def _fake_sendmail(tmp_path: Path) -> Path:
    # Stands in for /usr/sbin/sendmail: records its arguments and input.
    script = tmp_path / "fake-sendmail"
    script.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$@" > "{tmp_path}/args"\n'
        f'cat > "{tmp_path}/message"\n'
        "exit 0\n",
        encoding="utf-8",
    )
    script.chmod(0o755)
    return script


def _sendmail_config(material: Material, tmp_path: Path) -> Path:
    (tmp_path / "clerk.pass").write_bytes(PASSWORD + b"\n")
    config = tmp_path / "sendmail.toml"
    config.write_text(
        "[sendmail]\n"
        f'key = "{material.pki.p12_files["clerk"]}"\n'
        'password-file = "clerk.pass"\n'
        f'program = "{_fake_sendmail(tmp_path)}"\n',
        encoding="utf-8",
    )
    return config


def test_sendmail_signs_and_hands_over(
    material: Material, tmp_path: Path
) -> None:
    config = _sendmail_config(material, tmp_path)
    message = plain_message(sender=f"an.nv@{AGENCY}", to=f"binh.tt@{PEER}")
    done = subprocess.run(
        [sys.executable, "-m", "govsign_cli", "sendmail", "-t", "-i"],
        input=message.replace(b"\r\n", b"\n"),
        capture_output=True,
        check=False,
        timeout=120,
        env={**os.environ, "GOVSIGN_SENDMAIL_CONFIG": str(config)},
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "args").read_text().split() == ["-t", "-i"]
    handed = (tmp_path / "message").read_bytes()
    assert b"\r\n" not in handed  # local submission uses LF
    result = _verifier(material).verify(handed.replace(b"\n", b"\r\n"))
    assert result.valid, result.problems
    assert result.signers[0].email == (f"an.nv@{AGENCY}",)


def test_sendmail_refuses_classified(
    material: Material, tmp_path: Path
) -> None:
    config = _sendmail_config(material, tmp_path)
    message = plain_message(sender=f"an.nv@{AGENCY}", subject="Mật")
    done = subprocess.run(
        [sys.executable, "-m", "govsign_cli", "sendmail", "b@y.vn"],
        input=message,
        capture_output=True,
        check=False,
        timeout=120,
        env={**os.environ, "GOVSIGN_SENDMAIL_CONFIG": str(config)},
    )
    assert done.returncode == EX_NOPERM
    assert b"MAT" in done.stderr
    assert not (tmp_path / "message").exists()


def test_sendmail_config_errors(tmp_path: Path) -> None:
    from govsign.errors import ConfigurationError

    path = tmp_path / "s.toml"
    path.write_text("[sendmail]\nprogram = '/bin/true'\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="key is required"):
        load_sendmail_config(path)
    path.write_text("[sendmail]\nkey = 'k.p12'\nfoo = 1\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="sendmail.foo"):
        load_sendmail_config(path)
    config = load_sendmail_config(
        _write(tmp_path, "[sendmail]\nkey = 'k.p12'\n")
    )
    assert config.key == tmp_path / "k.p12"
    with pytest.raises(ConfigurationError, match="password"):
        config.password()


def _write(folder: Path, text: str) -> Path:
    path = folder / "ok.toml"
    path.write_text(text, encoding="utf-8")
    return path
