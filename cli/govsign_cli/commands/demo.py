"""``govsign demo``: a demo PKI, a signed Vietnamese letter, its report."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import click

from govsign.demo import run_demo
from govsign.report.text import LANGUAGES, default_language, render_text
from govsign_cli.secrets import PASSWORD_ENV


@click.command("demo")
@click.argument(
    "directory",
    required=False,
    default="govsign-demo",
    type=click.Path(file_okay=False, path_type=Path),
)
@click.option(
    "--lang",
    type=click.Choice(LANGUAGES),
    help="Report language (default: Vietnamese on a Vietnamese locale).",
)
def command(directory: Path, lang: str | None) -> None:
    """Create a demo CA, sign an official letter, verify it.

    Writes into DIRECTORY (default ./govsign-demo).  The .p12 password is
    taken from GOVSIGN_PASSWORD, or generated and printed once.
    """
    given = os.environ.get(PASSWORD_ENV)
    password = given or secrets.token_urlsafe(12)
    outcome = run_demo(directory, password.encode("utf-8"))
    pki = outcome.pki
    click.echo(f"Demo PKI written to {directory}/")
    click.echo(f"  trust anchor (root CA): {pki.trust_file}")
    click.echo(
        f"  CRLs:                   {', '.join(map(str, pki.crl_files))}"
    )
    for name, path in pki.p12_files.items():
        click.echo(f"  {name + ' key:':<23} {path}")
    if given:
        click.echo(f"  .p12 password: from {PASSWORD_ENV}")
    else:
        click.echo(f"  .p12 password (shown once): {password}")
    click.echo(f"Letter:        {outcome.letter}")
    click.echo(f"Signed letter: {outcome.signed} (clerk, then agency seal)")
    click.echo("")
    click.echo(render_text(outcome.result, lang or default_language()))
    click.echo(
        "Check it yourself:\n"
        f"  govsign verify --trust {pki.trust_file} "
        + " ".join(f"--crl {p}" for p in pki.crl_files)
        + f" {outcome.signed}"
    )
