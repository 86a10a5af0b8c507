"""The interface every key source offers to the rest of govsign.

A key may sit in a .p12 file, a PEM file or on a PKCS#11 token; the CMS
layer only sees :class:`Signer` and :class:`Decrypter`.  Signing takes the
bytes to be signed (the DER of the signed attributes) and returns the
signature value exactly as CMS stores it.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, x25519

__all__ = [
    "SignatureScheme",
    "HashName",
    "SignatureAlgorithm",
    "KeyTransportPadding",
    "Signer",
    "Decrypter",
    "OaepParameters",
    "OaepDecrypter",
]


class SignatureScheme(enum.Enum):
    """How the signature value is computed."""

    RSA_PKCS1V15 = "rsa-pkcs1v15"
    RSA_PSS = "rsa-pss"
    ECDSA = "ecdsa"
    ED25519 = "ed25519"


class HashName(enum.Enum):
    """Digest algorithms govsign produces.  SHA-1 and MD5 are absent."""

    SHA256 = "sha256"
    SHA384 = "sha384"
    SHA512 = "sha512"


@dataclass(frozen=True)
class SignatureAlgorithm:
    """A signature scheme together with its digest.

    For RSA-PSS the MGF1 hash is the same digest and the salt length equals
    the digest length (RFC 4056 section 3, RFC 8551 recommendation).
    Ed25519 always hashes with SHA-512 internally; ``digest`` is then the
    digest used for the CMS messageDigest attribute (RFC 8419: SHA-512).
    """

    scheme: SignatureScheme
    digest: HashName


class KeyTransportPadding(enum.Enum):
    """RSA key-transport padding used for encrypted content keys."""

    OAEP_SHA256 = "rsaes-oaep-sha256"
    OAEP_SHA384 = "rsaes-oaep-sha384"
    OAEP_SHA512 = "rsaes-oaep-sha512"
    OAEP_SHA1 = "rsaes-oaep-sha1"
    PKCS1V15 = "rsaes-pkcs1v15"


@runtime_checkable
class Signer(Protocol):
    """A private key that can sign, with its certificate and chain."""

    @property
    def certificate(self) -> x509.Certificate:
        """The signer's own certificate."""

    @property
    def chain(self) -> Sequence[x509.Certificate]:
        """Intermediate CA certificates to include (leaf excluded)."""

    def supported_algorithms(self) -> Sequence[SignatureAlgorithm]:
        """Algorithms this key can sign with, preferred first."""

    def sign(self, data: bytes, algorithm: SignatureAlgorithm) -> bytes:
        """Sign ``data`` (hashing it first) and return the signature value.

        ECDSA values are DER ``Ecdsa-Sig-Value``, as CMS stores them.
        Raises :class:`govsign.errors.SigningError` when the key cannot use
        ``algorithm``.
        """


@runtime_checkable
class Decrypter(Protocol):
    """A private key that can unwrap content-encryption keys."""

    @property
    def certificate(self) -> x509.Certificate:
        """The certificate whose public key matches this private key."""

    def decrypt_key_transport(
        self, encrypted_key: bytes, padding_kind: KeyTransportPadding
    ) -> bytes:
        """RSA-decrypt a wrapped key.  Raises DecryptionError on failure."""

    def key_agreement(
        self,
        peer_public_key: ec.EllipticCurvePublicKey | x25519.X25519PublicKey,
    ) -> bytes:
        """Return the raw (EC)DH shared secret with ``peer_public_key``."""


@dataclass(frozen=True)
class OaepParameters:
    """RSAES-OAEP parameters in full (RFC 4055 section 4.1).

    Needed only for senders that use a MGF1 hash unlike the OAEP hash or
    a non-empty label; :class:`KeyTransportPadding` covers the rest.
    Hash names are ``"sha1"``, ``"sha224"``, ``"sha256"``, ``"sha384"``,
    ``"sha512"``.
    """

    hash: str
    mgf1_hash: str
    label: bytes = b""


@runtime_checkable
class OaepDecrypter(Protocol):
    """Optional: a Decrypter that accepts any RSAES-OAEP parameters."""

    def decrypt_key_transport_oaep(
        self, encrypted_key: bytes, parameters: OaepParameters
    ) -> bytes:
        """RSA-OAEP-decrypt a wrapped key.  Raises DecryptionError."""
