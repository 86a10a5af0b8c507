"""Where the CLI gets passwords and PINs: a prompt, a variable or a file.

Never from argv: command lines are visible to every user of the machine
(``ps``) and land in shell history.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import click

from govsign.keys.uri import is_pkcs11_uri

PASSWORD_ENV = "GOVSIGN_PASSWORD"
PIN_ENV = "GOVSIGN_PIN"


def read_secret(
    *,
    secret_file: Path | None,
    env_var: str = PASSWORD_ENV,
    prompt: str = "Password",
    file_option: str = "--password-file",
    what: str = "password",
) -> bytes:
    """Return the secret from ``secret_file``, ``env_var`` or a prompt.

    A file wins over the variable.  The file's first line is used, without
    its line ending.  The prompt hides what is typed and is only offered on
    a terminal; without one the user is told how to pass the secret.
    """
    if secret_file is not None:
        try:
            text = secret_file.read_bytes()
        except OSError as exc:
            raise click.UsageError(
                f"cannot read {what} file {secret_file}: {exc.strerror}"
            ) from exc
        return text.splitlines()[0] if text.strip() else b""
    value = os.environ.get(env_var)
    if value is not None:
        return value.encode("utf-8")
    if not sys.stdin.isatty():
        raise click.UsageError(
            f"no {what} given: set {env_var}, use {file_option}, or "
            "run on a terminal to be prompted"
        )
    typed = click.prompt(prompt, hide_input=True, err=True)
    return str(typed).encode("utf-8")


def key_secret(
    key_spec: str,
    *,
    password_file: Path | None,
    pin_file: Path | None,
) -> Callable[[], bytes]:
    """The secret source for ``key_spec``, asked only when needed.

    A ``pkcs11:`` key wants the token PIN (``pin_file``, else
    ``GOVSIGN_PIN``, else a prompt); a file key its password
    (``password_file``, else ``GOVSIGN_PASSWORD``, else a prompt).
    """
    if is_pkcs11_uri(key_spec):
        return lambda: read_secret(
            secret_file=pin_file,
            env_var=PIN_ENV,
            prompt="Token PIN",
            file_option="--pin-file",
            what="PIN",
        )
    return lambda: read_secret(
        secret_file=password_file, prompt=f"Password for {key_spec}"
    )
