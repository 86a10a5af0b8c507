"""``govsign keys``: what a token or key file holds."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click

from govsign.keys.importing import (
    add_certificate_to_p12,
    add_certificate_to_token,
)
from govsign.keys.inventory import (
    CertificateInfo,
    KeyStoreContents,
    inspect_file,
    inspect_tokens,
)
from govsign.keys.source import load_certificates
from govsign.keys.uri import is_pkcs11_uri
from govsign_cli.common import (
    password_file_option,
    pin_file_option,
    pkcs11_module_option,
)
from govsign_cli.secrets import key_secret


@click.group("keys")
def command() -> None:
    """Keys and certificates on tokens and in files: list them, and store
    the certificate a CA issued beside its key."""


@command.command("list")
@click.argument("source", metavar="[SOURCE]", required=False)
@pkcs11_module_option
@pin_file_option
@password_file_option
@click.option(
    "--no-login",
    is_flag=True,
    help="Do not ask for the token PIN; lists certificates only.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_command(
    source: str | None,
    pkcs11_module: Path | None,
    pin_file: Path | None,
    password_file: Path | None,
    no_login: bool,
    as_json: bool,
) -> None:
    """List the certificates and keys SOURCE holds.

    SOURCE is a .p12/.pfx file, a certificate file, or a pkcs11: URI
    selecting a token.  Without SOURCE, every token of --pkcs11-module is
    listed.  Token PINs come from --pin-file, GOVSIGN_PIN or a prompt.
    """
    if source is None or is_pkcs11_uri(source):
        if source is None and pkcs11_module is None:
            raise click.UsageError(
                "give a SOURCE (file or pkcs11: URI) or --pkcs11-module"
            )
        secret = key_secret(
            source or "pkcs11:", password_file=None, pin_file=pin_file
        )
        stores = inspect_tokens(
            source, None if no_login else secret, module=pkcs11_module
        )
    else:
        stores = [
            inspect_file(
                source,
                key_secret(source, password_file=password_file, pin_file=None),
            )
        ]
    if as_json:
        click.echo(
            json.dumps(
                [s.to_dict() for s in stores], ensure_ascii=False, indent=2
            )
        )
        return
    now = dt.datetime.now(dt.UTC)
    for store in stores:
        click.echo(_render(store, now))


@command.command("import-cert")
@click.argument("target", metavar="TARGET")
@click.argument(
    "cert_path",
    metavar="CERT",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@pkcs11_module_option
@pin_file_option
@password_file_option
def import_cert_command(
    target: str,
    cert_path: Path,
    pkcs11_module: Path | None,
    pin_file: Path | None,
    password_file: Path | None,
) -> None:
    """Put the certificate the CA issued beside its key.

    TARGET is the .p12 file made by `govsign csr --p12`, or a pkcs11: URI
    naming the token.  CERT holds the certificate (PEM or DER), optionally
    followed by the CA chain.  A certificate for another key is refused.
    """
    certificates = load_certificates(cert_path)
    secret = key_secret(target, password_file=password_file, pin_file=pin_file)
    if is_pkcs11_uri(target):
        uri = add_certificate_to_token(
            target, secret, certificates, module=pkcs11_module
        )
        click.echo(f"Certificate stored on the token; sign with --key '{uri}'")
        return
    key = add_certificate_to_p12(target, secret(), certificates)
    click.echo(
        f"{target} now holds {key.certificate.subject.rfc4514_string()}"
        f"; sign with --key {target}"
    )


def _render(store: KeyStoreContents, now: dt.datetime) -> str:
    lines = [f"{store.kind.capitalize()} {store.name}"]
    lines.append(
        f"  {'URI' if store.kind == 'token' else 'path'}: {store.location}"
    )
    for note in store.notes:
        lines.append(f"  note: {note}")
    if not store.certificates and not store.keys:
        lines.append("  (empty)")
    for cert in store.certificates:
        lines += _render_certificate(cert, now)
    for key in store.keys:
        head = f"  Private key {key.label!r}"
        if key.id:
            head += f" id {key.id}"
        lines.append(f"{head}: {key.key_type}, may {', '.join(key.can)}")
        if not key.has_certificate:
            lines.append("    no certificate for this key yet")
        if key.uri:
            lines.append(f"    key: {key.uri}")
    return "\n".join(lines)


def _render_certificate(cert: CertificateInfo, now: dt.datetime) -> list[str]:
    head = "  CA certificate" if cert.is_ca else "  Certificate"
    if cert.label is not None:
        head += f" {cert.label!r}"
    if cert.id:
        head += f" id {cert.id}"
    if cert.has_private_key:
        head += " [with private key]"
    state = "valid now" if cert.valid_at(now) else "NOT valid now"
    usage = ", ".join(cert.key_usage) or "-"
    if cert.extended_key_usage:
        usage += "; " + ", ".join(cert.extended_key_usage)
    lines = [
        head,
        f"    subject: {cert.subject}",
        f"    e-mail:  {', '.join(cert.emails) or '-'}",
        f"    issuer:  {cert.issuer}",
        f"    valid:   {cert.not_before:%Y-%m-%d %H:%M} to "
        f"{cert.not_after:%Y-%m-%d %H:%M} UTC ({state})",
        f"    usage:   {usage}",
        f"    key:     {cert.public_key}, serial {cert.serial}",
    ]
    if cert.uri and cert.has_private_key:
        lines.append(f"    sign with: --key '{cert.uri}'")
    return lines
