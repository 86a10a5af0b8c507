"""Messages, tampering and verdict helpers shared by the interop tests."""

from __future__ import annotations

import base64
import datetime as dt
import email.policy
import email.utils
import os
import re
from collections.abc import Sequence
from email.message import EmailMessage
from pathlib import Path

from asn1crypto import cms

from govsign.errors import MalformedMessageError
from govsign.pki.trust import TrustStore, load_crls
from govsign.smime.verifying import Verifier

MESSAGE_DIGEST_OID = bytes.fromhex("06092a864886f70d010904")

BODY = (
    "Kính gửi: Sở Tài chính tỉnh Demo\n\n"
    "Thực hiện chỉ đạo của Ủy ban nhân dân tỉnh, Sở Nội vụ đề nghị Quý Sở\n"
    "phối hợp triển khai chữ ký số.\n"
    "From the desk of the director\n"
    "-- \n"
    "Trân trọng./.\n"
)


def letter(sender: str, *, date: dt.datetime | None = None) -> bytes:
    """A Vietnamese official letter with a binary attachment, unsigned."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = f"Nguyễn Văn An <{sender}>"
    msg["To"] = "Trần Thị Bình <binh.tt@stc.demo.gov.vn>"
    msg["Subject"] = "Công văn số 15/SNV-VP về việc triển khai chữ ký số"
    msg["Date"] = email.utils.format_datetime(date or dt.datetime.now(dt.UTC))
    msg.set_content(BODY, charset="utf-8", cte="8bit")
    msg.add_attachment(
        b"%PDF-1.7\n" + bytes(range(256)) * 8 + os.urandom(64),
        maintype="application",
        subtype="pdf",
        filename="Phụ lục 01.pdf",
    )
    return msg.as_bytes()


def entity() -> bytes:
    """A MIME entity (no RFC 5322 header) for openssl/NSS to sign."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg.set_content(BODY, charset="utf-8", cte="quoted-printable")
    msg.add_attachment(
        b"%PDF-1.7\n" + bytes(range(256)) * 4,
        maintype="application",
        subtype="pdf",
        filename="phu-luc.pdf",
    )
    return msg.as_bytes()


def verifier(
    trust_file: Path, crl_files: Sequence[Path] = (), **options: object
) -> Verifier:
    """A Verifier trusting only ``trust_file``, with the given CRLs."""
    return Verifier(
        TrustStore.from_pem_file(trust_file),
        crls=load_crls(crl_files),
        **options,  # type: ignore[arg-type]
    )


def verdict_of(v: Verifier, message: bytes, **kw: object) -> str:
    """The verdict, or "malformed" when govsign refuses the message."""
    try:
        return v.verify(message, **kw).verdict.value  # type: ignore[arg-type]
    except MalformedMessageError:
        return "malformed"


# ---------------------------------------------------------------- tamper

_SIG_PART = re.compile(
    rb"Content-Type: application/(?:x-)?pkcs7-(?:signature|mime)[^\r\n]*"
    rb"(?:\r?\n[^\r\n]+)*\r?\n\r?\n([A-Za-z0-9+/=\r\n]+)"
)


def signature_span(message: bytes) -> tuple[int, int]:
    """Offsets of the base64 CMS blob (detached signature or opaque)."""
    found = _SIG_PART.search(message)
    assert found, "no CMS blob in the message"
    return found.start(1), found.end(1)


def signed_entity_span(message: bytes) -> tuple[int, int]:
    """Offsets of the first part of a multipart/signed (the signed part).

    Line ends may be CRLF or, as openssl writes its outer lines, LF.
    """
    boundary = re.search(rb'boundary="?([^"\r\n;]+)"?', message)
    assert boundary, "no boundary"
    delimiter = re.escape(b"--" + boundary.group(1))
    first = re.search(delimiter + rb"\r?\n", message)
    assert first, "no first delimiter"
    second = re.compile(rb"\r?\n" + delimiter).search(message, first.end())
    assert second, "no second delimiter"
    return first.end(), second.start()


def flip(byte: int) -> int:
    """Another byte of the same class, so the change stays plausible."""
    char = chr(byte)
    if char.isdigit():
        return ord("0") + (byte - ord("0") + 1) % 10
    if char.isupper() and char.isascii():
        return ord("A") + (byte - ord("A") + 1) % 26
    if char.islower() and char.isascii():
        return ord("a") + (byte - ord("a") + 1) % 26
    return byte ^ 0x01


def change_byte(message: bytes, offset: int) -> bytes:
    data = bytearray(message)
    data[offset] = flip(data[offset])
    return bytes(data)


def replace_cms(message: bytes, der: bytes) -> bytes:
    """Put ``der`` back where the message's CMS blob was (base64)."""
    start, end = signature_span(message)
    blob = base64.encodebytes(der).replace(b"\n", b"\r\n")
    trailer = message[start:end]
    # Keep whatever followed the base64 lines (blank line, delimiter).
    tail = trailer[len(trailer.rstrip(b"\r\n")) :]
    return message[:start] + blob.rstrip(b"\r\n") + tail + message[end:]


def cms_der(message: bytes) -> bytes:
    start, end = signature_span(message)
    return base64.b64decode(message[start:end])


def encapsulated_content(der: bytes) -> bytes:
    """The eContent of an opaque SignedData."""
    info = cms.ContentInfo.load(der)
    content = info["content"]["encap_content_info"]["content"].native
    assert isinstance(content, bytes)
    return content


def der_offsets(der: bytes, leaf_der: bytes) -> dict[str, int]:
    """Where to change one byte of a SignedData, by what it hits."""
    info = cms.ContentInfo.load(der)
    signature = info["content"]["signer_infos"][0]["signature"].native
    digest_oid = der.index(MESSAGE_DIGEST_OID)
    leaf_at = der.index(leaf_der)
    return {
        # The messageDigest value: the signed attributes no longer match
        # the signature.
        "signed-attribute-digest": digest_oid + len(MESSAGE_DIGEST_OID) + 8,
        # The middle of the signer's certificate (its public key).
        "signer-certificate": leaf_at + len(leaf_der) // 2,
        # The middle of the signature value itself.
        "signature-value": der.index(signature) + len(signature) // 2,
    }


def tampered_variants(
    message: bytes, leaf_der: bytes, *, opaque: bool
) -> dict[str, bytes]:
    """One-byte changes anywhere in what the signature covers or is."""
    der = cms_der(message)
    variants = {}
    for name, offset in der_offsets(der, leaf_der).items():
        changed = bytearray(der)
        changed[offset] ^= 0x01
        variants[name] = replace_cms(message, bytes(changed))
    if opaque:
        # The encapsulated content sits before the certificates.
        at = der.index(b"Content-Type") + 2
        changed = bytearray(der)
        changed[at] = flip(changed[at])
        variants["encapsulated-content"] = replace_cms(message, bytes(changed))
    else:
        start, end = signed_entity_span(message)
        header_at = start + 2  # inside "Content-Type"
        body_at = re.compile(rb"\r?\n\r?\n").search(message, start, end)
        assert body_at, "the signed part has no body"
        variants["signed-part-header"] = change_byte(message, header_at)
        variants["signed-part-body"] = change_byte(message, body_at.end() + 6)
        variants["signed-part-last-byte"] = change_byte(message, end - 1)
    return variants
