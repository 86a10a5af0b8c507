"""CMS SignedData (RFC 5652): build it, take it apart, check signatures.

Built on asn1crypto for the structures and cryptography for the maths.
Signing goes through the :class:`~govsign.keys.base.Signer` protocol, so a
key on a token signs exactly as a key in a file.  Verification here covers
the signature value and the signed attributes only; whether the signer's
certificate is trustworthy is :mod:`govsign.pki.validate`'s question.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from asn1crypto import algos, cms, core
from asn1crypto import tsp as _tsp  # noqa: F401 - registers ESS attributes
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import (
    dsa,
    ec,
    ed25519,
    padding,
    rsa,
)

from govsign.cms._der import der_integer, der_length, der_set, tlv
from govsign.errors import MalformedMessageError, SigningError
from govsign.keys.base import (
    HashName,
    SignatureAlgorithm,
    SignatureScheme,
    Signer,
)

__all__ = [
    "DIGEST_NAMES",
    "ParsedSignerInfo",
    "ParsedSignedData",
    "SignatureCheck",
    "build_signed_data",
    "parse_signed_data",
    "check_signer_info",
    "digest_content",
    "original_der",
]

log = logging.getLogger(__name__)

_DER = serialization.Encoding.DER

# Digest names as asn1crypto spells them, and their hashlib constructors.
DIGEST_NAMES: dict[str, str] = {
    "md5": "md5",
    "sha1": "sha1",
    "sha224": "sha224",
    "sha256": "sha256",
    "sha384": "sha384",
    "sha512": "sha512",
    "sha3_256": "sha3_256",
    "sha3_384": "sha3_384",
    "sha3_512": "sha3_512",
}
WEAK_DIGESTS = frozenset({"md5", "sha1"})
MIN_RSA_BITS = 2048
MIN_EC_BITS = 256

_CRYPTO_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "md5": hashes.MD5,
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
    "sha3_256": hashes.SHA3_256,
    "sha3_384": hashes.SHA3_384,
    "sha3_512": hashes.SHA3_512,
}

# S/MIME capabilities announced in every signature (RFC 8551 2.5.2),
# strongest first: they tell correspondents what to encrypt to us with.
_SMIME_CAPABILITIES = (
    "2.16.840.1.101.3.4.1.46",  # id-aes256-GCM
    "2.16.840.1.101.3.4.1.6",  # id-aes128-GCM
    "2.16.840.1.101.3.4.1.42",  # id-aes256-CBC
    "2.16.840.1.101.3.4.1.2",  # id-aes128-CBC
    "1.2.840.113549.1.1.7",  # id-RSAES-OAEP
)


def digest_content(name: str, chunks: Iterable[bytes | memoryview]) -> bytes:
    """Hash ``chunks`` with the digest asn1crypto calls ``name``."""
    try:
        h = hashlib.new(DIGEST_NAMES[name])
    except KeyError:
        raise MalformedMessageError(
            f"unsupported digest algorithm {name}"
        ) from None
    for chunk in chunks:
        h.update(chunk)
    return h.digest()


# --------------------------------------------------------------- building


def _signature_algorithm_id(
    algorithm: SignatureAlgorithm,
) -> algos.SignedDigestAlgorithm:
    digest = algorithm.digest.value
    scheme = algorithm.scheme
    if scheme is SignatureScheme.RSA_PKCS1V15:
        # RFC 8551 / RFC 3370: rsaEncryption is what every peer expects.
        return algos.SignedDigestAlgorithm({"algorithm": "rsassa_pkcs1v15"})
    if scheme is SignatureScheme.RSA_PSS:
        size = hashlib.new(digest).digest_size
        return algos.SignedDigestAlgorithm(
            {
                "algorithm": "rsassa_pss",
                "parameters": {
                    "hash_algorithm": {"algorithm": digest},
                    "mask_gen_algorithm": {
                        "algorithm": "mgf1",
                        "parameters": {"algorithm": digest},
                    },
                    "salt_length": size,
                    "trailer_field": "trailer_field_bc",
                },
            }
        )
    if scheme is SignatureScheme.ECDSA:
        return algos.SignedDigestAlgorithm({"algorithm": f"{digest}_ecdsa"})
    return algos.SignedDigestAlgorithm({"algorithm": "ed25519"})


def _oid(dotted: str) -> bytes:
    return bytes(core.ObjectIdentifier(dotted).dump())


_OID_CONTENT_TYPE = _oid("1.2.840.113549.1.9.3")
_OID_MESSAGE_DIGEST = _oid("1.2.840.113549.1.9.4")
_OID_SIGNING_TIME = _oid("1.2.840.113549.1.9.5")
_OID_SMIME_CAPABILITIES = _oid("1.2.840.113549.1.9.15")
_OID_SIGNING_CERTIFICATE_V2 = _oid("1.2.840.113549.1.9.16.2.47")
_DATA_OID = _oid("1.2.840.113549.1.7.1")
_SIGNED_DATA_OID = _oid("1.2.840.113549.1.7.2")


def _attribute(oid_der: bytes, value_der: bytes) -> bytes:
    # Attribute ::= SEQUENCE { attrType OID, attrValues SET OF ANY }
    return tlv(0x30, oid_der + tlv(0x31, value_der))


def _signing_certificate_v2(cert: x509.Certificate) -> bytes:
    # RFC 5035: binds the signature to this certificate, so a certificate
    # with the same key but other attributes cannot be substituted.
    # ESSCertIDv2's hashAlgorithm is omitted: SHA-256 is its DEFAULT.
    cert_hash = hashlib.sha256(cert.public_bytes(_DER)).digest()
    general_names = tlv(0x30, tlv(0xA4, cert.issuer.public_bytes()))
    issuer_serial = tlv(0x30, general_names + der_integer(cert.serial_number))
    ess_cert_id = tlv(0x30, tlv(0x04, cert_hash) + issuer_serial)
    value = tlv(0x30, tlv(0x30, ess_cert_id))
    return _attribute(_OID_SIGNING_CERTIFICATE_V2, value)


_SMIME_CAPABILITIES_ATTRIBUTE = _attribute(
    _OID_SMIME_CAPABILITIES,
    tlv(
        0x30,
        b"".join(tlv(0x30, _oid(oid)) for oid in _SMIME_CAPABILITIES),
    ),
)


def _time_value(when: dt.datetime) -> bytes:
    # RFC 5652 11.3: UTCTime for 1950-2049, GeneralizedTime otherwise.
    when = when.astimezone(dt.UTC).replace(microsecond=0)
    if 1950 <= when.year < 2050:
        return tlv(0x17, when.strftime("%y%m%d%H%M%SZ").encode("ascii"))
    return tlv(0x18, when.strftime("%Y%m%d%H%M%SZ").encode("ascii"))


def _signed_attributes(
    certificate: x509.Certificate,
    message_digest: bytes,
    signing_time: dt.datetime,
) -> bytes:
    """The DER SET of signed attributes (RFC 5652 5.3), as signed."""
    return der_set(
        [
            _attribute(_OID_CONTENT_TYPE, _DATA_OID),
            _attribute(_OID_SIGNING_TIME, _time_value(signing_time)),
            _attribute(_OID_MESSAGE_DIGEST, tlv(0x04, message_digest)),
            _signing_certificate_v2(certificate),
            _SMIME_CAPABILITIES_ATTRIBUTE,
        ]
    )


def build_signed_data(
    content: bytes,
    signer: Signer,
    algorithm: SignatureAlgorithm,
    *,
    detached: bool,
    signing_time: dt.datetime | None = None,
    include_chain: bool = True,
) -> bytes:
    """Sign ``content`` and return a DER ``ContentInfo`` with SignedData.

    ``detached`` leaves the content out (multipart/signed); otherwise it is
    encapsulated (application/pkcs7-mime).  Signed attributes: contentType,
    signingTime, messageDigest, signingCertificateV2, SMIMECapabilities.
    """
    digest_name = algorithm.digest.value
    message_digest = hashlib.new(digest_name, content).digest()
    signing_time = signing_time or dt.datetime.now(dt.UTC)
    certificate = signer.certificate

    # RFC 5652 5.4: the signature covers the DER SET of attributes; in
    # SignerInfo the same contents carry the [0] IMPLICIT tag instead.
    to_sign = _signed_attributes(certificate, message_digest, signing_time)
    try:
        signature = signer.sign(to_sign, algorithm)
    except SigningError:
        raise
    except Exception as exc:  # a token or key library failing
        raise SigningError(f"the key could not sign: {exc}") from exc

    digest_id = _digest_algorithm_id(digest_name)
    signer_info = tlv(
        0x30,
        der_integer(1)
        + tlv(
            0x30,
            certificate.issuer.public_bytes()
            + der_integer(certificate.serial_number),
        )
        + digest_id
        + b"\xa0"
        + to_sign[1:]
        + _signature_algorithm_der(algorithm)
        + tlv(0x04, signature),
    )
    certificates = [certificate, *(signer.chain if include_chain else ())]

    # Framed by hand: asn1crypto would re-encode every certificate and
    # copy the content (10 MB) several times.
    encap = _DATA_OID
    if not detached:
        encap += tlv(0xA0, tlv(0x04, content))
    signed_data = tlv(
        0x30,
        der_integer(1)
        + tlv(0x31, digest_id)
        + tlv(0x30, encap)
        + tlv(0xA0, b"".join(c.public_bytes(_DER) for c in certificates))
        + tlv(0x31, signer_info),
    )
    return tlv(0x30, _SIGNED_DATA_OID + tlv(0xA0, signed_data))


@functools.lru_cache(maxsize=16)
def _digest_algorithm_id(name: str) -> bytes:
    return bytes(algos.DigestAlgorithm({"algorithm": name}).dump())


@functools.lru_cache(maxsize=32)
def _signature_algorithm_der(algorithm: SignatureAlgorithm) -> bytes:
    return bytes(_signature_algorithm_id(algorithm).dump())


def choose_algorithm(
    signer: Signer,
    *,
    digest: HashName | None = None,
    pss: bool = False,
) -> SignatureAlgorithm:
    """Pick the signer's preferred algorithm, honouring the caller's wish.

    Raises :class:`SigningError` when the key cannot sign that way.
    """
    supported = list(signer.supported_algorithms())
    for candidate in supported:
        if digest is not None and candidate.digest is not digest:
            continue
        wants_pss = candidate.scheme is SignatureScheme.RSA_PSS
        is_rsa = candidate.scheme in (
            SignatureScheme.RSA_PSS,
            SignatureScheme.RSA_PKCS1V15,
        )
        if is_rsa and wants_pss != pss:
            continue
        return candidate
    wish = " ".join(
        w
        for w in ("RSA-PSS" if pss else "", digest.value if digest else "")
        if w
    )
    raise SigningError(f"the key cannot sign with {wish or 'any algorithm'}")


# ---------------------------------------------------------------- parsing


@dataclass(frozen=True)
class ParsedSignerInfo:
    """One SignerInfo, with the certificate it names (if present)."""

    info: cms.SignerInfo
    certificate: x509.Certificate | None
    digest_algorithm: str
    signature_algorithm: str
    signing_time: dt.datetime | None
    signed_attrs_der: bytes | None = None
    econtent_type: str | None = None


@dataclass(frozen=True)
class ParsedSignedData:
    """A parsed SignedData: content (if encapsulated), certs and signers."""

    content_type: str
    content: bytes | None
    certificates: tuple[x509.Certificate, ...]
    signers: tuple[ParsedSignerInfo, ...]
    crls: tuple[bytes, ...]
    ocsps: tuple[bytes, ...] = ()  # RFC 5940 id-ri-ocsp-response
    der: bytes = field(default=b"", repr=False, compare=False)


def parse_signed_data(der: bytes | memoryview) -> ParsedSignedData:
    """Parse a DER ``ContentInfo`` holding SignedData.

    Raises :class:`MalformedMessageError` for anything that is not one.
    """
    raw = bytes(der)  # one copy, shared with the result
    try:
        info = cms.ContentInfo.load(raw, strict=True)
        if info["content_type"].native != "signed_data":
            raise MalformedMessageError(
                "the CMS object is "
                f"{info['content_type'].native}, not signed-data"
            )
        signed = info["content"]
        encap = signed["encap_content_info"]
        content_type = encap["content_type"].native
        content = _encapsulated_bytes(encap["content"])
        certificates = tuple(_certificates(signed))
        crls = tuple(
            original_der(c.chosen)
            for c in _present(signed["crls"])
            if c.name == "crl"
        )
        ocsps = tuple(
            original_der(c.chosen["other_rev_info"])
            for c in _present(signed["crls"])
            if c.name == "other"
            and c.chosen["other_rev_info_format"].dotted
            == "1.3.6.1.5.5.7.16.2"
        )
        signers = tuple(
            _parse_signer_info(si, certificates, content_type)
            for si in signed["signer_infos"]
        )
    except MalformedMessageError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise MalformedMessageError(
            f"the signature is not valid CMS: {exc}"
        ) from exc
    return ParsedSignedData(
        content_type, content, certificates, signers, crls, ocsps, raw
    )


def _encapsulated_bytes(value: core.Asn1Value) -> bytes | None:
    if isinstance(value, core.Void):
        return None
    # Content is an OCTET STRING, possibly constructed (BER, as NSS and
    # older Outlook produce); .native joins the pieces.
    native = value.native
    if isinstance(native, bytes):
        return native
    return bytes(value.contents)


def _present(value: core.Asn1Value) -> Iterable[core.Asn1Value]:
    """Iterate an optional SET OF without parsing its members eagerly."""
    if isinstance(value, core.Void):
        return ()
    return value  # type: ignore[no-any-return]


def original_der(value: core.Asn1Value) -> bytes:
    """A parsed value's bytes exactly as received.

    asn1crypto's dump() may re-encode a parsed value (it normalises, for
    example, BIT STRINGs with unused bits in a certificate's unique IDs,
    as in NIST PKITS 4.3.6), which changes the bytes a signature covers.
    """
    if isinstance(value, core.Choice) and not value.explicit:
        # An untagged CHOICE is encoded as its chosen alternative.
        return original_der(value.chosen)
    header = getattr(value, "_header", None)
    if header is None or value.contents is None:
        return bytes(value.dump())
    return bytes(header + value.contents + (value._trailer or b""))


def _certificates(signed: cms.SignedData) -> Iterable[x509.Certificate]:
    for choice in _present(signed["certificates"]):
        if choice.name != "certificate":
            continue
        cert = _load_certificate(original_der(choice.chosen))
        if cert is None:
            log.debug("skipping an unparsable certificate in the message")
            continue
        yield cert


@functools.lru_cache(maxsize=512)
def _load_certificate(der: bytes) -> x509.Certificate | None:
    # A gateway sees the same few signers and CAs all day: load each
    # once.  cryptography parses fields lazily; certificates are outside
    # the signature, so read them now and treat one that fails as absent
    # rather than let the error escape verify() later.
    try:
        cert = x509.load_der_x509_certificate(der)
        _ = (cert.subject, cert.issuer, cert.extensions)
        cert.public_key()
    except (
        ValueError,
        x509.InvalidVersion,
        x509.DuplicateExtension,
        UnsupportedAlgorithm,
    ):
        return None
    return cert


def _signed_attrs_der(si: cms.SignerInfo) -> bytes | None:
    # RFC 5652 5.4: the signature covers the attributes with an explicit
    # SET tag.  Take the bytes as received, before anything parses (and
    # so might re-encode) them.
    attrs = si["signed_attrs"]
    if isinstance(attrs, core.Void):
        return None
    contents = bytes(attrs.contents)
    return b"\x31" + der_length(len(contents)) + contents


def _parse_signer_info(
    si: cms.SignerInfo,
    certificates: Sequence[x509.Certificate],
    econtent_type: str | None = None,
) -> ParsedSignerInfo:
    signed_attrs_der = _signed_attrs_der(si)
    certificate = _find_certificate(si["sid"], certificates)
    signing_time = None
    for attr in _present(si["signed_attrs"]):
        if attr["type"].native == "signing_time":
            signing_time = attr["values"][0].native
    return ParsedSignerInfo(
        info=si,
        certificate=certificate,
        digest_algorithm=si["digest_algorithm"]["algorithm"].native,
        signature_algorithm=si["signature_algorithm"]["algorithm"].native,
        signing_time=signing_time,
        signed_attrs_der=signed_attrs_der,
        econtent_type=econtent_type,
    )


def _find_certificate(
    sid: cms.SignerIdentifier, certificates: Sequence[x509.Certificate]
) -> x509.Certificate | None:
    if sid.name == "issuer_and_serial_number":
        issuer = sid.chosen["issuer"].dump()
        serial = sid.chosen["serial_number"].native
        candidates = [c for c in certificates if c.serial_number == serial]
        for cert in candidates:
            if cert.issuer.public_bytes() == issuer:
                return cert
        # Re-encoding can differ from an unusual original encoding; compare
        # the certificate's own issuer bytes before giving up.
        for cert in candidates:
            asn1 = asn1_x509.Certificate.load(cert.public_bytes(_DER))
            if asn1.issuer.dump() == issuer:
                return cert
        return None
    wanted = sid.chosen.native
    for cert in certificates:
        try:
            ski = cert.extensions.get_extension_for_class(
                x509.SubjectKeyIdentifier
            ).value.digest
        except x509.ExtensionNotFound:
            continue
        if ski == wanted:
            return cert
    return None


# ----------------------------------------------------------- verification


@dataclass(frozen=True)
class SignatureCheck:
    """The outcome of checking one SignerInfo's value and attributes.

    ``failure`` is None when everything checked out; otherwise one of
    ``"format"``, ``"hash"``, ``"crypto"``, ``"weak"``,
    ``"no-certificate"``, ``"certificate-binding"``, and ``reason`` says
    why in words.
    """

    failure: str | None
    reason: str | None = None


def check_signer_info(
    signer: ParsedSignerInfo,
    content_digest: bytes,
    *,
    allow_weak: Iterable[str] = (),
) -> SignatureCheck:
    """Check one signature over content whose digest is ``content_digest``.

    ``content_digest`` must use ``signer.digest_algorithm``.  Weak digests
    (SHA-1, MD5) and short keys (RSA < 2048, EC < 256 bits) fail as
    ``"weak"`` unless named in ``allow_weak`` (``"sha1"``, ``"md5"``,
    ``"rsa-short"``).
    """
    try:
        return _check_signer_info(signer, content_digest, allow_weak)
    except (ValueError, TypeError, KeyError) as exc:
        # asn1crypto parses lazily: a malformed attribute surfaces here.
        return SignatureCheck("format", f"malformed signer info: {exc}")


def _check_signer_info(
    signer: ParsedSignerInfo,
    content_digest: bytes,
    allow_weak: Iterable[str],
) -> SignatureCheck:
    allowed = {a.lower() for a in allow_weak}
    si = signer.info
    cert = signer.certificate
    if cert is None:
        return SignatureCheck(
            "no-certificate", "the signer's certificate is not in the message"
        )

    # Algorithm constraints (Circular 15/2025, RFC 8551 2.1).
    if signer.digest_algorithm not in DIGEST_NAMES:
        return SignatureCheck(
            "format", f"unknown digest algorithm {signer.digest_algorithm}"
        )
    if signer.digest_algorithm in WEAK_DIGESTS - allowed:
        return SignatureCheck(
            "weak",
            f"{signer.digest_algorithm.upper()} signatures are not accepted",
        )
    weak_key = _weak_key_reason(cert)
    if weak_key and "rsa-short" not in allowed:
        return SignatureCheck("weak", weak_key)

    # RFC 5652 5.4: with signed attributes, the signature covers them and
    # messageDigest binds the content.
    attrs = si["signed_attrs"]
    if isinstance(attrs, core.Void):
        signed_bytes = None
    else:
        problem = _check_signed_attributes(
            attrs, content_digest, cert, signer.econtent_type
        )
        if problem is not None:
            return problem
        signed_bytes = signer.signed_attrs_der
    if signed_bytes is None:
        return SignatureCheck(
            "format",
            "the signature has no signed attributes; govsign requires them",
        )
    try:
        _verify_value(
            cert,
            si["signature_algorithm"],
            signer.digest_algorithm,
            si["signature"].native,
            signed_bytes,
        )
    except InvalidSignature:
        return SignatureCheck(
            "crypto", "the signature value does not match the signer's key"
        )
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        return SignatureCheck("format", f"cannot check the signature: {exc}")
    return SignatureCheck(None)


def _weak_key_reason(cert: x509.Certificate) -> str | None:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        return f"RSA key of {key.key_size} bits is shorter than 2048"
    if (
        isinstance(key, ec.EllipticCurvePublicKey)
        and key.curve.key_size < MIN_EC_BITS
    ):
        return f"EC key of {key.curve.key_size} bits is shorter than 256"
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA keys are not accepted"
    return None


def _check_signed_attributes(
    attrs: cms.CMSAttributes,
    content_digest: bytes,
    cert: x509.Certificate,
    econtent_type: str | None = None,
) -> SignatureCheck | None:
    by_type: dict[str, list[cms.CMSAttribute]] = {}
    for attr in attrs:
        by_type.setdefault(attr["type"].native, []).append(attr)
    for required in ("content_type", "message_digest"):
        found = by_type.get(required, [])
        if len(found) != 1 or len(found[0]["values"]) != 1:
            return SignatureCheck(
                "format", f"signed attribute {required} missing or repeated"
            )
    # RFC 5652 11.1: eContentType is not signed; the attribute is.
    signed_type = by_type["content_type"][0]["values"][0].native
    if econtent_type is not None and signed_type != econtent_type:
        return SignatureCheck(
            "format",
            f"the signed content type ({signed_type}) differs from the "
            f"content's ({econtent_type})",
        )
    digest_value = by_type["message_digest"][0]["values"][0].native
    if digest_value != content_digest:
        return SignatureCheck(
            "hash",
            "the content does not match the signed digest: "
            "the message was changed after signing",
        )
    for attr in by_type.get("signing_certificate_v2", []):
        cert_ids = attr["values"][0]["certs"]
        if len(cert_ids) == 0:
            continue
        first = cert_ids[0]
        algo = first["hash_algorithm"]["algorithm"].native
        actual = hashlib.new(
            DIGEST_NAMES.get(algo, "sha256"), cert.public_bytes(_DER)
        ).digest()
        if first["cert_hash"].native != actual:
            return SignatureCheck(
                "certificate-binding",
                "signingCertificateV2 names another certificate than the "
                "one the signer identifier points to",
            )
    return None


def _verify_value(
    cert: x509.Certificate,
    algorithm: algos.SignedDigestAlgorithm,
    digest_name: str,
    signature: bytes,
    data: bytes,
) -> None:
    key = cert.public_key()
    name = algorithm["algorithm"].native
    # The OID is not signed: it must name a scheme for this key type, or
    # anything (an unknown OID, ECDSA on an RSA key) would pass as the
    # key's default scheme (RFC 3370 3.2, RFC 5753 7.1, RFC 8419 3).
    if not _fits_key(name, key):
        raise ValueError(
            f"signature algorithm {name} does not fit the signer's "
            f"{type(key).__name__.removesuffix('PublicKey')} key"
        )
    if isinstance(key, ed25519.Ed25519PublicKey):
        key.verify(signature, data)
        return
    if name == "rsassa_pss":
        params = algorithm["parameters"]
        pss_hash = _CRYPTO_HASHES[params["hash_algorithm"]["algorithm"].native]
        mgf_hash = _CRYPTO_HASHES[
            params["mask_gen_algorithm"]["parameters"]["algorithm"].native
        ]
        if not isinstance(key, rsa.RSAPublicKey):
            raise InvalidSignature
        key.verify(
            signature,
            data,
            padding.PSS(
                mgf=padding.MGF1(mgf_hash()),
                salt_length=params["salt_length"].native,
            ),
            pss_hash(),
        )
        return
    # For rsaEncryption and the *_rsa / *_ecdsa OIDs the digest is the
    # SignerInfo's; a *_rsa OID naming another digest is inconsistent.
    oid_hash = (
        name.split("_", 1)[0] if name.endswith(("_rsa", "_ecdsa")) else None
    )
    if oid_hash is not None and oid_hash != digest_name:
        raise ValueError(
            f"signature algorithm {name} does not match digest {digest_name}"
        )
    chosen = _CRYPTO_HASHES[digest_name]()
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, data, padding.PKCS1v15(), chosen)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(signature, data, ec.ECDSA(chosen))
    else:
        raise ValueError(f"unsupported signer key type {type(key).__name__}")


def _fits_key(name: str, key: object) -> bool:
    if isinstance(key, ed25519.Ed25519PublicKey):
        return name == "ed25519"
    if isinstance(key, rsa.RSAPublicKey):
        return name in ("rsassa_pkcs1v15", "rsassa_pss") or name.endswith(
            "_rsa"
        )
    if isinstance(key, ec.EllipticCurvePublicKey):
        # Some old signers put the key's OID, id-ecPublicKey, here.
        return name.endswith("_ecdsa") or name in (
            "ecdsa",
            "1.2.840.10045.2.1",
        )
    return False
