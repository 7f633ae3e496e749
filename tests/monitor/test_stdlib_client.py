"""The probe's standard-library reads behave like the daemon's httpx reads: same paths,
same error classes, for the same real HTTP answers. ``fake`` is tests/monitor/conftest.py's,
a fresh MediaMTX stand-in per test (no fault or path left over from another test)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from support.fake_mediamtx import FakeMediaMTX
from support.processes import free_port

from trashmonitor import errors
from trashmonitor.monitor.mediamtx import MediaMTXClient
from trashmonitor.monitor.mediamtx_http import (
    DEFAULT_MAX_BODY_BYTES,
    READ_INTO_BYTES,
    GetRequest,
    urllib_get,
)
from trashmonitor.monitor.mediamtx_httpx import HttpxTransport

BOTH = pytest.mark.parametrize("stdlib", [False, True], ids=["httpx", "stdlib"])


def error_of(client: MediaMTXClient) -> type[errors.TrashmonError]:
    with pytest.raises(errors.TrashmonError) as raised, client:
        client.list_paths()
    return type(raised.value)


def test_both_read_the_same_pages(fake: FakeMediaMTX) -> None:
    fake.add_paths(250, rate=1000)
    with (
        MediaMTXClient(fake.url, items_per_page=100) as via_httpx,
        MediaMTXClient(fake.url, items_per_page=100, stdlib=True) as via_stdlib,
    ):
        names = [path.name for path in via_stdlib.list_paths()]
        assert names == [path.name for path in via_httpx.list_paths()]
    assert len(names) == 250


def test_both_read_the_same_page_of_more_than_one_read_into_the_buffer() -> None:
    # One page over READ_INTO_BYTES: the urllib transport fills its buffer in several reads.
    with FakeMediaMTX("v1.20") as server:
        server.add_paths(2500, rate=0)  # answers equal byte for byte
        request = GetRequest(
            server.url + "/v3/paths/list",
            {"page": 0, "itemsPerPage": 2500},
            time.monotonic() + 30,
            DEFAULT_MAX_BODY_BYTES,
        )
        status, _, body = urllib_get(request)
        assert status == 200
        assert len(body) > READ_INTO_BYTES
        via_httpx = HttpxTransport()
        try:
            assert via_httpx.get(request)[2] == body
        finally:
            via_httpx.close()
        assert len(json.loads(body)["items"]) == 2500


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("html", errors.MalformedResponseError),
        ("http500", errors.UpstreamHTTPError),
        ("truncated", errors.MalformedResponseError),
        ("cut_connection", errors.MalformedResponseError),
    ],
)
@BOTH
def test_faults_map_to_the_same_errors(
    fake: FakeMediaMTX, fault: str, error: type[errors.TrashmonError], stdlib: bool
) -> None:
    fake.fault = fault
    assert error_of(MediaMTXClient(fake.url, timeout=2, stdlib=stdlib)) is error


@BOTH
def test_refused_is_unreachable(stdlib: bool) -> None:
    client = MediaMTXClient(f"http://127.0.0.1:{free_port()}", timeout=2, stdlib=stdlib)
    assert error_of(client) is errors.UnreachableError


class Answer(BaseHTTPRequestHandler):
    """Answers every GET with the status in its path's first segment (``/401/...``)."""

    def do_GET(self) -> None:
        status = int(self.path.split("/")[1])
        self.send_response(status)
        self.send_header("Location", "/200/v3/paths/list")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def answering() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, errors.AuthError),
        (403, errors.AuthError),
        (302, errors.UpstreamHTTPError),
        (404, errors.UpstreamHTTPError),
    ],
)
@BOTH
def test_statuses_map_to_the_same_errors(
    answering: str, status: int, error: type[errors.TrashmonError], stdlib: bool
) -> None:
    # A redirect is reported, not followed (its target would answer 200).
    client = MediaMTXClient(f"{answering}/{status}", timeout=2, stdlib=stdlib)
    assert error_of(client) is error
