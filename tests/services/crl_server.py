"""A CRL distribution point on 127.0.0.1."""

from __future__ import annotations

import threading

from tests.services.loopback import LoopbackServer

__all__ = ["CRLServer"]


class CRLServer(LoopbackServer):
    """Serve DER CRLs set with :meth:`publish`; 404 for anything else."""

    def __init__(self) -> None:
        self._files: dict[str, bytes] = {}
        self._files_lock = threading.Lock()
        super().__init__(self._handle)

    def publish(self, path: str, der: bytes) -> str:
        """Serve ``der`` at ``path`` (``"/ministry.crl"``); return its URL."""
        with self._files_lock:
            self._files[path] = der
        return self.url(path)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def _handle(
        self, method: str, path: str, body: bytes
    ) -> tuple[int, str, bytes]:
        with self._files_lock:
            data = self._files.get(path)
        if method != "GET" or data is None:
            return 404, "text/plain", b"not found"
        return 200, "application/pkix-crl", data
