"""The HTTP server under the MediaMTX stand-ins (fake_mediamtx, hostile_mediamtx):
standard library only, served from daemon threads, a context manager.

Run as scripts (``python -P tests/support/x.py``: ``-P`` so that tests/support/http.py
does not shadow the standard library's), they put tests/ on sys.path to import this.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 (keep-alive, like MediaMTX), no access log on stderr."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send_body(
        self, status: int, body: bytes, content_type: str, length: int | None = None
    ) -> None:
        """``body`` with its headers; ``length`` announces another size (a cut answer)."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)


class LoopbackServer:
    """Serves ``handler`` on ``host:port`` (0: a free port) once started; ``stopping`` is
    set first on stop, so slow answers (a hang, a trickle) can end early."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], host: str, port: int) -> None:
        self._handler = handler
        self.stopping = threading.Event()
        self._server = self._listen(host, port)
        self._extra: list[ThreadingHTTPServer] = []

    def _listen(self, host: str, port: int) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer((host, port), self._handler)
        server.daemon_threads = True
        return server

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def metrics_url(self) -> str:
        return self.url + "/metrics"

    def start(self) -> Self:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def serve_also(self, host: str, port: int) -> None:
        """Answer on a second address too (MediaMTX serves /metrics on its own port)."""
        server = self._listen(host, port)
        self._extra.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.stopping.set()
        for server in [self._server, *self._extra]:
            server.shutdown()
            server.server_close()

    def serve_until_interrupted(self, banner: str) -> None:
        """Process mode: print ``<banner> on <url>`` once listening (what the starters
        wait for), then serve until Ctrl-C."""
        self.start()
        print(f"{banner} on {self.url}", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            self.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
