"""Fixtures shared by the whole suite."""

from __future__ import annotations

import datetime as dt
import email.utils
import os
import shutil
from pathlib import Path

import pytest

from govsign.pki.demo import DemoPKI, build_demo_pki
from govsign.pki.trust import TrustStore
from govsign.smime.verifying import Verifier
from tests.softhsm import token_world

__all__ = ["token_world"]

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPORA = SHARED / "corpora"
DEMO_PASSWORD = b"demo-password"


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
