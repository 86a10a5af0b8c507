"""Policy decisions, without Postfix."""

from __future__ import annotations

import dataclasses

import pytest

from govsign.gateway.authresults import SmimeResult
from govsign.gateway.classification import find_marking
from govsign.gateway.config import Action, GatewayConfig, SealMode
from govsign.gateway.policy import (
    Direction,
    Envelope,
    address_domain,
    classified_reply,
    direction,
    encryption_targets,
    header_domain,
    inbound_action,
    inbound_reply,
    is_enveloped,
    is_signed,
    should_seal,
    tagged_subject,
)

AGENCY = "snv.demo.gov.vn"


def _envelope(**changes: object) -> Envelope:
    base = Envelope(
        queue_id="ABC123",
        sender=f"an.nv@{AGENCY}",
        recipients=("binh.tt@stc.demo.gov.vn",),
        client_address="127.0.0.1",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_agency_sender_from_inside_is_outbound(
    config: GatewayConfig,
) -> None:
    assert direction(config, _envelope(), AGENCY) is Direction.OUTBOUND


def test_agency_sender_from_outside_is_inbound(
    config: GatewayConfig,
) -> None:
    # Nobody outside may borrow the agency seal by forging its domain.
    env = _envelope(client_address="203.0.113.9")
    assert direction(config, env, AGENCY) is Direction.INBOUND


def test_authenticated_or_local_submission_is_outbound(
    config: GatewayConfig,
) -> None:
    outside = _envelope(client_address="203.0.113.9", authenticated=True)
    assert direction(config, outside, AGENCY) is Direction.OUTBOUND
    local = _envelope(client_address=None, local=True)
    assert direction(config, local, AGENCY) is Direction.OUTBOUND


def test_other_domain_from_inside_is_inbound(config: GatewayConfig) -> None:
    env = _envelope(sender="x@stc.demo.gov.vn")
    assert direction(config, env, "stc.demo.gov.vn") is Direction.INBOUND


def test_null_sender_falls_back_to_from_header(
    config: GatewayConfig,
) -> None:
    env = _envelope(sender=None)
    assert direction(config, env, AGENCY) is Direction.OUTBOUND


@pytest.mark.parametrize(
    ("content_type", "signed"),
    [
        ('multipart/signed; protocol="application/pkcs7-signature"', True),
        ("Multipart/Signed;\r\n\tmicalg=sha-256", True),
        ("application/pkcs7-mime; smime-type=signed-data", True),
        ('application/x-pkcs7-mime; smime-type="signed-data"', True),
        ("application/pkcs7-mime; smime-type=enveloped-data", False),
        ("text/plain", False),
        (None, False),
    ],
)
def test_is_signed(content_type: str | None, signed: bool) -> None:
    assert is_signed(content_type) is signed


def test_is_enveloped() -> None:
    assert is_enveloped("application/pkcs7-mime; smime-type=enveloped-data")
    assert is_enveloped(
        'application/pkcs7-mime; smime-type="authEnveloped-data"'
    )
    assert not is_enveloped("application/pkcs7-mime; smime-type=signed-data")
    assert not is_enveloped(None)


@pytest.mark.parametrize(
    ("mode", "signed", "seal"),
    [
        (SealMode.UNSIGNED, False, True),
        (SealMode.UNSIGNED, True, False),
        (SealMode.ALWAYS, True, True),
        (SealMode.OFF, False, False),
    ],
)
def test_should_seal(
    config: GatewayConfig, mode: SealMode, signed: bool, seal: bool
) -> None:
    config = dataclasses.replace(config, seal_mode=mode)
    assert should_seal(config, signed) is seal


def test_passing_signature_is_always_accepted(config: GatewayConfig) -> None:
    strict = dataclasses.replace(
        config, inbound_domains={"gov.vn": Action.REJECT}
    )
    assert (
        inbound_action(strict, "mof.gov.vn", SmimeResult.PASS) is Action.ACCEPT
    )
    assert (
        inbound_action(strict, "mof.gov.vn", SmimeResult.NONE) is Action.REJECT
    )
    assert (
        inbound_action(strict, "example.com", SmimeResult.FAIL)
        is Action.ACCEPT
    )


def test_replies_are_permanent_and_say_why() -> None:
    marking = find_marking([("Subject", "Tối mật")])
    assert marking is not None
    reply = classified_reply(marking)
    assert (reply.code, reply.xcode) == ("550", "5.7.1")
    assert "TOI MAT" in reply.text and reply.text.isascii()
    assert not reply.temporary
    reply = inbound_reply(SmimeResult.NONE, "mof.gov.vn")
    assert "mof.gov.vn is not signed" in reply.text


def test_temperror_under_reject_is_deferred_not_refused() -> None:
    reply = inbound_reply(SmimeResult.TEMPERROR, "mof.gov.vn")
    assert reply.temporary
    assert (reply.code, reply.xcode) == ("451", "4.7.5")


def test_encryption_is_all_or_nothing() -> None:
    directory = {"a@x.vn": "cert-a", "b@x.vn": "cert-b"}
    assert encryption_targets(["<A@x.vn>", "b@x.vn"], directory) == [
        "cert-a",
        "cert-b",
    ]
    assert encryption_targets(["a@x.vn", "c@x.vn"], directory) is None
    assert encryption_targets([], directory) is None


@pytest.mark.parametrize(
    ("value", "domain"),
    [
        ('"Nguyễn Văn An" <an.nv@SNV.demo.gov.vn>', "snv.demo.gov.vn"),
        ("an.nv@snv.demo.gov.vn", "snv.demo.gov.vn"),
        ("undisclosed-recipients:;", None),
        (None, None),
    ],
)
def test_header_domain(value: str | None, domain: str | None) -> None:
    assert header_domain(value) == domain


def test_address_domain() -> None:
    assert address_domain("<x@Y.vn.>") == "y.vn"
    assert address_domain("postmaster") is None


def test_tagged_subject() -> None:
    assert tagged_subject("[UNVERIFIED]", "Hello") == "[UNVERIFIED] Hello"
    assert tagged_subject("[UNVERIFIED]", "[UNVERIFIED] Hi") == (
        "[UNVERIFIED] Hi"
    )
    tagged = tagged_subject("[CHƯA XÁC THỰC]", "Hi")
    assert tagged.startswith("=?utf-8?") and tagged.endswith(" Hi")
