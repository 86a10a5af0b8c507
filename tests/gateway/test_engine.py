"""The gateway's behaviour on whole messages, with the real library."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path

import pytest

from govsign.errors import DecryptionError
from govsign.gateway._library import build_gateway
from govsign.gateway.config import Action, GatewayConfig, SealMode
from govsign.gateway.engine import (
    Gateway,
    MessageSpool,
    keep_original,
    render,
    split_message,
)
from govsign.gateway.policy import Direction, Envelope
from govsign.pki.trust import TrustStore, load_crls
from govsign.result import Verdict
from govsign.smime.verifying import Verifier
from tests.gateway.conftest import (
    AGENCY,
    PEER,
    Material,
    plain_message,
    signed_by,
)

OUTSIDE = "203.0.113.7"


def _spool(message: bytes, memory: int = 1024 * 1024) -> MessageSpool:
    headers, body = split_message(message)
    spool = MessageSpool(memory)
    for name, value in headers:
        spool.add_header(name, value)
    for start in range(0, len(body), 65536):
        spool.write_body(body[start : start + 65536])
    return spool


def _inbound(sender: str = f"binh.tt@{PEER}") -> Envelope:
    return Envelope("Q1", sender, (f"an.nv@{AGENCY}",), client_address=OUTSIDE)


NO_CERT = "vanphong@khac.demo.gov.vn"  # no certificate in the directory


def _outbound(*rcpts: str) -> Envelope:
    return Envelope(
        "Q2",
        f"an.nv@{AGENCY}",
        rcpts or (NO_CERT,),
        client_address="127.0.0.1",
    )


def _finished(spool: MessageSpool, gateway: Gateway, env: Envelope) -> bytes:
    outcome = gateway.process(env, spool)
    out = io.BytesIO()
    render(spool, outcome, out)
    return out.getvalue()


@pytest.fixture
def gateway(config: GatewayConfig) -> Gateway:
    return build_gateway(config)


def _verifier(material: Material) -> Verifier:
    return Verifier(
        TrustStore.from_pem_file(material.pki.trust_file),
        crls=load_crls(material.pki.crl_files),
    )


def test_valid_inbound_is_stamped_pass(
    gateway: Gateway, material: Material
) -> None:
    spool = _spool(signed_by(material.pki.recipient))
    outcome = gateway.process(_inbound(), spool)
    assert outcome.direction is Direction.INBOUND
    assert outcome.verdict == "smime=pass action=accept"
    assert outcome.reply is None and outcome.quarantine is None
    ((name, value),) = outcome.add
    assert name == "Authentication-Results"
    assert value.startswith(f"mx.{AGENCY};")
    assert f"body.smime-identifier=binh.tt@{PEER}" in value


def test_unsigned_gov_vn_is_tagged(gateway: Gateway) -> None:
    spool = _spool(plain_message())
    outcome = gateway.process(_inbound(), spool)
    assert outcome.verdict == "smime=none action=tag"
    assert [n for n, _ in outcome.add] == [
        "Authentication-Results",
        "X-Govsign-Warning",
    ]


def test_unsigned_other_domain_is_only_stamped(gateway: Gateway) -> None:
    spool = _spool(plain_message(sender="friend@example.com"))
    outcome = gateway.process(_inbound("friend@example.com"), spool)
    assert outcome.verdict == "smime=none action=accept"
    assert len(outcome.add) == 1


def test_tampered_inbound_under_reject_policy_is_refused(
    config: GatewayConfig, material: Material
) -> None:
    strict = dataclasses.replace(
        config, inbound_domains={"gov.vn": Action.REJECT}
    )
    signed = signed_by(material.pki.recipient)
    tampered = signed.replace(b"Noi dung cong van.", b"Noi dung da sua.")
    outcome = build_gateway(strict).process(_inbound(), _spool(tampered))
    assert outcome.verdict == "smime=fail action=reject"
    assert outcome.reply is not None
    assert outcome.reply.code == "550"


def test_revoked_signer_is_quarantined_when_asked(
    config: GatewayConfig, material: Material
) -> None:
    held = dataclasses.replace(
        config, inbound_domains={"gov.vn": Action.QUARANTINE}
    )
    sender = f"nghi.pv@{PEER}"
    outcome = build_gateway(held).process(
        _inbound(sender), _spool(signed_by(material.revoked))
    )
    assert outcome.verdict == "smime=fail action=quarantine"
    assert outcome.quarantine is not None


def test_forged_authentication_results_are_removed(
    gateway: Gateway,
) -> None:
    message = plain_message(
        extra=(
            f"Authentication-Results: mx.{AGENCY}; smime=pass\r\n"
            "Authentication-Results: other.example; dkim=pass\r\n"
            f"Authentication-Results: MX.{AGENCY.upper()};\r\n smime=pass\r\n"
        )
    )
    spool = _spool(message)
    finished = _finished(spool, gateway, _inbound())
    parsed = message_from_bytes(finished, policy=email_policy.default)
    values = parsed.get_all("Authentication-Results")
    assert values is not None
    assert len(values) == 2
    assert values[0].startswith(f"mx.{AGENCY};")
    assert "smime=none" in values[0]
    assert values[1] == "other.example; dkim=pass"


def test_subject_tag_is_added(config: GatewayConfig) -> None:
    tagging = dataclasses.replace(config, subject_tag="[UNVERIFIED]")
    spool = _spool(plain_message(subject="Hello"))
    finished = _finished(spool, build_gateway(tagging), _inbound())
    assert b"\r\nSubject: [UNVERIFIED] Hello\r\n" in finished


def test_malformed_smime_is_permerror(gateway: Gateway) -> None:
    message = plain_message(body="not base64 at all\r\n").replace(
        b"Content-Type: text/plain; charset=utf-8",
        b"Content-Type: application/pkcs7-mime; smime-type=signed-data\r\n"
        b"Content-Transfer-Encoding: base64",
    )
    outcome = gateway.process(_inbound(), _spool(message))
    assert outcome.verdict.startswith("smime=")
    assert outcome.verdict.split()[0] in ("smime=permerror", "smime=fail")


def test_outbound_unsigned_is_sealed(
    gateway: Gateway, material: Material
) -> None:
    message = plain_message(sender=f"an.nv@{AGENCY}", to=NO_CERT)
    outcome = gateway.process(_outbound(), _spool(message))
    assert outcome.direction is Direction.OUTBOUND
    assert outcome.verdict == "sealed"
    assert outcome.replacement is not None
    # The seal is the Sender, so an RFC 8550 verifier accepts it.
    assert outcome.replacement.startswith(f"Sender: vanthu@{AGENCY}".encode())
    result = _verifier(material).verify(outcome.replacement)
    assert result.verdict is Verdict.VALID, result.problems
    assert result.signers[0].email == (f"vanthu@{AGENCY}",)


def test_outbound_already_signed_is_passed(
    gateway: Gateway, material: Material
) -> None:
    signed = signed_by(material.pki.clerk, to=NO_CERT)
    outcome = gateway.process(_outbound(), _spool(signed))
    assert outcome.verdict == "passed signed=yes"
    assert outcome.replacement is None


def test_seal_always_adds_a_second_signature(
    config: GatewayConfig, material: Material
) -> None:
    always = build_gateway(
        dataclasses.replace(config, seal_mode=SealMode.ALWAYS)
    )
    signed = signed_by(material.pki.clerk, to=NO_CERT)
    outcome = always.process(_outbound(), _spool(signed))
    assert outcome.replacement is not None
    result = _verifier(material).verify(outcome.replacement)
    emails = {e for s in result.signers for e in s.email}
    assert {f"an.nv@{AGENCY}", f"vanthu@{AGENCY}"} <= emails
    assert result.verdict is Verdict.VALID, result.problems


@pytest.mark.parametrize(
    "extra",
    [
        "X-Classification: TOI MAT\r\n",
        "",
    ],
)
def test_outbound_classified_is_refused(gateway: Gateway, extra: str) -> None:
    subject = (
        "Báo cáo"
        if extra
        else "=?utf-8?b?" + ("TeG6rFQgLSBLw6ogaG/huqFjaA==?=")
    )
    message = plain_message(
        sender=f"an.nv@{AGENCY}", subject=subject, extra=extra
    )
    outcome = gateway.process(_outbound(), _spool(message))
    assert outcome.reply is not None
    assert (outcome.reply.code, outcome.reply.xcode) == ("550", "5.7.1")
    assert outcome.verdict.startswith("refused classified=")


def test_inbound_classified_is_not_refused(gateway: Gateway) -> None:
    # The rule guards what leaves; what arrives is the sender's problem.
    outcome = gateway.process(_inbound(), _spool(plain_message(subject="Mật")))
    assert outcome.reply is None


def test_large_unsigned_body_spills_to_disk_and_is_not_loaded(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = ("x" * 998 + "\r\n") * 27_000  # about 27 MB
    spool = _spool(plain_message(body=body), memory=1024 * 1024)
    assert spool.file.fileno() >= 0  # rolled over to a real file
    assert spool.body_size > 25 * 1024 * 1024

    def refuse(self: MessageSpool) -> bytes:
        raise AssertionError("an unsigned message must not be loaded")

    monkeypatch.setattr(MessageSpool, "message_bytes", refuse)
    outcome = gateway.process(_inbound(), spool)
    assert outcome.verdict == "smime=none action=tag"


def test_smime_marker_across_chunk_boundary_is_seen() -> None:
    spool = MessageSpool()
    spool.add_header("Content-Type", "multipart/mixed")
    spool.write_body(b"a" * (256 * 1024 - 10) + b"Application/PKCS7-")
    spool.write_body(b"Signature\r\n")
    assert spool.has_smime_content()


def test_decrypted_message_keeps_the_original(
    config: GatewayConfig, material: Material
) -> None:
    plain = signed_by(material.pki.recipient)
    envelope_msg = plain_message(extra="").replace(
        b"Content-Type: text/plain; charset=utf-8",
        b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data",
    )

    def decrypt(message: bytes) -> bytes:
        assert message.startswith(b"From:")
        return plain

    gateway = build_gateway(config)
    gateway.decryptor = decrypt
    outcome = gateway.process(_inbound(), _spool(envelope_msg))
    assert outcome.verdict == "decrypted smime=pass action=accept"
    assert outcome.replacement is not None
    parsed = message_from_bytes(outcome.replacement)
    assert parsed.get_content_type() == "multipart/mixed"
    parts = parsed.get_payload()
    assert isinstance(parts, list)
    assert parts[0].get_content_type() == "multipart/signed"
    assert parts[1].get_content_type() == "message/rfc822"


def test_mail_for_someone_elses_key_passes_unopened(
    config: GatewayConfig,
) -> None:
    def decrypt(message: bytes) -> bytes:
        raise DecryptionError("decryption failed")

    gateway = build_gateway(config)
    gateway.decryptor = decrypt
    message = plain_message().replace(
        b"Content-Type: text/plain; charset=utf-8",
        b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data",
    )
    outcome = gateway.process(_inbound(), _spool(message))
    assert outcome.replacement is None
    assert outcome.verdict == "smime=none action=accept encrypted"


def test_keep_original_without_content_headers() -> None:
    wrapped = keep_original(b"From: a@b\r\n\r\nhello\r\n", b"ORIGINAL")
    parsed = message_from_bytes(wrapped)
    parts = parsed.get_payload()
    assert isinstance(parts, list)
    assert parts[0].get_payload() == "hello\r\n"


def test_seal_replaces_an_existing_sender(
    gateway: Gateway, material: Material
) -> None:
    message = plain_message(
        sender=f"an.nv@{AGENCY}", extra="Sender: secretary@example.com\r\n"
    )
    outcome = gateway.process(_outbound(), _spool(message))
    assert outcome.replacement is not None
    assert b"secretary@example.com" not in outcome.replacement
    assert _verifier(material).verify(outcome.replacement).valid


def test_mail_from_the_seal_address_gets_no_sender(
    gateway: Gateway,
) -> None:
    message = plain_message(sender=f"vanthu@{AGENCY}")
    env = dataclasses.replace(_outbound(), sender=f"vanthu@{AGENCY}")
    outcome = gateway.process(env, _spool(message))
    assert outcome.replacement is not None
    assert b"\r\nSender:" not in outcome.replacement
    assert not outcome.replacement.startswith(b"Sender:")


class _RecordingEncryptor:
    """Stands in for govsign.encrypt to test when the gateway encrypts."""

    def __init__(self) -> None:
        self.calls: list[tuple[bytes, list[str]]] = []

    def __call__(self, message: bytes, recipients: object) -> bytes:
        from govsign.gateway.directory import certificate_addresses

        assert isinstance(recipients, list)
        names = [certificate_addresses(c)[0] for c in recipients]
        self.calls.append((message, names))
        return b"From: x\r\n\r\nENCRYPTED\r\n"


def _encrypting(config: GatewayConfig) -> tuple[Gateway, _RecordingEncryptor]:
    from govsign.gateway.directory import load_directory

    assert config.certificates is not None
    gateway = build_gateway(config)
    recorder = _RecordingEncryptor()
    gateway.encryptor = recorder
    gateway.directory = load_directory(config.certificates)
    return gateway, recorder


def test_outbound_is_sealed_then_encrypted_when_all_are_known(
    config: GatewayConfig, material: Material
) -> None:
    gateway, recorder = _encrypting(config)
    rcpts = (f"binh.tt@{PEER}", f"Cuong.LV@{PEER}")
    message = plain_message(sender=f"an.nv@{AGENCY}", to=", ".join(rcpts))
    outcome = gateway.process(_outbound(*rcpts), _spool(message))
    assert outcome.verdict == "sealed encrypted recipients=2"
    assert outcome.replacement == b"From: x\r\n\r\nENCRYPTED\r\n"
    ((sealed, names),) = recorder.calls
    assert names == [f"binh.tt@{PEER}", f"cuong.lv@{PEER}"]
    # Sign, then encrypt: what was encrypted is the sealed message.
    assert _verifier(material).verify(sealed).valid


def test_one_unknown_recipient_means_no_encryption(
    config: GatewayConfig,
) -> None:
    gateway, recorder = _encrypting(config)
    rcpts = (f"binh.tt@{PEER}", NO_CERT)
    message = plain_message(sender=f"an.nv@{AGENCY}")
    outcome = gateway.process(_outbound(*rcpts), _spool(message))
    assert outcome.verdict == "sealed"
    assert recorder.calls == []


def test_encrypt_off_means_no_encryption(config: GatewayConfig) -> None:
    gateway, recorder = _encrypting(dataclasses.replace(config, encrypt=False))
    message = plain_message(sender=f"an.nv@{AGENCY}")
    outcome = gateway.process(_outbound(f"binh.tt@{PEER}"), _spool(message))
    assert outcome.verdict == "sealed"
    assert recorder.calls == []


def test_signed_mail_is_encrypted_without_a_seal(
    config: GatewayConfig, material: Material
) -> None:
    gateway, recorder = _encrypting(config)
    signed = signed_by(material.pki.clerk, to=f"binh.tt@{PEER}")
    outcome = gateway.process(_outbound(f"binh.tt@{PEER}"), _spool(signed))
    assert outcome.verdict == "encrypted recipients=1"
    ((message, _names),) = recorder.calls
    assert message == signed  # passed on byte for byte


def test_stale_crls_under_reject_policy_defer_instead_of_bounce(
    config: GatewayConfig, material: Material, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives import serialization

    now = dt.datetime.now(dt.UTC)
    stale = []
    for name, ca in (
        ("root", material.pki.root),
        ("m", material.pki.ministry),
    ):
        crl = ca.issue_crl(
            this_update=now - dt.timedelta(hours=20),
            next_update=now - dt.timedelta(hours=1),
            number=50,
        )
        path = tmp_path / f"{name}.crl"
        path.write_bytes(crl.public_bytes(serialization.Encoding.DER))
        stale.append(path)
    strict = dataclasses.replace(
        config,
        crl_files=tuple(stale),
        inbound_domains={"gov.vn": Action.REJECT},
    )
    signed = signed_by(material.pki.recipient)
    outcome = build_gateway(strict).process(_inbound(), _spool(signed))
    assert outcome.verdict == "smime=temperror action=reject"
    assert outcome.reply is not None and outcome.reply.temporary


def test_forgery_does_not_survive_a_replacement(
    config: GatewayConfig, material: Material
) -> None:
    forged = f"Authentication-Results: mx.{AGENCY}; smime=pass\r\n"
    plain = signed_by(material.pki.recipient).replace(
        b"From:", forged.encode() + b"From:", 1
    )
    gateway = build_gateway(config)
    gateway.decryptor = lambda message: plain
    envelope_msg = plain_message(extra=forged).replace(
        b"Content-Type: text/plain; charset=utf-8",
        b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data",
    )
    outcome = gateway.process(_inbound(), _spool(envelope_msg))
    assert outcome.replacement is not None
    # The original inside the kept copy is encrypted data; the readable
    # headers of the replacement carry no forged stamp.
    head = outcome.replacement.split(b"\r\n\r\n", 1)[0]
    assert b"Authentication-Results" not in head
    assert outcome.verdict == "decrypted smime=pass action=accept"


def test_forgery_is_stripped_from_a_sealed_message(
    gateway: Gateway, material: Material
) -> None:
    message = plain_message(
        sender=f"an.nv@{AGENCY}",
        extra=f"Authentication-Results: MX.{AGENCY}; smime=pass\r\n"
        "Authentication-Results: other.example; spf=pass\r\n",
    )
    outcome = gateway.process(_outbound(), _spool(message))
    assert outcome.replacement is not None
    head = outcome.replacement.split(b"\r\n\r\n", 1)[0]
    assert f"MX.{AGENCY}".encode() not in head
    assert b"Authentication-Results: other.example; spf=pass" in head
    assert _verifier(material).verify(outcome.replacement).valid


def test_strip_forged_leaves_clean_messages_alone() -> None:
    from govsign.gateway.engine import strip_forged

    message = plain_message()
    assert strip_forged(message, f"mx.{AGENCY}") is message
