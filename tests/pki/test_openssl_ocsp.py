"""govsign's OCSP client against OpenSSL's responder (a real peer).

``openssl ocsp`` binds every interface, so it runs inside a network
namespace of its own (``unshare -n``), together with the govsign client;
nothing is reachable from outside it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from govsign.pki.demo import CertificateAuthority
from tests.conftest import REPO, require_tool

pytestmark = pytest.mark.interop

_PORT = 28888  # inside the private namespace: always free
_PEM = serialization.Encoding.PEM


def _index_line(cert: Any, revoked: dt.datetime | None) -> str:
    expiry = cert.not_valid_after_utc.strftime("%y%m%d%H%M%SZ")
    subject = "/" + "/".join(f"{a.oid._name}={a.value}" for a in cert.subject)
    serial = f"{cert.serial_number:X}"
    if len(serial) % 2:
        serial = "0" + serial
    if revoked is None:
        return f"V\t{expiry}\t\t{serial}\tunknown\t{subject}\n"
    when = revoked.strftime("%y%m%d%H%M%SZ")
    return f"R\t{expiry}\t{when}\t{serial}\tunknown\t{subject}\n"


def _namespace_available() -> None:
    require_tool("openssl")
    require_tool("unshare")
    probe = subprocess.run(
        ["unshare", "-n", "true"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        message = f"unshare -n is not permitted: {probe.stderr!r}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def _run(tmp_path: Path, revoked: bool) -> dict[str, Any]:
    _namespace_available()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    window = {
        "not_before": now - dt.timedelta(days=1),
        "not_after": now + dt.timedelta(days=30),
    }
    root = CertificateAuthority.new_root(
        "Interop Root", "Test", key_spec="p256", **window
    )
    ca = root.issue_ca("Interop CA", "Test", key_spec="p256", **window)
    ca.ocsp_url = f"http://127.0.0.1:{_PORT}"
    signer = ca.issue_end_entity(
        "Nguyễn Văn An",
        "Test",
        "an@snv.demo.gov.vn",
        key_spec="p256",
        **window,
    )
    ca.ocsp_url = None
    responder = ca.issue_service(
        "Interop OCSP", "Test", ExtendedKeyUsageOID.OCSP_SIGNING,
        key_spec="p256", **window,
    )  # fmt: skip
    when = now - dt.timedelta(hours=1) if revoked else None
    (tmp_path / "index.txt").write_text(_index_line(signer.certificate, when))
    (tmp_path / "index.txt.attr").write_text("unique_subject = no\n")
    for name, cert in (
        ("ca.pem", ca.certificate),
        ("rsp.pem", responder.certificate),
        ("signer.pem", signer.certificate),
        ("root.pem", root.certificate),
    ):
        (tmp_path / name).write_bytes(cert.public_bytes(_PEM))
    (tmp_path / "rsp.key").write_bytes(
        responder.private_key.private_bytes(
            _PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    crl = root.issue_crl(
        this_update=now - dt.timedelta(hours=1),
        next_update=now + dt.timedelta(days=7),
    )
    (tmp_path / "root.crl").write_bytes(
        crl.public_bytes(serialization.Encoding.DER)
    )
    proc = subprocess.run(
        [
            shutil.which("unshare") or "unshare", "-n", sys.executable,
            "-m", "tests.services.openssl_ocsp_driver",
            str(tmp_path), str(_PORT),
        ],
        capture_output=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    result: dict[str, Any] = json.loads(proc.stdout.decode().splitlines()[-1])
    return result


def test_good_status_from_openssl_responder(tmp_path: Path) -> None:
    result = _run(tmp_path, revoked=False)
    assert result["indication"] == "TOTAL-PASSED", json.dumps(result)
    assert result["ocsps"] == 1


def test_revoked_status_from_openssl_responder(tmp_path: Path) -> None:
    result = _run(tmp_path, revoked=True)
    # No claimed signing time here: revoked, time of signing unproved.
    assert (result["indication"], result["sub_indication"]) == (
        "INDETERMINATE",
        "REVOKED_NO_POE",
    ), result
