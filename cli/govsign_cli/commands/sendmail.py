"""``govsign sendmail``: a sendmail-compatible wrapper that signs first.

Takes sendmail's own arguments (``-t``, ``-f``, ``-i``, recipients ...),
signs the message from standard input with the user's key, encrypts it
when every recipient's certificate is known, and hands it to the real
sendmail with the same arguments.  Configured by
``GOVSIGN_SENDMAIL_CONFIG`` (default /etc/govsign/sendmail.toml).
"""

from __future__ import annotations

import sys

import click

from govsign.errors import GovsignError, PolicyError
from govsign.gateway.filter import EX_NOPERM, EX_TEMPFAIL
from govsign.gateway.sendmail import (
    load_recipient_directory,
    load_sendmail_config,
    parse_sendmail_args,
    prepare,
    run_sendmail,
)
from govsign.keys import open_key
from govsign.smime.encryption import encrypt
from govsign.smime.signing import sign_message
from govsign_cli.common import read_input

EX_CONFIG = 78  # sysexits.h


@click.command(
    "sendmail",
    context_settings={
        "ignore_unknown_options": True,
        "allow_interspersed_args": False,
        "help_option_names": [],
    },
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def command(args: tuple[str, ...]) -> None:
    """Sign (and encrypt) a message, then pass it to the real sendmail.

    Exit status: that of the real sendmail; 77 when the message bears a
    secrecy marking; 78 for a configuration problem.
    """
    try:
        request = parse_sendmail_args(args)
        config = load_sendmail_config()
        key = open_key(str(config.key), config.password)
        message = read_input(None)
        ready = prepare(
            message,
            request,
            key,
            directory=load_recipient_directory(config),
            encrypt=lambda m, certs: encrypt(m, certs),
            sign=lambda m, k: sign_message(m, k),
        )
    except PolicyError as exc:
        click.echo(f"govsign sendmail: {exc}", err=True)
        sys.exit(EX_NOPERM)
    except GovsignError as exc:
        click.echo(f"govsign sendmail: {exc}", err=True)
        sys.exit(EX_CONFIG)
    status = run_sendmail(config.program, request.args, ready)
    sys.exit(status if status >= 0 else EX_TEMPFAIL)
