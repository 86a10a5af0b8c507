"""Entry point of the ``govsign`` command.

Each command lives in its own module under ``govsign_cli.commands`` and
exposes ``command``; this module only assembles them.  Exit codes are
documented in docs/cli.md.
"""

from __future__ import annotations

import logging
import sys

import click

from govsign.errors import GovsignError
from govsign_cli.commands import (
    csr,
    decrypt,
    demo,
    encrypt,
    extend,
    filter,
    keys,
    milter,
    sendmail,
    sign,
    verify,
)
from govsign_cli.common import EXIT_ERROR


class _GovsignGroup(click.Group):
    """Turns library errors into one clear line and exit status 2."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except GovsignError as exc:
            click.echo(f"govsign: error: {exc}", err=True)
            sys.exit(EXIT_ERROR)


@click.group(cls=_GovsignGroup)
@click.option(
    "-v", "--verbose", count=True, help="Log decisions (-v info, -vv debug)."
)
@click.version_option(package_name="govsign")
def cli(verbose: int) -> None:
    """Sign, encrypt, decrypt and verify official e-mail (S/MIME)."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="govsign: %(message)s")


for _module in (
    csr,
    demo,
    keys,
    sign,
    verify,
    extend,
    encrypt,
    decrypt,
    milter,
    filter,
    sendmail,
):
    cli.add_command(_module.command)


def main() -> None:
    """Run the CLI (console script ``govsign``)."""
    cli(prog_name="govsign")
