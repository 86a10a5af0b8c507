"""Detect state-secret markings (Mật, Tối mật, Tuyệt mật) on a message.

Documents classified under the Law on Protection of State Secrets carry
one of three markings, stamped in capitals: ``MẬT``, ``TỐI MẬT``,
``TUYỆT MẬT``.  Such documents do not travel by ordinary e-mail, so the
gateway refuses outbound mail that bears one.

What is matched, and why:

- Text is compared after Unicode NFC normalisation and case folding, so
  NFD input (combining marks, as some Mac and web clients send) and any
  mix of capitals match alike.  The Subject is RFC 2047-decoded first.
- ``Tối mật`` and ``Tuyệt mật`` match wherever they stand as words: the
  phrases have no everyday meaning.
- ``Mật`` alone matches as a standalone word, unless the word written
  directly beside it (separated only by spaces) makes an ordinary
  compound: ``mật khẩu`` (password), ``mật mã`` (cipher), ``bí mật``
  (secret, the noun), ``mật độ`` (density), ``không mật`` (not secret)
  and the others in :data:`COMPOUND_AFTER` / :data:`COMPOUND_BEFORE`.
  Punctuation breaks a compound: ``[Mật] Kế hoạch`` and
  ``MẬT - Báo cáo`` are markings.  When in doubt the gateway refuses:
  a false refusal costs a reworded subject, a missed marking a leak.
- Forms without diacritics (``MAT``, ``TOI MAT``, ``TUYET MAT``) are
  matched only in a classification header, whose whole purpose is the
  marking.  In a Subject they are ambiguous (``mat`` is also ``mất``,
  ``mặt``, ``mát`` and an English word) and are not matched there.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from email.header import decode_header, make_header

__all__ = [
    "CLASSIFICATION_HEADERS",
    "COMPOUND_AFTER",
    "COMPOUND_BEFORE",
    "Level",
    "Marking",
    "decode_subject",
    "find_marking",
    "marking_in_header_value",
    "marking_in_text",
]

CLASSIFICATION_HEADERS: tuple[str, ...] = (
    "X-Classification",
    "X-Security-Classification",
    "X-Do-Mat",
    "SIO-Label",
)
"""Header fields read as a classification label by default."""

COMPOUND_AFTER: frozenset[str] = frozenset(
    {
        "khẩu",  # mật khẩu: password
        "mã",  # mật mã: cipher
        "ong",  # mật ong: honey
        "độ",  # mật độ: density
        "thiết",  # mật thiết: close, intimate
        "báo",  # mật báo: secret report (a noun, not a marking)
        "thám",  # mật thám: spy
        "vụ",  # mật vụ: secret agent
        "lệnh",  # mật lệnh: secret order
        "ước",  # mật ước: secret pact
        "ngữ",  # mật ngữ: code word
        "danh",  # mật danh: code name
        "đàm",  # mật đàm: secret talks
        "thư",  # mật thư: coded letter (scouting game)
        "gấu",  # mật gấu: bear bile
        "mía",  # mật mía: molasses
        "hoa",  # mật hoa: nectar
        "ngọt",  # mật ngọt: honeyed words
        "khu",  # mật khu: secret zone (historical)
    }
)
"""Words that, written right after "mật", make an ordinary compound."""

COMPOUND_BEFORE: frozenset[str] = frozenset(
    {
        "bí",  # bí mật: secret
        "bảo",  # bảo mật: security, confidentiality
        "thân",  # thân mật: intimate
        "cơ",  # cơ mật: confidential (literary)
        "túi",  # túi mật: gallbladder
        "gan",  # gan mật: liver and bile
        "đường",  # đường mật: bile duct; sweet talk
        "mật",  # "mật mật" is not a marking twice
        "không",  # không mật: not classified
        "giải",  # giải mật: declassified
        "khẩu",  # khẩu mật: spoken code
        "tối",  # handled as the phrase "tối mật"
        "tuyệt",  # handled as the phrase "tuyệt mật"
        "độ",  # độ mật: "secrecy level", a label, not the level
    }
)
"""Words that, written right before "mật", make an ordinary compound."""


@dataclass(frozen=True)
class Level:
    """A secrecy level: its official spelling and ASCII form."""

    name: str
    ascii: str
    rank: int


_LEVELS = (
    Level("Tuyệt mật", "TUYET MAT", 3),
    Level("Tối mật", "TOI MAT", 2),
    Level("Mật", "MAT", 1),
)


@dataclass(frozen=True)
class Marking:
    """A secrecy marking found on a message, and where."""

    level: Level
    where: str  # "Subject" or the header field name
    text: str  # the matched text, NFC


def _fold(text: str) -> str:
    # NFC first so that precomposed and decomposed input compare equal;
    # casefold after, since folding can change the composition.
    return unicodedata.normalize(
        "NFC", unicodedata.normalize("NFC", text).casefold()
    )


def _strip_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return bare.replace("đ", "d").replace("Đ", "D")


_WORD = re.compile(r"\w+")
_PHRASES = (
    (re.compile(r"(?<!\w)tuyệt\s+mật(?!\w)"), _LEVELS[0]),
    (re.compile(r"(?<!\w)tối\s+mật(?!\w)"), _LEVELS[1]),
)
_MAT = re.compile(r"(?<!\w)mật(?!\w)")
_SPACE_WORD_BEFORE = re.compile(r"(\w+)[ \t]+$")
_SPACE_WORD_AFTER = re.compile(r"^[ \t]+(\w+)")


def marking_in_text(text: str) -> Level | None:
    """Return the highest secrecy level marked in ``text``, if any.

    ``text`` is free text such as a decoded Subject; see the module
    docstring for the rules.
    """
    folded = _fold(text)
    for pattern, level in _PHRASES:
        if pattern.search(folded):
            return level
    for match in _MAT.finditer(folded):
        before = _SPACE_WORD_BEFORE.search(folded[: match.start()])
        after = _SPACE_WORD_AFTER.search(folded[match.end() :])
        if before and before.group(1) in COMPOUND_BEFORE:
            continue
        if after and after.group(1) in COMPOUND_AFTER:
            continue
        return _LEVELS[2]
    return None


def marking_in_header_value(value: str) -> Level | None:
    """Return the secrecy level a classification header names, if any.

    Besides the rules of :func:`marking_in_text`, the forms without
    diacritics (``MAT``, ``TOI MAT``, ``TUYET MAT``) count here, as whole
    words.  ``Khong mat`` / ``Không mật`` (unclassified) does not.
    """
    level = marking_in_text(value)
    if level is not None:
        return level
    words = _WORD.findall(_strip_marks(_fold(value)))
    for level in _LEVELS:
        wanted = level.ascii.lower().split()
        for i in range(len(words) - len(wanted) + 1):
            if words[i : i + len(wanted)] != wanted:
                continue
            if (
                len(wanted) == 1
                and i > 0
                and words[i - 1]
                in (
                    "khong",
                    "giai",
                    "bao",
                    "bi",
                )
            ):
                continue
            return level
    return None


def decode_subject(raw: str) -> str:
    """Decode RFC 2047 encoded words in a Subject; keep it on failure."""
    try:
        return str(make_header(decode_header(raw)))
    except (ValueError, LookupError, UnicodeDecodeError):
        # An undecodable encoded word stays as it is; the raw text is
        # still searched.
        return raw


def find_marking(
    headers: Iterable[tuple[str, str]],
    classification_headers: Iterable[str] = CLASSIFICATION_HEADERS,
) -> Marking | None:
    """Return the highest secrecy marking in a message's headers.

    ``headers`` are (name, raw value) pairs in message order.  Every
    Subject field and every field named in ``classification_headers``
    (case-insensitive) is searched.
    """
    label_names = {h.lower() for h in classification_headers}
    best: Marking | None = None
    for name, raw in headers:
        lower = name.lower()
        unfolded = re.sub(r"\r?\n[ \t]", " ", raw)
        if lower == "subject":
            text = decode_subject(unfolded)
            level = marking_in_text(text)
        elif lower in label_names:
            text = decode_subject(unfolded)
            level = marking_in_header_value(text)
        else:
            continue
        if level is not None and (
            best is None or level.rank > best.level.rank
        ):
            best = Marking(level, name, unicodedata.normalize("NFC", text))
    return best
