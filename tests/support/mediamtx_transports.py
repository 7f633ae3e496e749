"""The MediaMTX client's transports by name, for tests that hold every one of them to
the same bounds and errors: the daemon's default (kept-alive standard-library
connections), httpx (``https://`` and proxied requests, and ``HttpxTransport(client)``)
and urllib (the probe's)."""

from __future__ import annotations

from typing import Any

import pytest

from trashmonitor.monitor.mediamtx_http import UrllibTransport
from trashmonitor.monitor.mediamtx_httpx import HttpxTransport

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
