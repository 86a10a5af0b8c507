"""A minimal HTTP server on 127.0.0.1 in a background thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["LoopbackServer", "Handler"]

log = logging.getLogger(__name__)

Handler = Callable[[str, str, bytes], tuple[int, str, bytes]]
"""(method, path, body) -> (status, content type, body)."""

MAX_REQUEST = 1 << 20


class LoopbackServer:
    """Serve ``handler`` on 127.0.0.1:<free port> until :meth:`stop`.

    ``requests`` counts the requests served, per path, so that tests can
    tell whether a client used its cache.
    """

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.requests: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LoopbackServer:
        outer = self

        class _RequestHandler(BaseHTTPRequestHandler):
            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, MAX_REQUEST))
                with outer._lock:
                    outer.requests[self.path] = (
                        outer.requests.get(self.path, 0) + 1
                    )
                status, ctype, payload = outer._handler(
                    method, self.path, body
                )
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                self._serve("GET")

            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                self._serve("POST")

            def log_message(self, format: str, *args: object) -> None:
                log.debug("loopback %s: " + format, outer.port, *args)

        # Loopback only: these services must never be reachable from
        # another host.
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _RequestHandler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"loopback-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; later connections to the port are refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def count(self, path: str) -> int:
        with self._lock:
            return self.requests.get(path, 0)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
