"""Keys held in software: PKCS#12 (.p12/.pfx) files and PEM files."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import (
    ec,
    ed25519,
    padding,
    rsa,
    x25519,
)
from cryptography.hazmat.primitives.serialization import pkcs12

from govsign.errors import DecryptionError, KeySourceError, SigningError
from govsign.keys.base import (
    HashName,
    KeyTransportPadding,
    OaepParameters,
    SignatureAlgorithm,
    SignatureScheme,
)

__all__ = ["LocalKey", "load_pkcs12", "load_pem"]

log = logging.getLogger(__name__)

PrivateKey = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | x25519.X25519PrivateKey
)

_HASHES: dict[HashName, type[hashes.HashAlgorithm]] = {
    HashName.SHA256: hashes.SHA256,
    HashName.SHA384: hashes.SHA384,
    HashName.SHA512: hashes.SHA512,
}

_OAEP_HASHES: dict[KeyTransportPadding, type[hashes.HashAlgorithm]] = {
    KeyTransportPadding.OAEP_SHA1: hashes.SHA1,
    KeyTransportPadding.OAEP_SHA256: hashes.SHA256,
    KeyTransportPadding.OAEP_SHA384: hashes.SHA384,
    KeyTransportPadding.OAEP_SHA512: hashes.SHA512,
}


def hash_for(name: HashName) -> hashes.HashAlgorithm:
    """Return the cryptography hash object for ``name``."""
    return _HASHES[name]()


class LocalKey:
    """A private key in memory with its certificate and CA chain.

    Implements both :class:`~govsign.keys.base.Signer` and
    :class:`~govsign.keys.base.Decrypter`.
    """

    def __init__(
        self,
        private_key: PrivateKey,
        certificate: x509.Certificate,
        chain: Sequence[x509.Certificate] = (),
    ) -> None:
        if not _key_matches(private_key, certificate):
            raise KeySourceError(
                "the private key does not belong to the certificate "
                f"{certificate.subject.rfc4514_string()}"
            )
        self._key = private_key
        self._certificate = certificate
        self._chain = tuple(chain)

    def __repr__(self) -> str:
        # Never print key material; the subject is enough to tell keys apart.
        subject = self._certificate.subject.rfc4514_string()
        return f"<LocalKey {subject}>"

    @property
    def private_key(self) -> PrivateKey:
        """The key object itself, for callers that export it (demo CA)."""
        return self._key

    @property
    def certificate(self) -> x509.Certificate:
        return self._certificate

    @property
    def chain(self) -> Sequence[x509.Certificate]:
        return self._chain

    def supported_algorithms(self) -> Sequence[SignatureAlgorithm]:
        key = self._key
        if isinstance(key, rsa.RSAPrivateKey):
            return [
                SignatureAlgorithm(SignatureScheme.RSA_PKCS1V15, h)
                for h in HashName
            ] + [
                SignatureAlgorithm(SignatureScheme.RSA_PSS, h)
                for h in HashName
            ]
        if isinstance(key, ec.EllipticCurvePrivateKey):
            preferred = (
                HashName.SHA384
                if key.curve.key_size >= 384
                else HashName.SHA256
            )
            others = [h for h in HashName if h is not preferred]
            return [
                SignatureAlgorithm(SignatureScheme.ECDSA, h)
                for h in [preferred, *others]
            ]
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return [
                SignatureAlgorithm(SignatureScheme.ED25519, HashName.SHA512)
            ]
        return []

    def sign(self, data: bytes, algorithm: SignatureAlgorithm) -> bytes:
        key = self._key
        scheme = algorithm.scheme
        if scheme is SignatureScheme.ED25519:
            if not isinstance(key, ed25519.Ed25519PrivateKey):
                raise SigningError("Ed25519 needs an Ed25519 key")
            return key.sign(data)
        digest = hash_for(algorithm.digest)
        if scheme is SignatureScheme.ECDSA:
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise SigningError("ECDSA needs an EC key")
            return key.sign(data, ec.ECDSA(digest))
        if not isinstance(key, rsa.RSAPrivateKey):
            raise SigningError(f"{scheme.value} needs an RSA key")
        if scheme is SignatureScheme.RSA_PSS:
            # RFC 4056 / RFC 8551: MGF1 with the same hash, salt = hash len.
            pad: padding.AsymmetricPadding = padding.PSS(
                mgf=padding.MGF1(digest), salt_length=digest.digest_size
            )
        else:
            pad = padding.PKCS1v15()
        return key.sign(data, pad, digest)

    def decrypt_key_transport(
        self, encrypted_key: bytes, padding_kind: KeyTransportPadding
    ) -> bytes:
        key = self._key
        if not isinstance(key, rsa.RSAPrivateKey):
            raise DecryptionError("decryption failed")
        if padding_kind is KeyTransportPadding.PKCS1V15:
            pad: padding.AsymmetricPadding = padding.PKCS1v15()
        else:
            oaep_hash = _OAEP_HASHES[padding_kind]()
            pad = padding.OAEP(
                mgf=padding.MGF1(oaep_hash), algorithm=oaep_hash, label=None
            )
        try:
            return key.decrypt(encrypted_key, pad)
        except ValueError:
            # One message for every failure: no padding oracle.
            raise DecryptionError("decryption failed") from None

    def decrypt_key_transport_oaep(
        self, encrypted_key: bytes, parameters: OaepParameters
    ) -> bytes:
        key = self._key
        names: dict[str, type[hashes.HashAlgorithm]] = {
            "sha1": hashes.SHA1,
            "sha224": hashes.SHA224,
            "sha256": hashes.SHA256,
            "sha384": hashes.SHA384,
            "sha512": hashes.SHA512,
        }
        if (
            not isinstance(key, rsa.RSAPrivateKey)
            or parameters.hash not in names
            or parameters.mgf1_hash not in names
        ):
            raise DecryptionError("decryption failed")
        pad = padding.OAEP(
            mgf=padding.MGF1(names[parameters.mgf1_hash]()),
            algorithm=names[parameters.hash](),
            label=parameters.label or None,
        )
        try:
            return key.decrypt(encrypted_key, pad)
        except ValueError:
            raise DecryptionError("decryption failed") from None

    def key_agreement(
        self,
        peer_public_key: ec.EllipticCurvePublicKey | x25519.X25519PublicKey,
    ) -> bytes:
        key = self._key
        if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(
            peer_public_key, ec.EllipticCurvePublicKey
        ):
            return key.exchange(ec.ECDH(), peer_public_key)
        if isinstance(key, x25519.X25519PrivateKey) and isinstance(
            peer_public_key, x25519.X25519PublicKey
        ):
            return key.exchange(peer_public_key)
        raise DecryptionError("decryption failed")


def _public_bytes(key: object) -> bytes:
    return key.public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.DER,
        serialization.PublicFormat.SubjectPublicKeyInfo,
    )


def _key_matches(key: PrivateKey, certificate: x509.Certificate) -> bool:
    try:
        return _public_bytes(key.public_key()) == _public_bytes(
            certificate.public_key()
        )
    except (UnsupportedAlgorithm, ValueError):
        return False


def load_pkcs12(path: str | Path, password: bytes | None) -> LocalKey:
    """Load a key, its certificate and CA chain from a PKCS#12 file.

    Raises :class:`KeySourceError` for a missing file, a wrong password or
    a file without a key and matching certificate.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeySourceError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        with warnings.catch_warnings():
            # NSS and Thunderbird export BER, which cryptography reads but
            # warns about; a clerk's .p12 from them is normal, not a fault.
            warnings.filterwarnings(
                "ignore", message="PKCS#12 bundle could not be parsed as DER"
            )
            bundle = pkcs12.load_pkcs12(data, password)
    except (ValueError, UnsupportedAlgorithm) as exc:
        # cryptography says "Invalid password or PKCS12 data"; keep that
        # ambiguity rather than guess which.
        raise KeySourceError(
            f"cannot open {path}: wrong password or not a PKCS#12 file"
        ) from exc
    if bundle.key is None or bundle.cert is None:
        raise KeySourceError(f"{path} holds no private key and certificate")
    key = bundle.key
    if not isinstance(
        key,
        rsa.RSAPrivateKey
        | ec.EllipticCurvePrivateKey
        | ed25519.Ed25519PrivateKey
        | x25519.X25519PrivateKey,
    ):
        raise KeySourceError(f"{path}: unsupported key type")
    chain = [
        c.certificate
        for c in bundle.additional_certs
        if c.certificate != bundle.cert.certificate
    ]
    return LocalKey(key, bundle.cert.certificate, chain)


def load_pem(
    key_path: str | Path,
    cert_path: str | Path,
    password: bytes | None = None,
) -> LocalKey:
    """Load a PEM private key and a PEM certificate file.

    The certificate file may hold the CA chain after the signer's own
    certificate.
    """
    try:
        key_data = Path(key_path).read_bytes()
        cert_data = Path(cert_path).read_bytes()
    except OSError as exc:
        raise KeySourceError(
            f"cannot read {exc.filename}: {exc.strerror}"
        ) from exc
    try:
        key = serialization.load_pem_private_key(key_data, password)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeySourceError(
            f"cannot open {key_path}: wrong password or not a PEM key"
        ) from exc
    try:
        certs = x509.load_pem_x509_certificates(cert_data)
    except ValueError as exc:
        raise KeySourceError(f"{cert_path}: no PEM certificate") from exc
    if not isinstance(
        key,
        rsa.RSAPrivateKey
        | ec.EllipticCurvePrivateKey
        | ed25519.Ed25519PrivateKey
        | x25519.X25519PrivateKey,
    ):
        raise KeySourceError(f"{key_path}: unsupported key type")
    leaf = next((c for c in certs if _key_matches(key, c)), None)
    if leaf is None:
        raise KeySourceError(
            f"no certificate in {cert_path} matches the key in {key_path}"
        )
    return LocalKey(key, leaf, [c for c in certs if c is not leaf])
