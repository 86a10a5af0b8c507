"""An RFC 3161 timestamping authority: ``openssl ts -reply`` on loopback.

OpenSSL is the real peer here: govsign's requests must be ones OpenSSL's
TSA accepts, and its tokens are what govsign must validate.  The HTTP
front end (RFC 3161 3.4: POST application/timestamp-query) runs on
127.0.0.1; each request runs one ``openssl ts -reply`` process.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from govsign.keys.local import LocalKey
from tests.services.loopback import LoopbackServer

__all__ = ["OpenSSLTSA", "openssl_available", "TSA_POLICY"]

TSA_POLICY = "1.3.6.1.4.1.99999.1.1"
"""The policy OID the test TSA puts into its tokens (a private arc)."""

_CONFIG = """\
[ tsa ]
default_tsa = govsign_test_tsa

[ govsign_test_tsa ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
certs = $dir/chain.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = {policy}
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def openssl_available() -> bool:
    """Whether an ``openssl`` binary with the ``ts`` command is on PATH."""
    return shutil.which("openssl") is not None


class OpenSSLTSA(LoopbackServer):
    """Answer timestamp queries with ``openssl ts -reply`` and ``key``.

    ``key`` holds the TSA certificate (EKU timeStamping) and its chain,
    which go into every token (the request's certReq decides).
    """

    def __init__(self, key: LocalKey) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="govsign-tsa-"))
        pem = serialization.Encoding.PEM
        (self._dir / "tsa.pem").write_bytes(key.certificate.public_bytes(pem))
        (self._dir / "chain.pem").write_bytes(
            b"".join(c.public_bytes(pem) for c in key.chain)
        )
        key_file = self._dir / "tsa.key"
        key_file.write_bytes(
            key.private_key.private_bytes(
                pem,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        key_file.chmod(0o600)
        (self._dir / "serial").write_text("01\n")
        (self._dir / "tsa.cnf").write_text(
            _CONFIG.format(dir=self._dir, policy=TSA_POLICY)
        )
        self._run_lock = threading.Lock()
        self.key = key
        super().__init__(self._handle)

    @property
    def url(self) -> str:
        return f"{self.base_url}/tsa"

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def _handle(
        self, method: str, path: str, body: bytes
    ) -> tuple[int, str, bytes]:
        if method != "POST" or path != "/tsa":
            return 404, "text/plain", b"not found"
        # The serial file is shared state: one openssl process at a time.
        with self._run_lock:
            query = self._dir / "query.tsq"
            reply = self._dir / "reply.tsr"
            query.write_bytes(body)
            reply.unlink(missing_ok=True)
            proc = subprocess.run(
                [
                    "openssl",
                    "ts",
                    "-reply",
                    "-config",
                    str(self._dir / "tsa.cnf"),
                    "-queryfile",
                    str(query),
                    "-out",
                    str(reply),
                ],
                capture_output=True,
                timeout=30,
                check=False,
            )
            if proc.returncode != 0 or not reply.exists():
                return 500, "text/plain", proc.stderr[-2000:]
            return 200, "application/timestamp-reply", reply.read_bytes()
