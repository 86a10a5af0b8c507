"""Build a :class:`~govsign.gateway.engine.Gateway` from a configuration.

Loads the trust anchors, CRLs, seal key and certificate directory once,
at start-up, so that a missing file or a wrong password stops the
gateway before it takes mail.  Library calls are serialised by one lock:
the verifier caches validation results and the milter calls it from
several libmilter threads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from cryptography import x509

from govsign.gateway.config import GatewayConfig, SealMode
from govsign.gateway.directory import certificate_addresses, load_directory
from govsign.gateway.engine import Decryptor, Encryptor, Gateway, Sealer
from govsign.keys.base import Decrypter
from govsign.keys.local import load_pkcs12
from govsign.keys.source import open_key
from govsign.pki.trust import TrustStore, load_crls
from govsign.result import VerificationResult
from govsign.smime.encryption import decrypt, encrypt
from govsign.smime.signing import sign_message
from govsign.smime.verifying import Verifier

__all__ = ["build_gateway"]

log = logging.getLogger(__name__)


class _LockedVerifier:
    def __init__(self, verifier: Verifier, lock: threading.Lock) -> None:
        self._verifier = verifier
        self._lock = lock

    def verify(self, message: bytes) -> VerificationResult:
        with self._lock:
            return self._verifier.verify(message)


def _encryptor(lock: threading.Lock) -> Encryptor:
    def encrypt_for(
        message: bytes, recipients: Sequence[x509.Certificate]
    ) -> bytes:
        with lock:
            return encrypt(message, list(recipients))

    return encrypt_for


def _decryptor(lock: threading.Lock, key: Decrypter) -> Decryptor:
    def decrypt_with(message: bytes) -> bytes:
        with lock:
            return decrypt(message, key).message

    return decrypt_with


def build_gateway(config: GatewayConfig) -> Gateway:
    """Load everything ``config`` names and return a ready Gateway.

    Raises :class:`~govsign.errors.ConfigurationError` or
    :class:`~govsign.errors.KeySourceError` for unusable files or keys.
    """
    lock = threading.Lock()
    assert config.trust_file is not None
    trust = TrustStore.from_pem_file(config.trust_file)
    verifier = Verifier(
        trust,
        crls=load_crls(config.crl_files),
        revocation=config.revocation,
    )

    sealer: Sealer | None = None
    seal_address = None
    seal_key = None
    if config.seal_mode is not SealMode.OFF and config.seal_key is not None:
        seal_key = open_key(
            str(config.seal_key),
            config.seal_password,
            pkcs11_module=config.seal_pkcs11_module,
        )
        log.info(
            "agency seal: %s", seal_key.certificate.subject.rfc4514_string()
        )
        addresses = certificate_addresses(seal_key.certificate)
        seal_address = addresses[0] if addresses else None

        def seal(message: bytes) -> bytes:
            with lock:
                return sign_message(message, seal_key)

        sealer = seal

    directory = {}
    encryptor = None
    if config.encrypt and config.certificates is not None:
        encryptor = _encryptor(lock)
        directory = load_directory(config.certificates)
        log.info("certificate directory: %d addresses", len(directory))

    decryptor = None
    if config.decrypt_key is not None:
        # Opened now, so that a wrong password stops start-up.
        agency_key = load_pkcs12(config.decrypt_key, config.decrypt_password())
        decryptor = _decryptor(lock, agency_key)

    gateway = Gateway(
        config,
        _LockedVerifier(verifier, lock),
        sealer=sealer,
        encryptor=encryptor,
        decryptor=decryptor,
        directory=directory,
        seal_address=seal_address,
    )
    close = getattr(seal_key, "close", None) if sealer else None
    if callable(close):
        gateway.closers.append(close)
    return gateway
