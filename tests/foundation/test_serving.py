from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Gauge
from support.processes import wait_until

from trashmonitor.errors import ConfigError
from trashmonitor.serving import (
    Endpoint,
    HTTPService,
    Request,
    Response,
    Route,
    json_response,
    metrics_route,
    route_for,
)
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


# --- slow and idle clients (issue 12 point 8) --------------------------------------------
# Before the bounds, every idle connection kept a thread forever: 200 slow clients made
# 202 threads, and a client trickling a byte at a time was never cut.


@contextlib.contextmanager
def _service(**bounds: float) -> Iterator[HTTPService]:
    service = HTTPService(
        HostPort("127.0.0.1", 0),
        {"/healthz": lambda: Response(200, b"ok\n")},
        setting="--listen",
        **bounds,  # type: ignore[arg-type]
    )
    service.start()
    try:
        yield service
    finally:
        service.stop()


def _connect(service: HTTPService) -> socket.socket:
    return socket.create_connection((service.address.host, service.address.port), timeout=30)


def _closed_within(sock: socket.socket, deadline: float) -> float:
    """Seconds until the server closed ``sock`` (reading whatever it sent first)."""
    started = time.monotonic()
    sock.settimeout(deadline)
    while sock.recv(4096):
        pass
    return time.monotonic() - started


def test_an_idle_connection_is_closed_after_the_request_timeout() -> None:
    with _service(request_timeout=1.0) as service, _connect(service) as idle:
        waited = _closed_within(idle, deadline=30)
    assert 0.8 <= waited <= 10


def test_a_trickling_client_is_cut_at_the_total_deadline() -> None:
    # One byte every 0.2 s never trips a per-read timeout of 1 s, and a buffered readline
    # keeps reading while bytes come: the request line alone would last 200 s.
    with _service(request_timeout=1.0) as service, _connect(service) as slow:
        started = time.monotonic()
        request = b"GET /" + b"a" * 1000
        try:
            for byte in request:
                slow.sendall(bytes([byte]))
                if time.monotonic() - started > 30:
                    break
                threading.Event().wait(0.2)  # the trickle's pace, not a synchronisation
        except OSError:
            pass  # reset by the server: cut, as it should be
        cut_after = time.monotonic() - started
        with contextlib.suppress(OSError):
            _closed_within(slow, deadline=5)
    # Cut at 1 s; the client notices on its next sends. Far below the trickle's 200 s.
    assert cut_after <= 6, f"the trickling client kept its connection {cut_after:.1f}s"


def test_200_idle_clients_keep_threads_bounded_and_a_request_still_succeeds() -> None:
    slots = 16
    baseline = threading.active_count()
    with _service(request_timeout=2.0, max_connections=slots) as service:
        clients = [_connect(service) for _ in range(200)]
        try:
            peak = threading.active_count()

            def refused() -> int | None:
                nonlocal peak
                peak = max(peak, threading.active_count())
                count = 0
                for client in clients:
                    client.setblocking(False)
                    try:
                        answer = client.recv(64)
                    except BlockingIOError:
                        continue
                    except OSError:
                        answer = b""
                    count += answer.startswith(b"HTTP/1.0 503") or not answer
                return count if count >= 200 - slots else None

            wait_until(refused, 30, what="the clients beyond the slots to be refused")
            # The accepting thread, the idle clients holding slots and one thread that
            # released its slot but has not exited yet: never 200.
            assert peak - baseline <= slots + 2
            base = f"http://{service.address}"
            assert wait_until(lambda: _get(base + "/healthz")[0] == 200 or None, 30)
        finally:
            for client in clients:
                client.close()


def _request(
    url: str, method: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@contextlib.contextmanager
def _endpoint_service(max_body: int = 64) -> Iterator[tuple[str, list[Request]]]:
    seen: list[Request] = []

    def handle(request: Request) -> Response:
        seen.append(request)
        return json_response({"got": len(request.body)}, 202)

    service = HTTPService(
        HostPort("127.0.0.1", 0),
        {
            "/api/act": Endpoint(frozenset({"POST"}), handle, max_body=max_body),
            "/api/list": Endpoint(frozenset({"GET"}), handle),
            "/plain": lambda: Response(200, b"plain\n"),
        },
        setting="--listen",
    )
    service.start()
    try:
        yield f"http://{service.address}", seen
    finally:
        service.stop()


def test_an_endpoint_reads_method_query_headers_body_and_client() -> None:
    with _endpoint_service() as (base, seen):
        status, _, body = _request(
            base + "/api/act?camera=cam1&camera=cam2", "POST", b"picture", {"X-Trashmon": "1"}
        )
        assert (status, json.loads(body)) == (202, {"got": 7})
        (request,) = seen
        assert (request.method, request.path, request.body) == ("POST", "/api/act", b"picture")
        assert request.query == {"camera": ("cam1", "cam2")}
        assert request.headers["x-trashmon"] == "1"
        assert request.client == "127.0.0.1"
        assert _request(base + "/api/list?since=5", "GET")[0] == 202
        assert seen[-1].query == {"since": ("5",)}


def test_other_methods_are_refused_with_405_and_allow() -> None:
    with _endpoint_service() as (base, seen):
        status, headers, _ = _request(base + "/api/act", "GET")
        assert (status, headers["Allow"]) == (405, "POST")
        status, headers, _ = _request(base + "/plain", "POST", b"x")
        assert (status, headers["Allow"]) == (405, "GET")
        assert _request(base + "/api/list", "DELETE")[0] == 405
        assert seen == []


def test_a_body_over_the_bound_is_refused_before_it_is_read() -> None:
    with _endpoint_service(max_body=64) as (base, seen):
        assert _request(base + "/api/act", "POST", b"x" * 65)[0] == 413
        assert _request(base + "/api/act", "POST", b"x" * 64)[0] == 202
        assert len(seen) == 1


def test_a_chunked_body_or_a_flood_of_query_fields_is_refused() -> None:
    with _endpoint_service() as (base, seen):
        host, port = base.removeprefix("http://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as conn:
            conn.sendall(
                b"POST /api/act HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"1\r\nx\r\n0\r\n\r\n"
            )
            assert conn.recv(64).startswith(b"HTTP/1.0 411")
        query = "&".join(f"f{i}=1" for i in range(100))
        assert _request(f"{base}/api/list?{query}", "GET")[0] == 400
        assert seen == []


def test_a_body_shorter_than_declared_is_cut_at_the_deadline() -> None:
    service = HTTPService(
        HostPort("127.0.0.1", 0),
        {"/api/act": Endpoint(frozenset({"POST"}), lambda r: Response(200, b"ok\n"))},
        setting="--listen",
        request_timeout=0.5,
    )
    service.start()
    try:
        address = service.address
        with socket.create_connection((address.host, address.port), timeout=5) as conn:
            conn.sendall(b"POST /api/act HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
            assert conn.recv(64).startswith(b"HTTP/1.0 408")
    finally:
        service.stop()


def test_a_prefix_key_routes_the_paths_under_it_to_an_endpoint_only() -> None:
    def plain() -> Response:
        return Response(200, b"plain")

    def handle(_request: Request) -> Response:
        return Response(200, b"endpoint")

    cameras = Endpoint(frozenset({"GET"}), handle)
    deeper = Endpoint(frozenset({"GET"}), handle)
    routes: dict[str, Route | Endpoint] = {
        "/api/status": plain,
        "/api/cameras/": cameras,
        "/api/cameras/x/": deeper,
        "/plain/": plain,
    }
    assert route_for(routes, "/api/status") is plain
    assert route_for(routes, "/api/cameras/cam1/controls") is cameras
    assert route_for(routes, "/api/cameras/x/y") is deeper  # the longest prefix wins
    assert route_for(routes, "/api/camera") is None
    assert route_for(routes, "/plain/anything") is None  # a plain route cannot read the path
