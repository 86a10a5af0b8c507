"""``govsign sign``: sign a message with a key from a file or token."""

from __future__ import annotations

from pathlib import Path

import click

from govsign.keys import HashName, open_key
from govsign.smime.extend import extend_message
from govsign.smime.signing import sign_message
from govsign_cli.common import (
    input_argument,
    output_option,
    password_file_option,
    pin_file_option,
    pkcs11_module_option,
    read_input,
    write_output,
)
from govsign_cli.longterm import level_options, lt_validator, tsa_client
from govsign_cli.secrets import key_secret


@click.command("sign")
@click.option(
    "--key",
    "key_spec",
    required=True,
    metavar="KEY",
    help="The signing key: a .p12/.pfx file, a PEM key with --cert, or a "
    "token key as a pkcs11: URI (RFC 7512).",
)
@click.option(
    "--cert",
    "cert_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Certificate (and chain) for a PEM key, or for a token key whose "
    "certificate is not on the token.",
)
@password_file_option
@pin_file_option
@pkcs11_module_option
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
@level_options(default_level="B")
@input_argument
@output_option
def command(
    key_spec: str,
    cert_path: str | None,
    password_file: Path | None,
    pin_file: Path | None,
    pkcs11_module: Path | None,
    opaque: bool,
    digest: str | None,
    pss: bool,
    tsa_url: str | None,
    level: str,
    trust_files: tuple[str, ...],
    crl_files: tuple[str, ...],
    no_fetch: bool,
    input_path: Path | None,
    output_path: Path | None,
) -> None:
    """Sign IN.eml (or standard input) and write the signed message.

    The password of a key file comes from --password-file, the
    GOVSIGN_PASSWORD variable, or a prompt; a token PIN from --pin-file,
    GOVSIGN_PIN or a prompt; never from the command line.
    """
    message = read_input(input_path)
    tsa = tsa_client(level, tsa_url)
    validator = lt_validator(level, trust_files, crl_files, no_fetch)
    key = open_key(
        key_spec,
        key_secret(key_spec, password_file=password_file, pin_file=pin_file),
        certificate=cert_path,
        pkcs11_module=pkcs11_module,
    )
    signed = sign_message(
        message,
        key,
        opaque=opaque,
        digest=HashName(digest) if digest else None,
        pss=pss,
    )
    if level != "B":
        signed = extend_message(signed, level, tsa=tsa, validator=validator)
    write_output(output_path, signed)
