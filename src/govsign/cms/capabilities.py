"""What a correspondent can decrypt, from the SMIMECapabilities it signed.

RFC 8551 section 2.5.2: a signer lists, strongest first, the algorithms
it can read.  :func:`announced_ciphers` turns that list into the content
ciphers govsign knows, for :class:`~govsign.cms.enveloped.Recipient`, so
that encryption falls back to AES-CBC only for a correspondent known to
need it.
"""

from __future__ import annotations

import logging

from govsign.cms._model import CONTENT_OIDS, ContentEncryption
from govsign.cms.signed import parse_signed_data
from govsign.errors import MalformedMessageError

__all__ = ["announced_ciphers"]

log = logging.getLogger(__name__)


def announced_ciphers(
    signed_data: bytes,
) -> tuple[ContentEncryption, ...] | None:
    """The content ciphers the first signer of ``signed_data`` announced.

    ``signed_data`` is a DER ContentInfo with SignedData (the
    ``smime.p7s`` of a message from the correspondent).  Returns None when
    the signer announced nothing, and the known ciphers in the signer's
    order otherwise (possibly none).  The signature is not checked here:
    verify the message first.  Raises :class:`MalformedMessageError` for
    input that is not SignedData or has a malformed attribute.
    """
    parsed = parse_signed_data(signed_data)
    if not parsed.signers:
        return None
    attrs = parsed.signers[0].info["signed_attrs"]
    try:
        for attr in attrs:
            if attr["type"].dotted != "1.2.840.113549.1.9.15":
                continue
            capabilities = attr["values"][0]
            oids = [c["capability_id"].dotted for c in capabilities]
            ciphers = tuple(
                CONTENT_OIDS[o]
                for o in oids
                if o in CONTENT_OIDS
                and CONTENT_OIDS[o] is not ContentEncryption.DES_EDE3_CBC
            )
            log.debug("announced content ciphers: %s", ciphers)
            return ciphers
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise MalformedMessageError(
            f"malformed SMIMECapabilities attribute: {exc}", part="cms"
        ) from exc
    return None
