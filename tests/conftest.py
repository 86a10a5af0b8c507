"""Fixtures shared by the whole suite."""

from __future__ import annotations

import datetime as dt
import email.utils
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from govsign.keys import LocalKey
from govsign.pki.demo import DemoPKI, build_demo_pki, write_pkcs12
from govsign.pki.trust import TrustStore
from govsign.smime.verifying import Verifier
from tests.softhsm import token_world

__all__ = ["token_world"]

REPO = Path(__file__).resolve().parents[1]
# GOVSIGN_SHARED points elsewhere when the checkout is not beside shared/
# (a git worktree, for instance).
SHARED = Path(os.environ.get("GOVSIGN_SHARED", REPO.parent / "shared"))
CORPORA = SHARED / "corpora"
DEMO_PASSWORD = b"demo-password"

# Loopback CRL/OCSP/TSA services as fixtures (pki, pki_crl_only).
pytest_plugins = ["tests.services.fixtures"]


def require_tool(name: str) -> str:
    """Return the path of a peer tool; fail in CI, skip elsewhere."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed (run scripts/setup-system.sh)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def require_corpus(name: str) -> Path:
    """Return a corpus directory; fail in CI when it is missing."""
    path = CORPORA / name
    if path.is_dir():
        return path
    message = f"corpus {path} is missing"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def demo_pki(tmp_path_factory: pytest.TempPathFactory) -> DemoPKI:
    """One demo hierarchy for the session (RSA key generation is slow)."""
    return build_demo_pki(tmp_path_factory.mktemp("pki"), DEMO_PASSWORD)


@pytest.fixture(scope="session")
def demo_trust(demo_pki: DemoPKI) -> TrustStore:
    return TrustStore.from_pem_file(demo_pki.trust_file)


@pytest.fixture(scope="session")
def demo_verifier(demo_pki: DemoPKI, demo_trust: TrustStore) -> Verifier:
    return Verifier(demo_trust, crls=demo_pki.crls)


def make_message(
    body: str = "Kính gửi Sở Tài chính,\nĐây là công văn.\n",
    *,
    sender: str = "an.nv@snv.demo.gov.vn",
    subject: str = "Công văn số 15/SNV-VP",
    date: dt.datetime | None = None,
    extra_headers: str = "",
) -> bytes:
    """A small plain-text message from the demo clerk."""
    when = date or dt.datetime.now(dt.UTC)
    head = (
        f"From: {sender}\n"
        "To: binh.tt@stc.demo.gov.vn\n"
        f"Subject: {subject}\n"
        f"Date: {email.utils.format_datetime(when)}\n"
        "Message-ID: <test@snv.demo.gov.vn>\n"
        f"{extra_headers}"
    )
    return (head + "\n" + body).encode("utf-8")


# ---------------------------------------------------------------------------
# Encryption (issue 3): recipients of every key type, with their keys as
# files for the peer tools.


@dataclass(frozen=True)
class EncryptionPKI:
    """Recipients of each key type beside the demo hierarchy."""

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
def enc_pki(
    demo_pki: DemoPKI, tmp_path_factory: pytest.TempPathFactory
) -> EncryptionPKI:
    directory = tmp_path_factory.mktemp("enc-pki")
    now = dt.datetime.now(dt.UTC)

    def issue(name: str, email: str, spec: str, **extra: bool) -> LocalKey:
        return demo_pki.ministry.issue_end_entity(
            name,
            "Sở Tài chính tỉnh Demo",
            email,
            key_spec=spec,
            not_before=now - dt.timedelta(days=1),
            not_after=now + dt.timedelta(days=365),
            **extra,
        )

    keys = {
        "rsa": demo_pki.recipient,
        "p256": demo_pki.recipient_ec,
        "clerk": demo_pki.clerk,
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
            write_pkcs12(directory / f"{name}.p12", key, DEMO_PASSWORD, name)
    return EncryptionPKI(demo=demo_pki, keys=keys, directory=directory)
