"""Recipients' encryption certificates, from a file or a folder.

The gateway encrypts outbound mail when it knows a certificate for every
recipient.  For now the directory is a PEM file holding many
certificates, or a folder of ``.pem``/``.crt``/``.cer``/``.der`` files;
each certificate is indexed by the e-mail addresses in its
subjectAltName rfc822Name entries and its subject emailAddress.  A
certificate that is expired or lacks a key-encipherment or
key-agreement key usage is skipped with a warning.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from govsign.errors import ConfigurationError
from govsign.pki.trust import load_certificates

__all__ = ["certificate_addresses", "load_directory"]

log = logging.getLogger(__name__)

_SUFFIXES = (".pem", ".crt", ".cer", ".der")


def certificate_addresses(certificate: x509.Certificate) -> list[str]:
    """Return the lower-case e-mail addresses a certificate names."""
    found: list[str] = []
    try:
        san = certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value
        found.extend(san.get_values_for_type(x509.RFC822Name))
    except x509.ExtensionNotFound:
        pass
    for attr in certificate.subject.get_attributes_for_oid(
        NameOID.EMAIL_ADDRESS
    ):
        found.append(str(attr.value))
    return sorted({a.lower() for a in found})


def _usable(certificate: x509.Certificate, now: dt.datetime) -> bool:
    if not (
        certificate.not_valid_before_utc
        <= now
        <= certificate.not_valid_after_utc
    ):
        return False
    try:
        usage = certificate.extensions.get_extension_for_class(
            x509.KeyUsage
        ).value
    except x509.ExtensionNotFound:
        return True
    return bool(usage.key_encipherment or usage.key_agreement)


def load_directory(
    path: str | Path, *, now: dt.datetime | None = None
) -> dict[str, x509.Certificate]:
    """Load the certificate directory at ``path`` (file or folder).

    Returns a map from lower-case address to certificate.  Raises
    :class:`ConfigurationError` when ``path`` cannot be read.
    """
    path = Path(path)
    now = now or dt.datetime.now(dt.UTC)
    if path.is_dir():
        files = sorted(
            p for p in path.iterdir() if p.suffix.lower() in _SUFFIXES
        )
    else:
        files = [path]
    directory: dict[str, x509.Certificate] = {}
    for file in files:
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read certificate {file}: {exc.strerror}"
            ) from exc
        for certificate in load_certificates(data, str(file)):
            subject = certificate.subject.rfc4514_string()
            if not _usable(certificate, now):
                log.warning(
                    "certificate directory: skipping %s in %s (expired or "
                    "not for encryption)",
                    subject,
                    file,
                )
                continue
            for address in certificate_addresses(certificate):
                directory[address] = certificate
    return directory
