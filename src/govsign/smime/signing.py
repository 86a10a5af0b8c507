"""Sign a mail message: multipart/signed (RFC 1847) or opaque signed-data.

The default is multipart/signed, which any reader can display even without
S/MIME support; ``opaque=True`` produces application/pkcs7-mime, which no
relay can alter without breaking it visibly.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import secrets

from govsign.cms.signed import build_signed_data, choose_algorithm
from govsign.keys.base import HashName, SignatureAlgorithm, Signer
from govsign.smime.canonical import prepare_signed_entity

__all__ = ["sign_message", "micalg_for"]

log = logging.getLogger(__name__)

_MICALG = {
    HashName.SHA256: "sha-256",
    HashName.SHA384: "sha-384",
    HashName.SHA512: "sha-512",
}


def micalg_for(algorithm: SignatureAlgorithm) -> str:
    """The RFC 8551 3.5.3.2 micalg value for ``algorithm``'s digest."""
    return _MICALG[algorithm.digest]


def _base64_lines(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def _boundary() -> str:
    # Random, so no body line can collide with it (endesive used a fixed
    # one); the "=_" makes it impossible in quoted-printable and base64.
    return f"----=_govsign_{secrets.token_hex(16)}"


def sign_message(
    message: bytes,
    signer: Signer,
    *,
    opaque: bool = False,
    digest: HashName | None = None,
    pss: bool = False,
    signing_time: dt.datetime | None = None,
    include_chain: bool = True,
) -> bytes:
    """Sign ``message`` (RFC 5322 bytes) and return the signed message.

    ``digest`` and ``pss`` choose the algorithm (default: the key's
    preferred, SHA-256 for RSA and P-256, SHA-384 for P-384, PKCS#1 v1.5
    for RSA).  The result uses CRLF line endings.

    Raises :class:`~govsign.errors.MalformedMessageError` for input that is
    not a message and :class:`~govsign.errors.SigningError` when the key
    cannot sign as asked.
    """
    prepared = prepare_signed_entity(message)
    algorithm = choose_algorithm(signer, digest=digest, pss=pss)
    cms_der = build_signed_data(
        prepared.entity,
        signer,
        algorithm,
        detached=not opaque,
        signing_time=signing_time,
        include_chain=include_chain,
    )
    log.info(
        "signed as %s with %s/%s",
        "application/pkcs7-mime" if opaque else "multipart/signed",
        algorithm.scheme.value,
        algorithm.digest.value,
    )
    outer = b"".join(prepared.outer_headers) + b"MIME-Version: 1.0\r\n"
    if opaque:
        return (
            outer + b"Content-Type: application/pkcs7-mime; "
            b'smime-type=signed-data; name="smime.p7m"\r\n'
            b"Content-Transfer-Encoding: base64\r\n"
            b'Content-Disposition: attachment; filename="smime.p7m"\r\n'
            b"\r\n" + _base64_lines(cms_der)
        )
    boundary = _boundary().encode("ascii")
    return (
        outer + b"Content-Type: multipart/signed; "
        b'protocol="application/pkcs7-signature"; micalg='
        + micalg_for(algorithm).encode("ascii")
        + b'; boundary="'
        + boundary
        + b'"\r\n\r\n'
        b"This is a cryptographically signed message in MIME format.\r\n"
        b"\r\n--"
        + boundary
        + b"\r\n"
        + prepared.entity
        + b"\r\n--"
        + boundary
        + b"\r\n"
        b'Content-Type: application/pkcs7-signature; name="smime.p7s"\r\n'
        b"Content-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="smime.p7s"\r\n'
        b"Content-Description: S/MIME Cryptographic Signature\r\n"
        b"\r\n" + _base64_lines(cms_der) + b"\r\n--" + boundary + b"--\r\n"
    )
