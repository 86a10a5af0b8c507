"""``govsign encrypt``: encrypt a message for its recipients' certificates.

With ``--sign-with`` the message is signed first and then encrypted
(RFC 8551 section 3.7), and the signer's certificate becomes a recipient
too, so the sent copy stays readable.
"""

from __future__ import annotations

from pathlib import Path

import click
from cryptography import x509

from govsign.cms.enveloped import ContentEncryption
from govsign.errors import ConfigurationError
from govsign.keys import KeyTransportPadding, open_key
from govsign.pki.trust import load_certificates
from govsign.smime.encryption import encrypt
from govsign.smime.sign_encrypt import sign_and_encrypt
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

_WRITABLE = [
    c.value
    for c in ContentEncryption
    if c is not ContentEncryption.DES_EDE3_CBC
]


def _certificate(path: str) -> x509.Certificate:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read certificate {path}: {exc.strerror}"
        ) from exc
    certificates = load_certificates(data, path)
    if not certificates:
        raise ConfigurationError(f"{path} holds no certificate")
    # The recipient's own certificate comes first in a PEM bundle.
    return certificates[0]


@click.command("encrypt")
@click.option(
    "--to",
    "to_paths",
    multiple=True,
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="A recipient's certificate, PEM or DER (repeatable).",
)
@click.option(
    "--self",
    "self_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Your own certificate, so that your sent copy stays readable.",
)
@click.option(
    "--cipher",
    type=click.Choice(_WRITABLE),
    help="Content encryption (default aes256-gcm). The CBC ciphers give "
    "no integrity protection: use them only for recipients that need "
    "them.",
)
@click.option(
    "--legacy-rsa-pkcs1v15",
    is_flag=True,
    help="Wrap the key for RSA recipients with PKCS#1 v1.5 instead of "
    "OAEP (weaker; only for recipients that cannot read OAEP).",
)
@click.option(
    "--sign-with",
    "sign_key",
    metavar="KEY",
    help="Sign with this key (.p12/.pfx, PEM with --cert, or a pkcs11: "
    "URI) before encrypting; the signer also becomes a recipient when "
    "its certificate can receive encrypted mail.",
)
@click.option(
    "--cert",
    "cert_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Certificate (and chain) for a PEM key given to --sign-with.",
)
@password_file_option
@pin_file_option
@pkcs11_module_option
@input_argument
@output_option
def command(
    to_paths: tuple[str, ...],
    self_path: str | None,
    cipher: str | None,
    legacy_rsa_pkcs1v15: bool,
    sign_key: str | None,
    cert_path: str | None,
    password_file: Path | None,
    pin_file: Path | None,
    pkcs11_module: Path | None,
    input_path: Path | None,
    output_path: Path | None,
) -> None:
    """Encrypt IN.eml (or standard input) and write the encrypted message.

    The From, To, Subject and Date headers stay readable; the body and its
    content headers are encrypted.  A password for --sign-with comes from
    --password-file, GOVSIGN_PASSWORD or a prompt, a token PIN from
    --pin-file, GOVSIGN_PIN or a prompt; never from the command line.
    """
    message = read_input(input_path)
    recipients = [_certificate(p) for p in to_paths]
    if self_path is not None:
        recipients.append(_certificate(self_path))
    content_encryption = ContentEncryption(cipher) if cipher else None
    key_transport = (
        KeyTransportPadding.PKCS1V15
        if legacy_rsa_pkcs1v15
        else KeyTransportPadding.OAEP_SHA256
    )
    if sign_key is None:
        result = encrypt(
            message,
            recipients,
            content_encryption=content_encryption,
            key_transport=key_transport,
        )
    else:
        signer = open_key(
            sign_key,
            key_secret(
                sign_key, password_file=password_file, pin_file=pin_file
            ),
            certificate=cert_path,
            pkcs11_module=pkcs11_module,
        )
        result = sign_and_encrypt(
            message,
            signer,
            recipients,
            content_encryption=content_encryption,
            key_transport=key_transport,
        )
    write_output(output_path, result)
