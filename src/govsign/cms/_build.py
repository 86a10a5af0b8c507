"""RecipientInfo entries: RSA key transport and (EC)DH key agreement.

RSA-OAEP (RFC 3560, RFC 4055) or PKCS#1 v1.5 key transport; ECDH with the
X9.63 KDF (RFC 5753) and X25519 with HKDF (RFC 8418), each with AES key
wrap (RFC 3394).  Private to govsign.cms.
"""

from __future__ import annotations

import datetime as dt

from asn1crypto import cms, core, keys
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa, x25519
from cryptography.hazmat.primitives.asymmetric import padding as rsa_padding
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

from govsign.cms._asn1 import SCHEME_OIDS
from govsign.cms._kdf import derive_kek, shared_info
from govsign.cms._model import (
    HASH_CLASSES,
    MIN_RSA_BITS,
    OAEP_HASH_OF,
    WRAP_BY_LENGTH,
    Recipient,
    describe,
    frame,
)
from govsign.errors import EncryptionError
from govsign.keys.base import KeyTransportPadding

__all__ = ["check_recipient", "recipient_info"]


def _issuer_and_serial(
    certificate: x509.Certificate,
) -> cms.IssuerAndSerialNumber:
    # The issuer exactly as the certificate encodes it (RFC 5652 section
    # 10.2.4), framed here: asn1crypto would rebuild the whole Name.
    der = b"".join(
        frame(
            0x30,
            [
                certificate.issuer.public_bytes(),
                core.Integer(certificate.serial_number).dump(),
            ],
        )
    )
    return cms.IssuerAndSerialNumber.load(der)


def _check_key_usage(certificate: x509.Certificate, usage: str) -> None:
    # RFC 8550 section 4.4.2: a key usage extension, when present, must
    # allow the operation.
    try:
        ku = certificate.extensions.get_extension_for_class(x509.KeyUsage)
    except x509.ExtensionNotFound:
        return
    if not getattr(ku.value, usage):
        raise EncryptionError(
            f"the certificate of {describe(certificate)} does not allow "
            f"encryption (key usage lacks {usage})"
        )


def check_recipient(
    certificate: x509.Certificate, at: dt.datetime | None = None
) -> None:
    """Raise :class:`EncryptionError` unless mail can be encrypted to it.

    Checks the key type, the key usage (RFC 8550 section 4.4.2), the RSA
    size and the validity period at ``at`` (default now); not the path to
    a trust anchor, which is the caller's (the gateway's) business.
    """
    moment = at or dt.datetime.now(dt.UTC)
    if not (
        certificate.not_valid_before_utc
        <= moment
        <= certificate.not_valid_after_utc
    ):
        raise EncryptionError(
            f"the certificate of {describe(certificate)} is valid only "
            f"from {certificate.not_valid_before_utc:%Y-%m-%d} to "
            f"{certificate.not_valid_after_utc:%Y-%m-%d}"
        )
    public_key = certificate.public_key()
    if isinstance(public_key, rsa.RSAPublicKey):
        _check_key_usage(certificate, "key_encipherment")
        if public_key.key_size < MIN_RSA_BITS:
            raise EncryptionError(
                f"the RSA key of {describe(certificate)} has "
                f"{public_key.key_size} bits; at least {MIN_RSA_BITS} "
                "are required"
            )
        return
    if isinstance(
        public_key, ec.EllipticCurvePublicKey | x25519.X25519PublicKey
    ):
        _check_key_usage(certificate, "key_agreement")
        return
    raise EncryptionError(
        f"the certificate of {describe(certificate)} holds a "
        f"{type(public_key).__name__.removesuffix('PublicKey')} key, "
        "which cannot receive encrypted mail"
    )


def recipient_info(
    recipient: Recipient, cek: bytes, ukm: bytes | None = None
) -> cms.RecipientInfo:
    """The RecipientInfo that gives ``recipient`` the content key.

    ``ukm`` is user keying material for key agreement (RFC 5753 section
    3.1.1, RFC 8418 section 2); RSA recipients ignore it.
    """
    certificate = recipient.certificate
    check_recipient(certificate)
    public_key = certificate.public_key()
    if isinstance(public_key, rsa.RSAPublicKey):
        return _ktri(recipient, public_key, cek)
    assert isinstance(
        public_key, ec.EllipticCurvePublicKey | x25519.X25519PublicKey
    )
    return _kari(certificate, public_key, cek, ukm)


def _ktri(
    recipient: Recipient, public_key: rsa.RSAPublicKey, cek: bytes
) -> cms.RecipientInfo:
    kind = recipient.key_transport
    if kind is KeyTransportPadding.PKCS1V15:
        pad: rsa_padding.AsymmetricPadding = rsa_padding.PKCS1v15()
        # RFC 3370 section 4.2.1: rsaEncryption with NULL parameters.
        algorithm = {"algorithm": "rsaes_pkcs1v15", "parameters": core.Null()}
    elif kind in (
        KeyTransportPadding.OAEP_SHA256,
        KeyTransportPadding.OAEP_SHA384,
        KeyTransportPadding.OAEP_SHA512,
    ):
        name = OAEP_HASH_OF[kind]
        digest = HASH_CLASSES[name]()
        pad = rsa_padding.OAEP(
            mgf=rsa_padding.MGF1(digest), algorithm=digest, label=None
        )
        # RFC 4055 section 4.1: hash and MGF1 hash alike, empty label
        # (the default pSourceFunc, so omitted).
        algorithm = {
            "algorithm": "rsaes_oaep",
            "parameters": {
                "hash_algorithm": {"algorithm": name},
                "mask_gen_algorithm": {
                    "algorithm": "mgf1",
                    "parameters": {"algorithm": name},
                },
            },
        }
    else:
        raise EncryptionError(
            f"{kind.value} is not used for new messages (SHA-1 is refused); "
            "use OAEP with SHA-256"
        )
    encrypted_key = public_key.encrypt(cek, pad)
    return cms.RecipientInfo(
        name="ktri",
        value=cms.KeyTransRecipientInfo(
            {
                "version": "v0",
                "rid": cms.RecipientIdentifier(
                    name="issuer_and_serial_number",
                    value=_issuer_and_serial(recipient.certificate),
                ),
                "key_encryption_algorithm": algorithm,
                "encrypted_key": encrypted_key,
            }
        ),
    )


def _kari(
    certificate: x509.Certificate,
    public_key: ec.EllipticCurvePublicKey | x25519.X25519PublicKey,
    cek: bytes,
    ukm: bytes | None,
) -> cms.RecipientInfo:
    # RFC 5753 section 3.1.1 / RFC 8418 section 2: a fresh ephemeral key
    # per recipient; the KDF hash follows the curve's strength.
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        family = "ecdh"
        hash_name = {256: "sha256", 384: "sha384"}.get(
            public_key.curve.key_size, "sha512"
        )
        ephemeral = ec.generate_private_key(public_key.curve)
        secret = ephemeral.exchange(ec.ECDH(), public_key)
        point = ephemeral.public_key().public_bytes(
            serialization.Encoding.X962,
            serialization.PublicFormat.UncompressedPoint,
        )
        originator = keys.PublicKeyInfo(
            {"algorithm": {"algorithm": "ec"}, "public_key": point}
        )
    else:
        family = "x25519"
        hash_name = "sha256"
        x_ephemeral = x25519.X25519PrivateKey.generate()
        secret = x_ephemeral.exchange(public_key)
        raw = x_ephemeral.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        originator = keys.PublicKeyInfo(
            {"algorithm": {"algorithm": "x25519"}, "public_key": raw}
        )
    kek_length = len(cek)
    wrap_oid = WRAP_BY_LENGTH[kek_length]
    kek = derive_kek(
        family,
        hash_name,
        secret,
        shared_info(wrap_oid, kek_length, ukm),
        kek_length,
        ukm,
    )
    wrapped = aes_key_wrap(kek, cek)
    return cms.RecipientInfo(
        name="kari",
        value=cms.KeyAgreeRecipientInfo(
            {
                "version": "v3",
                "originator": cms.OriginatorIdentifierOrKey(
                    name="originator_key", value=originator
                ),
                "ukm": ukm,
                "key_encryption_algorithm": {
                    "algorithm": SCHEME_OIDS[(family, hash_name)],
                    "parameters": cms.KeyEncryptionAlgorithm(
                        {"algorithm": wrap_oid}
                    ),
                },
                "recipient_encrypted_keys": [
                    {
                        "rid": cms.KeyAgreementRecipientIdentifier(
                            name="issuer_and_serial_number",
                            value=_issuer_and_serial(certificate),
                        ),
                        "encrypted_key": wrapped,
                    }
                ],
            }
        ),
    )
