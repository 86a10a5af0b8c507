"""Minimal DER framing, for the few places asn1crypto is too slow or
would re-encode bytes that must stay as they are (signed attributes,
certificates, large content)."""

from __future__ import annotations

__all__ = ["der_length", "tlv", "der_integer", "der_set"]


def der_length(n: int) -> bytes:
    """The DER encoding of a definite length ``n``."""
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def tlv(tag: int, content: bytes) -> bytes:
    """Tag, definite length, content."""
    return bytes([tag]) + der_length(len(content)) + content


def der_integer(value: int) -> bytes:
    """A DER INTEGER (two's complement, minimal length)."""
    size = max(1, (value.bit_length() + 8) // 8)
    return tlv(0x02, value.to_bytes(size, "big", signed=True))


def der_set(elements: list[bytes]) -> bytes:
    """A DER SET OF: elements sorted by their encodings (X.690 11.6)."""
    return tlv(0x31, b"".join(sorted(elements)))
