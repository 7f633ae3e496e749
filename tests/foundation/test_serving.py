from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Gauge

from trashmonitor.errors import ConfigError
from trashmonitor.serving import HTTPService, Response, json_response, metrics_route
from trashmonitor.settings import HostPort


def _get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, reply.headers["Content-Type"], reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def test_serves_metrics_json_and_errors_on_loopback() -> None:
    registry = CollectorRegistry()
    Gauge("trashmon_test_value", "A test gauge.", registry=registry).set(3)

    def broken() -> Response:
        raise RuntimeError("boom")

    service = HTTPService(
        HostPort("127.0.0.1", 0),
        {
            "/metrics": metrics_route(registry),
            "/api/status": lambda: json_response({"cameras": []}),
            "/broken": broken,
        },
        setting="--listen",
    )
    service.start()
    try:
        base = f"http://{service.address}"
        status, ctype, body = _get(base + "/metrics")
        assert status == 200
        assert ctype.startswith("text/plain")
        assert b"trashmon_test_value 3.0" in body
        status, ctype, body = _get(base + "/api/status?x=1")
        assert (status, ctype, json.loads(body)) == (200, "application/json", {"cameras": []})
        assert _get(base + "/nope")[0] == 404
        assert _get(base + "/broken")[0] == 500
        assert _get(base + "/metrics")[0] == 200  # a failing route leaves the server up
    finally:
        service.stop()


def test_address_in_use_is_a_config_error_naming_the_setting() -> None:
    first = HTTPService(HostPort("127.0.0.1", 0), {}, setting="--listen")
    try:
        with pytest.raises(ConfigError, match=r"^TRASHMON_LISTEN: cannot listen on 127\.0\.0\.1"):
            HTTPService(first.address, {}, setting="TRASHMON_LISTEN")
    finally:
        first.stop()
