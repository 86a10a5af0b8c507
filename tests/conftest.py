"""Shared fixtures: a demo PKI with recipients of every key type.

Also :func:`require_tool`, so that tests needing a real peer fail in CI
(``CI=true``) rather than skip silently when the peer is missing.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from govsign.keys import LocalKey
from govsign.pki.demo import DemoPKI, build_demo_pki, write_pkcs12

PASSWORD = b"demo-password"


def require_tool(name: str) -> str:
    """Return the path of ``name``; skip (or fail under CI) without it."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (see scripts/setup-system.sh)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@dataclass(frozen=True)
class EncryptionPKI:
    """Recipients of each key type, with their keys as files."""

    demo: DemoPKI
    keys: dict[str, LocalKey]
    directory: Path

    def cert_file(self, name: str) -> Path:
        return self.directory / f"{name}.crt"

    def key_file(self, name: str) -> Path:
        return self.directory / f"{name}.key"

    def p12_file(self, name: str) -> Path:
        return self.directory / f"{name}.p12"


@pytest.fixture(scope="session")
def enc_pki(tmp_path_factory: pytest.TempPathFactory) -> EncryptionPKI:
    directory = tmp_path_factory.mktemp("enc-pki")
    demo = build_demo_pki(directory / "demo", PASSWORD)
    now = dt.datetime.now(dt.UTC)

    def issue(name: str, email: str, spec: str, **extra: bool) -> LocalKey:
        return demo.ministry.issue_end_entity(
            name,
            "Sở Tài chính tỉnh Demo",
            email,
            key_spec=spec,
            not_before=now - dt.timedelta(days=1),
            not_after=now + dt.timedelta(days=365),
            **extra,
        )

    keys = {
        "rsa": demo.recipient,
        "p256": demo.recipient_ec,
        "clerk": demo.clerk,
        "p384": issue("Phạm Thị Dung", "dung.pt@stc.demo.gov.vn", "p384"),
        "x25519": issue("Hoàng Văn Em", "em.hv@stc.demo.gov.vn", "x25519"),
        "signing-only": issue(
            "Võ Thị Giang", "giang.vt@stc.demo.gov.vn", "p256", encipher=False
        ),
    }
    for name, key in keys.items():
        (directory / f"{name}.crt").write_bytes(
            key.certificate.public_bytes(serialization.Encoding.PEM)
        )
        (directory / f"{name}.key").write_bytes(
            key.private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        if name != "x25519":  # cryptography cannot put X25519 in PKCS#12
            write_pkcs12(directory / f"{name}.p12", key, PASSWORD, name)
    return EncryptionPKI(demo=demo, keys=keys, directory=directory)
