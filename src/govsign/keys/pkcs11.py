"""Keys on PKCS#11 tokens and HSMs: a clerk's USB token, an agency's HSM.

:func:`open_pkcs11` finds the token and key an RFC 7512 URI names, logs in
once, and returns a :class:`Pkcs11Key`, which implements both
:class:`~govsign.keys.base.Signer` and :class:`~govsign.keys.base.Decrypter`
with the private key staying on the token.

Safety nets, because a token is a black box:

- every signature is verified against the certificate before it is
  returned, so a token that ignores a parameter (PSS salt, hash) or holds
  a different key than the certificate says gives an error, never a wrong
  signature;
- before the first RSA decryption with a padding, the token decrypts a
  value govsign encrypted itself; a token that cannot do, say, OAEP with
  SHA-256 is then reported as such (:class:`KeySourceError`), and every
  later failure on real input is the same uniform
  :class:`DecryptionError`, so the token's error codes cannot serve as a
  padding oracle.

Known limit: ECDH needs the raw shared secret on the host (the CMS KDF of
RFC 5753 runs in govsign), so the token must let a derived session secret
be read; tokens that keep every derived key sensitive are reported with a
clear :class:`KeySourceError`.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import (
    ec,
    ed25519,
    padding,
    rsa,
    x25519,
)
from cryptography.hazmat.primitives.asymmetric.utils import (
    encode_dss_signature,
)
from pkcs11 import (
    KDF,
    MGF,
    Attribute,
    KeyType,
    Mechanism,
    MechanismFlag,
)
from pkcs11 import exceptions as p11e

from govsign.errors import DecryptionError, KeySourceError, SigningError
from govsign.keys import _lookup, _token
from govsign.keys._lookup import PublicKey
from govsign.keys.base import (
    HashName,
    KeyTransportPadding,
    SignatureAlgorithm,
    SignatureScheme,
)
from govsign.keys.uri import Pkcs11Uri, parse_pkcs11_uri

__all__ = ["Pkcs11Key", "PublicKey", "TokenKey", "open_pkcs11"]

log = logging.getLogger(__name__)


_HASHES: dict[HashName, type[hashes.HashAlgorithm]] = {
    HashName.SHA256: hashes.SHA256,
    HashName.SHA384: hashes.SHA384,
    HashName.SHA512: hashes.SHA512,
}
_HASH_MECHANISMS: dict[HashName, tuple[Mechanism, MGF]] = {
    HashName.SHA256: (Mechanism.SHA256, MGF.SHA256),
    HashName.SHA384: (Mechanism.SHA384, MGF.SHA384),
    HashName.SHA512: (Mechanism.SHA512, MGF.SHA512),
}
_PKCS1_COMBINED = {
    HashName.SHA256: Mechanism.SHA256_RSA_PKCS,
    HashName.SHA384: Mechanism.SHA384_RSA_PKCS,
    HashName.SHA512: Mechanism.SHA512_RSA_PKCS,
}
_PSS_COMBINED = {
    HashName.SHA256: Mechanism.SHA256_RSA_PKCS_PSS,
    HashName.SHA384: Mechanism.SHA384_RSA_PKCS_PSS,
    HashName.SHA512: Mechanism.SHA512_RSA_PKCS_PSS,
}
_ECDSA_COMBINED = {
    HashName.SHA256: Mechanism.ECDSA_SHA256,
    HashName.SHA384: Mechanism.ECDSA_SHA384,
    HashName.SHA512: Mechanism.ECDSA_SHA512,
}
# RFC 8017 section 9.2 note 1: DER DigestInfo prefixes, for tokens that
# only offer raw CKM_RSA_PKCS.
_DIGEST_INFO = {
    HashName.SHA256: bytes.fromhex("3031300d060960864801650304020105000420"),
    HashName.SHA384: bytes.fromhex("3041300d060960864801650304020205000430"),
    HashName.SHA512: bytes.fromhex("3051300d060960864801650304020305000440"),
}
_OAEP: dict[KeyTransportPadding, tuple[type[hashes.HashAlgorithm], Any]] = {
    KeyTransportPadding.OAEP_SHA1: (hashes.SHA1, (Mechanism.SHA_1, MGF.SHA1)),
    KeyTransportPadding.OAEP_SHA256: (
        hashes.SHA256,
        _HASH_MECHANISMS[HashName.SHA256],
    ),
    KeyTransportPadding.OAEP_SHA384: (
        hashes.SHA384,
        _HASH_MECHANISMS[HashName.SHA384],
    ),
    KeyTransportPadding.OAEP_SHA512: (
        hashes.SHA512,
        _HASH_MECHANISMS[HashName.SHA512],
    ),
}
# Errors a token gives when it cannot do a mechanism or parameter, as
# opposed to failing on the data.
_CAPABILITY_ERRORS = (
    p11e.MechanismInvalid,
    p11e.MechanismParamInvalid,
    p11e.ArgumentsBad,
    p11e.FunctionNotSupported,
    p11e.KeyTypeInconsistent,
)


@dataclass(frozen=True)
class _Plan:
    """How one signature algorithm is done on this token."""

    mechanism: Mechanism
    param: tuple[Any, ...] | None
    prehash: bool
    digest_info: bool


class TokenKey:
    """A private key on a PKCS#11 token, known by its public key.

    Signs, decrypts and derives on the token; every signature is checked
    against ``public_key``.  A key that has no certificate yet (a new key
    for a CSR) is used as this; :class:`Pkcs11Key` adds the certificate.
    Holds a logged-in session until :meth:`close` (or the end of a
    ``with`` block, or of the process).
    """

    def __init__(
        self,
        *,
        token: Any,
        session: Any,
        private_key: Any,
        public_key: PublicKey,
        pin: str | None,
    ) -> None:
        self._token = token
        self._session = session
        self._key = private_key
        self._public = public_key
        self._token_name = _token.token_name(token)
        self._label = _token.label_of(private_key)
        self._key_type = KeyType(private_key[Attribute.KEY_TYPE])
        self._mechanisms = _token.mechanism_flags(token)
        self._decrypt_checked: set[KeyTransportPadding] = set()
        # A PKCS#11 session runs one operation at a time; the gateway may
        # sign from several threads.
        self._lock = threading.Lock()
        # Read once: afterwards the session is touched under the lock only.
        self._id = _token.id_of(private_key)
        self._may_sign = _bool_attr(private_key, "SIGN", default=True)
        self._may_decrypt = _bool_attr(private_key, "DECRYPT", default=True)
        self._may_derive = _bool_attr(private_key, "DERIVE", default=True)
        # Kept only for keys that want the PIN again at every use.
        self._pin = (
            pin if _bool_attr(private_key, "ALWAYS_AUTHENTICATE") else None
        )
        _lookup.check_public_key(session, private_key, public_key)

    def __repr__(self) -> str:
        return f"<TokenKey {self._label!r} on {self._token_name}>"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the session; the token logs out when its last one closes."""
        try:
            self._session.close()
        except p11e.PKCS11Error:
            log.debug("session on %s already closed", self._token_name)

    @property
    def label(self) -> str:
        """The key's CKA_LABEL (NFC)."""
        return self._label

    @property
    def id(self) -> bytes:
        """The key's CKA_ID."""
        return self._id

    @property
    def token_name(self) -> str:
        """The token's label and serial, as messages show them."""
        return self._token_name

    def public_key(self) -> PublicKey:
        """The public half of the key."""
        return self._public

    def _op(self, method: str, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return getattr(self._key, method)(*args, **kwargs)

    # -- signing ---------------------------------------------------------

    def supported_algorithms(self) -> Sequence[SignatureAlgorithm]:
        """Algorithms the token's mechanisms and this key allow."""
        if not self._may_sign:
            return []
        return [a for a in self._candidates() if self._plan(a) is not None]

    def _candidates(self) -> list[SignatureAlgorithm]:
        if self._key_type == KeyType.RSA:
            return [
                SignatureAlgorithm(scheme, h)
                for scheme in (
                    SignatureScheme.RSA_PKCS1V15,
                    SignatureScheme.RSA_PSS,
                )
                for h in HashName
            ]
        if self._key_type == KeyType.EC:
            public = self._public
            size = (
                public.curve.key_size
                if isinstance(public, ec.EllipticCurvePublicKey)
                else 256
            )
            preferred = HashName.SHA384 if size >= 384 else HashName.SHA256
            order = [preferred] + [h for h in HashName if h is not preferred]
            return [
                SignatureAlgorithm(SignatureScheme.ECDSA, h) for h in order
            ]
        if self._key_type == KeyType.EC_EDWARDS:
            return [
                SignatureAlgorithm(SignatureScheme.ED25519, HashName.SHA512)
            ]
        return []

    def _can(self, mechanism: Mechanism, flag: MechanismFlag) -> bool:
        return bool(self._mechanisms.get(mechanism, MechanismFlag(0)) & flag)

    def _plan(self, algorithm: SignatureAlgorithm) -> _Plan | None:
        scheme, digest = algorithm.scheme, algorithm.digest
        sign = MechanismFlag.SIGN
        if scheme is SignatureScheme.ED25519:
            if self._key_type == KeyType.EC_EDWARDS and self._can(
                Mechanism.EDDSA, sign
            ):
                return _Plan(Mechanism.EDDSA, None, False, False)
            return None
        if scheme is SignatureScheme.ECDSA:
            if self._key_type != KeyType.EC:
                return None
            if self._can(_ECDSA_COMBINED[digest], sign):
                return _Plan(_ECDSA_COMBINED[digest], None, False, False)
            if self._can(Mechanism.ECDSA, sign):
                return _Plan(Mechanism.ECDSA, None, True, False)
            return None
        if self._key_type != KeyType.RSA:
            return None
        if scheme is SignatureScheme.RSA_PSS:
            # RFC 4056 / RFC 8551: MGF1 with the same hash, salt = hash len.
            hash_mech, mgf = _HASH_MECHANISMS[digest]
            param = (hash_mech, mgf, _HASHES[digest].digest_size)
            if self._can(_PSS_COMBINED[digest], sign):
                return _Plan(_PSS_COMBINED[digest], param, False, False)
            if self._can(Mechanism.RSA_PKCS_PSS, sign):
                return _Plan(Mechanism.RSA_PKCS_PSS, param, True, False)
            return None
        if self._can(_PKCS1_COMBINED[digest], sign):
            return _Plan(_PKCS1_COMBINED[digest], None, False, False)
        if self._can(Mechanism.RSA_PKCS, sign):
            return _Plan(Mechanism.RSA_PKCS, None, True, True)
        return None

    def sign(self, data: bytes, algorithm: SignatureAlgorithm) -> bytes:
        """Sign ``data`` on the token; see :class:`Signer`.

        Raises :class:`SigningError` when the key or token cannot use
        ``algorithm``, the token fails, or its signature does not verify
        against the certificate.
        """
        what = f"{algorithm.scheme.value}/{algorithm.digest.value}"
        if not self._may_sign:
            raise SigningError(
                f"key {self._label!r} on token {self._token_name} is not "
                "allowed to sign (CKA_SIGN is false)"
            )
        plan = self._plan(algorithm)
        if plan is None:
            raise SigningError(
                f"key {self._label!r} on token {self._token_name} cannot "
                f"sign with {what}: the token lacks the mechanism or the "
                f"key is {self._key_type.name}; it can do "
                f"{_names(self.supported_algorithms()) or 'nothing'}"
            )
        payload = data
        if plan.prehash:
            h = hashes.Hash(_HASHES[algorithm.digest]())
            h.update(data)
            payload = h.finalize()
            if plan.digest_info:
                payload = _DIGEST_INFO[algorithm.digest] + payload
        log.debug(
            "signing with %s on %s via %s",
            what,
            self._token_name,
            plan.mechanism.name,
        )
        try:
            value = self._op(
                "sign",
                payload,
                mechanism=plan.mechanism,
                mechanism_param=plan.param,
                pin=self._pin,
            )
        except p11e.PKCS11Error as exc:
            raise SigningError(
                f"token {self._token_name} failed to sign with {what}: "
                f"{exc or type(exc).__name__}"
            ) from exc
        if algorithm.scheme is SignatureScheme.ECDSA:
            value = _der_ecdsa(value)
        self._verify(data, value, algorithm)
        return bytes(value)

    def _verify(
        self, data: bytes, value: bytes, algorithm: SignatureAlgorithm
    ) -> None:
        # A token is a black box: check its work before anyone relies on it.
        public = self._public
        try:
            if isinstance(public, rsa.RSAPublicKey):
                digest = _HASHES[algorithm.digest]()
                pad: padding.AsymmetricPadding = (
                    padding.PSS(padding.MGF1(digest), digest.digest_size)
                    if algorithm.scheme is SignatureScheme.RSA_PSS
                    else padding.PKCS1v15()
                )
                public.verify(value, data, pad, digest)
            elif isinstance(public, ec.EllipticCurvePublicKey):
                public.verify(
                    value, data, ec.ECDSA(_HASHES[algorithm.digest]())
                )
            elif isinstance(public, ed25519.Ed25519PublicKey):
                public.verify(value, data)
            else:
                raise InvalidSignature
        except InvalidSignature as exc:
            raise SigningError(
                f"token {self._token_name} returned a signature that does "
                "not verify against the key's public key; refusing it "
                "(wrong key for the certificate, or a faulty token)"
            ) from exc

    # -- decryption ------------------------------------------------------

    def decrypt_key_transport(
        self, encrypted_key: bytes, padding_kind: KeyTransportPadding
    ) -> bytes:
        """RSA-decrypt a wrapped key on the token.

        Raises :class:`KeySourceError` when the token cannot use
        ``padding_kind`` at all (found by a self-test, independent of
        ``encrypted_key``), and :class:`DecryptionError`, always with the
        same message, when decrypting ``encrypted_key`` fails.
        """
        if self._key_type != KeyType.RSA:
            raise DecryptionError("decryption failed")
        mechanism, param = _decrypt_mechanism(padding_kind)
        self._check_decryption(padding_kind, mechanism, param)
        try:
            return bytes(
                self._op(
                    "decrypt",
                    encrypted_key,
                    mechanism=mechanism,
                    mechanism_param=param,
                    pin=self._pin,
                )
            )
        except p11e.PKCS11Error:
            # One message for every failure: no padding oracle.
            raise DecryptionError("decryption failed") from None

    def _check_decryption(
        self,
        padding_kind: KeyTransportPadding,
        mechanism: Mechanism,
        param: tuple[Any, ...] | None,
    ) -> None:
        if padding_kind in self._decrypt_checked:
            return
        what = padding_kind.value
        if not self._may_decrypt:
            raise KeySourceError(
                f"key {self._label!r} on token {self._token_name} is not "
                "allowed to decrypt (CKA_DECRYPT is false)"
            )
        if not self._can(mechanism, MechanismFlag.DECRYPT):
            raise KeySourceError(
                f"token {self._token_name} cannot decrypt {what}: it lacks "
                f"{mechanism.name}"
            )

        # Self-test on a value govsign chose: tells "cannot" from "failed"
        # without looking at anything an attacker sent.
        public = self._public
        if not isinstance(public, rsa.RSAPublicKey):
            raise DecryptionError("decryption failed")
        probe = secrets.token_bytes(32)
        wrapped = public.encrypt(probe, _software_padding(padding_kind))
        try:
            result = self._op(
                "decrypt",
                wrapped,
                mechanism=mechanism,
                mechanism_param=param,
                pin=self._pin,
            )
        except _CAPABILITY_ERRORS as exc:
            raise KeySourceError(
                f"token {self._token_name} cannot decrypt {what} "
                f"({mechanism.name} with these parameters is refused); "
                "ask senders to use a padding the token supports, or use "
                "a key held elsewhere"
            ) from exc
        except p11e.PKCS11Error as exc:
            raise KeySourceError(
                f"token {self._token_name} failed a {what} self-test: "
                f"{exc or type(exc).__name__}"
            ) from exc
        if bytes(result) != probe:
            raise KeySourceError(
                f"token {self._token_name} decrypted a {what} self-test "
                "value wrongly; refusing to use it for decryption"
            )
        self._decrypt_checked.add(padding_kind)

    def key_agreement(
        self,
        peer_public_key: ec.EllipticCurvePublicKey | x25519.X25519PublicKey,
    ) -> bytes:
        """ECDH on the token (CKM_ECDH1_DERIVE, no KDF): the raw secret.

        Raises :class:`KeySourceError` when the token cannot derive or
        will not let the secret out, :class:`DecryptionError` otherwise.
        """
        public = self._public
        if not (
            self._key_type == KeyType.EC
            and isinstance(peer_public_key, ec.EllipticCurvePublicKey)
            and isinstance(public, ec.EllipticCurvePublicKey)
            and peer_public_key.curve.name == public.curve.name
        ):
            raise DecryptionError("decryption failed")
        if not self._can(Mechanism.ECDH1_DERIVE, MechanismFlag.DERIVE):
            raise KeySourceError(
                f"token {self._token_name} cannot do ECDH (it lacks "
                "CKM_ECDH1_DERIVE)"
            )
        if not self._may_derive:
            raise KeySourceError(
                f"key {self._label!r} on token {self._token_name} is not "
                "allowed to derive (CKA_DERIVE is false)"
            )
        point = peer_public_key.public_bytes(
            serialization.Encoding.X962,
            serialization.PublicFormat.UncompressedPoint,
        )
        size = (public.curve.key_size + 7) // 8
        with self._lock:
            return self._derive_secret(point, size)

    def _derive_secret(self, point: bytes, size: int) -> bytes:
        try:
            derived = self._key.derive_key(
                KeyType.GENERIC_SECRET,
                size * 8,
                mechanism=Mechanism.ECDH1_DERIVE,
                mechanism_param=(KDF.NULL, None, point),
                template={
                    Attribute.TOKEN: False,
                    Attribute.SENSITIVE: False,
                    Attribute.EXTRACTABLE: True,
                },
            )
        except (
            p11e.TemplateInconsistent,
            p11e.AttributeValueInvalid,
            p11e.AttributeReadOnly,
        ) as exc:
            raise KeySourceError(_ecdh_limit(self._token_name)) from exc
        except p11e.PKCS11Error:
            raise DecryptionError("decryption failed") from None
        try:
            return bytes(derived[Attribute.VALUE])
        except (p11e.AttributeSensitive, p11e.KeyUnextractable) as exc:
            raise KeySourceError(_ecdh_limit(self._token_name)) from exc
        finally:
            try:
                derived.destroy()
            except p11e.PKCS11Error:
                log.debug("could not destroy a derived session secret")


class Pkcs11Key(TokenKey):
    """A token key with its certificate and chain: a Signer/Decrypter.

    Made by :func:`open_pkcs11`.
    """

    def __init__(
        self,
        *,
        token: Any,
        session: Any,
        private_key: Any,
        certificate: x509.Certificate,
        chain: Sequence[x509.Certificate],
        pin: str | None,
    ) -> None:
        public = certificate.public_key()
        if not isinstance(public, PublicKey):
            raise KeySourceError(
                "the certificate's key type is not one govsign uses"
            )
        try:
            super().__init__(
                token=token,
                session=session,
                private_key=private_key,
                public_key=public,
                pin=pin,
            )
        except KeySourceError as exc:
            raise KeySourceError(
                f"{exc}: certificate {certificate.subject.rfc4514_string()}"
            ) from exc
        self._certificate = certificate
        self._chain = tuple(chain)

    def __repr__(self) -> str:
        subject = self._certificate.subject.rfc4514_string()
        return f"<Pkcs11Key {self._label!r} on {self._token_name}: {subject}>"

    @property
    def certificate(self) -> x509.Certificate:
        return self._certificate

    @property
    def chain(self) -> Sequence[x509.Certificate]:
        return self._chain


def open_pkcs11(
    uri: str | Pkcs11Uri,
    secret: _token.SecretSource,
    *,
    module: str | os.PathLike[str] | None = None,
    certificate: x509.Certificate | None = None,
    chain: Sequence[x509.Certificate] = (),
) -> Pkcs11Key:
    """Open the token key ``uri`` names.

    The module comes from the URI's ``module-path``, else ``module``, else
    the environment variable ``GOVSIGN_PKCS11_MODULE``.  ``secret`` is
    called once for the PIN, and only when the token wants one.  The
    certificate is taken from the token (same CKA_ID, else same label,
    else the same public key) unless ``certificate`` is given.

    Raises :class:`KeySourceError` for a missing module, no or several
    matching tokens or keys, a wrong or locked PIN, no certificate, or a
    certificate that does not belong to the key.
    """
    parsed = parse_pkcs11_uri(uri) if isinstance(uri, str) else uri
    if parsed.type not in (None, "private", "cert"):
        raise KeySourceError(
            f"PKCS#11 URI type={parsed.type} cannot name a signing key; "
            "use type=private or type=cert"
        )
    lib = _token.load_module(_token.resolve_module_path(parsed, module))
    token = _token.select_token(lib, parsed)
    session, pin = _token.login(token, secret)
    try:
        key = _lookup.find_key(session, token, parsed)
        if certificate is None:
            certificate, chain = _lookup.find_certificate(session, token, key)
        log.info(
            "using key %r on token %s",
            _token.label_of(key),
            _token.token_name(token),
        )
        return Pkcs11Key(
            token=token,
            session=session,
            private_key=key,
            certificate=certificate,
            chain=chain,
            pin=pin,
        )
    except BaseException:
        session.close()
        raise


def _der_ecdsa(raw: bytes) -> bytes:
    # PKCS#11 gives r || s; CMS stores Ecdsa-Sig-Value (RFC 5753 7.2).
    half = len(raw) // 2
    r = int.from_bytes(raw[:half], "big")
    s = int.from_bytes(raw[half:], "big")
    return encode_dss_signature(r, s)


def _decrypt_mechanism(
    padding_kind: KeyTransportPadding,
) -> tuple[Mechanism, tuple[Any, ...] | None]:
    if padding_kind is KeyTransportPadding.PKCS1V15:
        return Mechanism.RSA_PKCS, None
    _, (hash_mech, mgf) = _OAEP[padding_kind]
    return Mechanism.RSA_PKCS_OAEP, (hash_mech, mgf, None)


def _software_padding(
    padding_kind: KeyTransportPadding,
) -> padding.AsymmetricPadding:
    if padding_kind is KeyTransportPadding.PKCS1V15:
        return padding.PKCS1v15()
    algorithm = _OAEP[padding_kind][0]()
    return padding.OAEP(padding.MGF1(algorithm), algorithm, None)


def _bool_attr(obj: Any, name: str, *, default: bool = False) -> bool:
    try:
        return bool(obj[Attribute[name]])
    except (p11e.PKCS11Error, KeyError):
        return default


def _names(algorithms: Sequence[SignatureAlgorithm]) -> str:
    return ", ".join(f"{a.scheme.value}/{a.digest.value}" for a in algorithms)


def _ecdh_limit(token_name: str) -> str:
    return (
        f"token {token_name} keeps ECDH results inside the token; govsign "
        "needs the shared secret to run the RFC 5753 key derivation, so "
        "it cannot decrypt with an EC key on this token"
    )
