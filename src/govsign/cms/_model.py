"""Types and algorithm tables shared by building and opening envelopes.

Private to govsign.cms; the public names are re-exported by
:mod:`govsign.cms.enveloped`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from govsign.cms._der import der_length
from govsign.keys.base import KeyTransportPadding

__all__ = [
    "ContentEncryption",
    "Recipient",
    "RecipientEntry",
    "describe",
    "frame",
]

# One message for every failure once a recipient entry was chosen, so that
# the error never tells padding, key and tag failures apart.
FAILED = "decryption failed"


class ContentEncryption(enum.Enum):
    """Content-encryption algorithms govsign reads.

    It writes the AES ones; Triple-DES is read only, for old mail.
    """

    AES128_GCM = "aes128-gcm"
    AES192_GCM = "aes192-gcm"
    AES256_GCM = "aes256-gcm"
    AES128_CBC = "aes128-cbc"
    AES192_CBC = "aes192-cbc"
    AES256_CBC = "aes256-cbc"
    DES_EDE3_CBC = "des-ede3-cbc"

    @property
    def authenticated(self) -> bool:
        """True for AEAD ciphers, whose tag protects the content."""
        return self.value.endswith("-gcm")

    @property
    def key_length(self) -> int:
        """Length of the content-encryption key in bytes."""
        if self is ContentEncryption.DES_EDE3_CBC:
            return 24
        return int(self.value[3:6]) // 8


CONTENT_OIDS: dict[str, ContentEncryption] = {
    "2.16.840.1.101.3.4.1.6": ContentEncryption.AES128_GCM,
    "2.16.840.1.101.3.4.1.26": ContentEncryption.AES192_GCM,
    "2.16.840.1.101.3.4.1.46": ContentEncryption.AES256_GCM,
    "2.16.840.1.101.3.4.1.2": ContentEncryption.AES128_CBC,
    "2.16.840.1.101.3.4.1.22": ContentEncryption.AES192_CBC,
    "2.16.840.1.101.3.4.1.42": ContentEncryption.AES256_CBC,
    "1.2.840.113549.3.7": ContentEncryption.DES_EDE3_CBC,
}
CONTENT_NAMES = {v: k for k, v in CONTENT_OIDS.items()}

WRAP_OIDS: dict[str, int] = {
    "2.16.840.1.101.3.4.1.5": 16,
    "2.16.840.1.101.3.4.1.25": 24,
    "2.16.840.1.101.3.4.1.45": 32,
}
WRAP_BY_LENGTH = {v: k for k, v in WRAP_OIDS.items()}
WRAP_NAMES = {16: "aes128-wrap", 24: "aes192-wrap", 32: "aes256-wrap"}

OAEP_HASH_OF: dict[KeyTransportPadding, str] = {
    KeyTransportPadding.OAEP_SHA1: "sha1",
    KeyTransportPadding.OAEP_SHA256: "sha256",
    KeyTransportPadding.OAEP_SHA384: "sha384",
    KeyTransportPadding.OAEP_SHA512: "sha512",
}
OAEP_BY_HASH = {v: k for k, v in OAEP_HASH_OF.items()}
HASH_CLASSES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}

OID_RSA = "1.2.840.113549.1.1.1"
OID_OAEP = "1.2.840.113549.1.1.7"
OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
OID_X25519 = "1.3.101.110"

MIN_RSA_BITS = 2048  # Circular 15/2025/TT-BKHCN (DESIGN.md)


@dataclass(frozen=True)
class Recipient:
    """One addressee of an encrypted message.

    ``key_transport`` applies to RSA certificates only.  ``capabilities``
    lists the content-encryption algorithms the recipient announced
    (SMIMECapabilities, RFC 8551 section 2.5.2), when known; ``None`` means
    nothing is known and the S/MIME 4.0 defaults are assumed.
    """

    certificate: x509.Certificate
    key_transport: KeyTransportPadding = KeyTransportPadding.OAEP_SHA256
    capabilities: tuple[ContentEncryption, ...] | None = None


@dataclass(frozen=True)
class RecipientEntry:
    """What a message says about one of its recipients.

    ``kind`` is ``"key-transport"``, ``"key-agreement"`` or the name of an
    entry type govsign does not use (``"kek"``, ``"password"``,
    ``"other"``); ``identifier`` names the certificate the entry is for.
    """

    kind: str
    key_management: str
    identifier: str
    matches_key: bool

    def to_dict(self) -> dict[str, object]:
        """The entry as JSON-ready data."""
        return {
            "kind": self.kind,
            "key_management": self.key_management,
            "identifier": self.identifier,
            "matches_key": self.matches_key,
        }


def describe(certificate: x509.Certificate) -> str:
    """The certificate's subject, as error messages name it."""
    return certificate.subject.rfc4514_string()


def frame(
    tag: int, chunks: list[bytes | memoryview]
) -> list[bytes | memoryview]:
    """DER framing: the tag and definite length, then ``chunks``."""
    length = sum(len(c) for c in chunks)
    return [bytes([tag]) + der_length(length), *chunks]
