"""Build and open CMS EnvelopedData and AuthEnvelopedData.

:func:`build_envelope` encrypts content for certificates: AES-GCM in
AuthEnvelopedData (RFC 5083, RFC 5084) by default, AES-CBC in
EnvelopedData (RFC 5652) on request.  Each RSA recipient gets its content
key by RSA-OAEP (RFC 3560, SHA-256 by default) or, on request, PKCS#1
v1.5; each EC recipient by ephemeral-static ECDH with the X9.63 KDF and
AES key wrap (RFC 5753), and each X25519 recipient by ECDH with HKDF
(RFC 8418).

:func:`open_envelope` decrypts with a :class:`~govsign.keys.Decrypter`,
choosing the recipient entry that names the key's certificate.  Every
failure after the entry has been chosen (wrong key, bad padding, failed
GCM tag) raises the same :class:`~govsign.errors.DecryptionError`; with
RSA PKCS#1 v1.5 a key-transport failure is not even reported there but
replaced by a random content key (RFC 3218 section 2.3.2), so it shows up
only as the same generic failure of the content decryption.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from asn1crypto import cms, core
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from govsign.cms._asn1 import GCMParameters
from govsign.cms._build import check_recipient, recipient_info
from govsign.cms._model import (
    CONTENT_NAMES,
    ContentEncryption,
    Recipient,
    RecipientEntry,
    describe,
    frame,
)
from govsign.cms._open import (
    decrypt_content,
    parse,
    unwrap_key_agreement,
    unwrap_key_transport,
)
from govsign.errors import (
    DecryptionError,
    EncryptionError,
    MalformedMessageError,
)
from govsign.keys.base import Decrypter

__all__ = [
    "ContentEncryption",
    "Recipient",
    "RecipientEntry",
    "OpenedEnvelope",
    "build_envelope",
    "check_recipient",
    "open_envelope",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpenedEnvelope:
    """The content of a decrypted envelope and how it was protected."""

    content: bytes = field(repr=False)
    content_type: str
    structure: str  # "AuthEnvelopedData" or "EnvelopedData"
    content_encryption: ContentEncryption
    key_management: str
    recipients: tuple[RecipientEntry, ...]

    @property
    def integrity_protected(self) -> bool:
        """True when a tag protects the content (AES-GCM); CBC has none."""
        return self.content_encryption.authenticated


def build_envelope(
    content: bytes,
    recipients: Sequence[Recipient],
    *,
    content_encryption: ContentEncryption = ContentEncryption.AES256_GCM,
    content_type: str = "data",
    user_keying_material: bool = False,
) -> bytes:
    """Encrypt ``content`` for ``recipients`` and return a DER ContentInfo.

    AES-GCM gives AuthEnvelopedData, AES-CBC EnvelopedData.  With
    ``user_keying_material`` each key-agreement entry carries 16 random
    bytes of UKM (RFC 5753 section 3.1.1; ephemeral keys make it
    optional, and openssl writes none).  Raises
    :class:`EncryptionError` for an empty recipient list, a certificate
    that cannot receive encrypted mail (key type, key usage, RSA below 2048
    bits) or a read-only algorithm such as Triple-DES.
    """
    if not recipients:
        raise EncryptionError("no recipients: give at least one certificate")
    if content_encryption is ContentEncryption.DES_EDE3_CBC:
        raise EncryptionError(
            "Triple-DES is only read, never written: choose an AES cipher"
        )

    # RFC 5652 section 6.3: a fresh random content-encryption key.
    cek = os.urandom(content_encryption.key_length)
    infos = [
        recipient_info(
            r, cek, os.urandom(16) if user_keying_material else None
        )
        for r in recipients
    ]
    all_v0 = all(i.name == "ktri" for i in infos)

    algorithm_oid = CONTENT_NAMES[content_encryption]
    if content_encryption.authenticated:
        # RFC 5084 section 3.2: 12-byte nonce; govsign writes 16-byte tags.
        nonce = os.urandom(12)
        sealed = AESGCM(cek).encrypt(nonce, content, None)
        ciphertext: bytes | memoryview = memoryview(sealed)[:-16]
        tag = sealed[-16:]
        parameters = GCMParameters({"aes_nonce": nonce, "aes_icvlen": 16})
        # RFC 5083 section 2.1: version is always 0.
        version, trailer = 0, b"".join(frame(0x04, [tag]))
        outer_oid = "1.2.840.113549.1.9.16.1.23"
    else:
        iv = os.urandom(16)
        padder = padding.PKCS7(128).padder()
        padded = padder.update(content) + padder.finalize()
        encryptor = Cipher(algorithms.AES(cek), modes.CBC(iv)).encryptor()
        ciphertext = encryptor.update(padded) + encryptor.finalize()
        parameters = core.OctetString(iv)
        # RFC 5652 section 6.1: 0 only when every entry is ktri v0.
        version, trailer = (0 if all_v0 else 2), b""
        outer_oid = "1.2.840.113549.1.7.3"

    # The small parts come from asn1crypto; the outer layers are framed
    # here as a list of chunks joined once, so the (possibly large)
    # ciphertext is copied once rather than once per nesting level.
    head = cms.EncryptedContentInfo(
        {
            "content_type": content_type,
            "content_encryption_algorithm": {
                "algorithm": algorithm_oid,
                "parameters": parameters,
            },
        }
    ).contents
    content_info = frame(0x30, [head, *frame(0x80, [ciphertext])])
    body = frame(
        0x30,
        [
            core.Integer(version).dump(),
            # DER: the SET OF in ascending order of the encodings.
            *frame(0x31, sorted(info.dump() for info in infos)),
            *content_info,
            trailer,
        ],
    )
    log.debug(
        "built %s with %s for %d recipient(s)",
        "AuthEnvelopedData"
        if content_encryption.authenticated
        else "EnvelopedData",
        content_encryption.value,
        len(recipients),
    )
    outer = core.ObjectIdentifier(outer_oid).dump()
    return b"".join(frame(0x30, [outer, *frame(0xA0, body)]))


def open_envelope(data: bytes, decrypter: Decrypter) -> OpenedEnvelope:
    """Decrypt a DER or BER ContentInfo holding (Auth)EnvelopedData.

    Raises :class:`MalformedMessageError` for input that is not a complete,
    well-formed envelope or uses an algorithm govsign does not read, and
    :class:`DecryptionError` when no recipient entry names the key's
    certificate or when decryption fails (one message for every cause).
    """
    parsed = parse(data, decrypter.certificate)
    mine = [e for e in parsed.entries if e.summary.matches_key]
    chosen = next((e for e in mine if e.supported), None)
    if chosen is None and mine:
        raise MalformedMessageError(
            "the recipient entry for "
            f"{describe(decrypter.certificate)} uses "
            f"{mine[0].summary.key_management}",
            part="cms",
        )
    if chosen is None:
        raise DecryptionError(
            "this message is not encrypted for "
            f"{describe(decrypter.certificate)}: none of its "
            f"{len(parsed.entries)} recipient entries names that certificate"
        )
    log.debug(
        "decrypting %s (%s) with the %s entry for %s",
        parsed.structure,
        parsed.algorithm.value,
        chosen.summary.key_management,
        chosen.summary.identifier,
    )

    key_length = parsed.algorithm.key_length
    if chosen.kind == "ktri":
        cek = unwrap_key_transport(chosen, decrypter, key_length)
    else:
        cek = unwrap_key_agreement(chosen, decrypter, key_length)
    content = decrypt_content(parsed, cek)
    return OpenedEnvelope(
        content=content,
        content_type=parsed.content_type,
        structure=parsed.structure,
        content_encryption=parsed.algorithm,
        key_management=chosen.summary.key_management,
        recipients=tuple(e.summary for e in parsed.entries),
    )
