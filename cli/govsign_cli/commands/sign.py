"""``govsign sign``: sign a message with a key from a file or token."""

from __future__ import annotations

from pathlib import Path

import click

from govsign.keys import HashName, open_key
from govsign.smime.signing import sign_message
from govsign_cli.common import (
    input_argument,
    output_option,
    password_file_option,
    read_input,
    write_output,
)
from govsign_cli.secrets import read_secret


@click.command("sign")
@click.option(
    "--key",
    "key_spec",
    required=True,
    metavar="KEY",
    help="The signing key: a .p12/.pfx file, or a PEM key with --cert.",
)
@click.option(
    "--cert",
    "cert_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Certificate (and chain) for a PEM key.",
)
@password_file_option
@click.option(
    "--opaque",
    is_flag=True,
    help="Produce application/pkcs7-mime signed-data instead of "
    "multipart/signed.",
)
@click.option(
    "--digest",
    type=click.Choice([h.value for h in HashName]),
    help="Digest algorithm (default: the key's preferred, SHA-256 for RSA).",
)
@click.option("--pss", is_flag=True, help="Sign with RSA-PSS (RSA keys).")
@input_argument
@output_option
def command(
    key_spec: str,
    cert_path: str | None,
    password_file: Path | None,
    opaque: bool,
    digest: str | None,
    pss: bool,
    input_path: Path | None,
    output_path: Path | None,
) -> None:
    """Sign IN.eml (or standard input) and write the signed message.

    The password of the key comes from --password-file, the
    GOVSIGN_PASSWORD variable, or a prompt; never from the command line.
    """
    message = read_input(input_path)
    key = open_key(
        key_spec,
        lambda: read_secret(
            secret_file=password_file, prompt=f"Password for {key_spec}"
        ),
        certificate=cert_path,
    )
    signed = sign_message(
        message,
        key,
        opaque=opaque,
        digest=HashName(digest) if digest else None,
        pss=pss,
    )
    write_output(output_path, signed)
