"""A small HTTP server for ``/metrics``, ``/healthz`` and JSON status routes.

The standard library's threading server is enough for a handful of scrapers and a
viewer polling once a second, and it keeps the probe's dependency footprint small.
It always binds the explicit address it is given (loopback by default in every
component): prometheus-client's own server would default to all interfaces.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from trashmonitor.errors import ConfigError
from trashmonitor.settings import HostPort

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"


Route = Callable[[], Response]


def metrics_route(registry: CollectorRegistry) -> Route:
    return lambda: Response(200, generate_latest(registry), CONTENT_TYPE_LATEST)


def json_response(document: Any, status: int = 200) -> Response:
    body = json.dumps(document, separators=(",", ":"), sort_keys=False).encode()
    return Response(status, body, "application/json")


class HTTPService:
    """Serves fixed GET routes on one address from a daemon thread."""

    def __init__(self, address: HostPort, routes: Mapping[str, Route], setting: str) -> None:
        self._routes = dict(routes)
        handler = _handler_for(self._routes)
        try:
            self._server = ThreadingHTTPServer((address.host, address.port), handler)
        except OSError as error:
            raise ConfigError(setting, f"cannot listen on {address}: {error.strerror}") from None
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> HostPort:
        host, port = self._server.server_address[:2]
        return HostPort(str(host), int(port))

    def start(self) -> None:
        self._thread.start()
        log.info("serving %s on http://%s", ", ".join(sorted(self._routes)), self.address)

    def stop(self) -> None:
        # shutdown() waits for serve_forever to acknowledge: only call it if it runs.
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()


def _handler_for(routes: Mapping[str, Route]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "trashmon"

        def do_GET(self) -> None:
            route = routes.get(self.path.split("?", 1)[0])
            if route is None:
                response = Response(404, b"not found\n")
            else:
                try:
                    response = route()
                except Exception:  # a broken route must not kill the server thread
                    log.exception("route %s failed", self.path)
                    response = Response(500, b"internal error\n")
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(response.body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s " + format, self.address_string(), *args)

    return Handler
