"""RFC 7512 ``pkcs11:`` URIs: which module, token and object a key is.

A clerk's key is named like
``pkcs11:token=Token%20S%E1%BB%9F;object=Kh%C3%B3a%20k%C3%BD?module-path=
/usr/lib/softhsm/libsofthsm2.so``.  :func:`parse_pkcs11_uri` turns such a
string into a frozen :class:`Pkcs11Uri`; ``str()`` turns it back.

Text attributes are percent-decoded as UTF-8 and normalised to NFC
(TCVN 6909:2001), so a label typed on a keyboard that produces decomposed
Vietnamese still names the object the CA wrote.  Raw (not percent-encoded)
Vietnamese characters are accepted as well, since that is what a person
pastes.

A PIN in the URI (``pin-value``) is refused: a URI ends up on command lines,
in shell history and in logs.  ``pin-source`` is refused too; give the PIN
file to the caller instead (``--pin-file``).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, fields
from urllib.parse import quote_from_bytes, unquote_to_bytes

from govsign.errors import KeySourceError

__all__ = [
    "OBJECT_TYPES",
    "Pkcs11Uri",
    "is_pkcs11_uri",
    "nfc",
    "parse_pkcs11_uri",
]

SCHEME = "pkcs11:"

OBJECT_TYPES = frozenset({"cert", "data", "private", "public", "secret-key"})
"""Values RFC 7512 section 2.3 allows for the ``type`` attribute."""

# RFC 7512 section 2.3: path attribute name -> dataclass field.
_PATH_ATTRIBUTES = {
    "id": "id",
    "library-description": "library_description",
    "library-manufacturer": "library_manufacturer",
    "library-version": "library_version",
    "manufacturer": "manufacturer",
    "model": "model",
    "object": "object",
    "serial": "serial",
    "slot-description": "slot_description",
    "slot-id": "slot_id",
    "slot-manufacturer": "slot_manufacturer",
    "token": "token",
    "type": "type",
}
_QUERY_ATTRIBUTES = {
    "module-name": "module_name",
    "module-path": "module_path",
}
_REFUSED_QUERY = ("pin-value", "pin-source")

# RFC 3986 unreserved characters plus the sub-delimiters RFC 7512 lets
# stand unencoded in a path value; ';' and '?' separate, so they are not
# here, and neither is '%'.
_PATH_SAFE = b":[]@!$'()*+,="
_QUERY_SAFE = b":[]@!$'()*+,=/?|"


def nfc(text: str) -> str:
    """Return ``text`` in Unicode normalisation form C."""
    return unicodedata.normalize("NFC", text)


@dataclass(frozen=True)
class Pkcs11Uri:
    """The attributes of a ``pkcs11:`` URI; None means "not given".

    ``id`` is raw bytes (CKA_ID); every other value is NFC text.
    """

    token: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    serial: str | None = None
    object: str | None = None
    id: bytes | None = None
    type: str | None = None
    slot_id: int | None = None
    slot_description: str | None = None
    slot_manufacturer: str | None = None
    library_description: str | None = None
    library_manufacturer: str | None = None
    library_version: str | None = None
    module_path: str | None = None
    module_name: str | None = None

    def __str__(self) -> str:
        path: list[str] = []
        for name, field_name in _PATH_ATTRIBUTES.items():
            value = getattr(self, field_name)
            if value is None:
                continue
            raw = value if isinstance(value, bytes) else str(value).encode()
            path.append(f"{name}={quote_from_bytes(raw, safe=_PATH_SAFE)}")
        query: list[str] = []
        for name, field_name in _QUERY_ATTRIBUTES.items():
            value = getattr(self, field_name)
            if value is not None:
                encoded = quote_from_bytes(value.encode(), safe=_QUERY_SAFE)
                query.append(f"{name}={encoded}")
        text = SCHEME + ";".join(path)
        return f"{text}?{'&'.join(query)}" if query else text

    def without_module(self) -> Pkcs11Uri:
        """The same URI without ``module-path``/``module-name``."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(module_path=None, module_name=None)
        return Pkcs11Uri(**values)

    def describe_object(self) -> str:
        """A short human description of the object this URI selects."""
        parts = []
        if self.object is not None:
            parts.append(f"label {self.object!r}")
        if self.id is not None:
            parts.append(f"id {self.id.hex()}")
        return " and ".join(parts) if parts else "any object"


def is_pkcs11_uri(text: str) -> bool:
    """True when ``text`` uses the ``pkcs11:`` scheme (any case)."""
    return text[: len(SCHEME)].lower() == SCHEME


def parse_pkcs11_uri(text: str) -> Pkcs11Uri:
    """Parse an RFC 7512 URI.

    Raises :class:`KeySourceError` for another scheme, an unknown or
    repeated attribute, a value that is not UTF-8 where text is expected,
    a bad ``slot-id`` or ``type``, or a PIN in the URI.
    """
    if not is_pkcs11_uri(text):
        raise KeySourceError(f"not a pkcs11: URI: {text!r}")
    body = text[len(SCHEME) :]
    path, _, query = body.partition("?")
    values: dict[str, object] = {}

    # RFC 7512 section 2.3: path attributes separated by ';'.
    for item in filter(None, path.split(";")):
        name, value = _split(item, text)
        if name not in _PATH_ATTRIBUTES:
            raise KeySourceError(
                f"unknown attribute {name!r} in PKCS#11 URI {text!r}"
            )
        _store(values, _PATH_ATTRIBUTES[name], _decode(name, value), text)

    # RFC 7512 section 2.3: query attributes separated by '&'.
    for item in filter(None, query.split("&")):
        name, value = _split(item, text)
        if name in _REFUSED_QUERY:
            raise KeySourceError(
                f"the PKCS#11 URI carries {name}: a PIN must never be part "
                "of a URI; give it with --pin-file, GOVSIGN_PIN or the "
                "prompt"
            )
        if name not in _QUERY_ATTRIBUTES:
            raise KeySourceError(
                f"unknown query attribute {name!r} in PKCS#11 URI {text!r}"
            )
        _store(values, _QUERY_ATTRIBUTES[name], _decode(name, value), text)

    if "type" in values and values["type"] not in OBJECT_TYPES:
        raise KeySourceError(
            f"PKCS#11 URI type={values['type']!r} is not one of "
            f"{', '.join(sorted(OBJECT_TYPES))}"
        )
    if "slot_id" in values:
        slot = str(values["slot_id"])
        if not slot.isdigit():
            raise KeySourceError(f"PKCS#11 URI slot-id={slot!r} is no number")
        values["slot_id"] = int(slot)
    return Pkcs11Uri(**values)  # type: ignore[arg-type]


def _split(item: str, text: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    if not sep:
        raise KeySourceError(
            f"PKCS#11 URI attribute {item!r} has no '=' in {text!r}"
        )
    return name.strip().lower(), value


def _decode(name: str, value: str) -> str | bytes:
    raw = unquote_to_bytes(value.encode("utf-8"))
    if name == "id":
        return raw
    try:
        return nfc(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise KeySourceError(
            f"PKCS#11 URI attribute {name} is not UTF-8 text"
        ) from exc


def _store(
    values: dict[str, object], key: str, value: str | bytes, text: str
) -> None:
    # RFC 7512 section 2.3: an attribute may appear only once.
    if key in values:
        raise KeySourceError(
            f"attribute {key.replace('_', '-')} repeated in PKCS#11 URI "
            f"{text!r}"
        )
    values[key] = value
