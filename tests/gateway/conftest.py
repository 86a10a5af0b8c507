"""Shared material for gateway tests: a demo PKI, messages, a config."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from govsign.gateway.config import GatewayConfig, load_config
from govsign.keys.local import LocalKey
from govsign.pki.demo import DemoPKI, build_demo_pki, write_pkcs12
from govsign.smime.signing import sign_message

PASSWORD = b"demo-password"
AGENCY = "snv.demo.gov.vn"
PEER = "stc.demo.gov.vn"


@dataclass(frozen=True)
class Material:
    """The demo PKI plus a revoked signer and a config file."""

    pki: DemoPKI
    revoked: LocalKey
    directory: Path
    config_path: Path


def plain_message(
    sender: str = f"binh.tt@{PEER}",
    to: str = f"an.nv@{AGENCY}",
    subject: str = "Cong van so 12/STC",
    body: str = "Kinh gui Quy co quan,\r\nNoi dung cong van.\r\n",
    extra: str = "",
    message_id: str = "<test-1@demo.gov.vn>",
) -> bytes:
    """A small text message with CRLF line endings."""
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Date: {dt.datetime.now(dt.UTC):%a, %d %b %Y %H:%M:%S +0000}\r\n"
        f"Message-ID: {message_id}\r\n{extra}"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body
    ).encode("utf-8")


def signed_by(key: LocalKey, **kwargs: str) -> bytes:
    """A plain message from ``key``'s address, signed by ``key``."""
    from govsign.gateway.directory import certificate_addresses

    address = certificate_addresses(key.certificate)[0]
    return sign_message(plain_message(sender=address, **kwargs), key)


def write_config(
    material_dir: Path,
    pki: DemoPKI,
    *,
    listen: str = "inet:18891@127.0.0.1",
    extra: str = "",
    inbound: str = '"gov.vn" = "tag"',
    seal_mode: str = "unsigned",
    name: str = "govsign-gateway.toml",
) -> Path:
    """Write a gateway TOML config for the demo PKI; return its path."""
    (material_dir / "seal.pass").write_bytes(PASSWORD + b"\n")
    crls = ", ".join(f'"{p}"' for p in pki.crl_files)
    text = f"""
[gateway]
authserv-id = "mx.{AGENCY}"
listen = "{listen}"
agency-domains = ["{AGENCY}"]

[trust]
anchors = "{pki.trust_file}"
crls = [{crls}]

[inbound]
default-action = "accept"
{extra}
[inbound.domains]
{inbound}

[outbound]
seal-key = "{pki.p12_files["seal"]}"
seal-password-file = "seal.pass"
seal-mode = "{seal_mode}"
certificates = "{material_dir / "recipients"}"
"""
    path = material_dir / name
    path.write_text(text, encoding="utf-8")
    return path


def _build(directory: Path) -> Material:
    now = dt.datetime.now(dt.UTC)
    pki = build_demo_pki(directory, PASSWORD, now=now)
    start = now - dt.timedelta(days=1)
    revoked = pki.ministry.issue_end_entity(
        "Phạm Văn Đã Nghỉ",
        "Sở Tài chính tỉnh Demo",
        f"nghi.pv@{PEER}",
        not_before=start,
        not_after=now + dt.timedelta(days=30),
    )
    pki.ministry.revoke(revoked.certificate.serial_number, start)
    crl = pki.ministry.issue_crl(
        this_update=start + dt.timedelta(minutes=1),
        next_update=now + dt.timedelta(days=7),
        number=2,
    )
    (directory / "ministry.crl").write_bytes(
        crl.public_bytes(serialization.Encoding.DER)
    )
    write_pkcs12(directory / "revoked.p12", revoked, PASSWORD, "revoked")
    recipients = directory / "recipients"
    recipients.mkdir()
    for name in ("recipient", "recipient-ec"):
        (recipients / f"{name}.pem").write_bytes(
            (directory / f"{name}.pem").read_bytes()
        )
    return Material(pki, revoked, directory, write_config(directory, pki))


@pytest.fixture(scope="session")
def material(tmp_path_factory: pytest.TempPathFactory) -> Material:
    """One demo PKI for the whole session (RSA key generation is slow)."""
    return _build(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def config(material: Material) -> GatewayConfig:
    """The gateway config for the demo PKI."""
    return load_config(material.config_path)
