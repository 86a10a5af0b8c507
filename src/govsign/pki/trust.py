"""Trust anchors: exactly the roots the caller gave, and no others.

govsign never falls back to the operating system's or certifi's TLS roots:
an official signature chains to the Government CA or to nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from govsign.errors import ConfigurationError

__all__ = ["TrustStore", "load_certificates", "load_crls"]


def load_certificates(data: bytes, source: str) -> list[x509.Certificate]:
    """Parse PEM (one or many) or a single DER certificate."""
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise ConfigurationError(
            f"{source}: not a PEM or DER certificate"
        ) from exc


def load_crls(
    paths: Iterable[str | Path],
) -> list[x509.CertificateRevocationList]:
    """Load CRL files, PEM or DER."""
    crls = []
    for path in paths:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read CRL {path}: {exc.strerror}"
            ) from exc
        try:
            if b"-----BEGIN" in data:
                crls.append(x509.load_pem_x509_crl(data))
            else:
                crls.append(x509.load_der_x509_crl(data))
        except ValueError as exc:
            raise ConfigurationError(f"{path}: not a CRL") from exc
    return crls


@dataclass(frozen=True)
class TrustStore:
    """A fixed set of trust anchors."""

    roots: tuple[x509.Certificate, ...]

    def __post_init__(self) -> None:
        if not self.roots:
            raise ConfigurationError(
                "the trust store is empty: give the ministry root CA"
            )

    @classmethod
    def from_pem_file(cls, path: str | Path) -> TrustStore:
        """Read every certificate in a PEM (or DER) file as an anchor."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read trust file {path}: {exc.strerror}"
            ) from exc
        return cls(tuple(load_certificates(data, str(path))))

    @classmethod
    def from_files(cls, paths: Iterable[str | Path]) -> TrustStore:
        """Read anchors from several files."""
        roots: list[x509.Certificate] = []
        for path in paths:
            roots.extend(cls.from_pem_file(path).roots)
        return cls(tuple(roots))

    @classmethod
    def of(cls, certificates: Sequence[x509.Certificate]) -> TrustStore:
        """Trust exactly ``certificates``."""
        return cls(tuple(certificates))

    def der_roots(self) -> list[bytes]:
        """The anchors as DER, for the path validator."""
        return [c.public_bytes(serialization.Encoding.DER) for c in self.roots]
