"""The agency seal on a PKCS#11 token (SoftHSM2), as an HSM would hold it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from govsign.gateway._library import build_gateway
from govsign.gateway.config import load_config
from govsign.gateway.directory import certificate_addresses
from govsign.pki.trust import TrustStore, load_crls
from govsign.smime.verifying import Verifier
from tests.gateway.conftest import plain_message
from tests.gateway.policy_helpers import outbound_envelope
from tests.gateway.test_engine import _spool
from tests.softhsm import PIN, RSA_LABEL, TokenWorld


def test_seal_key_on_a_token_seals_outbound_mail(
    token_world: TokenWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = dt.datetime.now(dt.UTC)
    crls = []
    for name, ca in (("root", token_world.root), ("ca", token_world.ministry)):
        crl = ca.issue_crl(
            this_update=now - dt.timedelta(minutes=5),
            next_update=now + dt.timedelta(days=1),
            number=99,
        )
        path = tmp_path / f"{name}.crl"
        path.write_bytes(crl.public_bytes(serialization.Encoding.DER))
        crls.append(path)
    address = certificate_addresses(token_world.rsa.certificate)[0]
    domain = address.split("@")[1]
    monkeypatch.setenv("GOVSIGN_TEST_SEAL_PIN", PIN)
    crl_list = ", ".join(f'"{p}"' for p in crls)
    config_path = tmp_path / "token.toml"
    config_path.write_text(
        f"""
[gateway]
authserv-id = "mx.{domain}"
agency-domains = ["{domain}"]
[trust]
anchors = "{token_world.trust_file}"
crls = [{crl_list}]
[outbound]
seal-key = "{token_world.uri(object=RSA_LABEL)}"
seal-password-env = "GOVSIGN_TEST_SEAL_PIN"
""",
        encoding="utf-8",
    )
    gateway = build_gateway(load_config(config_path))
    message = plain_message(sender=address, to="x@khac.demo.gov.vn")
    try:
        outcome = gateway.process(
            outbound_envelope(address, "x@khac.demo.gov.vn"), _spool(message)
        )
    finally:
        gateway.close()  # log out of the token
    assert outcome.verdict == "sealed"
    assert outcome.replacement is not None
    verifier = Verifier(
        TrustStore.from_pem_file(token_world.trust_file),
        crls=load_crls(crls),
    )
    result = verifier.verify(outcome.replacement)
    assert result.valid, result.problems
    assert result.signers[0].email == (address,)
