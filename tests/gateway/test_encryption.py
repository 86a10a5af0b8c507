"""Encryption through the real Postfix: outbound encrypted, inbound opened.

Outbound mail to recipients with known certificates is sealed and then
encrypted; inbound mail for the agency key is opened and verified; the
sendmail wrapper signs and encrypts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path

import pytest

import govsign
from govsign.keys.local import load_pkcs12
from govsign.result import Verdict
from tests.gateway.conftest import (
    AGENCY,
    PASSWORD,
    PEER,
    Material,
    plain_message,
    signed_by,
    write_config,
)
from tests.gateway.mta import (
    MilterProcess,
    NextHop,
    PostfixInstance,
    free_port,
    require_postfix,
)
from tests.gateway.test_postfix import Stack, _auth_results, _verifier


@pytest.fixture(scope="module")
def enc_stack(material: Material) -> Iterator[Stack]:
    require_postfix()
    hop = NextHop()
    hop.start()
    port = free_port()
    (material.directory / "clerk.pass").write_bytes(PASSWORD + b"\n")
    config = write_config(
        material.directory,
        material.pki,
        listen=f"inet:{port}@127.0.0.1",
        extra=(
            f'decrypt-key = "{material.pki.p12_files["clerk"]}"\n'
            'decrypt-password-file = "clerk.pass"\n'
        ),
        name="encryption-test.toml",
    )
    milter = MilterProcess(config, port, material.directory / "enc.log")
    milter.start()
    postfix = PostfixInstance(milter_port=port, next_hop_port=hop.port)
    try:
        postfix.start()
        yield Stack(postfix, milter, hop, material)
    finally:
        postfix.stop()
        milter.stop()
        hop.stop()
        postfix.remove()


def _mid() -> str:
    return f"<{uuid.uuid4().hex}@test.demo.gov.vn>"


def test_outbound_to_known_recipient_is_sealed_and_encrypted(
    enc_stack: Stack,
) -> None:
    mid = _mid()
    rcpt = f"binh.tt@{PEER}"
    message = plain_message(sender=f"an.nv@{AGENCY}", to=rcpt, message_id=mid)
    enc_stack.send(message, f"an.nv@{AGENCY}", [rcpt])
    item = enc_stack.arrived(mid)
    parsed = message_from_bytes(item.content, policy=email_policy.default)
    assert parsed.get_content_type() == "application/pkcs7-mime"
    assert b"Noi dung cong van" not in item.content
    key = load_pkcs12(enc_stack.material.pki.p12_files["recipient"], PASSWORD)
    opened = govsign.decrypt(item.content, key)
    result = _verifier(enc_stack.material).verify(opened.message)
    assert result.verdict is Verdict.VALID, result.problems
    assert result.signers[0].email == (f"vanthu@{AGENCY}",)
    assert b"Noi dung cong van" in opened.message
    assert "outbound sealed encrypted recipients=1" in enc_stack.milter_line(
        mid
    )


def test_inbound_for_the_agency_key_is_decrypted_and_verified(
    enc_stack: Stack,
) -> None:
    mid = _mid()
    material = enc_stack.material
    signed = signed_by(material.pki.recipient, message_id=mid)
    encrypted = govsign.encrypt(signed, [material.pki.clerk.certificate])
    enc_stack.send(encrypted, f"binh.tt@{PEER}", [f"an.nv@{AGENCY}"])
    item = enc_stack.arrived(mid)
    (ar,) = _auth_results(item)
    assert "smime=pass" in ar
    assert f"body.smime-identifier=binh.tt@{PEER}" in ar
    parsed = message_from_bytes(item.content, policy=email_policy.default)
    assert parsed.get_content_type() == "multipart/mixed"
    first, original = parsed.iter_parts()
    assert first.get_content_type() == "multipart/signed"
    assert original.get_content_type() == "message/rfc822"
    assert b"Noi dung cong van" in item.content
    assert "inbound decrypted smime=pass" in enc_stack.milter_line(mid)


def test_sendmail_wrapper_signs_and_encrypts(
    material: Material, tmp_path: Path
) -> None:
    from tests.gateway.test_hooks import _fake_sendmail

    (tmp_path / "clerk.pass").write_bytes(PASSWORD + b"\n")
    config = tmp_path / "sendmail.toml"
    config.write_text(
        "[sendmail]\n"
        f'key = "{material.pki.p12_files["clerk"]}"\n'
        'password-file = "clerk.pass"\n'
        f'program = "{_fake_sendmail(tmp_path)}"\n'
        f'certificates = "{material.directory / "recipients"}"\n',
        encoding="utf-8",
    )
    message = plain_message(sender=f"an.nv@{AGENCY}", to=f"binh.tt@{PEER}")
    done = subprocess.run(
        [sys.executable, "-m", "govsign_cli", "sendmail", "-t"],
        input=message,
        capture_output=True,
        check=False,
        timeout=120,
        env={**os.environ, "GOVSIGN_SENDMAIL_CONFIG": str(config)},
    )
    assert done.returncode == 0, done.stderr
    handed = (tmp_path / "message").read_bytes().replace(b"\n", b"\r\n")
    assert b"application/pkcs7-mime" in handed
    key = load_pkcs12(material.pki.p12_files["recipient"], PASSWORD)
    opened = govsign.decrypt(handed, key)
    result = _verifier(material).verify(opened.message)
    assert result.valid, result.problems
    assert result.signers[0].email == (f"an.nv@{AGENCY}",)
