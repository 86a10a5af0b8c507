"""Encrypted S/MIME messages: application/pkcs7-mime framing.

:func:`encrypt` moves a message's content headers (Content-*) and body
into an inner MIME entity, encrypts that entity for the recipients and
frames the result as ``application/pkcs7-mime`` (RFC 8551 section 3.3),
keeping the routing headers (From, To, Subject, Date...) outside.

:func:`decrypt` reverses it.  Against EFAIL it decrypts only a message
whose whole body is one enveloped entity (possibly wrapped in an outer
signature, which it names but does not check); it never decrypts an
encrypted part that sits beside other parts, so decrypted text is never
shown together with text an attacker could have added.  A failed GCM tag
releases nothing, and CBC content is reported as not integrity-protected.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import Message

from asn1crypto import cms
from cryptography import x509

from govsign.cms.enveloped import (
    ContentEncryption,
    OpenedEnvelope,
    Recipient,
    RecipientEntry,
    build_envelope,
    open_envelope,
)
from govsign.errors import EncryptionError, MalformedMessageError
from govsign.keys.base import Decrypter, KeyTransportPadding
from govsign.smime._mime import check_message
from govsign.smime.canonical import encode_outer_header

__all__ = [
    "DecryptedMessage",
    "DecryptionResult",
    "choose_content_encryption",
    "decrypt",
    "encrypt",
]

log = logging.getLogger(__name__)

_PKCS7_TYPES = ("application/pkcs7-mime", "application/x-pkcs7-mime")
_ENVELOPED_TYPES = ("enveloped-data", "authenveloped-data")
_DEFAULT_CONTENT_TYPE = b"Content-Type: text/plain; charset="


@dataclass(frozen=True)
class DecryptionResult:
    """How a decrypted message was protected, for reports and the CLI.

    ``integrity_protected`` is False for CBC content: anyone on the way
    could have changed it without the change being detected, unless a
    valid signature inside covers it.  ``outer_signature`` describes a
    signature wrapped around the encrypted part; decrypt does not check
    it.
    """

    smime_type: str
    structure: str
    content_encryption: ContentEncryption
    integrity_protected: bool
    key_management: str
    decrypted_for: str
    recipients: tuple[RecipientEntry, ...]
    outer_signature: str | None = None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """The result as JSON-ready data, with stable field names."""
        return {
            "smime_type": self.smime_type,
            "structure": self.structure,
            "content_encryption": self.content_encryption.value,
            "integrity_protected": self.integrity_protected,
            "key_management": self.key_management,
            "decrypted_for": self.decrypted_for,
            "recipients": [r.to_dict() for r in self.recipients],
            "outer_signature": self.outer_signature,
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class DecryptedMessage:
    """A decrypted message.

    ``message`` is the readable message: the routing headers of the
    encrypted message followed by the decrypted entity (whose own header
    fields win where both have one).  ``entity`` is the decrypted MIME
    entity exactly as it was encrypted.
    """

    message: bytes = field(repr=False)
    entity: bytes = field(repr=False)
    result: DecryptionResult


# ---------------------------------------------------------------------------
# Header handling that keeps the bytes as they came.


@dataclass(frozen=True)
class _Split:
    fields: tuple[bytes, ...]  # each field with its folded lines, no EOL
    body: bytes
    eol: bytes


def _split(message: bytes) -> _Split:
    match = re.search(rb"\r?\n\r?\n", message)
    if message.startswith((b"\r\n", b"\n")):
        head, body = b"", message.split(b"\n", 1)[1]
    elif match is None:
        head, body = message, b""
    else:
        head, body = message[: match.start()], message[match.end() :]
    first = message.find(b"\n")
    eol = (
        b"\r\n" if first > 0 and message[first - 1 : first] == b"\r" else b"\n"
    )
    fields: list[bytes] = []
    for line in head.split(b"\n"):
        line = line.removesuffix(b"\r")
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\r\n" + line
        elif line:
            fields.append(line)
    return _Split(tuple(fields), body, eol)


def _name(field_bytes: bytes) -> bytes:
    return field_bytes.split(b":", 1)[0].strip().lower()


def _is_content_field(field_bytes: bytes) -> bool:
    return _name(field_bytes).startswith(b"content-")


def _join(fields: Sequence[bytes], eol: bytes) -> bytes:
    return b"".join(f.replace(b"\r\n", eol) + eol for f in fields)


def _canonical(data: bytes) -> bytes:
    # RFC 8551 section 3.1.1: canonical CRLF line endings.  Two replaces
    # run in C; a regular expression takes five times as long on 10 MB.
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _base64_lines(data: bytes, eol: bytes) -> bytes:
    # RFC 2045 section 6.8: lines of at most 76 characters.
    encoded = base64.b64encode(data)
    lines = [encoded[i : i + 76] for i in range(0, len(encoded), 76)]
    return eol.join(lines) + eol


# ---------------------------------------------------------------------------
# Encryption


def choose_content_encryption(
    recipients: Sequence[Recipient],
) -> ContentEncryption:
    """Pick the content cipher every recipient can read.

    AES-256-GCM unless a recipient announced capabilities without GCM;
    then the strongest AES-CBC all of them announced (AES-128-CBC, the
    fallback RFC 8551 section 2.7 keeps for older agents, when nothing
    else is shared).
    """
    preference = (
        ContentEncryption.AES256_GCM,
        ContentEncryption.AES128_GCM,
        ContentEncryption.AES256_CBC,
        ContentEncryption.AES128_CBC,
    )
    for candidate in preference:
        if all(
            r.capabilities is None or candidate in r.capabilities
            for r in recipients
        ):
            return candidate
    return ContentEncryption.AES128_CBC


def encrypt(
    message: bytes,
    recipients: Sequence[x509.Certificate | Recipient],
    *,
    sender: x509.Certificate | None = None,
    content_encryption: ContentEncryption | None = None,
    key_transport: KeyTransportPadding = KeyTransportPadding.OAEP_SHA256,
) -> bytes:
    """Encrypt an RFC 5322 message for ``recipients``.

    ``recipients`` are certificates or :class:`Recipient` objects (which
    may carry their own key transport and announced capabilities).
    ``sender``, when given, is added as a recipient so the sent copy stays
    readable.  ``content_encryption`` defaults to AES-256-GCM, or to
    AES-CBC when a recipient is known to need it; ``key_transport``
    applies to RSA recipients given as bare certificates.

    Raises :class:`EncryptionError` when a certificate cannot receive
    encrypted mail or no recipient is given, :class:`MalformedMessageError`
    when ``message`` is empty.
    """
    if not message.strip():
        raise MalformedMessageError("the message to encrypt is empty")
    check_message(message)
    if key_transport is KeyTransportPadding.PKCS1V15:
        log.warning(
            "RSA PKCS#1 v1.5 key transport requested: weaker than OAEP, "
            "use it only for recipients that cannot read OAEP"
        )
    wanted = [
        r
        if isinstance(r, Recipient)
        else Recipient(certificate=r, key_transport=key_transport)
        for r in recipients
    ]
    if sender is not None and all(r.certificate != sender for r in wanted):
        wanted.append(
            Recipient(certificate=sender, key_transport=key_transport)
        )
    if not wanted:
        raise EncryptionError("no recipients: give at least one certificate")

    if content_encryption is None:
        content_encryption = choose_content_encryption(wanted)
        log.debug("content encryption chosen: %s", content_encryption.value)
    if not content_encryption.authenticated:
        log.warning(
            "%s gives no integrity protection (EFAIL); use it only for "
            "recipients that cannot read AES-GCM",
            content_encryption.value,
        )

    # RFC 8551 section 3.3: content headers and body go inside, routing
    # headers stay outside.
    split = _split(message)
    if not split.fields or b":" not in split.fields[0]:
        raise MalformedMessageError(
            "the input does not start with a mail header line"
        )
    inner_fields = [f for f in split.fields if _is_content_field(f)]
    if not any(_name(f) == b"content-type" for f in inner_fields):
        # RFC 2045 section 5.2, except that non-ASCII text is taken to be
        # UTF-8 (TCVN 6909:2001 is Unicode), as for signing.
        charset = b"us-ascii" if split.body.isascii() else b"utf-8"
        inner_fields.insert(0, _DEFAULT_CONTENT_TYPE + charset)
    binary = any(
        _name(f) == b"content-transfer-encoding" and b"binary" in f.lower()
        for f in inner_fields
    )
    body = split.body if binary else _canonical(split.body)
    entity = _join(inner_fields, b"\r\n") + b"\r\n" + body

    der = build_envelope(entity, wanted, content_encryption=content_encryption)
    smime_type = (
        "authEnveloped-data"
        if content_encryption.authenticated
        else "enveloped-data"
    )
    # Routing headers travel in clear: 7-bit, RFC 2047 for UTF-8 text.
    outer = [
        encode_outer_header(f).removesuffix(b"\r\n")
        for f in split.fields
        if not _is_content_field(f) and _name(f) != b"mime-version"
    ]
    outer += [
        b"MIME-Version: 1.0",
        b"Content-Type: application/pkcs7-mime; smime-type="
        + smime_type.encode("ascii")
        + b';\r\n name="smime.p7m"',
        b"Content-Transfer-Encoding: base64",
        b'Content-Disposition: attachment; filename="smime.p7m"',
    ]
    return _join(outer, split.eol) + split.eol + _base64_lines(der, split.eol)


# ---------------------------------------------------------------------------
# Decryption


def _parse_headers(message: bytes) -> Message:
    # Callers pass bytes check_message() has bounded: the stdlib parser
    # recurses once per nesting level.
    return email.parser.BytesParser(policy=email.policy.compat32).parsebytes(
        message
    )


def _parse_checked(content: bytes) -> Message:
    """Parse signed content found inside the message, bounded first."""
    check_message(content)
    return _parse_headers(content)


def _smime_type(part: Message) -> str | None:
    value = part.get_param("smime-type")
    return value.lower() if isinstance(value, str) else None


def _payload(part: Message) -> bytes:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes) or not data:
        raise MalformedMessageError("the encrypted part is empty")
    return data


def _is_enveloped_part(part: Message) -> bool:
    return part.get_content_type() in _PKCS7_TYPES and _smime_type(part) in (
        *_ENVELOPED_TYPES,
        None,
    )


def _opaque_signed_content(der: bytes) -> bytes:
    # Only peels the layer; the outer signature is not checked here.
    try:
        info = cms.ContentInfo.load(der, strict=True)
        if info["content_type"].native != "signed_data":
            raise ValueError("not SignedData")
        content = info["content"]["encap_content_info"]["content"]
        data = content.native
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise MalformedMessageError(
            f"malformed outer signed-data: {exc}", part="cms"
        ) from exc
    if not isinstance(data, bytes):
        raise MalformedMessageError("the outer signed-data has no content")
    return data


def _whole_body(message: bytes, body: bytes, headers: Message) -> bytes:
    # The common case, read without the email package's line-by-line
    # parser (seconds on a large message).
    encoding = str(headers.get("Content-Transfer-Encoding", "")).lower()
    if encoding.strip() == "base64":
        try:
            data = base64.b64decode(body)
        except ValueError as exc:
            raise MalformedMessageError(
                "the encrypted body is not valid base64"
            ) from exc
    else:
        data = _payload(_parse_headers(message))
    if not data:
        raise MalformedMessageError("the encrypted part is empty")
    return data


def _is_signed_data(der: bytes) -> bool:
    try:
        content_type = cms.ContentInfo.load(der)["content_type"].dotted
    except (ValueError, TypeError, KeyError):
        return False  # open_envelope reports what is wrong with it
    return bool(content_type == "1.2.840.113549.1.7.2")


def _find_envelope(
    message: bytes,
) -> tuple[Message, bytes, str | None]:
    """Return the enveloped part, its CMS, and any outer signature."""
    split = _split(message)
    head = _join(split.fields, b"\r\n") + b"\r\n"
    top = email.parser.BytesHeaderParser(
        policy=email.policy.compat32
    ).parsebytes(head)
    if _is_enveloped_part(top):
        der = _whole_body(message, split.body, top)
        # Some agents leave out smime-type; then the CMS itself says
        # whether this is an envelope or an opaque signature.
        if _smime_type(top) is not None or not _is_signed_data(der):
            return top, der, None
    top = _parse_headers(message)
    ctype = top.get_content_type()

    # An outer signature around the whole encrypted entity (RFC 8551
    # section 3.7: sign after encrypt) is peeled, not verified.
    if ctype == "multipart/signed":
        parts = top.get_payload()
        first = parts[0] if isinstance(parts, list) and parts else None
        # RFC 1847: exactly the content and the signature; anything else
        # beside the encrypted part is refused below (EFAIL).
        if (
            isinstance(first, Message)
            and _is_enveloped_part(first)
            and _is_signature_pair(parts)
        ):
            note = "multipart/signed (not checked by decrypt)"
            return first, _payload(first), note
    if ctype in _PKCS7_TYPES and _smime_type(top) in ("signed-data", None):
        inner = _parse_checked(_opaque_signed_content(_payload(top)))
        if _is_enveloped_part(inner):
            note = "application/pkcs7-mime signed-data (not checked)"
            return inner, _payload(inner), note

    # EFAIL: an encrypted part among other parts, or deeper than one
    # outer signature, is never decrypted.
    if _holds_envelope(top, depth=3):
        raise MalformedMessageError(
            f"the encrypted part is nested inside this {ctype} message "
            "(beside other parts or under more than one signature); "
            "govsign decrypts only a message whose whole body is "
            "encrypted, so that decrypted text is never shown beside "
            "text anyone could have added (EFAIL)"
        )
    raise MalformedMessageError(
        f"the message is not encrypted (its content type is {ctype})"
    )


_SIGNATURE_TYPES = (
    "application/pkcs7-signature",
    "application/x-pkcs7-signature",
    "application/pgp-signature",
)


def _is_signature_pair(parts: object) -> bool:
    return (
        isinstance(parts, list)
        and len(parts) == 2
        and isinstance(parts[1], Message)
        and parts[1].get_content_type() in _SIGNATURE_TYPES
    )


def _holds_envelope(entity: Message, depth: int) -> bool:
    """Whether an enveloped part lies anywhere below ``entity``."""
    if depth == 0:
        return False
    for part in entity.walk():
        if part is not entity and _is_enveloped_part(part):
            return True
        if _smime_type(part) == "signed-data":
            try:
                inner = _parse_checked(_opaque_signed_content(_payload(part)))
            except MalformedMessageError:
                continue
            if _is_enveloped_part(inner) or _holds_envelope(inner, depth - 1):
                return True
    return False


def decrypt(message: bytes, key: Decrypter) -> DecryptedMessage:
    """Decrypt an S/MIME message with ``key``.

    Returns the readable message, the decrypted entity and a
    :class:`DecryptionResult`.  Raises :class:`MalformedMessageError` when
    the message is not a whole-body encrypted message or its CMS is
    malformed or uses unknown algorithms, and
    :class:`~govsign.errors.DecryptionError` when the key matches no
    recipient or decryption fails (one message for every cause).
    """
    check_message(message)
    part, der, outer_signature = _find_envelope(message)
    opened = open_envelope(der, key)
    if opened.content_type != "1.2.840.113549.1.7.1":
        raise MalformedMessageError(
            f"the encrypted content is {opened.content_type}, not a MIME "
            "entity (id-data)"
        )
    entity = opened.content
    result = _result(opened, key, outer_signature, _smime_type(part))
    log.info(
        "decrypted %s (%s) for %s",
        result.smime_type,
        result.content_encryption.value,
        result.decrypted_for,
    )
    return DecryptedMessage(
        message=_readable(message, entity), entity=entity, result=result
    )


def _result(
    opened: OpenedEnvelope,
    key: Decrypter,
    outer_signature: str | None,
    declared: str | None,
) -> DecryptionResult:
    warnings = []
    if not opened.integrity_protected:
        warnings.append(
            f"{opened.content_encryption.value} is not integrity-protected: "
            "the content could have been altered on the way; rely on it "
            "only with a valid signature inside"
        )
    if opened.content_encryption is ContentEncryption.DES_EDE3_CBC:
        warnings.append("Triple-DES is an obsolete cipher")
    if opened.key_management == "rsaes-pkcs1v15":
        warnings.append("RSA PKCS#1 v1.5 key transport is a legacy scheme")
    if outer_signature is not None:
        warnings.append(
            f"an outer signature was not checked: {outer_signature}"
        )
    structure_type = (
        "authEnveloped-data"
        if opened.structure == "AuthEnvelopedData"
        else "enveloped-data"
    )
    if declared is not None and declared != structure_type.lower():
        warnings.append(
            f"the message declares smime-type={declared} but holds "
            f"{opened.structure}"
        )
    return DecryptionResult(
        smime_type=structure_type,
        structure=opened.structure,
        content_encryption=opened.content_encryption,
        integrity_protected=opened.integrity_protected,
        key_management=opened.key_management,
        decrypted_for=key.certificate.subject.rfc4514_string(),
        recipients=opened.recipients,
        outer_signature=outer_signature,
        warnings=tuple(warnings),
    )


def _readable(message: bytes, entity: bytes) -> bytes:
    outer = _split(message)
    inner = _split(entity)
    inner_names = {_name(f) for f in inner.fields}
    kept = [
        f
        for f in outer.fields
        if not _is_content_field(f)
        and _name(f) != b"mime-version"
        and _name(f) not in inner_names
    ]
    if b"mime-version" not in inner_names:
        kept.append(b"MIME-Version: 1.0")
    return _join(kept, inner.eol) + entity
