"""Find the bytes of a DER SignedData that no signature covers.

RFC 5652 leaves a few fields of SignedData outside every signature and
without meaning for verification: the SignedData and SignerInfo version
numbers, the SignedData digestAlgorithms set (a hint for one-pass
processing; each SignerInfo names its own digest), the NULL parameters of
an AlgorithmIdentifier, and the unused-bits octet of a certificate's
signature BIT STRING (read leniently by pyhanko-certvalidator).  Tamper
tests change every other byte and expect the signature to fail.
"""

from __future__ import annotations

from collections.abc import Iterator

__all__ = ["unprotected_offsets"]


def _tlv(der: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of contents, end) of the DER element at ``pos``."""
    tag = der[pos]
    first = der[pos + 1]
    if first < 0x80:
        return tag, pos + 2, pos + 2 + first
    size = first & 0x7F
    length = int.from_bytes(der[pos + 2 : pos + 2 + size], "big")
    start = pos + 2 + size
    return tag, start, start + length


def _children(der: bytes, start: int, end: int) -> Iterator[tuple[int, int]]:
    """(offset, end) of each element between ``start`` and ``end``."""
    pos = start
    while pos < end:
        _, _, stop = _tlv(der, pos)
        yield pos, stop
        pos = stop


def _nulls(der: bytes, start: int, end: int) -> set[int]:
    return {
        offset
        for child, stop in _children(der, start, end)
        if der[child] == 0x05
        for offset in range(child, stop)
    }


def unprotected_offsets(der: bytes) -> set[int]:
    """Offsets in a SignedData that no signature covers and none reads."""
    out: set[int] = set()
    _, ci_start, ci_end = _tlv(der, 0)
    (_, _), (explicit, _) = list(_children(der, ci_start, ci_end))
    _, sd_outer, _ = _tlv(der, explicit)
    _, sd_start, sd_end = _tlv(der, sd_outer)
    fields = list(_children(der, sd_start, sd_end))
    version, digest_algorithms = fields[0], fields[1]
    out.update(range(*version))
    out.update(range(*digest_algorithms))
    for pos, stop in fields[2:]:
        tag, start, end = _tlv(der, pos)
        if tag == 0xA0:  # certificates
            for cert, _ in _children(der, start, end):
                _, c_start, c_end = _tlv(der, cert)
                *_, (bits, _) = _children(der, c_start, c_end)
                out.add(_tlv(der, bits)[1])  # the unused-bits octet
        if tag == 0x31 and stop == sd_end:  # signerInfos
            for info, _ in _children(der, start, end):
                _, i_start, i_end = _tlv(der, info)
                parts = list(_children(der, i_start, i_end))
                out.update(range(*parts[0]))  # version
                for part, _ in parts[2:]:
                    tag2, p_start, p_end = _tlv(der, part)
                    if tag2 == 0x30:  # an AlgorithmIdentifier
                        out |= _nulls(der, p_start, p_end)
    return out
