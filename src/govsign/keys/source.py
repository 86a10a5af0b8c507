"""Turn a key argument, as a clerk types it, into a signer/decrypter.

Accepted forms:

- ``FILE.p12`` / ``FILE.pfx``: a PKCS#12 file, opened with the password;
- ``KEY.pem`` with ``certificate=CERT.pem``: a PEM key and certificate.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from govsign.errors import KeySourceError
from govsign.keys.local import LocalKey, load_pem, load_pkcs12

__all__ = ["SecretSource", "open_key"]

SecretSource = Callable[[], bytes]
"""Called at most once, only when a password or PIN is needed."""


def open_key(
    spec: str,
    secret: SecretSource,
    *,
    certificate: str | None = None,
) -> LocalKey:
    """Open the key ``spec`` names.  See the module docstring for forms.

    Raises :class:`KeySourceError` when the key cannot be opened.
    """
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
        "file or a .pem key with its certificate"
    )


def _pem_password(path: Path, secret: SecretSource) -> bytes | None:
    # Only ask for a password when the PEM key is actually encrypted.
    try:
        head = path.read_bytes()[:200]
    except OSError as exc:
        raise KeySourceError(f"cannot read {path}: {exc.strerror}") from exc
    encrypted = b"ENCRYPTED" in head
    return secret() if encrypted else None
