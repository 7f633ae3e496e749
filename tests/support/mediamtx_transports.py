"""The MediaMTX client's transports by name, for tests that hold every one of them to
the same bounds and errors: the daemon's default (kept-alive standard-library
connections), httpx (``https://`` and proxied requests, and ``HttpxTransport(client)``)
and urllib (the probe's); and the answers a ``MockTransport`` handler gives."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

import pytest

from trashmonitor.monitor.mediamtx_http import KeepAliveTransport, UrllibTransport
from trashmonitor.monitor.mediamtx_httpx import HttpxTransport
from trashmonitor.transport import Answer, Transport

TRANSPORTS = ("keepalive", "httpx", "stdlib")
EVERY_TRANSPORT = pytest.mark.parametrize("transport", TRANSPORTS)


def client_options(transport: str) -> dict[str, Any]:
    """``MediaMTXClient`` keyword arguments that pick ``transport``."""
    if transport == "httpx":
        return {"transport": HttpxTransport()}
    if transport == "stdlib":
        return {"transport": UrllibTransport()}
    assert transport == "keepalive", transport
    return {}


def new_transport(transport: str) -> Transport:
    """The transport ``client_options(transport)`` gives a client, on its own (the
    kept-alive one's fallback is httpx's, as the client builds it)."""
    given: Transport | None = client_options(transport).get("transport")
    return KeepAliveTransport(fallback=HttpxTransport) if given is None else given


def answer(status: int, body: bytes, content_type: str = "application/json") -> Answer:
    """An answer as a server sends it: reason phrase and Content-Type."""
    return Answer(status, HTTPStatus(status).phrase, (("Content-Type", content_type),), body)


def json_answer(document: object, status: int = 200) -> Answer:
    return answer(status, json.dumps(document).encode())
