"""Run ``openssl ocsp`` as responder and govsign as client, both inside
one network namespace (``unshare -n``), since ``openssl ocsp`` binds every
interface: in a fresh namespace only an isolated loopback exists.

Usage (from tests/pki/test_openssl_ocsp.py):
    unshare -n PYTHON -m tests.services.openssl_ocsp_driver DIR PORT

DIR holds index.txt, ca.pem, rsp.pem, rsp.key, signer.pem and root.pem
(and root.crl, DER).  Prints one JSON object: the path outcome.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cryptography import x509

from govsign.pki.fetch import RevocationFetcher
from govsign.pki.trust import TrustStore
from govsign.pki.validate import PathValidator


def _wait_for(proc: subprocess.Popen[bytes]) -> None:
    # A probe connection would count as a request; wait for OpenSSL to
    # say it listens instead (the caller's timeout bounds the wait).
    assert proc.stderr is not None
    for _ in range(20):
        line = proc.stderr.readline()
        if not line:
            raise RuntimeError("openssl ocsp exited early")
        if b"waiting for OCSP client connections" in line:
            return
    raise RuntimeError("openssl ocsp did not start")


def main() -> None:
    directory, port = Path(sys.argv[1]), int(sys.argv[2])
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    responder = subprocess.Popen(
        [
            "openssl", "ocsp", "-index", str(directory / "index.txt"),
            "-CA", str(directory / "ca.pem"),
            "-rsigner", str(directory / "rsp.pem"),
            "-rkey", str(directory / "rsp.key"),
            "-port", str(port), "-nmin", "60", "-nrequest", "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        _wait_for(responder)
        signer = x509.load_pem_x509_certificate(
            (directory / "signer.pem").read_bytes()
        )
        ca = x509.load_pem_x509_certificate(
            (directory / "ca.pem").read_bytes()
        )
        trust = TrustStore.from_pem_file(directory / "root.pem")
        validator = PathValidator(
            trust,
            crls=[(directory / "root.crl").read_bytes()],
            fetcher=RevocationFetcher(timeout=10),
        )
        outcome = validator.validate(signer, [ca], signing_time=None)
        print(
            json.dumps(
                {
                    "indication": outcome.indication.value,
                    "sub_indication": (
                        outcome.sub_indication.value
                        if outcome.sub_indication
                        else None
                    ),
                    "message": outcome.message,
                    "ocsps": len(outcome.ocsps),
                    "problems": list(outcome.fetch_problems),
                }
            )
        )
    finally:
        if responder.poll() is None:
            responder.terminate()
        responder.wait(timeout=10)


if __name__ == "__main__":
    main()
