"""Options shared by ``sign`` and ``extend``: TSA, level, trust for LT."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from govsign.cms.timestamp import TSAClient
from govsign.pki.fetch import RevocationFetcher
from govsign.pki.trust import TrustStore, load_crls
from govsign.pki.validate import PathValidator
from govsign.smime.extend import LEVELS

__all__ = ["level_options", "tsa_client", "lt_validator"]


def level_options(default_level: str | None) -> Callable[[Any], Any]:
    """Decorate a command with --tsa, --level, --trust, --crl, --no-fetch."""

    def decorate(func: Any) -> Any:
        options = [
            click.option(
                "--tsa",
                "tsa_url",
                metavar="URL",
                help="RFC 3161 timestamping authority (http or https).",
            ),
            click.option(
                "--level",
                type=click.Choice(LEVELS),
                default=default_level,
                required=default_level is None,
                show_default=default_level is not None,
                help="CAdES level: B basic, T timestamped (needs --tsa), "
                "LT with certificates and revocation data embedded (needs "
                "--trust), LTA with an archive timestamp over them.",
            ),
            click.option(
                "--trust",
                "trust_files",
                multiple=True,
                type=click.Path(exists=True, dir_okay=False),
                help="Trusted root CAs, to validate what LT embeds "
                "(repeatable).",
            ),
            click.option(
                "--crl",
                "crl_files",
                multiple=True,
                type=click.Path(exists=True, dir_okay=False),
                help="CRL file to use and embed (repeatable).",
            ),
            click.option(
                "--no-fetch",
                is_flag=True,
                help="For LT: fetch no CRL or OCSP response; use --crl.",
            ),
        ]
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def tsa_client(level: str, tsa_url: str | None) -> TSAClient | None:
    """The TSA client a level needs; a usage error if it is missing."""
    if level == "B":
        return None
    if not tsa_url:
        raise click.UsageError(f"--level {level} needs --tsa URL")
    return TSAClient(tsa_url)


def lt_validator(
    level: str,
    trust_files: tuple[str, ...],
    crl_files: tuple[str, ...],
    no_fetch: bool,
) -> PathValidator | None:
    """The validator LT and LTA need; a usage error without --trust."""
    if level not in ("LT", "LTA"):
        return None
    if not trust_files:
        raise click.UsageError(f"--level {level} needs --trust FILE")
    return PathValidator(
        TrustStore.from_files(trust_files),
        crls=load_crls(crl_files),
        fetcher=None if no_fetch else RevocationFetcher(),
    )
