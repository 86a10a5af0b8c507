"""Raise a signed message to CAdES level T, LT or LTA.

The signed content is not touched: only the CMS object of the outermost
signature changes (unsigned attributes and validation data), so every
existing signature stays valid and the message is re-emitted with the new
CMS in place of the old one, byte for byte elsewhere.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging

from cryptography import x509

from govsign.cms import cades
from govsign.cms.signed import parse_signed_data
from govsign.cms.timestamp import TSAClient, validate_timestamp
from govsign.errors import MalformedMessageError, SigningError
from govsign.pki.validate import PathValidator
from govsign.smime._mime import Entity, decode_body, parse_entity

__all__ = ["LEVELS", "extend_message", "extend_cms", "signed_layer"]

log = logging.getLogger(__name__)

LEVELS = ("B", "T", "LT", "LTA")
_SIGNATURE_TYPES = (
    "application/pkcs7-signature",
    "application/x-pkcs7-signature",
)
_OPAQUE_TYPES = ("application/pkcs7-mime", "application/x-pkcs7-mime")


def signed_layer(message: bytes) -> tuple[Entity, bytes, bytes]:
    """The outermost signature of ``message``.

    Returns (the entity holding the CMS, the CMS DER, the signed content).
    Raises :class:`MalformedMessageError` when the message has no
    signature at its top level.
    """
    from govsign.smime.canonical import canonical_chunks

    root = parse_entity(message)
    ctype = root.content_type
    if ctype == "multipart/signed" and len(root.children) >= 2:
        content, sig = root.children[0], root.children[1]
        if sig.content_type in _SIGNATURE_TYPES:
            data = b"".join(
                bytes(c)
                for c in canonical_chunks(
                    content.data, content.start, content.end
                )
            )
            return sig, decode_body(sig), data
    if ctype in _OPAQUE_TYPES:
        der = decode_body(root)
        parsed = parse_signed_data(der)
        if parsed.content is not None:
            return root, der, parsed.content
    raise MalformedMessageError("the message is not signed at its top level")


def extend_cms(
    cms_der: bytes,
    content: bytes,
    level: str,
    *,
    tsa: TSAClient | None,
    validator: PathValidator | None,
    moment: dt.datetime | None = None,
) -> bytes:
    """Raise a SignedData to ``level``; see :func:`extend_message`."""
    if level not in LEVELS:
        raise SigningError(f"unknown level {level!r}; use {LEVELS}")
    if level == "B":
        return cms_der
    if tsa is None:
        raise SigningError(f"level {level} needs a TSA (--tsa URL)")
    current = cades.level_of(cms_der)

    # Level T: a signature-time-stamp unless one is there already.
    if current == "B":
        cms_der = cades.add_signature_timestamps(cms_der, tsa)
    if level == "T":
        return cms_der

    # Level LT: what validates the signer and the TSA, embedded.
    if validator is None:
        raise SigningError(f"level {level} needs trust anchors")
    if LEVELS.index(current) < LEVELS.index("LT") or level == "LT":
        cms_der = _add_validation_data(cms_der, validator, moment)
    if level == "LT":
        return cms_der

    # Level LTA: an archive timestamp over all of it.
    return cades.add_archive_timestamps(cms_der, content, tsa)


def _add_validation_data(
    cms_der: bytes, validator: PathValidator, moment: dt.datetime | None
) -> bytes:
    parsed = parse_signed_data(cms_der)
    certs: list[x509.Certificate] = []
    crls: list[bytes] = []
    ocsps: list[bytes] = []
    for signer in parsed.signers:
        if signer.certificate is None:
            raise SigningError("the signer's certificate is not embedded")
        others = [c for c in parsed.certificates if c != signer.certificate]
        outcome = validator.validate(
            signer.certificate,
            others,
            moment=moment,
            crls=parsed.crls,
            ocsps=parsed.ocsps,
        )
        if not outcome.passed:
            raise SigningError(
                "cannot embed validation data: the signer's certificate "
                f"does not validate now ({outcome.message})"
            )
        certs += outcome.chain
        crls += outcome.crls
        ocsps += outcome.ocsps
        for token in cades.signature_timestamps(signer.info):
            check = validate_timestamp(
                token,
                cades.signature_value(signer.info),
                validator,
                moment=moment,
            )
            if not check.passed:
                raise SigningError(
                    f"the signature timestamp does not validate: "
                    f"{check.problem}"
                )
            certs += check.chain
            crls += check.crls
            ocsps += check.ocsps
    return cades.add_validation_data(
        cms_der, certificates=certs, crls=crls, ocsps=ocsps
    )


def extend_message(
    message: bytes,
    level: str,
    *,
    tsa: TSAClient | None,
    validator: PathValidator | None = None,
    moment: dt.datetime | None = None,
) -> bytes:
    """Return ``message`` with its outermost signature raised to ``level``.

    ``T`` adds a signature timestamp from ``tsa``; ``LT`` also embeds the
    certificates and revocation data that validate the signer and the
    TSA now (``validator`` supplies anchors, revocation data and fetching);
    ``LTA`` adds an archive timestamp over that.  A level already reached
    is kept.  Raises :class:`SigningError` when a TSA, the anchors or the
    validation data needed cannot be had, and
    :class:`MalformedMessageError` for a message not signed at its top.
    """
    entity, cms_der, content = signed_layer(message)
    new_der = extend_cms(
        cms_der,
        content,
        level,
        tsa=tsa,
        validator=validator,
        moment=moment,
    )
    log.info("signature raised to level %s", level)
    cte = str(entity.headers.get("Content-Transfer-Encoding", ""))
    if cte.strip().lower() != "base64":
        raise MalformedMessageError(
            "the signature part is not base64-encoded; cannot extend it"
        )
    encoded = base64.encodebytes(new_der).replace(b"\n", b"\r\n")
    data = entity.data
    body = data[entity.body_start : entity.end]
    # Keep the line break that ends the body, before the next boundary.
    trailing = body[len(body.rstrip(b"\r\n")) :]
    return (
        data[: entity.body_start]
        + encoded.rstrip(b"\r\n")
        + trailing
        + data[entity.end :]
    )
