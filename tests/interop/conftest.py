"""Shared material for interop tests: one govsign demo PKI, one openssl PKI.

Both are built once per session (RSA key generation is the slow part) in
a temporary directory; tests that need a PKI of their own (revocation,
expiry) issue leaves from these CAs rather than building new ones.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from govsign.keys.local import LocalKey
from govsign.pki.demo import AGENCY_DOMAIN, DemoPKI, build_demo_pki
from tests.openssl_pki import OpensslPKI
from tests.peers import require_tool

DEMO_PASSWORD = b"interop-demo-password"
SENDER = f"an.nv@{AGENCY_DOMAIN}"


@dataclass(frozen=True)
class DemoSigners:
    """The demo PKI and, per key kind, a signer whose address is SENDER."""

    pki: DemoPKI
    by_kind: dict[str, LocalKey]


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoSigners:
    directory = tmp_path_factory.mktemp("demo-pki")
    pki = build_demo_pki(directory, DEMO_PASSWORD)
    now = dt.datetime.now(dt.UTC)
    by_kind = {"rsa2048": pki.clerk}
    for kind in ("p256", "p384", "ed25519"):
        by_kind[kind] = pki.ministry.issue_end_entity(
            f"Nguyễn Văn An ({kind})",
            "Sở Nội vụ tỉnh Demo",
            SENDER,
            key_spec=kind,
            not_before=now - dt.timedelta(days=1),
            not_after=now + dt.timedelta(days=365),
        )
    return DemoSigners(pki, by_kind)


@pytest.fixture(scope="session")
def openssl_bin() -> str:
    return require_tool("openssl", package="openssl")


@pytest.fixture(scope="session")
def ossl_pki(
    tmp_path_factory: pytest.TempPathFactory, openssl_bin: str
) -> Iterator[OpensslPKI]:
    yield OpensslPKI(tmp_path_factory.mktemp("openssl-pki"))


@pytest.fixture(scope="session")
def stranger_pki(
    tmp_path_factory: pytest.TempPathFactory, openssl_bin: str
) -> OpensslPKI:
    """A second openssl PKI that nobody trusts."""
    return OpensslPKI(tmp_path_factory.mktemp("stranger-pki"), "Stranger")


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
