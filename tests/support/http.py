"""Plain HTTP GETs against the processes and fakes the tests start on loopback."""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def http_get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    """Status and body; an error status (404, 503…) is an answer here, not an exception."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def get_text(url: str, timeout: float = 5) -> str:
    """The body of a 2xx answer (an /metrics exposition…); HTTPError otherwise."""
    with urllib.request.urlopen(url, timeout=timeout) as reply:
        return str(reply.read().decode())


def get_json(url: str, timeout: float = 5) -> Any:
    """The JSON document of a 2xx answer (/api/status…); HTTPError otherwise."""
    with urllib.request.urlopen(url, timeout=timeout) as reply:
        return json.load(reply)


@contextlib.contextmanager
def serve_in_thread(handler: Callable[..., BaseHTTPRequestHandler], name: str) -> Iterator[int]:
    """A loopback HTTP server on a free port (yielded) in a daemon thread, shut down after."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
