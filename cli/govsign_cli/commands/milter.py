"""``govsign milter``: run the mail gateway as a Postfix/Sendmail milter."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from govsign.gateway._library import build_gateway
from govsign.gateway.config import load_config, parse_listen
from govsign.gateway.logcontext import QueueIdFilter

_LOG_FORMAT = "%(asctime)s govsign-milter[%(process)d]: %(message)s"


def _setup_logging(log_file: Path | None) -> None:
    # One line per message at INFO is the milter's contract (docs/
    # gateway.md), whatever -v says; -v adds the library's INFO lines and
    # -vv the DEBUG trail, each prefixed with the queue id.
    root = logging.getLogger()
    verbose = logging.NOTSET < root.level <= logging.INFO
    handler: logging.Handler = (
        logging.FileHandler(log_file, encoding="utf-8")
        if log_file
        else logging.StreamHandler()
    )
    handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    handler.addFilter(QueueIdFilter())
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    if not verbose:
        root.setLevel(logging.INFO)
        logging.getLogger("govsign").setLevel(logging.WARNING)
        logging.getLogger("govsign.gateway").setLevel(logging.INFO)


@click.command("milter")
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The gateway's TOML configuration (docs/gateway.md).",
)
@click.option(
    "--listen",
    help="Override [gateway] listen: unix:/path or inet:PORT@127.0.0.1.",
)
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Append log lines here instead of standard error.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Load the configuration, keys and certificates, then exit.",
)
def command(
    config_path: Path, listen: str | None, log_file: Path | None, check: bool
) -> None:
    """Verify, stamp, seal and guard every message Postfix hands over.

    Listens on a unix socket or a loopback port and answers tempfail on
    any internal error, so Postfix keeps the message and retries.
    """
    _setup_logging(log_file)
    config = load_config(config_path)
    gateway = build_gateway(config)
    socket_spec = parse_listen(listen) if listen else config.listen
    if check:
        click.echo(
            f"govsign milter: configuration OK, would listen on {socket_spec}"
        )
        return
    try:
        from govsign.gateway.milter import serve
    except ImportError as exc:
        raise click.UsageError(
            "govsign milter needs pymilter: pip install 'govsign[gateway]' "
            f"(it builds against libmilter-dev) [{exc}]"
        ) from exc
    serve(gateway, socket_spec)
