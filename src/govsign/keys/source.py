"""Turn a key argument, as a clerk types it, into a signer/decrypter.

Accepted forms:

- ``FILE.p12`` / ``FILE.pfx``: a PKCS#12 file, opened with the password;
- ``KEY.pem`` with ``certificate=CERT.pem``: a PEM key and certificate;
- ``pkcs11:token=...;object=...`` (RFC 7512): a key on a token or HSM,
  opened with the PIN.  The module comes from the URI's ``module-path``,
  else ``pkcs11_module``, else the environment variable
  ``GOVSIGN_PKCS11_MODULE``.  The certificate is found on the token unless
  ``certificate`` names a file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509

from govsign.errors import KeySourceError
from govsign.keys.local import LocalKey, load_pem, load_pkcs12
from govsign.keys.uri import is_pkcs11_uri

if TYPE_CHECKING:
    from govsign.keys.pkcs11 import Pkcs11Key

__all__ = ["SecretSource", "load_certificates", "open_key"]

SecretSource = Callable[[], bytes]
"""Called at most once, only when a password or PIN is needed."""


def open_key(
    spec: str,
    secret: SecretSource,
    *,
    certificate: str | None = None,
    pkcs11_module: str | os.PathLike[str] | None = None,
) -> LocalKey | Pkcs11Key:
    """Open the key ``spec`` names.  See the module docstring for forms.

    Raises :class:`KeySourceError` when the key cannot be opened.
    """
    if is_pkcs11_uri(spec):
        # Imported here so that file keys never load the PKCS#11 binding.
        from govsign.keys.pkcs11 import open_pkcs11

        chain: list[x509.Certificate] = []
        leaf = None
        if certificate is not None:
            leaf, *chain = load_certificates(certificate)
        return open_pkcs11(
            spec,
            secret,
            module=pkcs11_module,
            certificate=leaf,
            chain=chain,
        )
    path = Path(spec)
    suffix = path.suffix.lower()
    if suffix in (".p12", ".pfx"):
        return load_pkcs12(path, secret())
    if suffix in (".pem", ".key"):
        if certificate is None:
            raise KeySourceError(
                f"{spec} is a PEM key: give its certificate as well"
            )
        return load_pem(path, certificate, _pem_password(path, secret))
    raise KeySourceError(
        f"cannot tell what kind of key {spec!r} is: expected a .p12/.pfx "
        "file, a .pem key with its certificate, or a pkcs11: URI"
    )


def load_certificates(path: str | os.PathLike[str]) -> list[x509.Certificate]:
    """Read certificates from a PEM (one or more) or DER file.

    The first is the holder's own; the rest, if any, its CA chain.
    Raises :class:`KeySourceError` for a missing or unreadable file.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeySourceError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise KeySourceError(f"{path} holds no certificate") from exc


def _pem_password(path: Path, secret: SecretSource) -> bytes | None:
    # Only ask for a password when the PEM key is actually encrypted.
    try:
        head = path.read_bytes()[:200]
    except OSError as exc:
        raise KeySourceError(f"cannot read {path}: {exc.strerror}") from exc
    encrypted = b"ENCRYPTED" in head
    return secret() if encrypted else None
