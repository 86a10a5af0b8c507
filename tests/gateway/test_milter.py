"""The pymilter glue, with the libmilter context replaced by a recorder.

What Postfix makes of these actions is proven in test_postfix.py; here
each rule of the glue gets its own case, including the internal errors
that cannot be provoked through a real Postfix.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import Milter
import pytest

from govsign.gateway._library import build_gateway
from govsign.gateway.config import GatewayConfig
from govsign.gateway.engine import Gateway, MessageSpool
from govsign.gateway.milter import GovsignMilter
from govsign.gateway.policy import Envelope
from tests.gateway.conftest import AGENCY, PEER, plain_message


class RecordingMilter(GovsignMilter):
    """GovsignMilter whose MTA side is a list of recorded actions."""

    def __init__(self, gateway: Gateway) -> None:
        super().__init__(gateway)
        self.replies: list[tuple[Any, ...]] = []
        self.actions: list[tuple[Any, ...]] = []
        self.macros = {"i": "QID1", "{auth_authen}": None}

    def getsymval(self, sym: str) -> Any:
        return self.macros.get(sym)

    def setreply(self, *args: Any) -> None:
        self.replies.append(args)

    def addheader(self, field: str, value: str, idx: int = -1) -> None:
        self.actions.append(("add", field, value, idx))

    def chgheader(self, field: str, idx: int, value: str | None) -> None:
        self.actions.append(("chg", field, idx, value))

    def replacebody(self, body: bytes) -> None:
        self.actions.append(("body", body))

    def quarantine(self, reason: str) -> None:
        self.actions.append(("quarantine", reason))


def _feed(
    milter: RecordingMilter, message: bytes, sender: str, rcpt: str
) -> int:
    head, body = message.split(b"\r\n\r\n", 1)
    peer = ("127.0.0.1", 1)
    assert milter.connect("localhost", socket.AF_INET, peer) == 0
    assert milter.envfrom(f"<{sender}>") == Milter.CONTINUE
    assert milter.envrcpt(f"<{rcpt}>") == Milter.CONTINUE
    for line in head.decode().split("\r\n"):
        name, value = line.split(": ", 1)
        assert milter.header(name, value) == Milter.CONTINUE
    assert milter.body(body) == Milter.CONTINUE
    return int(milter.eom())


class _Exploding:
    def verify(self, message: bytes) -> Any:
        raise RuntimeError("bug in the verifier")


def test_internal_error_answers_tempfail(
    config: GatewayConfig, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = Gateway(config, _Exploding())
    milter = RecordingMilter(gateway)
    message = plain_message().replace(
        b"text/plain", b"application/pkcs7-mime; smime-type=signed-data"
    )
    with caplog.at_level(logging.ERROR, "govsign.gateway.milter"):
        status = _feed(milter, message, f"binh.tt@{PEER}", f"x@{AGENCY}")
    assert status == Milter.TEMPFAIL
    assert milter.replies[-1][:2] == ("451", "4.3.0")
    assert milter.actions == []  # nothing changed, nothing passed
    assert (
        caplog.records[-1]
        .getMessage()
        .startswith("QID1: internal error in eom")
    )


def test_error_in_an_early_callback_also_tempfails(
    config: GatewayConfig,
) -> None:
    milter = RecordingMilter(build_gateway(config))
    # A header before MAIL FROM has no spool: an internal error.
    assert milter.header("Subject", "x") == Milter.TEMPFAIL
    assert milter.replies[-1][0] == "451"


def test_log_line_starts_with_queue_id(
    config: GatewayConfig, caplog: pytest.LogCaptureFixture
) -> None:
    milter = RecordingMilter(build_gateway(config))
    with caplog.at_level(logging.INFO, "govsign.gateway.milter"):
        status = _feed(
            milter, plain_message(), f"binh.tt@{PEER}", f"x@{AGENCY}"
        )
    assert status == Milter.ACCEPT
    line = caplog.records[-1].getMessage()
    assert line.startswith("QID1: inbound smime=none action=tag ")
    assert "message-id=<test-1@demo.gov.vn>" in line
    assert "Cong van" not in line  # no subject, no body in logs


def test_stamp_goes_on_top_and_forgery_is_deleted(
    config: GatewayConfig,
) -> None:
    milter = RecordingMilter(build_gateway(config))
    message = plain_message(
        extra=f"Authentication-Results: mx.{AGENCY}; smime=pass\r\n"
    )
    _feed(milter, message, f"binh.tt@{PEER}", f"x@{AGENCY}")
    assert ("chg", "Authentication-Results", 1, None) in milter.actions
    added = [a for a in milter.actions if a[0] == "add"]
    assert all(a[3] == 0 for a in added)
    # Each is inserted at the top, so the last inserted ends up first.
    assert added[-1][1] == "Authentication-Results"
    # Folded with bare LF, as libmilter expects.
    assert "\r" not in added[-1][2] and "\n\t" in added[-1][2]


def test_quarantine_is_requested(config: GatewayConfig) -> None:
    import dataclasses

    from govsign.gateway.config import Action

    held = dataclasses.replace(
        config, inbound_domains={"gov.vn": Action.QUARANTINE}
    )
    milter = RecordingMilter(build_gateway(held))
    _feed(milter, plain_message(), f"binh.tt@{PEER}", f"x@{AGENCY}")
    assert milter.actions[-1][0] == "quarantine"


def test_reply_with_percent_is_escaped(config: GatewayConfig) -> None:
    from govsign.gateway.policy import Reply

    milter = RecordingMilter(build_gateway(config))
    assert milter.answer(Reply("550", "5.7.1", "100% sure")) == Milter.REJECT
    assert milter.replies[-1] == ("550", "5.7.1", "100%% sure")


def test_oversized_body_is_refused(config: GatewayConfig) -> None:
    import dataclasses

    small = dataclasses.replace(config, max_message_size=10)
    milter = RecordingMilter(build_gateway(small))
    milter.connect("localhost", socket.AF_INET, ("127.0.0.1", 1))
    milter.envfrom("<a@b.vn>")
    assert milter.body(b"x" * 11) == Milter.REJECT
    assert milter.replies[-1][:2] == ("552", "5.3.4")


def test_seal_rewrites_only_changed_headers(config: GatewayConfig) -> None:
    milter = RecordingMilter(build_gateway(config))
    message = plain_message(sender=f"an.nv@{AGENCY}", to="x@khac.vn")
    status = _feed(milter, message, f"an.nv@{AGENCY}", "x@khac.vn")
    assert status == Milter.ACCEPT
    deleted = {(a[1], a[2]) for a in milter.actions if a[0] == "chg"}
    # MIME-Version: 1.0 is the same before and after: left alone.
    assert deleted == {("Content-Type", 1)}
    added = [a[1] for a in milter.actions if a[0] == "add"]
    assert "Sender" in added and "Content-Type" in added
    assert "From" not in added and "Subject" not in added
    body = b"".join(a[1] for a in milter.actions if a[0] == "body")
    assert b"application/pkcs7-signature" in body


def test_local_submission_counts_as_inside(config: GatewayConfig) -> None:
    milter = RecordingMilter(build_gateway(config))
    milter.connect("localhost", socket.AF_UNIX, None)
    assert milter.local
    assert milter.client_address is None


def test_spool_is_released_on_abort(config: GatewayConfig) -> None:
    milter = RecordingMilter(build_gateway(config))
    milter.connect("localhost", socket.AF_INET, ("127.0.0.1", 1))
    milter.envfrom("<a@b.vn>")
    spool = milter.spool
    assert isinstance(spool, MessageSpool)
    milter.abort()
    assert milter.spool is None
    assert spool.file.closed


def test_envelope_type_is_frozen() -> None:
    env = Envelope("Q", None, ())
    with pytest.raises(AttributeError):
        env.queue_id = "other"  # type: ignore[misc]


def test_library_lines_get_the_queue_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from govsign.gateway.logcontext import QueueIdFilter, message_context

    library = logging.getLogger("govsign.smime.signing")
    caplog.handler.addFilter(QueueIdFilter())
    with caplog.at_level(logging.INFO, logger="govsign.smime.signing"):
        with message_context("QID9"):
            library.info("signed as %s", "multipart/signed")
        library.info("outside any message")
    first, second = (r.getMessage() for r in caplog.records)
    assert first == "QID9: signed as multipart/signed"
    assert second == "outside any message"
