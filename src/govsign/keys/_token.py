"""PKCS#11 plumbing shared by the token key, the listing and the CSR code.

Loading a module, choosing the token a URI names, logging in exactly once,
and finding objects by NFC-compared label or id.  python-pkcs11 is kept
behind these functions; its exceptions become :class:`KeySourceError`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pkcs11
from cryptography import x509
from pkcs11 import Attribute, MechanismFlag, ObjectClass, TokenFlag
from pkcs11 import exceptions as p11e

from govsign.errors import KeySourceError
from govsign.keys.uri import Pkcs11Uri, nfc

__all__ = [
    "MODULE_ENV",
    "find_certificates",
    "find_private_keys",
    "find_public_keys",
    "id_of",
    "label_of",
    "list_tokens",
    "load_module",
    "login",
    "mechanism_flags",
    "resolve_module_path",
    "select_token",
    "serial_text",
    "token_label",
    "token_name",
]

log = logging.getLogger(__name__)

MODULE_ENV = "GOVSIGN_PKCS11_MODULE"

# Where Debian, p11-kit and common vendors put PKCS#11 modules; used only
# for an RFC 7512 module-name, never to guess a module nobody named.
_MODULE_DIRS = (
    "/usr/lib/x86_64-linux-gnu/pkcs11",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/softhsm",
    "/usr/lib/x86_64-linux-gnu/softhsm",
    "/usr/lib/pkcs11",
    "/usr/local/lib",
    "/usr/lib",
)

SecretSource = Callable[[], bytes]


def resolve_module_path(
    uri: Pkcs11Uri | None, module: str | os.PathLike[str] | None
) -> Path:
    """Choose the PKCS#11 module: URI module-path, then ``module``, then
    :data:`MODULE_ENV`, then the URI's module-name in the usual places.

    Raises :class:`KeySourceError` when none names an existing file.
    """
    candidates: list[tuple[str, str]] = []
    if uri is not None and uri.module_path:
        candidates.append((uri.module_path, "the URI's module-path"))
    if module:
        candidates.append((os.fspath(module), "--pkcs11-module"))
    env = os.environ.get(MODULE_ENV)
    if env:
        candidates.append((env, MODULE_ENV))
    if candidates:
        path_text, origin = candidates[0]
        path = Path(path_text).expanduser()
        if not path.is_file():
            raise KeySourceError(
                f"PKCS#11 module {path} (from {origin}) does not exist; "
                "install the token's driver or correct the path"
            )
        return path
    if uri is not None and uri.module_name:
        name = uri.module_name
        for directory in _MODULE_DIRS:
            for file_name in (f"{name}.so", f"lib{name}.so", name):
                path = Path(directory) / file_name
                if path.is_file():
                    return path
        raise KeySourceError(
            f"PKCS#11 module-name {name!r} was not found in "
            f"{', '.join(_MODULE_DIRS)}; give module-path instead"
        )
    raise KeySourceError(
        "no PKCS#11 module given: add ?module-path=... to the URI, use "
        f"--pkcs11-module, or set {MODULE_ENV}"
    )


def load_module(path: Path) -> Any:
    """Load and initialise the module at ``path`` (once per process)."""
    try:
        return pkcs11.lib(str(path))
    except p11e.PKCS11Error as exc:
        raise KeySourceError(
            f"cannot load PKCS#11 module {path}: {exc or type(exc).__name__}"
        ) from exc


def token_label(token: Any) -> str:
    """The token's label as NFC text."""
    return nfc(token.label)


def token_name(token: Any) -> str:
    """How messages name a token: its label and serial."""
    serial = serial_text(token)
    label = nfc(token.label)
    return f"{label!r} (serial {serial})" if serial else repr(label)


def serial_text(token: Any) -> str:
    raw = token.serial
    text = raw.decode("ascii", "replace") if isinstance(raw, bytes) else raw
    return str(text).strip()


def _token_matches(token: Any, uri: Pkcs11Uri) -> bool:
    slot = token.slot
    checks: Iterable[tuple[str | int | None, Callable[[], object]]] = (
        (uri.token, lambda: nfc(token.label)),
        (uri.serial, lambda: serial_text(token)),
        (uri.manufacturer, lambda: nfc(token.manufacturer_id).strip()),
        (uri.model, lambda: nfc(token.model).strip()),
        (uri.slot_id, lambda: slot.slot_id),
        (uri.slot_description, lambda: nfc(slot.slot_description).strip()),
        (uri.slot_manufacturer, lambda: nfc(slot.manufacturer_id).strip()),
    )
    return all(want is None or want == got() for want, got in checks)


def _library_matches(lib: Any, uri: Pkcs11Uri) -> bool:
    major, minor = lib.library_version
    checks = (
        (uri.library_description, nfc(lib.library_description).strip()),
        (uri.library_manufacturer, nfc(lib.manufacturer_id).strip()),
        (uri.library_version, f"{major}.{minor}"),
    )
    return all(want is None or want == got for want, got in checks)


def list_tokens(lib: Any) -> list[Any]:
    """Every token present in the module's slots."""
    try:
        return list(lib.get_tokens())
    except p11e.PKCS11Error as exc:
        raise KeySourceError(
            f"the PKCS#11 module cannot list its tokens: {exc}"
        ) from exc


def select_token(lib: Any, uri: Pkcs11Uri) -> Any:
    """Return the one token ``uri`` names.

    Raises :class:`KeySourceError` when none or several match; the message
    lists the tokens present so the clerk can name the right one.
    """
    tokens = list_tokens(lib)
    present = ", ".join(token_name(t) for t in tokens) or "none"
    if not _library_matches(lib, uri):
        raise KeySourceError(
            "the PKCS#11 module's library description, manufacturer or "
            "version differs from the URI"
        )
    matching = [t for t in tokens if _token_matches(t, uri)]
    if not matching:
        raise KeySourceError(
            f"no token matching {uri.without_module()} is present "
            f"(tokens present: {present}); is the token plugged in?"
        )
    if len(matching) > 1:
        raise KeySourceError(
            f"{len(matching)} tokens match {uri.without_module()} "
            f"({present}); name one with token= or serial="
        )
    return matching[0]


def login(
    token: Any, secret: SecretSource | None, *, rw: bool = False
) -> tuple[Any, str | None]:
    """Open a session on ``token``, logging in when it needs a PIN.

    The PIN is tried once: a wrong PIN raises at once, so govsign never
    locks a token by retrying.  A token with a PIN pad is asked to take
    the PIN itself.  ``secret`` is None to open a public session only.
    Returns the session and the PIN typed (None when none was asked), for
    keys that want it again for each use (CKA_ALWAYS_AUTHENTICATE).

    Raises :class:`KeySourceError` for a locked or uninitialised PIN, a
    wrong PIN, or a token that refuses a session.
    """
    name = token_name(token)
    flags = TokenFlag(token.flags)
    if secret is None or not flags & TokenFlag.LOGIN_REQUIRED:
        return _open(token, name, rw=rw), None
    if flags & TokenFlag.USER_PIN_LOCKED:
        raise KeySourceError(
            f"the PIN of token {name} is locked after too many wrong "
            "tries; the issuing CA or your security officer must unlock it"
        )
    if not flags & TokenFlag.USER_PIN_INITIALIZED:
        raise KeySourceError(
            f"token {name} has no user PIN yet; initialise it first"
        )
    if flags & TokenFlag.USER_PIN_FINAL_TRY:
        log.warning(
            "token %s: one PIN try left; a wrong PIN now locks it", name
        )
    if flags & TokenFlag.PROTECTED_AUTHENTICATION_PATH:
        log.info("token %s: enter the PIN on the reader's PIN pad", name)
        session = _open(token, name, rw=rw, user_pin=pkcs11.PROTECTED_AUTH)
        return session, None
    try:
        pin = secret().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise KeySourceError("the PIN is not UTF-8 text") from exc
    return _open(token, name, rw=rw, user_pin=pin), pin


def _open(token: Any, name: str, *, rw: bool, user_pin: Any = None) -> Any:
    try:
        return token.open(rw=rw, user_pin=user_pin)
    except p11e.UserAlreadyLoggedIn:
        # PKCS#11 login is per application: another session of this
        # process already logged in, and this one shares it.
        log.debug("token %s: already logged in", name)
        return token.open(rw=rw)
    except (p11e.PinIncorrect, p11e.PinInvalid, p11e.PinLenRange) as exc:
        raise KeySourceError(_wrong_pin_message(token, name)) from exc
    except p11e.PinLocked as exc:
        raise KeySourceError(
            f"the PIN of token {name} is locked; the issuing CA or your "
            "security officer must unlock it"
        ) from exc
    except p11e.PinExpired as exc:
        raise KeySourceError(
            f"the PIN of token {name} has expired; change it with the "
            "token's own tool first"
        ) from exc
    except p11e.PKCS11Error as exc:
        raise KeySourceError(
            f"cannot open a session on token {name}: "
            f"{exc or type(exc).__name__}"
        ) from exc


def _wrong_pin_message(token: Any, name: str) -> str:
    message = f"wrong PIN for token {name}; govsign tried it once only"
    try:
        flags = TokenFlag(token.flags)
    except p11e.PKCS11Error:
        return message
    if flags & TokenFlag.USER_PIN_LOCKED:
        return f"{message}, and the token has now locked its PIN"
    if flags & TokenFlag.USER_PIN_FINAL_TRY:
        return f"{message}; one more wrong PIN will lock the token"
    return message


def label_of(obj: Any) -> str:
    """An object's CKA_LABEL as NFC text ('' when it has none)."""
    try:
        return nfc(obj[Attribute.LABEL] or "")
    except p11e.PKCS11Error:
        return ""


def id_of(obj: Any) -> bytes:
    """An object's CKA_ID (b'' when it has none)."""
    try:
        return bytes(obj[Attribute.ID] or b"")
    except p11e.PKCS11Error:
        return b""


def find_private_keys(session: Any, uri: Pkcs11Uri) -> list[Any]:
    """Private keys matching the URI's object label (NFC) and id."""
    return [
        key
        for key in _objects(session, ObjectClass.PRIVATE_KEY)
        if (uri.object is None or label_of(key) == uri.object)
        and (uri.id is None or id_of(key) == uri.id)
    ]


def find_certificates(session: Any) -> list[tuple[Any, x509.Certificate]]:
    """Every X.509 certificate object on the token, parsed.

    Objects whose value does not parse are skipped with a warning: a
    token may carry vendor certificates govsign does not need.
    """
    found = []
    for obj in _objects(session, ObjectClass.CERTIFICATE):
        try:
            certificate = x509.load_der_x509_certificate(obj[Attribute.VALUE])
        except (ValueError, p11e.PKCS11Error):
            log.warning(
                "skipping unreadable certificate %r on the token",
                label_of(obj),
            )
            continue
        found.append((obj, certificate))
    return found


def find_public_keys(session: Any) -> list[Any]:
    """Every public key object on the token."""
    return list(_objects(session, ObjectClass.PUBLIC_KEY))


def _objects(session: Any, object_class: ObjectClass) -> list[Any]:
    # Labels are compared after NFC here rather than by the token's
    # C_FindObjects, which compares bytes: a label written decomposed
    # (NFD) by another tool must still be found.
    try:
        return list(session.get_objects({Attribute.CLASS: object_class}))
    except p11e.PKCS11Error as exc:
        raise KeySourceError(
            f"cannot search the token for objects: {exc}"
        ) from exc


def mechanism_flags(token: Any) -> dict[Any, MechanismFlag]:
    """The token's mechanisms and what each may do (sign, decrypt...)."""
    slot = token.slot
    result: dict[Any, MechanismFlag] = {}
    try:
        for mechanism in slot.get_mechanisms():
            try:
                info = slot.get_mechanism_info(mechanism)
            except p11e.PKCS11Error:
                continue
            result[mechanism] = MechanismFlag(info.flags)
    except p11e.PKCS11Error as exc:
        raise KeySourceError(
            f"cannot read the mechanisms of token {token_name(token)}: {exc}"
        ) from exc
    return result
