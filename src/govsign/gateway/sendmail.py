"""The sendmail wrapper: sign (and encrypt) on the client, then send.

A mail client or script that calls ``sendmail`` can call
``govsign sendmail`` instead with the same arguments.  The wrapper reads
the message, refuses it if it bears a secrecy marking, signs it with the
user's key, encrypts it when every recipient's certificate is known, and
pipes the result to the real sendmail with the original arguments.

Its configuration is a small TOML file (``GOVSIGN_SENDMAIL_CONFIG`` or
``/etc/govsign/sendmail.toml``)::

    [sendmail]
    key = "~/.govsign/clerk.p12"
    password-file = "~/.govsign/clerk.pass"   # or password-env
    program = "/usr/sbin/sendmail"
    certificates = "/etc/govsign/recipients"  # optional
    encrypt = true
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import getaddresses
from pathlib import Path

from cryptography import x509

from govsign.errors import ConfigurationError, PolicyError
from govsign.gateway.classification import CLASSIFICATION_HEADERS, find_marking
from govsign.gateway.config import read_toml
from govsign.gateway.directory import load_directory
from govsign.gateway.engine import split_message
from govsign.gateway.policy import classified_reply, encryption_targets
from govsign.keys.base import Signer

__all__ = [
    "SendmailConfig",
    "SendmailRequest",
    "load_recipient_directory",
    "load_sendmail_config",
    "parse_sendmail_args",
    "prepare",
    "run_sendmail",
]

DEFAULT_CONFIG = Path("/etc/govsign/sendmail.toml")

# sendmail options that take a value, as separate word or attached.
_WITH_VALUE = set("fFrBNROVLXCpqhbe")


@dataclass(frozen=True)
class SendmailConfig:
    """Settings of the sendmail wrapper."""

    key: Path
    program: Path
    password_file: Path | None = None
    password_env: str | None = None
    certificates: Path | None = None
    encrypt: bool = True

    def password(self) -> bytes:
        """The key password, from its file or variable."""
        if self.password_file is not None:
            try:
                lines = self.password_file.read_bytes().splitlines()
            except OSError as exc:
                raise ConfigurationError(
                    f"cannot read {self.password_file}: {exc.strerror}"
                ) from exc
            return lines[0] if lines else b""
        if self.password_env is not None:
            value = os.environ.get(self.password_env)
            if value is not None:
                return value.encode("utf-8")
        raise ConfigurationError(
            "[sendmail] needs password-file, or password-env set"
        )


def _expand(value: object, base: Path, key: str) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"sendmail.{key} must be a path")
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else base / path


def load_sendmail_config(path: str | Path | None = None) -> SendmailConfig:
    """Read the wrapper's configuration; see the module docstring."""
    if path is None:
        path = os.environ.get("GOVSIGN_SENDMAIL_CONFIG") or DEFAULT_CONFIG
    path = Path(path)
    data = read_toml(path)
    table = data.get("sendmail")
    if not isinstance(table, dict):
        raise ConfigurationError(f"{path}: no [sendmail] table")
    known = {
        "key",
        "password-file",
        "password-env",
        "program",
        "certificates",
        "encrypt",
    }
    unknown = set(table) - known
    if unknown:
        raise ConfigurationError(
            f"unknown setting sendmail.{sorted(unknown)[0]}"
        )
    base = path.parent
    if "key" not in table:
        raise ConfigurationError("sendmail.key is required")
    encrypt = table.get("encrypt", True)
    if not isinstance(encrypt, bool):
        raise ConfigurationError("sendmail.encrypt must be true or false")
    env = table.get("password-env")
    if env is not None and not isinstance(env, str):
        raise ConfigurationError("sendmail.password-env must be a string")
    return SendmailConfig(
        key=_expand(table["key"], base, "key"),
        program=_expand(
            table.get("program", "/usr/sbin/sendmail"), base, "program"
        ),
        password_file=(
            _expand(table["password-file"], base, "password-file")
            if "password-file" in table
            else None
        ),
        password_env=env,
        certificates=(
            _expand(table["certificates"], base, "certificates")
            if "certificates" in table
            else None
        ),
        encrypt=encrypt,
    )


@dataclass(frozen=True)
class SendmailRequest:
    """What a sendmail command line asks for."""

    args: tuple[str, ...]  # as given, passed on to the real sendmail
    recipients: tuple[str, ...]
    from_headers: bool  # -t: recipients come from To/Cc/Bcc
    sender: str | None


def parse_sendmail_args(args: Sequence[str]) -> SendmailRequest:
    """Understand the sendmail options that matter to the wrapper.

    Every argument is passed on unchanged; the wrapper only needs the
    recipients (operands, or ``-t``) and the envelope sender (``-f``).
    ``-bs``/``-bv`` and other modes are refused: the wrapper handles a
    message on standard input only.
    """
    recipients: list[str] = []
    from_headers = False
    sender = None
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            recipients.extend(args[i + 1 :])
            break
        if arg.startswith("-") and len(arg) > 1:
            flag = arg[1]
            if flag == "t":
                from_headers = True
            elif flag == "b" and arg not in ("-bm",):
                raise PolicyError(
                    f"govsign sendmail handles only sending (-bm), not {arg}"
                )
            if flag in _WITH_VALUE:
                value = arg[2:]
                if not value and i + 1 < len(args):
                    i += 1
                    value = args[i]
                if flag in "fr":
                    sender = value
            i += 1
            continue
        recipients.append(arg)
        i += 1
    return SendmailRequest(
        tuple(args), tuple(recipients), from_headers, sender
    )


def _header_recipients(message: bytes) -> list[str]:
    headers, _body = split_message(message)
    values = [v for n, v in headers if n.lower() in ("to", "cc", "bcc")]
    return [a for _n, a in getaddresses(values) if "@" in a]


def prepare(
    message: bytes,
    request: SendmailRequest,
    signer: Signer,
    *,
    directory: dict[str, x509.Certificate] | None = None,
    encrypt: Callable[[bytes, list[x509.Certificate]], bytes] | None = None,
    sign: Callable[[bytes, Signer], bytes],
) -> bytes:
    """Check, sign and (when possible) encrypt a message for sending.

    Raises :class:`PolicyError` for a message bearing a secrecy marking.
    """
    headers, _body = split_message(message)
    marking = find_marking(headers, CLASSIFICATION_HEADERS)
    if marking is not None:
        raise PolicyError(classified_reply(marking).text)
    signed = sign(message, signer)
    if encrypt is None or not directory:
        return signed
    recipients = list(request.recipients)
    if request.from_headers:
        recipients += _header_recipients(message)
    targets = encryption_targets(recipients, directory)
    if not targets:
        return signed
    return encrypt(
        signed, [t for t in targets if isinstance(t, x509.Certificate)]
    )


def run_sendmail(program: Path, args: Sequence[str], message: bytes) -> int:
    """Pipe ``message`` to the real sendmail; return its exit status."""
    # The real sendmail reads LF line endings like any local submission.
    data = message.replace(b"\r\n", b"\n")
    try:
        done = subprocess.run([str(program), *args], input=data, check=False)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot run {program}: {exc.strerror}"
        ) from exc
    return done.returncode


def load_recipient_directory(
    config: SendmailConfig,
) -> dict[str, x509.Certificate]:
    """The configured certificate directory, or an empty one."""
    if config.certificates is None or not config.encrypt:
        return {}
    return load_directory(config.certificates)
