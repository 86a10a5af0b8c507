"""The gateway configuration file."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest

from govsign.errors import ConfigurationError
from govsign.gateway.config import (
    Action,
    SealMode,
    load_config,
    parse_config,
    parse_listen,
)
from govsign.pki.validate import RevocationMode
from tests.gateway.conftest import Material


def _base(material: Material) -> dict[str, Any]:
    pki = material.pki
    return {
        "gateway": {
            "authserv-id": "mx.snv.demo.gov.vn",
            "agency-domains": ["SNV.demo.gov.vn."],
        },
        "trust": {"anchors": str(pki.trust_file)},
        "outbound": {"seal-mode": "off"},
    }


def test_example_file_loads(material: Material) -> None:
    config = load_config(material.config_path)
    assert config.authserv_id == "mx.snv.demo.gov.vn"
    assert config.agency_domains == ("snv.demo.gov.vn",)
    assert config.seal_mode is SealMode.UNSIGNED
    assert config.seal_key == material.pki.p12_files["seal"]
    # The relative password file name is resolved beside the config.
    assert config.seal_password_file == material.directory / "seal.pass"
    assert config.seal_password() == b"demo-password"
    assert config.revocation is RevocationMode.REQUIRE
    assert len(config.crl_files) == 2


def test_defaults_tag_gov_vn_and_accept_others(material: Material) -> None:
    config = parse_config(_base(material), material.directory)
    assert config.inbound_action("mof.gov.vn") is Action.TAG
    assert config.inbound_action("GOV.VN") is Action.TAG
    assert config.inbound_action("example.com") is Action.ACCEPT
    assert config.inbound_action(None) is Action.ACCEPT
    assert config.listen == "inet:8891@127.0.0.1"


def test_most_specific_domain_wins(material: Material) -> None:
    data = _base(material)
    data["inbound"] = {
        "default-action": "tag",
        "domains": {"gov.vn": "quarantine", "mof.gov.vn": "reject"},
    }
    config = parse_config(data, material.directory)
    assert config.inbound_action("hcm.mof.gov.vn") is Action.REJECT
    assert config.inbound_action("moh.gov.vn") is Action.QUARANTINE
    assert config.inbound_action("example.org") is Action.TAG


def test_internal_networks(material: Material) -> None:
    data = _base(material)
    data["gateway"]["internal-networks"] = ["10.1.0.0/16"]
    config = parse_config(data, material.directory)
    assert config.internal_networks == (ipaddress.ip_network("10.1.0.0/16"),)
    assert config.is_internal("10.1.2.3")
    assert not config.is_internal("127.0.0.1")
    assert not config.is_internal("not-an-ip")


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("gateway", "colour", "red", "unknown setting gateway.colour"),
        ("inbound", "default-action", "drop", "expected one of"),
        ("outbound", "seal-mode", "sometimes", "seal-mode"),
        ("gateway", "listen", "inet:8891@0.0.0.0", "loopback"),
        ("gateway", "listen", "inet:8891@192.0.2.1", "loopback"),
        ("gateway", "listen", "unix:relative.sock", "absolute"),
        ("gateway", "listen", "tcp:1", "expected unix"),
        ("gateway", "spool-memory", -1, "positive integer"),
        ("gateway", "internal-networks", ["300.0.0.0/8"], "300"),
        ("trust", "revocation", "maybe", "trust.revocation"),
        ("trust", "crls", ["/nonexistent/x.crl"], "does not exist"),
        ("outbound", "encrypt", "yes", "true or false"),
    ],
)
def test_bad_setting_is_named(
    material: Material, section: str, key: str, value: object, message: str
) -> None:
    data = _base(material)
    data.setdefault(section, {})[key] = value
    with pytest.raises(ConfigurationError, match=message):
        parse_config(data, material.directory)


def test_missing_authserv_id(material: Material) -> None:
    data = _base(material)
    del data["gateway"]["authserv-id"]
    with pytest.raises(ConfigurationError, match="authserv-id"):
        parse_config(data, material.directory)


def test_missing_trust_anchors(material: Material) -> None:
    data = _base(material)
    del data["trust"]
    with pytest.raises(ConfigurationError, match="trust.anchors"):
        parse_config(data, material.directory)


def test_seal_needs_key_and_password(material: Material) -> None:
    data = _base(material)
    data["outbound"] = {"seal-mode": "unsigned"}
    with pytest.raises(ConfigurationError, match="seal-key is required"):
        parse_config(data, material.directory)
    data["outbound"]["seal-key"] = str(material.pki.p12_files["seal"])
    with pytest.raises(ConfigurationError, match="password"):
        parse_config(data, material.directory)


def test_password_variable_must_be_set(
    material: Material, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _base(material)
    data["outbound"] = {
        "seal-key": str(material.pki.p12_files["seal"]),
        "seal-password-env": "GOVSIGN_TEST_SEAL",
    }
    config = parse_config(data, material.directory)
    monkeypatch.delenv("GOVSIGN_TEST_SEAL", raising=False)
    with pytest.raises(ConfigurationError, match="GOVSIGN_TEST_SEAL"):
        config.seal_password()
    monkeypatch.setenv("GOVSIGN_TEST_SEAL", "s3cret")
    assert config.seal_password() == b"s3cret"


def test_bad_toml_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[gateway\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="bad.toml"):
        load_config(path)


def test_missing_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_config(tmp_path / "absent.toml")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("/run/govsign.sock", "unix:/run/govsign.sock"),
        ("local:/run/g.sock", "unix:/run/g.sock"),
        ("inet:8891@127.0.0.1", "inet:8891@127.0.0.1"),
        ("inet:8891@localhost", "inet:8891@localhost"),
        ("inet6:8891@::1", "inet6:8891@::1"),
    ],
)
def test_listen_forms(spec: str, expected: str) -> None:
    assert parse_listen(spec) == expected


def test_seal_key_on_a_token(material: Material) -> None:
    data = _base(material)
    uri = "pkcs11:token=SEAL;object=seal"
    data["outbound"] = {
        "seal-key": uri,
        "seal-password-env": "GOVSIGN_SEAL_PIN",
    }
    config = parse_config(data, material.directory)
    assert config.seal_key == uri
    assert config.seal_pkcs11_module is None
