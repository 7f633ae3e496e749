"""A small HTTP server for ``/metrics``, ``/healthz`` and JSON status routes.

The standard library's threading server is enough for a handful of scrapers and a
viewer polling once a second, and it keeps the probe's dependency footprint small.
It always binds the explicit address it is given (loopback by default in every
component): prometheus-client's own server would default to all interfaces.

A thread per connection is bounded two ways, so slow or idle clients cannot pile up
threads: a connection must deliver its whole request within ``request_timeout``
seconds (a total deadline, not per read: a client trickling a byte a second is cut
too), and at most ``max_connections`` are served at once; beyond that a connection
gets an immediate 503 and is closed.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from trashmonitor.errors import ConfigError
from trashmonitor.settings import HostPort

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = 5.0
"""Seconds a client has to send its whole request, and to take the whole answer."""
MAX_CONNECTIONS = 32
"""Connections served at once: a few scrapers and viewers need far fewer."""
_BUSY = b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


MAX_BODY = 16_384
"""Default bound on a request body: commands and hook notices are a few hundred bytes."""
MAX_QUERY_FIELDS = 32


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Request:
    """What an :class:`Endpoint` may read of a request, the body already bounded."""

    method: str
    path: str
    query: Mapping[str, tuple[str, ...]]
    headers: Mapping[str, str]
    """Header names in lower case; a repeated header keeps its last value."""
    body: bytes
    client: str
    """The peer's address, for logs."""


@dataclass(frozen=True)
class Endpoint:
    """A route that reads its request (query, headers, a body of at most ``max_body``
    bytes). Other methods get 405; a larger or unsized body 413/411 before it is read."""

    methods: frozenset[str]
    handle: Callable[[Request], Response]
    max_body: int = MAX_BODY
    reads_input: bool = True
    """False: the handler reads only the method, headers and client; any query and body
    are ignored (``Request.query`` empty, ``body`` b""), as a plain :data:`Route` does."""


Route = Callable[[], Response]
"""A GET route that needs nothing of the request."""


def route_for(routes: Mapping[str, Route | Endpoint], path: str) -> Route | Endpoint | None:
    """The route of ``path``: its exact key, else the longest key ending in ``/`` that
    starts it, if that is an :class:`Endpoint` (it reads the rest of ``Request.path``)."""
    exact = routes.get(path)
    if exact is not None:
        return exact
    prefixes = [key for key in routes if key.endswith("/") and path.startswith(key)]
    route = routes[max(prefixes, key=len)] if prefixes else None
    return route if isinstance(route, Endpoint) else None


def metrics_route(registry: CollectorRegistry) -> Route:
    return lambda: Response(200, generate_latest(registry), CONTENT_TYPE_LATEST)


def json_response(document: Any, status: int = 200) -> Response:
    body = json.dumps(document, separators=(",", ":"), sort_keys=False).encode()
    return Response(status, body, "application/json")


class HTTPService:
    """Serves fixed GET routes on one address from a daemon thread."""

    def __init__(
        self,
        address: HostPort,
        routes: Mapping[str, Route | Endpoint],
        setting: str,
        *,
        request_timeout: float = REQUEST_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self._routes = dict(routes)
        handler = _handler_for(self._routes, request_timeout)
        try:
            self._server = _BoundedServer((address.host, address.port), handler, max_connections)
        except OSError as error:
            raise ConfigError(setting, f"cannot listen on {address}: {error.strerror}") from error
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


class _BoundedServer(ThreadingHTTPServer):
    """A thread per connection, at most ``max_connections`` of them."""

    daemon_threads = True
    # socketserver's default backlog of 5 drops SYNs under a burst, and the kernel
    # retries them only after 1 s, 3 s, ...: accepting quickly is what keeps refusals quick.
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        max_connections: int,
    ) -> None:
        self._slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Runs on the accepting thread: it must never block on a client.
        if not self._slots.acquire(blocking=False):
            log.debug("refused %s: %s", client_address, "all connection slots busy")
            with contextlib.suppress(OSError):
                request.setblocking(False)
                request.send(_BUSY)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class _DeadlineSocket(io.RawIOBase):
    """The connection's read side, cut off once the request's total deadline has passed.

    Every receive gets only the time left: a socket timeout alone applies per read, and a
    buffered readline keeps reading while bytes trickle in, so a client sending a byte
    a second would keep its thread for as long as it likes.
    """

    def __init__(self, connection: socket.socket, deadline: float) -> None:
        self._connection = connection
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request was not received in time")
        self._connection.settimeout(remaining)
        return self._connection.recv_into(buffer)


def _handler_for(
    routes: Mapping[str, Route | Endpoint], request_timeout: float
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "trashmon"
        timeout = request_timeout

        def setup(self) -> None:
            super().setup()
            deadline = time.monotonic() + request_timeout
            self.rfile.close()
            self.rfile = io.BufferedReader(_DeadlineSocket(self.connection, deadline))

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def do_PUT(self) -> None:
            self._answer("PUT")

        def do_DELETE(self) -> None:
            self._answer("DELETE")

        def _answer(self, method: str) -> None:
            # The answer gets its own full timeout (sendall's is a total since 3.5).
            self.connection.settimeout(request_timeout)
            path, _, query = self.path.partition("?")
            try:
                response = _dispatch(self, route_for(routes, path), method, path, query)
            except Exception:  # a broken route must not kill the server thread
                log.exception("route %s failed", path)
                response = Response(500, b"internal error\n")
            # A body a GET route did not read must not be parsed as the next request.
            unread = "Content-Length" in self.headers or "Transfer-Encoding" in self.headers
            _send(self, response, close=method != "GET" or unread)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s " + format, self.address_string(), *args)

    return Handler


def _send(handler: BaseHTTPRequestHandler, response: Response, *, close: bool) -> None:
    handler.send_response(response.status)
    handler.send_header("Content-Type", response.content_type)
    handler.send_header("Content-Length", str(len(response.body)))
    handler.send_header("Cache-Control", "no-store")
    for name, value in response.headers:
        handler.send_header(name, value)
    if close:  # a request with an unread body: what follows it must not be parsed
        handler.send_header("Connection", "close")
        handler.close_connection = True
    handler.end_headers()
    handler.wfile.write(response.body)


def _dispatch(
    handler: BaseHTTPRequestHandler,
    route: Route | Endpoint | None,
    method: str,
    path: str,
    query: str,
) -> Response:
    if route is None:
        return Response(404, b"not found\n")
    allowed = route.methods if isinstance(route, Endpoint) else frozenset({"GET"})
    if method not in allowed:
        return Response(
            405, b"method not allowed\n", headers=(("Allow", ", ".join(sorted(allowed))),)
        )
    if not isinstance(route, Endpoint):
        return route()
    request = Request(
        method=method,
        path=path,
        query={},
        headers={name.lower(): value for name, value in handler.headers.items()},
        body=b"",
        client=handler.client_address[0],
    )
    if route.reads_input:
        read = _read_input(handler, route.max_body, query)
        if isinstance(read, Response):
            return read
        request = replace(request, query=read[0], body=read[1])
    return route.handle(request)


def _read_input(
    handler: BaseHTTPRequestHandler, max_body: int, query: str
) -> tuple[dict[str, tuple[str, ...]], bytes] | Response:
    """The query's fields and the bounded body, or the error answer for either."""
    try:
        fields = urllib.parse.parse_qs(query, max_num_fields=MAX_QUERY_FIELDS)
    except ValueError:
        return Response(400, b"too many query fields\n")
    body = _read_body(handler, max_body)
    if isinstance(body, Response):
        return body
    return {name: tuple(values) for name, values in fields.items()}, body


def _read_body(handler: BaseHTTPRequestHandler, max_body: int) -> bytes | Response:
    """The body its Content-Length announces, or the error answer for it."""
    length = _declared_length(handler.headers, max_body)
    if isinstance(length, Response):
        return length
    try:
        body = handler.rfile.read(length)
    except OSError:  # the total deadline passed (TimeoutError) or the peer left
        return Response(408, b"the body was not received in time\n")
    if len(body) != length:
        return Response(400, b"the body ended early\n")
    return body


def _declared_length(headers: Message, max_body: int) -> int | Response:
    if "chunked" in headers.get("Transfer-Encoding", "").lower():
        return Response(411, b"a Content-Length is required\n")
    declared = headers.get("Content-Length")
    if declared is None:
        return 0
    if not declared.isdigit():
        return Response(400, b"bad Content-Length\n")
    if int(declared) > max_body:
        return Response(413, f"body over {max_body} bytes\n".encode())
    return int(declared)
