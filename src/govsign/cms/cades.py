"""CAdES levels T, LT and LTA (ETSI EN 319 122-1) on a SignedData.

- T: a signature-time-stamp unsigned attribute (RFC 3161 token over the
  SignerInfo's signature value, EN 319 122-1 5.3).
- LT: the certificates and revocation data that validate the signer and
  the TSA, in ``SignedData.certificates`` and ``SignedData.crls`` (EN 319
  122-1 baseline B-LT; OCSP responses as the ``id-ri-ocsp-response``
  other revocation format of RFC 5940).  OpenSSL's ``cms -verify`` still
  accepts such a SignedData.
- LTA: an archive-time-stamp-v3 (EN 319 122-1 5.5.3) with its
  ats-hash-index-v3 over everything above.

Every level is added without touching the signed part: the original
encodings of the SignerInfo's signed fields are kept byte for byte.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from asn1crypto import algos, cms, core, parser
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from govsign.cms._der import tlv
from govsign.cms.signed import original_der
from govsign.cms.timestamp import TSAClient
from govsign.errors import MalformedMessageError

__all__ = [
    "SIGNATURE_TIME_STAMP",
    "ARCHIVE_TIME_STAMP_V3",
    "ATS_HASH_INDEX_V3",
    "ArchiveStamp",
    "add_signature_timestamps",
    "add_validation_data",
    "add_archive_timestamps",
    "archive_stamps",
    "embedded_ocsps",
    "has_unsigned_attributes",
    "level_of",
    "signature_timestamps",
    "signature_value",
]

SIGNATURE_TIME_STAMP = "1.2.840.113549.1.9.16.2.14"
ARCHIVE_TIME_STAMP_V3 = "0.4.0.1733.2.4"
ATS_HASH_INDEX_V3 = "0.4.0.19122.1.5"  # EN 319 122-1 id-aa-ATSHashIndex-v3
_DIGEST_OIDS = {
    "sha256": "2.16.840.1.101.3.4.2.1",
    "sha384": "2.16.840.1.101.3.4.2.2",
    "sha512": "2.16.840.1.101.3.4.2.3",
}
_OCSP_FORMAT = "1.3.6.1.5.5.7.16.2"  # id-ri-ocsp-response, RFC 5940

_DER = serialization.Encoding.DER


class _HashIndex(core.SequenceOf):  # type: ignore[misc]
    _child_spec = core.OctetString


class ATSHashIndexV3(core.Sequence):  # type: ignore[misc]
    """EN 319 122-1 5.5.2 ATSHashIndexV3."""

    _fields = [
        (
            "hash_ind_algorithm",
            algos.DigestAlgorithm,
            {"default": {"algorithm": "sha256"}},
        ),
        ("certificates_hash_index", _HashIndex),
        ("crls_hash_index", _HashIndex),
        ("unsigned_attrs_hash_index", _HashIndex),
    ]


def _load(cms_der: bytes) -> cms.ContentInfo:
    try:
        info = cms.ContentInfo.load(cms_der)
        if info["content_type"].native != "signed_data":
            raise MalformedMessageError("not a CMS SignedData")
        info["content"]["signer_infos"]
    except (ValueError, TypeError, KeyError) as exc:
        raise MalformedMessageError(f"not a CMS SignedData: {exc}") from exc
    return info


_raw = original_der


def _present(value: core.Asn1Value) -> bool:
    # .native would parse every nested value, and unknown attributes
    # (archive timestamps) cannot be turned into Python values.
    return not isinstance(value, core.Void) and len(value) > 0


def has_unsigned_attributes(signer_info: cms.SignerInfo) -> bool:
    """Whether the SignerInfo carries any unsigned attribute."""
    return _present(signer_info["unsigned_attrs"])


def signature_value(signer_info: cms.SignerInfo) -> bytes:
    """The SignerInfo's signature OCTET STRING value (what T stamps)."""
    value: bytes = signer_info["signature"].native
    return value


def _unsigned(signer_info: cms.SignerInfo) -> list[cms.CMSAttribute]:
    attrs = signer_info["unsigned_attrs"]
    return list(attrs) if _present(attrs) else []


def _attr_values(
    signer_info: cms.SignerInfo, oid: str
) -> list[core.Asn1Value]:
    return [
        value
        for attr in _unsigned(signer_info)
        if attr["type"].dotted == oid
        for value in attr["values"]
    ]


def signature_timestamps(signer_info: cms.SignerInfo) -> list[bytes]:
    """The DER tokens of the signature-time-stamp attributes."""
    return [_raw(v) for v in _attr_values(signer_info, SIGNATURE_TIME_STAMP)]


def _new_attribute(oid: str, value_der: bytes) -> cms.CMSAttribute:
    # Attribute ::= SEQUENCE { attrType OID, attrValues SET OF ANY },
    # encoded directly so the value keeps its exact bytes.
    oid_der = core.ObjectIdentifier(oid).dump()
    return cms.CMSAttribute.load(tlv(0x30, oid_der + tlv(0x31, value_der)))


def _rebuild_signer_info(
    si: cms.SignerInfo, unsigned: Sequence[cms.CMSAttribute]
) -> cms.SignerInfo:
    # Re-encoded from the original field encodings, so the signed part
    # (signed attributes included) stays byte for byte; only
    # unsignedAttrs ([1] IMPLICIT SET OF Attribute) changes.
    parts = [_raw(si[name]) for name in ("version", "sid", "digest_algorithm")]
    if _present(si["signed_attrs"]):
        parts.append(_raw(si["signed_attrs"]))
    parts += [_raw(si["signature_algorithm"]), _raw(si["signature"])]
    if unsigned:
        parts.append(tlv(0xA1, b"".join(_raw(a) for a in unsigned)))
    return cms.SignerInfo.load(tlv(0x30, b"".join(parts)))


def _rebuild(
    info: cms.ContentInfo,
    signer_infos: Sequence[cms.SignerInfo] | None = None,
    certificates: Sequence[bytes] | None = None,
    crls: Sequence[bytes] | None = None,
) -> bytes:
    # certificates and crls are encoded CertificateChoices and
    # RevocationInfoChoice elements, kept as received.
    signed = info["content"]
    infos = (
        list(signer_infos)
        if signer_infos is not None
        else list(signed["signer_infos"])
    )
    certs = (
        list(certificates)
        if certificates is not None
        else _elements(signed["certificates"])
    )
    revs = list(crls) if crls is not None else _elements(signed["crls"])
    version = _raw(signed["version"])
    # RFC 5652 5.1: version 5 if other-format revocation info is present.
    if any(r[:1] == b"\xa1" for r in revs):  # [1] other
        version = core.Integer(5).dump()
    parts = [
        version,
        _raw(signed["digest_algorithms"]),
        _raw(signed["encap_content_info"]),
    ]
    if certs:
        parts.append(tlv(0xA0, b"".join(certs)))
    if revs:
        parts.append(tlv(0xA1, b"".join(revs)))
    parts.append(tlv(0x31, b"".join(_raw(i) for i in infos)))
    signed_der = tlv(0x30, b"".join(parts))
    oid = _raw(info["content_type"])
    return tlv(0x30, oid + tlv(0xA0, signed_der))


def add_signature_timestamps(cms_der: bytes, tsa: TSAClient) -> bytes:
    """Add a signature-time-stamp to every SignerInfo (level T).

    Raises :class:`~govsign.cms.timestamp.TimestampError` when the TSA
    gives no token.
    """
    info = _load(cms_der)
    new_infos = []
    for si in info["content"]["signer_infos"]:
        token = tsa.timestamp(signature_value(si))
        attrs = [*_unsigned(si), _new_attribute(SIGNATURE_TIME_STAMP, token)]
        new_infos.append(_rebuild_signer_info(si, attrs))
    return _rebuild(info, signer_infos=new_infos)


def add_validation_data(
    cms_der: bytes,
    *,
    certificates: Iterable[x509.Certificate] = (),
    crls: Iterable[bytes] = (),
    ocsps: Iterable[bytes] = (),
) -> bytes:
    """Add certificates and revocation data to the SignedData (level LT).

    Items already present are not repeated.
    """
    info = _load(cms_der)
    signed = info["content"]
    certs = _elements(signed["certificates"])
    revs = _elements(signed["crls"])
    have = set(certs) | set(revs)

    def add(target: list[bytes], element: bytes) -> None:
        if element not in have:
            target.append(element)
            have.add(element)

    # CertificateChoices / RevocationInfoChoice (RFC 5652 10.2.1-2): a
    # certificate and a CRL stand as they are; OCSP is [1] other
    # (RFC 5940): OtherRevocationInfoFormat { id-ri-ocsp-response, resp }.
    for cert in certificates:
        add(certs, cert.public_bytes(_DER))
    for crl_der in crls:
        add(revs, crl_der)
    oid = core.ObjectIdentifier(_OCSP_FORMAT).dump()
    for ocsp_der in ocsps:
        add(revs, tlv(0xA1, oid + ocsp_der))
    return _rebuild(info, certificates=certs, crls=revs)


def _elements(value: core.Asn1Value) -> list[bytes]:
    return [_raw(v) for v in value] if _present(value) else []


def embedded_ocsps(cms_der: bytes) -> list[bytes]:
    """OCSP responses carried as other revocation info (RFC 5940)."""
    signed = _load(cms_der)["content"]
    if not _present(signed["crls"]):
        return []
    out = []
    for choice in signed["crls"]:
        if (
            choice.name == "other"
            and choice.chosen["other_rev_info_format"].dotted == _OCSP_FORMAT
        ):
            out.append(_raw(choice.chosen["other_rev_info"]))
    return out


# --------------------------------------------------------------- LTA


def _hash_lists(
    signed: cms.SignedData, si: cms.SignerInfo, algorithm: str
) -> tuple[list[bytes], list[bytes], list[bytes]]:
    def digest(data: bytes) -> bytes:
        return hashlib.new(algorithm, data).digest()

    certs = [digest(c) for c in _elements(signed["certificates"])]
    revs = [digest(r) for r in _elements(signed["crls"])]
    # EN 319 122-1 V1.1.1 5.5.2: one hash per attribute value, over the
    # attrType followed by that AttributeValue, each with tag and length.
    attrs = [
        digest(_raw(a["type"]) + _raw(value))
        for a in _unsigned(si)
        for value in a["values"]
    ]
    return certs, revs, attrs


def _hash_index(
    signed: cms.SignedData, si: cms.SignerInfo, algorithm: str
) -> bytes:
    """The DER ATSHashIndexV3 of what the SignedData holds now."""
    certs, revs, attrs = _hash_lists(signed, si, algorithm)

    def sequence_of(hashes: list[bytes]) -> bytes:
        return tlv(0x30, b"".join(tlv(0x04, h) for h in hashes))

    # hashIndAlgorithm is written even for SHA-256 (as EU DSS does for
    # v3), with absent parameters.
    oid = core.ObjectIdentifier(_DIGEST_OIDS[algorithm]).dump()
    return tlv(
        0x30,
        tlv(0x30, oid)
        + sequence_of(certs)
        + sequence_of(revs)
        + sequence_of(attrs),
    )


def _load_index(der: bytes) -> ATSHashIndexV3:
    # hashIndAlgorithm DEFAULT sha256 is left out in DER; asn1crypto
    # cannot tell it from the SEQUENCE OF that follows, so look first.
    outer = parser.parse(der)
    contents = outer[4]
    children = []
    while contents:
        child = parser.parse(contents, strict=False)
        size = len(child[3]) + len(child[4]) + len(child[5])
        children.append(contents[:size])
        contents = contents[size:]
    if len(children) == 3:
        children.insert(
            0, algos.DigestAlgorithm({"algorithm": "sha256"}).dump()
        )
    if len(children) != 4:
        raise MalformedMessageError("malformed ats-hash-index-v3")
    index: ATSHashIndexV3 = ATSHashIndexV3.load(tlv(0x30, b"".join(children)))
    return index


def _archive_input(
    signed: cms.SignedData,
    si: cms.SignerInfo,
    content_hash: bytes,
    index_der: bytes,
) -> bytes:
    # EN 319 122-1 5.5.3: eContentType, the hash of the signed content,
    # the SignerInfo's fields up to the signature, and the hash index.
    parts = [
        _raw(signed["encap_content_info"]["content_type"]),
        content_hash,
        _raw(si["version"]),
        _raw(si["sid"]),
        _raw(si["digest_algorithm"]),
    ]
    if _present(si["signed_attrs"]):
        parts.append(_raw(si["signed_attrs"]))
    parts += [
        _raw(si["signature_algorithm"]),
        _raw(si["signature"]),
        index_der,
    ]
    return b"".join(parts)


def add_archive_timestamps(
    cms_der: bytes, content: bytes, tsa: TSAClient
) -> bytes:
    """Add an archive-time-stamp-v3 to every SignerInfo (level LTA).

    ``content`` is the signed content (the detached MIME entity, or the
    encapsulated one).  Add the validation data (level LT) first: the
    archive timestamp covers what is in the SignedData now.
    """
    info = _load(cms_der)
    signed = info["content"]
    algorithm = tsa.hash_algorithm
    new_infos = []
    for si in signed["signer_infos"]:
        index = _hash_index(signed, si, algorithm)
        token_der = tsa.timestamp(
            _archive_input(
                signed, si, hashlib.new(algorithm, content).digest(), index
            )
        )
        # The hash index travels as an unsigned attribute of the archive
        # timestamp token's own SignerInfo (EN 319 122-1 5.5.2).
        token = _load(token_der)
        (tsa_si,) = list(token["content"]["signer_infos"])
        tsa_si = _rebuild_signer_info(
            tsa_si,
            [
                *_unsigned(tsa_si),
                _new_attribute(ATS_HASH_INDEX_V3, index),
            ],
        )
        token_der = _rebuild(token, signer_infos=[tsa_si])
        attrs = [
            *_unsigned(si),
            _new_attribute(ARCHIVE_TIME_STAMP_V3, token_der),
        ]
        new_infos.append(_rebuild_signer_info(si, attrs))
    return _rebuild(info, signer_infos=new_infos)


@dataclass(frozen=True)
class ArchiveStamp:
    """An archive-time-stamp-v3 and the data its imprint must cover.

    ``covered`` is the byte string the token's imprint is the hash of,
    recomputed from the message; ``missing`` says what the hash index
    names that is no longer in the message (then ``covered`` is empty).
    """

    token: bytes
    covered: bytes
    missing: str | None


def archive_stamps(
    cms_der: bytes,
    signer_index: int,
    content_digest: Callable[[str], bytes | None],
) -> list[ArchiveStamp]:
    """The archive timestamps of one SignerInfo, ready to validate.

    ``content_digest(name)`` returns the signed content's digest with
    the named algorithm, or None when it is not at hand.
    """
    info = _load(cms_der)
    signed = info["content"]
    si = signed["signer_infos"][signer_index]
    out = []
    for value in _attr_values(si, ARCHIVE_TIME_STAMP_V3):
        token_der = _raw(value)
        token = _load(token_der)
        (tsa_si,) = list(token["content"]["signer_infos"])
        indexes = _attr_values(tsa_si, ATS_HASH_INDEX_V3)
        if len(indexes) != 1:
            out.append(ArchiveStamp(token_der, b"", "ats-hash-index-v3"))
            continue
        index = _load_index(_raw(indexes[0]))
        algorithm = index["hash_ind_algorithm"]["algorithm"].native
        if algorithm not in _DIGEST_OIDS:
            out.append(ArchiveStamp(token_der, b"", f"hash {algorithm}"))
            continue
        # EN 319 122-1 5.5.2: every hash in the index must still match
        # something in the SignedData (more may have been added since).
        now = _hash_lists(signed, si, algorithm)
        missing = None
        fields = (
            "certificates_hash_index",
            "crls_hash_index",
            "unsigned_attrs_hash_index",
        )
        for field, present in zip(fields, now, strict=True):
            if any(h.native not in set(present) for h in index[field]):
                missing = field
        content_hash = content_digest(algorithm)
        if content_hash is None and missing is None:
            missing = f"content digest {algorithm}"
        covered = (
            b""
            if missing or content_hash is None
            else _archive_input(signed, si, content_hash, _raw(indexes[0]))
        )
        out.append(ArchiveStamp(token_der, covered, missing))
    return out


def level_of(cms_der: bytes, signer_index: int = 0) -> str:
    """The CAdES level a SignerInfo reaches by its form: B, T, LT or LTA.

    Only the form is looked at; whether the parts validate is the
    verifier's question.
    """
    info = _load(cms_der)
    signed = info["content"]
    si = signed["signer_infos"][signer_index]
    if _attr_values(si, ARCHIVE_TIME_STAMP_V3):
        return "LTA"
    if not _attr_values(si, SIGNATURE_TIME_STAMP):
        return "B"
    if _present(signed["crls"]):
        return "LT"
    return "T"
