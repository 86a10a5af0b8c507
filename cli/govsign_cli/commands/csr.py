"""``govsign csr``: a new key and the request to send to the CA."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from cryptography.hazmat.primitives import serialization

from govsign.keys.csr import (
    KEY_KINDS,
    CsrSigner,
    CsrSubject,
    build_csr,
    new_key_file,
    new_token_key,
)
from govsign.keys.pkcs11 import TokenKey
from govsign.keys.uri import is_pkcs11_uri
from govsign_cli.common import (
    output_option,
    password_file_option,
    pin_file_option,
    pkcs11_module_option,
    write_output,
)
from govsign_cli.secrets import PASSWORD_ENV, key_secret, read_secret


@click.command("csr")
@click.option(
    "--name", "common_name", help="Full name (CN); a seal: defaults to --org."
)
@click.option("--email", required=True, help="The gov.vn mailbox.")
@click.option("--org", "organization", required=True, help="Agency (O).")
@click.option("--unit", help="Department (OU).")
@click.option("--locality", help="District or city (L).")
@click.option("--province", help="Province (ST).")
@click.option(
    "--uid",
    help="Identity number: CCCD:..., CMND:..., HC:... (person), "
    "MST:... or MNS:... (person or agency).",
)
@click.option("--seal", is_flag=True, help="The request is an agency seal.")
@click.option(
    "--key-type",
    type=click.Choice(KEY_KINDS),
    default=KEY_KINDS[0],
    show_default=True,
)
@click.option(
    "--p12",
    "p12_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Put the new key in this new .p12 file.",
)
@click.option(
    "--token",
    "token_uri",
    metavar="URI",
    help="Make the new key on the token this pkcs11: URI names.",
)
@click.option(
    "--label", help="Label of the key on the token (default: the name)."
)
@click.option(
    "--id", "key_id", help="CKA_ID for the key, hex (default: random)."
)
@password_file_option
@pin_file_option
@pkcs11_module_option
@click.option(
    "--allow-non-gov-email",
    is_flag=True,
    help="Accept an address outside gov.vn (tests, pilots).",
)
@click.option("--der", is_flag=True, help="Write the request as DER.")
@output_option
def command(
    common_name: str | None,
    email: str,
    organization: str,
    unit: str | None,
    locality: str | None,
    province: str | None,
    uid: str | None,
    seal: bool,
    key_type: str,
    p12_path: Path | None,
    token_uri: str | None,
    label: str | None,
    key_id: str | None,
    password_file: Path | None,
    pin_file: Path | None,
    pkcs11_module: Path | None,
    allow_non_gov_email: bool,
    der: bool,
    output_path: Path | None,
) -> None:
    """Make a new key and a certificate request (PKCS#10) for it.

    The key goes into a new password-protected .p12 file (--p12) or is
    made on a token and never leaves it (--token).  Send the request to
    your CA; docs/keys.md says what happens next.
    """
    if (p12_path is None) == (token_uri is None):
        raise click.UsageError("give exactly one of --p12 FILE or --token URI")
    if token_uri is not None and not is_pkcs11_uri(token_uri):
        raise click.UsageError("--token needs a pkcs11: URI")
    subject = CsrSubject(
        email=email,
        organization=organization,
        common_name=common_name or "",
        organizational_unit=unit,
        locality=locality,
        province=province,
        uid=uid,
        seal=seal,
        require_gov_vn=not allow_non_gov_email,
    )

    key: CsrSigner
    if p12_path is not None:
        if p12_path.exists():
            # Before any password prompt: the library refuses it anyway.
            raise click.UsageError(
                f"{p12_path} exists; a new key never overwrites an old one"
            )
        key = new_key_file(
            p12_path,
            _new_password(password_file, p12_path),
            kind=key_type,
            friendly_name=subject.common_name,
        )
        where = f"in {p12_path} (keep it and its password safe)"
    else:
        token_uri = token_uri or ""
        try:
            raw_id = bytes.fromhex(key_id) if key_id else None
        except ValueError as exc:
            raise click.BadParameter("not hex", param_hint="--id") from exc
        key = new_token_key(
            token_uri,
            key_secret(token_uri, password_file=None, pin_file=pin_file),
            label=label or subject.common_name,
            kind=key_type,
            key_id=raw_id,
            module=pkcs11_module,
        )
        where = _token_place(key)

    request = build_csr(key, subject)
    encoding = (
        serialization.Encoding.DER if der else serialization.Encoding.PEM
    )
    write_output(output_path, request.public_bytes(encoding))
    target = output_path or "standard output"
    click.echo(
        f"New {key_type} key {where}.\n"
        f"Request for {subject.x509_name().rfc4514_string()} written to "
        f"{target}.\nSend the request to your CA; when the certificate "
        "comes back, check its subject and e-mail, then import it "
        "(docs/keys.md).",
        err=True,
    )


def _token_place(key: CsrSigner) -> str:
    if isinstance(key, TokenKey):
        return (
            f"on token {key.token_name}, label {key.label!r}, "
            f"id {key.id.hex()}"
        )
    return "on the token"


def _new_password(password_file: Path | None, target: Path) -> bytes:
    if password_file is not None or PASSWORD_ENV in os.environ:
        return read_secret(secret_file=password_file)
    if not sys.stdin.isatty():
        raise click.UsageError(
            f"no password for the new key file: set {PASSWORD_ENV}, use "
            "--password-file, or run on a terminal to be prompted"
        )
    typed = click.prompt(
        f"New password for {target}",
        hide_input=True,
        confirmation_prompt=True,
        err=True,
    )
    return str(typed).encode("utf-8")
