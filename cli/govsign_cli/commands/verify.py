"""``govsign verify``: check every signature in a message.

Exit status: 0 valid, 3 invalid, 4 indeterminate, 5 unsigned, 2 for an
error (unreadable or malformed input, bad options).
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from govsign.pki.trust import TrustStore, load_crls
from govsign.pki.validate import RevocationMode
from govsign.report.text import (
    LANGUAGES,
    default_language,
    render_json,
    render_text,
)
from govsign.result import Verdict
from govsign.smime.verifying import Verifier
from govsign_cli.common import input_argument, read_input

EXIT_CODES = {
    Verdict.VALID: 0,
    Verdict.INVALID: 3,
    Verdict.INDETERMINATE: 4,
    Verdict.UNSIGNED: 5,
}


def _parse_time(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> dt.datetime | None:
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 time such as "
            "2026-12-01T09:00:00+07:00"
        ) from exc
    if moment.tzinfo is None:
        raise click.BadParameter("give a time zone, e.g. +07:00 or Z")
    return moment


@click.command("verify")
@click.option(
    "--trust",
    "trust_files",
    multiple=True,
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="PEM file of trusted root CAs (repeatable). Nothing else is trusted.",
)
@click.option(
    "--crl",
    "crl_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="CRL file, DER or PEM (repeatable).",
)
@click.option(
    "--revocation",
    type=click.Choice([m.value for m in RevocationMode]),
    default=RevocationMode.REQUIRE.value,
    show_default=True,
    help="require: no revocation data means indeterminate. soft-fail and "
    "no-check weaken the check (logged).",
)
@click.option(
    "--allow-insecure",
    "allow_insecure",
    multiple=True,
    type=click.Choice(["sha1", "md5", "rsa-short"]),
    help="Accept a weak algorithm by name (repeatable; logged).",
)
@click.option(
    "--at",
    "at",
    callback=_parse_time,
    metavar="TIME",
    help="Validate at this ISO 8601 time instead of now.",
)
@click.option(
    "--no-date-check",
    is_flag=True,
    help="Do not compare the signing time with the Date header.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--lang",
    type=click.Choice(LANGUAGES),
    help="Report language (default: Vietnamese on a Vietnamese locale).",
)
@input_argument
def command(
    trust_files: tuple[str, ...],
    crl_files: tuple[str, ...],
    revocation: str,
    allow_insecure: tuple[str, ...],
    at: dt.datetime | None,
    no_date_check: bool,
    as_json: bool,
    lang: str | None,
    input_path: Path | None,
) -> None:
    """Verify the signatures of IN.eml (or standard input)."""
    message = read_input(input_path)
    verifier = Verifier(
        TrustStore.from_files(trust_files),
        crls=load_crls(crl_files),
        revocation=RevocationMode(revocation),
        allow_weak=allow_insecure,
        date_tolerance=None if no_date_check else dt.timedelta(hours=1),
    )
    result = verifier.verify(message, at=at)
    if as_json:
        click.echo(render_json(result), nl=False)
    else:
        click.echo(render_text(result, lang or default_language()), nl=False)
    sys.exit(EXIT_CODES[result.verdict])
