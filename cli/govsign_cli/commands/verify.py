"""``govsign verify``: check every signature in a message.

Exit status: 0 valid, 3 invalid, 4 indeterminate, 5 unsigned, 2 for an
error (unreadable or malformed input, bad options).
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click
from cryptography.x509 import ocsp

from govsign.pki.fetch import RevocationFetcher
from govsign.pki.trust import TrustStore, load_crls
from govsign.pki.validate import RevocationMode
from govsign.report.evidence import write_evidence
from govsign.report.html import render_html
from govsign.report.text import (
    LANGUAGES,
    default_language,
    render_json,
    render_text,
)
from govsign.result import Verdict
from govsign.smime.verifying import Verifier
from govsign_cli.common import input_argument, read_input, write_output

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


def _read_ocsp(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise click.FileError(str(path), exc.strerror) from exc
    try:
        ocsp.load_der_ocsp_response(data)
    except ValueError as exc:
        raise click.BadParameter(
            f"{path} is not a DER OCSP response", param_hint="--ocsp"
        ) from exc
    return data


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
@click.option(
    "--ocsp",
    "ocsp_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="DER OCSP response file (repeatable).",
)
@click.option(
    "--no-fetch",
    is_flag=True,
    help="Fetch no CRL or OCSP response named in the certificates; use "
    "only --crl and what the message embeds.",
)
@click.option(
    "--fetch-timeout",
    type=click.FloatRange(min=0.1, max=120),
    default=10.0,
    show_default=True,
    help="Seconds to wait for a CRL server or OCSP responder.",
)
@click.option(
    "--evidence",
    "evidence_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write an evidence bundle (reports, certificates, CRLs, OCSP "
    "responses, timestamps, hash manifest) into this new directory.",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the report as printable HTML (A4) to this file.",
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
    ocsp_files: tuple[Path, ...],
    no_fetch: bool,
    fetch_timeout: float,
    evidence_dir: Path | None,
    html_path: Path | None,
    as_json: bool,
    lang: str | None,
    input_path: Path | None,
) -> None:
    """Verify the signatures of IN.eml (or standard input)."""
    message = read_input(input_path)
    verifier = Verifier(
        TrustStore.from_files(trust_files),
        crls=load_crls(crl_files),
        ocsps=[_read_ocsp(p) for p in ocsp_files],
        revocation=RevocationMode(revocation),
        allow_weak=allow_insecure,
        date_tolerance=None if no_date_check else dt.timedelta(hours=1),
        fetcher=None if no_fetch else RevocationFetcher(timeout=fetch_timeout),
    )
    result = verifier.verify(message, at=at)
    language = lang or default_language()
    if html_path is not None:
        write_output(html_path, render_html(result, language).encode())
    if evidence_dir is not None:
        write_evidence(result, message, evidence_dir)
    if as_json:
        click.echo(render_json(result), nl=False)
    else:
        click.echo(render_text(result, lang or default_language()), nl=False)
    sys.exit(EXIT_CODES[result.verdict])
