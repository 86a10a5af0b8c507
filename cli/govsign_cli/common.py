"""Pieces every command shares: exit codes, input and output files."""

from __future__ import annotations

import sys
from pathlib import Path

import click

EXIT_OK = 0
# Bad input, bad usage, unusable key or configuration.  verify adds its
# verdict codes (docs/cli.md); no command uses 1, which Python itself
# returns for an uncaught exception.
EXIT_ERROR = 2

MAX_INPUT_BYTES = 200 * 1024 * 1024


def read_input(path: Path | None) -> bytes:
    """Read a message from ``path``, or from stdin when it is None/'-'."""
    if path is None or str(path) == "-":
        data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        source = "standard input"
    else:
        try:
            with path.open("rb") as handle:
                data = handle.read(MAX_INPUT_BYTES + 1)
        except OSError as exc:
            raise click.FileError(str(path), exc.strerror) from exc
        source = str(path)
    if len(data) > MAX_INPUT_BYTES:
        raise click.UsageError(
            f"{source} is larger than {MAX_INPUT_BYTES // 2**20} MiB"
        )
    return data


def write_output(path: Path | None, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, or to stdout."""
    if path is None or str(path) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    # Write beside the target and rename, so a failure never leaves half a
    # message where a whole one is expected.
    tmp = path.with_name(f".{path.name}.govsign-tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise click.FileError(str(path), exc.strerror) from exc


input_argument = click.argument(
    "input_path",
    metavar="IN.eml",
    required=False,
    type=click.Path(dir_okay=False, path_type=Path, allow_dash=True),
)
output_option = click.option(
    "-o",
    "--output",
    "output_path",
    type=click.Path(dir_okay=False, path_type=Path, allow_dash=True),
    help="Write here instead of standard output.",
)
password_file_option = click.option(
    "--password-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the key password from this file "
    "(else GOVSIGN_PASSWORD, else a prompt).",
)
pin_file_option = click.option(
    "--pin-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the token PIN from this file (else GOVSIGN_PIN, else a "
    "prompt).",
)
pkcs11_module_option = click.option(
    "--pkcs11-module",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="GOVSIGN_PKCS11_MODULE",
    help="The token's PKCS#11 module (.so), unless the pkcs11: URI names "
    "it; also GOVSIGN_PKCS11_MODULE.",
)
