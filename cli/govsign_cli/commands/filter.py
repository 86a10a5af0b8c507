"""``govsign filter``: the gateway as a pipe, standard input to output."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from govsign.errors import GovsignError
from govsign.gateway._library import build_gateway
from govsign.gateway.config import load_config
from govsign.gateway.filter import EX_TEMPFAIL, filter_message
from govsign.gateway.policy import Envelope

log = logging.getLogger(__name__)


@click.command("filter")
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The gateway's TOML configuration (docs/gateway.md).",
)
@click.option(
    "--outbound",
    is_flag=True,
    help="Treat the message as leaving the agency (seal, guard). "
    "Default: inbound (verify, stamp).",
)
@click.option("--sender", help="Envelope sender, if the caller knows it.")
@click.option(
    "--recipient",
    "recipients",
    multiple=True,
    help="Envelope recipient (repeatable); used to choose encryption.",
)
def command(
    config_path: Path,
    outbound: bool,
    sender: str | None,
    recipients: tuple[str, ...],
) -> None:
    """Read a message on standard input, write the result on output.

    Exit status: 0 message written; 77 refused by policy (reason on
    standard error); 75 temporary failure, try again.  For procmail,
    Sieve and Exim transport filters.
    """
    try:
        gateway = build_gateway(load_config(config_path))
        envelope = Envelope(
            queue_id="",
            sender=sender,
            recipients=recipients,
            local=outbound,
        )
        result = filter_message(
            gateway, sys.stdin.buffer, sys.stdout.buffer, envelope
        )
    except GovsignError as exc:
        click.echo(f"govsign filter: {exc}", err=True)
        sys.exit(EX_TEMPFAIL)
    except Exception:
        log.exception("govsign filter: internal error")
        sys.exit(EX_TEMPFAIL)
    sys.stdout.buffer.flush()
    reply = result.outcome.reply
    if reply is not None:
        click.echo(f"govsign filter: {reply.code} {reply.text}", err=True)
    sys.exit(result.status)
