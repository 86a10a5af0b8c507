"""Reading and unwrapping (Auth)EnvelopedData for one decrypter.

First everything is read out of the ASN.1 into plain values, so that
malformed input fails in one place with one error type; then the content
key is unwrapped and the content decrypted.  Private to govsign.cms.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from asn1crypto import cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap,
)

from govsign.cms._asn1 import (
    ECDH_X963_SCHEMES,
    X25519_HKDF_SCHEMES,
    GCMParameters,
)
from govsign.cms._der import der_length
from govsign.cms._kdf import derive_kek, shared_info
from govsign.cms._model import (
    CONTENT_OIDS,
    FAILED,
    OAEP_BY_HASH,
    OID_EC_PUBLIC_KEY,
    OID_OAEP,
    OID_RSA,
    OID_X25519,
    WRAP_NAMES,
    WRAP_OIDS,
    ContentEncryption,
    RecipientEntry,
    describe,
)
from govsign.errors import DecryptionError, MalformedMessageError
from govsign.keys.base import (
    Decrypter,
    KeyTransportPadding,
    OaepDecrypter,
    OaepParameters,
)

__all__ = [
    "Entry",
    "Parsed",
    "decrypt_content",
    "parse",
    "unwrap_key_agreement",
    "unwrap_key_transport",
]


@dataclass(frozen=True)
class Entry:
    """One recipient entry, read out of the ASN.1."""

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
class Parsed:
    """An envelope, read out of the ASN.1 into plain values."""

    structure: str
    entries: tuple[Entry, ...]
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


def parse(data: bytes, certificate: x509.Certificate) -> Parsed:
    """Read ``data`` for the holder of ``certificate``.

    Raises :class:`MalformedMessageError` for anything that is not a
    complete, well-formed (Auth)EnvelopedData govsign can read.
    """
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
        algorithm = CONTENT_OIDS.get(algorithm_oid)
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
    return Parsed(
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
    return b"\x31" + der_length(len(contents)) + contents


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
            same = serial == self.serial and issuer.dump() == (
                self.issuer.dump()
            )
            if serial == self.serial and not same:
                same = _same_name(issuer, self.issuer)
            return same, f"issuer={_readable(issuer)}, serial={serial:#x}"
        # subject_key_identifier (ktri) or r_key_id (kari)
        chosen = rid.chosen
        ski = (
            chosen["subject_key_identifier"].native
            if rid.name == "r_key_id"
            else chosen.native
        )
        same = self.ski is not None and hmac.compare_digest(ski, self.ski)
        return same, f"subject key id {ski.hex()}"


def _same_name(one: object, other: object) -> bool:
    # asn1crypto compares names as RFC 5280 section 7.1 says; another
    # sender's odd name must not stop decryption for us.
    try:
        return bool(one == other)
    except (ValueError, TypeError, KeyError, AttributeError):
        return False


def _readable(name: asn1_x509.Name) -> str:
    try:
        return str(name.human_friendly)
    except (ValueError, TypeError, KeyError, AttributeError):
        return f"(undecodable name, {len(name.dump())} bytes)"


def _entries(ri: cms.RecipientInfo, me: _MyIdentity) -> list[Entry]:
    if ri.name == "ktri":
        return [_ktri_entry(ri.chosen, me)]
    if ri.name == "kari":
        return _kari_entries(ri.chosen, me)
    kind = {"kekri": "kek", "pwri": "password"}.get(ri.name, "other")
    summary = RecipientEntry(kind, "unsupported", "-", False)
    return [Entry(summary=summary, kind=kind, supported=False)]


def _ktri_entry(ktri: cms.KeyTransRecipientInfo, me: _MyIdentity) -> Entry:
    matches, identifier = me.matches(ktri["rid"])
    algorithm = ktri["key_encryption_algorithm"]
    oid = algorithm["algorithm"].dotted
    oaep: tuple[str, str, bytes] | None = None
    if oid == OID_RSA:
        name = "rsaes-pkcs1v15"
    elif oid == OID_OAEP:
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
    return Entry(
        summary=summary,
        kind="ktri",
        supported=not name.startswith("unsupported"),
        encrypted_key=bytes(ktri["encrypted_key"].native),
        oaep=oaep,
    )


def _kari_entries(
    kari: cms.KeyAgreeRecipientInfo, me: _MyIdentity
) -> list[Entry]:
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
        wrap_length = WRAP_OIDS.get(wrap_oid, 0)
        supported = wrap_length > 0
    if supported:
        kdf = "x963" if family == "ecdh" else "hkdf"
        name = f"{family}-{kdf}-{hash_name}+{WRAP_NAMES[wrap_length]}"
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
            Entry(
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


def unwrap_key_transport(
    entry: Entry, decrypter: Decrypter, key_length: int
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


def _padding_kind(entry: Entry) -> KeyTransportPadding:
    if entry.oaep is None:
        return KeyTransportPadding.PKCS1V15
    return OAEP_BY_HASH[entry.oaep[0]]


def _oaep_parameters(entry: Entry) -> OaepParameters:
    assert entry.oaep is not None
    return OaepParameters(*entry.oaep)


def _full_oaep(entry: Entry, decrypter: Decrypter) -> OaepDecrypter | None:
    """The decrypter to use for OAEP parameters KeyTransportPadding lacks."""
    if entry.oaep is None:
        return None
    hash_name, mgf_hash, label = entry.oaep
    if hash_name in OAEP_BY_HASH and mgf_hash == hash_name and not label:
        return None
    if isinstance(decrypter, OaepDecrypter):
        return decrypter
    # Public parameters, so naming them helps no attacker.
    raise MalformedMessageError(
        f"this key cannot decrypt {entry.summary.key_management}: it "
        "supports OAEP only with the same hash for MGF1 and an empty label",
        part="cms",
    )


def unwrap_key_agreement(
    entry: Entry, decrypter: Decrypter, key_length: int
) -> bytes:
    peer = _originator_public_key(entry, decrypter.certificate)
    try:
        secret = decrypter.key_agreement(peer)
    except ValueError:
        # For instance an X25519 point of small order (all-zero secret).
        raise DecryptionError(FAILED) from None
    info = shared_info(entry.wrap_oid, entry.wrap_length, entry.ukm)
    kek = derive_kek(
        entry.family,
        entry.hash_name,
        secret,
        info,
        entry.wrap_length,
        entry.ukm,
    )
    try:
        cek = aes_key_unwrap(kek, entry.encrypted_key)
    except (InvalidUnwrap, ValueError):
        raise DecryptionError(FAILED) from None
    if len(cek) != key_length:
        raise DecryptionError(FAILED)
    return cek


def _originator_public_key(
    entry: Entry, certificate: x509.Certificate
) -> ec.EllipticCurvePublicKey | x25519.X25519PublicKey:
    own = certificate.public_key()
    try:
        if entry.family == "ecdh" and isinstance(
            own, ec.EllipticCurvePublicKey
        ):
            if entry.originator_algorithm != OID_EC_PUBLIC_KEY:
                raise ValueError("not an EC key")
            return ec.EllipticCurvePublicKey.from_encoded_point(
                own.curve, entry.originator_key
            )
        if entry.family == "x25519" and isinstance(
            own, x25519.X25519PublicKey
        ):
            if entry.originator_algorithm != OID_X25519:
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
        f"key type of {describe(certificate)}"
    )


def _open_gcm(parsed: Parsed, cek: bytes) -> bytes:
    if len(parsed.mac) == 16:
        return AESGCM(cek).decrypt(
            parsed.iv, parsed.ciphertext + parsed.mac, parsed.aad or None
        )
    # RFC 5084 section 3.2 allows 12 to 16 byte tags (12 by default);
    # AESGCM takes only 16, the streaming interface any of them.  The
    # plaintext is returned only after finalize() has checked the tag.
    decryptor = Cipher(
        algorithms.AES(cek),
        modes.GCM(parsed.iv, parsed.mac, min_tag_length=len(parsed.mac)),
    ).decryptor()
    if parsed.aad:
        decryptor.authenticate_additional_data(parsed.aad)
    plaintext = decryptor.update(parsed.ciphertext)
    decryptor.finalize()
    return plaintext


def decrypt_content(parsed: Parsed, cek: bytes) -> bytes:
    """Decrypt the content with ``cek``; one error for every failure."""
    if parsed.algorithm.authenticated:
        # RFC 5084: the tag covers the ciphertext and the AAD; nothing is
        # released unless it verifies.
        try:
            return _open_gcm(parsed, cek)
        except (InvalidTag, ValueError):
            raise DecryptionError(FAILED) from None
    if parsed.algorithm is ContentEncryption.DES_EDE3_CBC:
        cipher = Cipher(TripleDES(cek), modes.CBC(parsed.iv))
        block_bits = 64
    else:
        cipher = Cipher(algorithms.AES(cek), modes.CBC(parsed.iv))
        block_bits = 128
    if not parsed.ciphertext or len(parsed.ciphertext) % (block_bits // 8):
        raise DecryptionError(FAILED)
    decryptor = cipher.decryptor()
    padded = decryptor.update(parsed.ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(block_bits).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise DecryptionError(FAILED) from None
