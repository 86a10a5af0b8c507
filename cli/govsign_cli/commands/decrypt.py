"""``govsign decrypt``: decrypt a message with your key.

The decrypted message goes to standard output (or ``-o``); a short
account of how it was encrypted goes to standard error.  With ``--trust``
the signatures inside are verified too, and the exit status is that of
``govsign verify`` (0 valid, 3 invalid, 4 indeterminate, 5 unsigned).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import click

from govsign.keys import open_key
from govsign.pki.trust import TrustStore, load_crls
from govsign.pki.validate import RevocationMode
from govsign.report.decryption_text import render_decryption
from govsign.report.text import LANGUAGES, default_language, render_text
from govsign.smime.encryption import decrypt
from govsign.smime.sign_encrypt import decrypt_and_verify
from govsign.smime.verifying import Verifier
from govsign_cli.commands.verify import EXIT_CODES
from govsign_cli.common import (
    input_argument,
    output_option,
    password_file_option,
    pin_file_option,
    pkcs11_module_option,
    read_input,
    write_output,
)
from govsign_cli.secrets import key_secret


@click.command("decrypt")
@click.option(
    "--key",
    "key_spec",
    required=True,
    metavar="KEY",
    help="Your decryption key: a .p12/.pfx file, a PEM key with --cert, "
    "or a token key as a pkcs11: URI (RFC 7512).",
)
@click.option(
    "--cert",
    "cert_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Certificate for a PEM key.",
)
@password_file_option
@pin_file_option
@pkcs11_module_option
@click.option(
    "--trust",
    "trust_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Also verify the signatures inside against these root CAs "
    "(repeatable).",
)
@click.option(
    "--crl",
    "crl_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="CRL file for verification (repeatable).",
)
@click.option(
    "--revocation",
    type=click.Choice([m.value for m in RevocationMode]),
    default=RevocationMode.REQUIRE.value,
    show_default=True,
    help="Revocation policy for verification.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Report as JSON on stderr."
)
@click.option(
    "--lang",
    type=click.Choice(LANGUAGES),
    help="Report language (default: Vietnamese on a Vietnamese locale).",
)
@input_argument
@output_option
def command(
    key_spec: str,
    cert_path: str | None,
    password_file: Path | None,
    pin_file: Path | None,
    pkcs11_module: Path | None,
    trust_files: tuple[str, ...],
    crl_files: tuple[str, ...],
    revocation: str,
    as_json: bool,
    lang: str | None,
    input_path: Path | None,
    output_path: Path | None,
) -> None:
    """Decrypt IN.eml (or standard input) and write the readable message.

    The password of a key file comes from --password-file, the
    GOVSIGN_PASSWORD variable, or a prompt; a token PIN from --pin-file,
    GOVSIGN_PIN or a prompt; never from the command line.
    """
    message = read_input(input_path)
    language = lang or default_language()
    key = open_key(
        key_spec,
        key_secret(key_spec, password_file=password_file, pin_file=pin_file),
        certificate=cert_path,
        pkcs11_module=pkcs11_module,
    )
    if not trust_files:
        decrypted = decrypt(message, key)
        write_output(output_path, decrypted.message)
        if as_json:
            report = json.dumps(decrypted.result.to_dict(), indent=2)
            click.echo(report, err=True)
        else:
            text = render_decryption(decrypted.result, language)
            click.echo(text, err=True, nl=False)
        return

    verifier = Verifier(
        TrustStore.from_files(trust_files),
        crls=load_crls(crl_files),
        revocation=RevocationMode(revocation),
        date_tolerance=dt.timedelta(hours=1),
    )
    opened = decrypt_and_verify(message, key, verifier)
    write_output(output_path, opened.message)
    if as_json:
        click.echo(json.dumps(opened.to_dict(), indent=2), err=True)
    else:
        text = render_decryption(opened.decryption, language)
        text += render_text(opened.verification, language)
        click.echo(text, err=True, nl=False)
    sys.exit(EXIT_CODES[opened.verification.verdict])
