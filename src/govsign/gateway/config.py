"""The gateway's configuration file (TOML), read and checked on load.

Every setting is checked when the file is read, so that a bad path or a
misspelt policy stops ``govsign milter`` at start-up instead of failing
mail later.  docs/gateway.md is the reference with an example; in short::

    [gateway]
    authserv-id = "mx.snv.demo.gov.vn"
    listen = "unix:/run/govsign/milter.sock"   # or inet:8891@127.0.0.1
    agency-domains = ["snv.demo.gov.vn"]
    internal-networks = ["127.0.0.0/8", "::1/128"]

    [trust]
    anchors = "/etc/govsign/trust.pem"
    crls = ["/etc/govsign/root.crl", "/etc/govsign/ministry.crl"]
    revocation = "require"          # or "soft-fail", "no-check"

    [inbound]
    default-action = "accept"
    [inbound.domains]
    "gov.vn" = "tag"

    [outbound]
    seal-key = "/etc/govsign/seal.p12"      # or a pkcs11: URI
    seal-password-file = "/etc/govsign/seal.pass"
    seal-mode = "unsigned"
    certificates = "/etc/govsign/recipients"

Relative paths are taken relative to the configuration file's folder.
"""

from __future__ import annotations

import enum
import ipaddress
import logging
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from govsign.errors import ConfigurationError
from govsign.gateway.classification import CLASSIFICATION_HEADERS
from govsign.pki.validate import RevocationMode

__all__ = [
    "Action",
    "GatewayConfig",
    "SealMode",
    "load_config",
    "parse_config",
    "parse_listen",
]

log = logging.getLogger(__name__)


class Action(enum.Enum):
    """What inbound policy does with mail lacking a valid signature."""

    ACCEPT = "accept"  # stamp Authentication-Results only
    TAG = "tag"  # stamp and add X-Govsign-Warning (and a Subject tag)
    QUARANTINE = "quarantine"  # stamp and put on Postfix's hold queue
    REJECT = "reject"  # refuse with 550 5.7.1


class SealMode(enum.Enum):
    """When outbound mail gets the agency seal."""

    OFF = "off"
    UNSIGNED = "unsigned"  # only mail that carries no signature yet
    ALWAYS = "always"  # also over a clerk's signature


@dataclass(frozen=True)
class GatewayConfig:
    """Checked gateway settings.  See the module docstring."""

    authserv_id: str
    agency_domains: tuple[str, ...]
    listen: str = "inet:8891@127.0.0.1"
    internal_networks: tuple[
        ipaddress.IPv4Network | ipaddress.IPv6Network, ...
    ] = (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
    trust_file: Path | None = None
    crl_files: tuple[Path, ...] = ()
    revocation: RevocationMode = RevocationMode.REQUIRE
    inbound_default: Action = Action.ACCEPT
    inbound_domains: Mapping[str, Action] = field(
        default_factory=lambda: {"gov.vn": Action.TAG}
    )
    subject_tag: str = ""
    decrypt_key: Path | None = None
    decrypt_password_file: Path | None = None
    decrypt_password_env: str | None = None
    keep_original: bool = True
    seal_key: Path | str | None = None  # a file, or an RFC 7512 URI
    seal_pkcs11_module: Path | None = None
    seal_password_file: Path | None = None
    seal_password_env: str | None = None
    seal_mode: SealMode = SealMode.UNSIGNED
    certificates: Path | None = None
    encrypt: bool = True
    classification_headers: tuple[str, ...] = CLASSIFICATION_HEADERS
    spool_memory: int = 1024 * 1024
    max_message_size: int = 64 * 1024 * 1024

    def inbound_action(self, domain: str | None) -> Action:
        """The action for mail from ``domain`` lacking a valid signature.

        The most specific listed domain wins: ``mof.gov.vn`` is governed
        by an entry for ``mof.gov.vn``, else by ``gov.vn``, else by the
        default.
        """
        if domain:
            labels = domain.lower().rstrip(".").split(".")
            for i in range(len(labels)):
                action = self.inbound_domains.get(".".join(labels[i:]))
                if action is not None:
                    return action
        return self.inbound_default

    def is_agency_domain(self, domain: str | None) -> bool:
        """True when ``domain`` is one of the agency's own domains."""
        if not domain:
            return False
        domain = domain.lower().rstrip(".")
        return domain in self.agency_domains

    def is_internal(self, address: str | None) -> bool:
        """True when a client address lies in the internal networks."""
        if not address:
            return False
        try:
            ip = ipaddress.ip_address(address.strip("[]"))
        except ValueError:
            return False
        return any(ip in net for net in self.internal_networks)

    def seal_password(self) -> bytes:
        """Read the seal key's password from its file or variable."""
        return _secret(
            self.seal_password_file, self.seal_password_env, "seal-key"
        )

    def decrypt_password(self) -> bytes:
        """Read the decryption key's password from its file or variable."""
        return _secret(
            self.decrypt_password_file,
            self.decrypt_password_env,
            "decrypt-key",
        )


def _secret(path: Path | None, env: str | None, what: str) -> bytes:
    if path is not None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read the {what} password file {path}: {exc.strerror}"
            ) from exc
        lines = data.splitlines()
        return lines[0] if lines else b""
    if env is not None:
        value = os.environ.get(env)
        if value is None:
            raise ConfigurationError(
                f"the {what} password variable {env} is not set"
            )
        return value.encode("utf-8")
    raise ConfigurationError(
        f"{what} needs a password file or a password variable"
    )


def parse_listen(spec: str) -> str:
    """Check a milter socket spec and return it in libmilter form.

    Accepts ``unix:/path``, ``/path`` and ``inet:PORT@HOST`` or
    ``inet6:PORT@HOST`` where HOST is a loopback address or
    ``localhost``.  Other addresses are refused: whoever reaches the
    milter can have mail sealed with the agency's key.
    """
    if spec.startswith("/"):
        return "unix:" + spec
    if spec.startswith(("unix:", "local:")):
        path = spec.split(":", 1)[1]
        if not path.startswith("/"):
            raise ConfigurationError(
                f"listen = {spec!r}: the socket path must be absolute"
            )
        return "unix:" + path
    kind, _, rest = spec.partition(":")
    port, _, host = rest.partition("@")
    if kind not in ("inet", "inet6") or not port.isdigit() or not host:
        raise ConfigurationError(
            f"listen = {spec!r}: expected unix:/path or inet:PORT@127.0.0.1"
        )
    if not 0 < int(port) < 65536:
        raise ConfigurationError(f"listen = {spec!r}: bad port {port}")
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ConfigurationError(
                f"listen = {spec!r}: the milter listens only on a unix "
                "socket or a loopback address, since anyone who reaches "
                "it can have mail sealed with the agency key"
            )
    return spec


def _table(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigurationError(f"[{key}] must be a table")
    return value


def _str(table: Mapping[str, Any], key: str, where: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{where}.{key} must be a non-empty string")
    return value


def _path(
    table: Mapping[str, Any],
    key: str,
    where: str,
    base: Path,
    *,
    must_exist: bool = True,
) -> Path | None:
    value = _str(table, key, where)
    if value is None:
        return None
    path = Path(value)
    if not path.is_absolute():
        path = base / path
    if must_exist and not path.exists():
        raise ConfigurationError(f"{where}.{key}: {path} does not exist")
    return path


def _str_list(table: Mapping[str, Any], key: str, where: str) -> list[str]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(
        isinstance(v, str) and v for v in value
    ):
        raise ConfigurationError(f"{where}.{key} must be a list of strings")
    return list(value)


def _action(value: object, where: str) -> Action:
    try:
        return Action(value)
    except ValueError:
        choices = ", ".join(a.value for a in Action)
        raise ConfigurationError(
            f"{where} = {value!r}: expected one of {choices}"
        ) from None


_KNOWN = {
    "gateway": {
        "authserv-id",
        "listen",
        "agency-domains",
        "internal-networks",
        "spool-memory",
        "max-message-size",
    },
    "trust": {"anchors", "crls", "revocation"},
    "inbound": {
        "default-action",
        "domains",
        "subject-tag",
        "decrypt-key",
        "decrypt-password-file",
        "decrypt-password-env",
        "keep-original",
    },
    "outbound": {
        "seal-key",
        "seal-pkcs11-module",
        "seal-password-file",
        "seal-password-env",
        "seal-mode",
        "certificates",
        "encrypt",
    },
    "classification": {"headers"},
}


def _check_keys(data: Mapping[str, Any]) -> None:
    for section, value in data.items():
        if section not in _KNOWN:
            raise ConfigurationError(f"unknown section [{section}]")
        if not isinstance(value, dict):
            raise ConfigurationError(f"[{section}] must be a table")
        unknown = set(value) - _KNOWN[section]
        if unknown:
            raise ConfigurationError(
                f"unknown setting {section}.{sorted(unknown)[0]}"
            )


def parse_config(data: Mapping[str, Any], base: Path) -> GatewayConfig:
    """Build a :class:`GatewayConfig` from parsed TOML ``data``.

    ``base`` is the folder relative paths are resolved against.  Raises
    :class:`ConfigurationError` naming the first bad setting.
    """
    _check_keys(data)
    gw = _table(data, "gateway")
    trust = _table(data, "trust")
    inbound = _table(data, "inbound")
    outbound = _table(data, "outbound")
    classification = _table(data, "classification")

    authserv_id = _str(gw, "authserv-id", "gateway")
    if authserv_id is None:
        raise ConfigurationError("gateway.authserv-id is required")
    if _str(trust, "anchors", "trust") is None:
        # Without anchors nothing can pass; refuse rather than stamp every
        # signature neutral without saying why.
        raise ConfigurationError("trust.anchors is required")
    domains = tuple(
        d.lower().rstrip(".")
        for d in _str_list(gw, "agency-domains", "gateway")
    )
    if not domains:
        raise ConfigurationError("gateway.agency-domains lists no domain")
    networks = []
    for text in _str_list(gw, "internal-networks", "gateway") or [
        "127.0.0.0/8",
        "::1/128",
    ]:
        try:
            networks.append(ipaddress.ip_network(text))
        except ValueError as exc:
            raise ConfigurationError(
                f"gateway.internal-networks: {text!r}: {exc}"
            ) from None

    policy_table = inbound.get("domains", {"gov.vn": "tag"})
    if not isinstance(policy_table, dict):
        raise ConfigurationError("[inbound.domains] must be a table")
    policies = {
        k.lower().rstrip("."): _action(v, f"inbound.domains.{k}")
        for k, v in policy_table.items()
    }

    seal_key: Path | str | None
    seal_text = _str(outbound, "seal-key", "outbound")
    if seal_text is not None and seal_text.startswith("pkcs11:"):
        # A key on a token or HSM; the password settings give its PIN.
        seal_key = seal_text
    else:
        seal_key = _path(outbound, "seal-key", "outbound", base)
    seal_mode_text = outbound.get("seal-mode", "unsigned")
    try:
        seal_mode = SealMode(seal_mode_text)
    except ValueError:
        raise ConfigurationError(
            f"outbound.seal-mode = {seal_mode_text!r}: expected off, "
            "unsigned or always"
        ) from None
    if seal_mode is not SealMode.OFF and seal_key is None:
        raise ConfigurationError(
            'outbound.seal-key is required unless seal-mode = "off"'
        )
    seal_password_file = _path(
        outbound, "seal-password-file", "outbound", base
    )
    seal_password_env = _str(outbound, "seal-password-env", "outbound")
    if seal_key is not None and not (seal_password_file or seal_password_env):
        raise ConfigurationError(
            "outbound.seal-key needs seal-password-file or seal-password-env"
        )

    decrypt_key = _path(inbound, "decrypt-key", "inbound", base)
    decrypt_password_file = _path(
        inbound, "decrypt-password-file", "inbound", base
    )
    decrypt_password_env = _str(inbound, "decrypt-password-env", "inbound")
    if decrypt_key is not None and not (
        decrypt_password_file or decrypt_password_env
    ):
        raise ConfigurationError(
            "inbound.decrypt-key needs decrypt-password-file or "
            "decrypt-password-env"
        )

    revocation_text = trust.get("revocation", "require")
    try:
        revocation = RevocationMode(revocation_text)
    except ValueError:
        raise ConfigurationError(
            f"trust.revocation = {revocation_text!r}: expected require, "
            "soft-fail or no-check"
        ) from None
    if revocation is not RevocationMode.REQUIRE:
        log.warning(
            "trust.revocation = %s: signatures may pass without current "
            "revocation data",
            revocation.value,
        )

    headers = _str_list(classification, "headers", "classification")
    config = GatewayConfig(
        authserv_id=authserv_id,
        agency_domains=domains,
        listen=parse_listen(
            _str(gw, "listen", "gateway") or "inet:8891@127.0.0.1"
        ),
        internal_networks=tuple(networks),
        trust_file=_path(trust, "anchors", "trust", base),
        crl_files=tuple(
            _path({"crl": p}, "crl", "trust.crls", base) or Path(p)
            for p in _str_list(trust, "crls", "trust")
        ),
        revocation=revocation,
        inbound_default=_action(
            inbound.get("default-action", "accept"), "inbound.default-action"
        ),
        inbound_domains=policies,
        subject_tag=_str(inbound, "subject-tag", "inbound") or "",
        decrypt_key=decrypt_key,
        decrypt_password_file=decrypt_password_file,
        decrypt_password_env=decrypt_password_env,
        keep_original=_bool(inbound, "keep-original", "inbound", True),
        seal_key=seal_key,
        seal_pkcs11_module=_path(
            outbound, "seal-pkcs11-module", "outbound", base
        ),
        seal_password_file=seal_password_file,
        seal_password_env=seal_password_env,
        seal_mode=seal_mode,
        certificates=_path(outbound, "certificates", "outbound", base),
        encrypt=_bool(outbound, "encrypt", "outbound", True),
        classification_headers=tuple(headers) or CLASSIFICATION_HEADERS,
        spool_memory=_int(gw, "spool-memory", "gateway", 1024 * 1024),
        max_message_size=_int(
            gw, "max-message-size", "gateway", 64 * 1024 * 1024
        ),
    )
    return config


def _bool(
    table: Mapping[str, Any], key: str, where: str, default: bool
) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise ConfigurationError(f"{where}.{key} must be true or false")
    return value


def _int(table: Mapping[str, Any], key: str, where: str, default: int) -> int:
    value = table.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigurationError(f"{where}.{key} must be a positive integer")
    return value


def load_config(path: str | Path) -> GatewayConfig:
    """Read and check the TOML configuration file at ``path``.

    Raises :class:`ConfigurationError` for an unreadable file, bad TOML
    or a bad setting.
    """
    path = Path(path)
    return parse_config(read_toml(path), path.parent)


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file; ConfigurationError for any failure."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read {path}: {exc.strerror}"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: {exc}") from exc
