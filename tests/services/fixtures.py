"""pytest fixtures for the loopback services (import into a conftest)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import require_tool
from tests.services.pki import OnlinePKI, online_pki

__all__ = ["pki", "pki_crl_only"]


@pytest.fixture
def pki() -> Iterator[OnlinePKI]:
    """A fresh online PKI (CRL server, OCSP responder, openssl TSA)."""
    require_tool("openssl")
    built = online_pki()
    try:
        yield built
    finally:
        built.stop()


@pytest.fixture
def pki_crl_only() -> Iterator[OnlinePKI]:
    """An online PKI whose certificates name CRLs but no OCSP responder."""
    require_tool("openssl")
    built = online_pki(with_ocsp=False)
    try:
        yield built
    finally:
        built.stop()
