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

import enum
import hmac
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from asn1crypto import cms, core, keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa, x25519
from cryptography.hazmat.primitives.asymmetric import padding as rsa_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap,
    aes_key_wrap,
)

from govsign.cms._asn1 import (
    ECDH_X963_SCHEMES,
    SCHEME_OIDS,
    X25519_HKDF_SCHEMES,
    GCMParameters,
)
from govsign.cms._kdf import derive_kek, shared_info
from govsign.errors import (
    DecryptionError,
    EncryptionError,
    MalformedMessageError,
)
from govsign.keys.base import (
    Decrypter,
    KeyTransportPadding,
    OaepDecrypter,
    OaepParameters,
)

__all__ = [
    "ContentEncryption",
    "Recipient",
    "RecipientEntry",
    "OpenedEnvelope",
    "build_envelope",
    "open_envelope",
]

log = logging.getLogger(__name__)

# One message for every failure once a recipient entry was chosen, so that
# the error never tells padding, key and tag failures apart.
_FAILED = "decryption failed"


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


_CONTENT_OIDS: dict[str, ContentEncryption] = {
    "2.16.840.1.101.3.4.1.6": ContentEncryption.AES128_GCM,
    "2.16.840.1.101.3.4.1.26": ContentEncryption.AES192_GCM,
    "2.16.840.1.101.3.4.1.46": ContentEncryption.AES256_GCM,
    "2.16.840.1.101.3.4.1.2": ContentEncryption.AES128_CBC,
    "2.16.840.1.101.3.4.1.22": ContentEncryption.AES192_CBC,
    "2.16.840.1.101.3.4.1.42": ContentEncryption.AES256_CBC,
    "1.2.840.113549.3.7": ContentEncryption.DES_EDE3_CBC,
}
_CONTENT_NAMES = {v: k for k, v in _CONTENT_OIDS.items()}

_WRAP_OIDS: dict[str, int] = {
    "2.16.840.1.101.3.4.1.5": 16,
    "2.16.840.1.101.3.4.1.25": 24,
    "2.16.840.1.101.3.4.1.45": 32,
}
_WRAP_BY_LENGTH = {v: k for k, v in _WRAP_OIDS.items()}
_WRAP_NAMES = {16: "aes128-wrap", 24: "aes192-wrap", 32: "aes256-wrap"}

_OAEP_HASH_OF: dict[KeyTransportPadding, str] = {
    KeyTransportPadding.OAEP_SHA1: "sha1",
    KeyTransportPadding.OAEP_SHA256: "sha256",
    KeyTransportPadding.OAEP_SHA384: "sha384",
    KeyTransportPadding.OAEP_SHA512: "sha512",
}
_OAEP_BY_HASH = {v: k for k, v in _OAEP_HASH_OF.items()}
_HASH_CLASSES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}

_OID_RSA = "1.2.840.113549.1.1.1"
_OID_OAEP = "1.2.840.113549.1.1.7"
_OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
_OID_X25519 = "1.3.101.110"

_MIN_RSA_BITS = 2048  # Circular 15/2025/TT-BKHCN (DESIGN.md)


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


# ---------------------------------------------------------------------------
# Encryption


def build_envelope(
    content: bytes,
    recipients: Sequence[Recipient],
    *,
    content_encryption: ContentEncryption = ContentEncryption.AES256_GCM,
    content_type: str = "data",
) -> bytes:
    """Encrypt ``content`` for ``recipients`` and return a DER ContentInfo.

    AES-GCM gives AuthEnvelopedData, AES-CBC EnvelopedData.  Raises
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
    infos = [_recipient_info(r, cek) for r in recipients]
    all_v0 = all(i.name == "ktri" for i in infos)

    algorithm_oid = _CONTENT_NAMES[content_encryption]
    if content_encryption.authenticated:
        # RFC 5084 section 3.2: 12-byte nonce; govsign writes 16-byte tags.
        nonce = os.urandom(12)
        sealed = AESGCM(cek).encrypt(nonce, content, None)
        ciphertext: bytes | memoryview = memoryview(sealed)[:-16]
        tag = sealed[-16:]
        parameters = GCMParameters({"aes_nonce": nonce, "aes_icvlen": 16})
        # RFC 5083 section 2.1: version is always 0.
        version, trailer = 0, b"".join(_frame(0x04, [tag]))
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
    content_info = _frame(0x30, [head, *_frame(0x80, [ciphertext])])
    body = _frame(
        0x30,
        [
            core.Integer(version).dump(),
            cms.RecipientInfos(infos).dump(),
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
    return b"".join(_frame(0x30, [outer, *_frame(0xA0, body)]))


def _frame(
    tag: int, chunks: list[bytes | memoryview]
) -> list[bytes | memoryview]:
    """DER framing: the tag and definite length, then ``chunks``."""
    length = sum(len(c) for c in chunks)
    return [bytes([tag]) + _der_length(length), *chunks]


def _issuer_and_serial(
    certificate: x509.Certificate,
) -> cms.IssuerAndSerialNumber:
    # The issuer exactly as the certificate encodes it (RFC 5652 section
    # 10.2.4), framed here: asn1crypto would rebuild the whole Name.
    der = b"".join(
        _frame(
            0x30,
            [
                certificate.issuer.public_bytes(),
                core.Integer(certificate.serial_number).dump(),
            ],
        )
    )
    return cms.IssuerAndSerialNumber.load(der)


def _describe(certificate: x509.Certificate) -> str:
    return certificate.subject.rfc4514_string()


def _check_key_usage(certificate: x509.Certificate, usage: str) -> None:
    # RFC 8550 section 4.4.2: a key usage extension, when present, must
    # allow the operation.
    try:
        ku = certificate.extensions.get_extension_for_class(x509.KeyUsage)
    except x509.ExtensionNotFound:
        return
    if not getattr(ku.value, usage):
        raise EncryptionError(
            f"the certificate of {_describe(certificate)} does not allow "
            f"encryption (key usage lacks {usage})"
        )


def _recipient_info(recipient: Recipient, cek: bytes) -> cms.RecipientInfo:
    certificate = recipient.certificate
    public_key = certificate.public_key()
    if isinstance(public_key, rsa.RSAPublicKey):
        _check_key_usage(certificate, "key_encipherment")
        if public_key.key_size < _MIN_RSA_BITS:
            raise EncryptionError(
                f"the RSA key of {_describe(certificate)} has "
                f"{public_key.key_size} bits; at least {_MIN_RSA_BITS} "
                "are required"
            )
        return _ktri(recipient, public_key, cek)
    if isinstance(
        public_key, ec.EllipticCurvePublicKey | x25519.X25519PublicKey
    ):
        _check_key_usage(certificate, "key_agreement")
        return _kari(certificate, public_key, cek)
    raise EncryptionError(
        f"the certificate of {_describe(certificate)} holds a "
        f"{type(public_key).__name__.removesuffix('PublicKey')} key, "
        "which cannot receive encrypted mail"
    )


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
        name = _OAEP_HASH_OF[kind]
        digest = _HASH_CLASSES[name]()
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
    wrap_oid = _WRAP_BY_LENGTH[kek_length]
    kek = derive_kek(
        family,
        hash_name,
        secret,
        shared_info(wrap_oid, kek_length, None),
        kek_length,
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


# ---------------------------------------------------------------------------
# Decryption: first everything is read out of the ASN.1 into plain values,
# so that malformed input fails in one place with one error type.


@dataclass(frozen=True)
class _Entry:
    summary: RecipientEntry
    kind: str
    supported: bool = True
    encrypted_key: bytes = b""
    oaep: tuple[str, str, bytes] | None = None  # hash, MGF1 hash, label
    family: str = ""
    hash_name: str = ""
    wrap_length: int = 0
    wrap_oid: str = ""
    ukm: bytes | None = None
    originator_algorithm: str = ""
    originator_key: bytes = b""


@dataclass(frozen=True)
class _Parsed:
    structure: str
    entries: tuple[_Entry, ...]
    content_type: str
    algorithm: ContentEncryption
    iv: bytes
    tag_length: int
    ciphertext: bytes
    mac: bytes
    aad: bytes


@contextmanager
def _asn1_errors(what: str) -> Iterator[None]:
    # asn1crypto reports bad input with a range of built-in exceptions.
    try:
        yield
    except (
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        OverflowError,
    ) as exc:
        raise MalformedMessageError(
            f"malformed CMS {what}: {exc}", part="cms"
        ) from exc


def open_envelope(data: bytes, decrypter: Decrypter) -> OpenedEnvelope:
    """Decrypt a DER or BER ContentInfo holding (Auth)EnvelopedData.

    Raises :class:`MalformedMessageError` for input that is not a complete,
    well-formed envelope or uses an algorithm govsign does not read, and
    :class:`DecryptionError` when no recipient entry names the key's
    certificate or when decryption fails (one message for every cause).
    """
    parsed = _parse(data, decrypter.certificate)
    mine = [e for e in parsed.entries if e.summary.matches_key]
    chosen = next((e for e in mine if e.supported), None)
    if chosen is None and mine:
        raise MalformedMessageError(
            "the recipient entry for "
            f"{_describe(decrypter.certificate)} uses "
            f"{mine[0].summary.key_management}",
            part="cms",
        )
    if chosen is None:
        raise DecryptionError(
            "this message is not encrypted for "
            f"{_describe(decrypter.certificate)}: none of its "
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
        cek = _unwrap_key_transport(chosen, decrypter, key_length)
    else:
        cek = _unwrap_key_agreement(chosen, decrypter, key_length)
    content = _decrypt_content(parsed, cek)
    return OpenedEnvelope(
        content=content,
        content_type=parsed.content_type,
        structure=parsed.structure,
        content_encryption=parsed.algorithm,
        key_management=chosen.summary.key_management,
        recipients=tuple(e.summary for e in parsed.entries),
    )


def _parse(data: bytes, certificate: x509.Certificate) -> _Parsed:
    with _asn1_errors("ContentInfo"):
        info = cms.ContentInfo.load(data, strict=True)
        content_type = info["content_type"].dotted
        if content_type == "1.2.840.113549.1.9.16.1.23":
            structure = "AuthEnvelopedData"
            body = info["content"]
            eci = body["auth_encrypted_content_info"]
            mac = bytes(body["mac"].native)
            aad = _auth_attrs_aad(body)
        elif content_type == "1.2.840.113549.1.7.3":
            structure = "EnvelopedData"
            body = info["content"]
            eci = body["encrypted_content_info"]
            mac = b""
            aad = b""
        else:
            raise MalformedMessageError(
                f"the CMS content is {info['content_type'].native}, "
                "not EnvelopedData or AuthEnvelopedData",
                part="cms",
            )
        me = _MyIdentity(certificate)
        entries = tuple(
            entry
            for ri in body["recipient_infos"]
            for entry in _entries(ri, me)
        )
        if not entries:
            raise MalformedMessageError("no recipient entries", part="cms")
        algorithm_oid = eci["content_encryption_algorithm"]["algorithm"].dotted
        algorithm = _CONTENT_OIDS.get(algorithm_oid)
        if algorithm is None:
            raise MalformedMessageError(
                f"unknown or unsupported content encryption {algorithm_oid}",
                part="cms",
            )
        if algorithm.authenticated != (structure == "AuthEnvelopedData"):
            raise MalformedMessageError(
                f"{structure} cannot use {algorithm.value}", part="cms"
            )
        raw_params = eci["content_encryption_algorithm"]["parameters"]
        if algorithm.authenticated:
            params = GCMParameters.load(raw_params.dump(), strict=True)
            iv = bytes(params["aes_nonce"].native)
            tag_length = int(params["aes_icvlen"].native)
            if not 12 <= tag_length <= 16 or len(mac) != tag_length:
                raise MalformedMessageError(
                    "the GCM tag length is inconsistent", part="cms"
                )
            if len(iv) < 8:
                raise MalformedMessageError("GCM nonce too short", part="cms")
        else:
            iv = bytes(core.OctetString.load(raw_params.dump()).native)
            block = 8 if algorithm is ContentEncryption.DES_EDE3_CBC else 16
            if len(iv) != block:
                raise MalformedMessageError(
                    "the CBC IV has the wrong length", part="cms"
                )
        encrypted = eci["encrypted_content"]
        if not encrypted.contents and encrypted.native is None:
            raise MalformedMessageError(
                "the encrypted content is absent (detached)", part="cms"
            )
        ciphertext = bytes(encrypted.native)
        inner_type = eci["content_type"].dotted
    return _Parsed(
        structure=structure,
        entries=entries,
        content_type=inner_type,
        algorithm=algorithm,
        iv=iv,
        tag_length=tag_length if algorithm.authenticated else 0,
        ciphertext=ciphertext,
        mac=mac,
        aad=aad,
    )


def _auth_attrs_aad(body: cms.AuthEnvelopedData) -> bytes:
    # RFC 5083 section 2.2: the AAD is the DER of authAttrs with its
    # universal SET OF tag, not the [1] IMPLICIT tag it travels with.
    attrs = body["auth_attrs"]
    if not attrs.contents:
        return b""
    contents = bytes(attrs.contents)
    return b"\x31" + _der_length(len(contents)) + contents


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


class _MyIdentity:
    """The decrypter's certificate, in the forms recipient ids use."""

    def __init__(self, certificate: x509.Certificate) -> None:
        der = certificate.public_bytes(serialization.Encoding.DER)
        parsed = asn1_x509.Certificate.load(der)
        self.issuer = parsed.issuer
        self.serial = parsed.serial_number
        try:
            ski = certificate.extensions.get_extension_for_class(
                x509.SubjectKeyIdentifier
            )
            self.ski: bytes | None = ski.value.digest
        except x509.ExtensionNotFound:
            self.ski = None

    def matches(self, rid: core.Choice) -> tuple[bool, str]:
        """Whether ``rid`` names this certificate, and a readable id."""
        if rid.name == "issuer_and_serial_number":
            value = rid.chosen
            issuer = value["issuer"]
            serial = value["serial_number"].native
            same = serial == self.serial and (
                issuer.dump() == self.issuer.dump() or issuer == self.issuer
            )
            return same, f"issuer={issuer.human_friendly}, serial={serial:#x}"
        # subject_key_identifier (ktri) or r_key_id (kari)
        chosen = rid.chosen
        ski = (
            chosen["subject_key_identifier"].native
            if rid.name == "r_key_id"
            else chosen.native
        )
        same = self.ski is not None and hmac.compare_digest(ski, self.ski)
        return same, f"subject key id {ski.hex()}"


def _entries(ri: cms.RecipientInfo, me: _MyIdentity) -> list[_Entry]:
    if ri.name == "ktri":
        return [_ktri_entry(ri.chosen, me)]
    if ri.name == "kari":
        return _kari_entries(ri.chosen, me)
    kind = {"kekri": "kek", "pwri": "password"}.get(ri.name, "other")
    summary = RecipientEntry(kind, "unsupported", "-", False)
    return [_Entry(summary=summary, kind=kind, supported=False)]


def _ktri_entry(ktri: cms.KeyTransRecipientInfo, me: _MyIdentity) -> _Entry:
    matches, identifier = me.matches(ktri["rid"])
    algorithm = ktri["key_encryption_algorithm"]
    oid = algorithm["algorithm"].dotted
    oaep: tuple[str, str, bytes] | None = None
    if oid == _OID_RSA:
        name = "rsaes-pkcs1v15"
    elif oid == _OID_OAEP:
        params = algorithm["parameters"]
        hash_name = params["hash_algorithm"]["algorithm"].native
        mgf = params["mask_gen_algorithm"]
        if mgf["algorithm"].native != "mgf1":
            raise MalformedMessageError(
                f"unsupported OAEP mask generation {mgf['algorithm'].dotted}",
                part="cms",
            )
        mgf_hash = mgf["parameters"]["algorithm"].native
        label = bytes(params["p_source_algorithm"]["parameters"].native or b"")
        oaep = (hash_name, mgf_hash, label)
        name = f"rsaes-oaep-{hash_name}"
        if mgf_hash != hash_name:
            name += f"-mgf1-{mgf_hash}"
        if label:
            name += "-label"
    else:
        name = f"unsupported key transport {oid}"
    summary = RecipientEntry("key-transport", name, identifier, matches)
    return _Entry(
        summary=summary,
        kind="ktri",
        supported=not name.startswith("unsupported"),
        encrypted_key=bytes(ktri["encrypted_key"].native),
        oaep=oaep,
    )


def _kari_entries(
    kari: cms.KeyAgreeRecipientInfo, me: _MyIdentity
) -> list[_Entry]:
    algorithm = kari["key_encryption_algorithm"]
    scheme = algorithm["algorithm"].dotted
    supported = True
    if scheme in ECDH_X963_SCHEMES:
        family, hash_name = "ecdh", ECDH_X963_SCHEMES[scheme]
    elif scheme in X25519_HKDF_SCHEMES:
        family, hash_name = "x25519", X25519_HKDF_SCHEMES[scheme]
    else:
        family, hash_name, supported = "", "", False
    wrap_oid = ""
    wrap_length = 0
    if supported:
        wrap = cms.KeyEncryptionAlgorithm.load(algorithm["parameters"].dump())
        wrap_oid = wrap["algorithm"].dotted
        wrap_length = _WRAP_OIDS.get(wrap_oid, 0)
        supported = wrap_length > 0
    if supported:
        kdf = "x963" if family == "ecdh" else "hkdf"
        name = f"{family}-{kdf}-{hash_name}+{_WRAP_NAMES[wrap_length]}"
    else:
        name = f"unsupported key agreement {scheme} {wrap_oid}".rstrip()

    originator = kari["originator"]
    if originator.name == "originator_key":
        key_info = originator.chosen
        originator_algorithm = key_info["algorithm"]["algorithm"].dotted
        bits = bytes(key_info["public_key"].contents)
        if not bits or bits[0] != 0:
            raise MalformedMessageError(
                "malformed originator public key", part="cms"
            )
        originator_key = bits[1:]
    else:
        # RFC 5753 section 3.1.1: ephemeral-static needs originatorKey.
        originator_algorithm, originator_key = "", b""
        supported = False
    ukm_value = kari["ukm"]
    ukm = bytes(ukm_value.native) if ukm_value.native is not None else None

    entries = []
    for rek in kari["recipient_encrypted_keys"]:
        matches, identifier = me.matches(rek["rid"])
        summary = RecipientEntry("key-agreement", name, identifier, matches)
        entries.append(
            _Entry(
                summary=summary,
                kind="kari",
                supported=supported,
                encrypted_key=bytes(rek["encrypted_key"].native),
                family=family,
                hash_name=hash_name,
                wrap_length=wrap_length,
                wrap_oid=wrap_oid,
                ukm=ukm,
                originator_algorithm=originator_algorithm,
                originator_key=originator_key,
            )
        )
    return entries


def _unwrap_key_transport(
    entry: _Entry, decrypter: Decrypter, key_length: int
) -> bytes:
    oaep = _full_oaep(entry, decrypter)

    # RFC 3218 section 2.3.2: prepare a random key before trying, use it
    # whenever key transport fails or yields a key of the wrong length,
    # and carry on to the content decryption either way.
    fallback = os.urandom(key_length)
    try:
        if oaep is not None:
            cek = oaep.decrypt_key_transport_oaep(
                entry.encrypted_key, _oaep_parameters(entry)
            )
        else:
            cek = decrypter.decrypt_key_transport(
                entry.encrypted_key, _padding_kind(entry)
            )
    except DecryptionError:
        cek = fallback
    good = len(cek) == key_length
    return cek if good else fallback


def _padding_kind(entry: _Entry) -> KeyTransportPadding:
    if entry.oaep is None:
        return KeyTransportPadding.PKCS1V15
    return _OAEP_BY_HASH[entry.oaep[0]]


def _oaep_parameters(entry: _Entry) -> OaepParameters:
    assert entry.oaep is not None
    return OaepParameters(*entry.oaep)


def _full_oaep(entry: _Entry, decrypter: Decrypter) -> OaepDecrypter | None:
    """The decrypter to use for OAEP parameters KeyTransportPadding lacks."""
    if entry.oaep is None:
        return None
    hash_name, mgf_hash, label = entry.oaep
    if hash_name in _OAEP_BY_HASH and mgf_hash == hash_name and not label:
        return None
    if isinstance(decrypter, OaepDecrypter):
        return decrypter
    # Public parameters, so naming them helps no attacker.
    raise MalformedMessageError(
        f"this key cannot decrypt {entry.summary.key_management}: it "
        "supports OAEP only with the same hash for MGF1 and an empty label",
        part="cms",
    )


def _unwrap_key_agreement(
    entry: _Entry, decrypter: Decrypter, key_length: int
) -> bytes:
    peer = _originator_public_key(entry, decrypter.certificate)
    try:
        secret = decrypter.key_agreement(peer)
    except ValueError:
        # For instance an X25519 point of small order (all-zero secret).
        raise DecryptionError(_FAILED) from None
    info = shared_info(entry.wrap_oid, entry.wrap_length, entry.ukm)
    kek = derive_kek(
        entry.family, entry.hash_name, secret, info, entry.wrap_length
    )
    try:
        cek = aes_key_unwrap(kek, entry.encrypted_key)
    except (InvalidUnwrap, ValueError):
        raise DecryptionError(_FAILED) from None
    if len(cek) != key_length:
        raise DecryptionError(_FAILED)
    return cek


def _originator_public_key(
    entry: _Entry, certificate: x509.Certificate
) -> ec.EllipticCurvePublicKey | x25519.X25519PublicKey:
    own = certificate.public_key()
    try:
        if entry.family == "ecdh" and isinstance(
            own, ec.EllipticCurvePublicKey
        ):
            if entry.originator_algorithm != _OID_EC_PUBLIC_KEY:
                raise ValueError("not an EC key")
            return ec.EllipticCurvePublicKey.from_encoded_point(
                own.curve, entry.originator_key
            )
        if entry.family == "x25519" and isinstance(
            own, x25519.X25519PublicKey
        ):
            if entry.originator_algorithm != _OID_X25519:
                raise ValueError("not an X25519 key")
            return x25519.X25519PublicKey.from_public_bytes(
                entry.originator_key
            )
    except ValueError as exc:
        raise MalformedMessageError(
            "the sender's ephemeral public key is not valid for the "
            "recipient's curve",
            part="cms",
        ) from exc
    raise DecryptionError(
        f"the {entry.summary.key_management} entry does not fit the "
        f"key type of {_describe(certificate)}"
    )


def _decrypt_content(parsed: _Parsed, cek: bytes) -> bytes:
    if parsed.algorithm.authenticated:
        # RFC 5084: the tag covers the ciphertext and the AAD; nothing is
        # released unless it verifies.
        try:
            return AESGCM(cek).decrypt(
                parsed.iv,
                parsed.ciphertext + parsed.mac,
                parsed.aad or None,
            )
        except (InvalidTag, ValueError):
            raise DecryptionError(_FAILED) from None
    if parsed.algorithm is ContentEncryption.DES_EDE3_CBC:
        cipher = Cipher(TripleDES(cek), modes.CBC(parsed.iv))
        block_bits = 64
    else:
        cipher = Cipher(algorithms.AES(cek), modes.CBC(parsed.iv))
        block_bits = 128
    if not parsed.ciphertext or len(parsed.ciphertext) % (block_bits // 8):
        raise DecryptionError(_FAILED)
    decryptor = cipher.decryptor()
    padded = decryptor.update(parsed.ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(block_bits).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise DecryptionError(_FAILED) from None
