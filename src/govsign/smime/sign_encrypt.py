"""Sign then encrypt, and decrypt then verify, in one call each.

:func:`sign_and_encrypt` signs a message (multipart/signed by default)
and encrypts the signed message, the order RFC 8551 section 3.7
recommends, so the signature stays hidden from everyone but the
recipients.  :func:`decrypt_and_verify` decrypts and verifies what was
inside, returning one :class:`OpenedMessage` that says what was
encrypted, how, and who signed.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509

from govsign.cms.enveloped import (
    ContentEncryption,
    Recipient,
    check_recipient,
)
from govsign.errors import EncryptionError
from govsign.keys.base import (
    Decrypter,
    HashName,
    KeyTransportPadding,
    Signer,
)
from govsign.result import VerificationResult
from govsign.smime.encryption import DecryptionResult, decrypt, encrypt
from govsign.smime.signing import sign_message
from govsign.smime.verifying import Verifier

__all__ = ["OpenedMessage", "decrypt_and_verify", "sign_and_encrypt"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpenedMessage:
    """A decrypted and verified message: one result for both steps.

    ``message`` is the readable decrypted message; ``decryption`` says how
    it was encrypted and ``verification`` who signed it inside (verdict
    ``unsigned`` when nobody did).
    """

    message: bytes = field(repr=False)
    decryption: DecryptionResult
    verification: VerificationResult

    @property
    def trustworthy(self) -> bool:
        """True when the content is both confidential and proven intact.

        That needs a valid signature inside; AES-GCM alone proves only
        that the content was not changed after someone encrypted it, not
        who that was.
        """
        return self.verification.valid

    def to_dict(self) -> dict[str, object]:
        """Both results as JSON-ready data."""
        return {
            "decryption": self.decryption.to_dict(),
            "verification": self.verification.to_dict(),
        }


def sign_and_encrypt(
    message: bytes,
    signer: Signer,
    recipients: Sequence[x509.Certificate | Recipient],
    *,
    include_sender: bool = True,
    opaque: bool = False,
    digest: HashName | None = None,
    pss: bool = False,
    content_encryption: ContentEncryption | None = None,
    key_transport: KeyTransportPadding = KeyTransportPadding.OAEP_SHA256,
) -> bytes:
    """Sign ``message`` with ``signer``, then encrypt it for ``recipients``.

    With ``include_sender`` (the default) the signer's certificate is
    also a recipient, so the sent copy stays readable, when it can receive
    encrypted mail at all (an agency seal often cannot; then it is left
    out and an INFO line says so).  The other options
    are those of :func:`~govsign.smime.signing.sign_message` and
    :func:`~govsign.smime.encryption.encrypt`, which raise
    :class:`~govsign.errors.SigningError` and
    :class:`~govsign.errors.EncryptionError` respectively.
    """
    sender = signer.certificate if include_sender else None
    if sender is not None:
        try:
            check_recipient(sender)
        except EncryptionError as exc:
            # An agency seal is often a signing-only certificate.
            log.info("no copy for the signer: %s", exc)
            sender = None
    signed = sign_message(
        message, signer, opaque=opaque, digest=digest, pss=pss
    )
    return encrypt(
        signed,
        recipients,
        sender=sender,
        content_encryption=content_encryption,
        key_transport=key_transport,
    )


def decrypt_and_verify(
    message: bytes,
    key: Decrypter,
    verifier: Verifier,
    *,
    at: dt.datetime | None = None,
) -> OpenedMessage:
    """Decrypt ``message`` with ``key`` and verify the signatures inside.

    Raises what :func:`~govsign.smime.encryption.decrypt` raises; a bad
    signature inside is reported in ``verification``, not raised.
    """
    decrypted = decrypt(message, key)
    verification = verifier.verify(decrypted.message, at=at)
    return OpenedMessage(
        message=decrypted.message,
        decryption=decrypted.result,
        verification=verification,
    )
