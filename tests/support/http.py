"""Plain HTTP GETs against the processes and fakes the tests start on loopback."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
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
