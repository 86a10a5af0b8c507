"""Where the CLI gets passwords and PINs: a prompt, a variable or a file.

Never from argv: command lines are visible to every user of the machine
(``ps``) and land in shell history.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

PASSWORD_ENV = "GOVSIGN_PASSWORD"


def read_secret(
    *,
    secret_file: Path | None,
    env_var: str = PASSWORD_ENV,
    prompt: str = "Password",
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
                f"cannot read password file {secret_file}: {exc.strerror}"
            ) from exc
        return text.splitlines()[0] if text.strip() else b""
    value = os.environ.get(env_var)
    if value is not None:
        return value.encode("utf-8")
    if not sys.stdin.isatty():
        raise click.UsageError(
            f"no password given: set {env_var}, use --password-file, or "
            "run on a terminal to be prompted"
        )
    typed = click.prompt(prompt, hide_input=True, err=True)
    return str(typed).encode("utf-8")
