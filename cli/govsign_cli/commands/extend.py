"""``govsign extend``: raise a signed message to CAdES level T, LT or LTA."""

from __future__ import annotations

from pathlib import Path

import click

from govsign.smime.extend import extend_message
from govsign_cli.common import (
    input_argument,
    output_option,
    read_input,
    write_output,
)
from govsign_cli.longterm import level_options, lt_validator, tsa_client


@click.command("extend")
@level_options(default_level=None)
@input_argument
@output_option
def command(
    tsa_url: str | None,
    level: str,
    trust_files: tuple[str, ...],
    crl_files: tuple[str, ...],
    no_fetch: bool,
    input_path: Path | None,
    output_path: Path | None,
) -> None:
    """Raise the signature of IN.eml to --level and write the message.

    The signed content is not changed: a timestamp and validation data are
    added beside the signature, which stays valid.  A level already
    reached is kept.
    """
    message = read_input(input_path)
    extended = extend_message(
        message,
        level,
        tsa=tsa_client(level, tsa_url),
        validator=lt_validator(level, trust_files, crl_files, no_fetch),
    )
    write_output(output_path, extended)
