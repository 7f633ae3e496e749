"""MediaMTXClient over trashmonitor.transport.MockTransport: paging, URL shapes, every
failure mapped (the transports' own errors: test_mediamtx_http.py, test_mediamtx_httpx.py)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from support.mediamtx_transports import answer, json_answer

from trashmonitor.errors import (
    AuthError,
    MalformedResponseError,
    UnreachableError,
    UpstreamHTTPError,
)
from trashmonitor.monitor.mediamtx import MediaMTXClient
from trashmonitor.transport import Answer, MockTransport, Request

Handler = Callable[[Request], Answer]


def param(request: Request, name: str, default: int | None = None) -> int:
    value = (request.params or {}).get(name, default)
    assert value is not None, name
    return value


def paged_server(count: int, seen: list[Request]) -> Handler:
    """MediaMTX's paging: sorted items, pageCount = ceil(n / itemsPerPage), default 100."""
    names = sorted(f"cam{i:03d}" for i in range(count))

    def handle(request: Request) -> Answer:
        seen.append(request)
        page = param(request, "page", 0)
        per_page = param(request, "itemsPerPage", 100)
        chunk = names[page * per_page : (page + 1) * per_page]
        return json_answer(
            {
                "itemCount": count,
                "pageCount": math.ceil(count / per_page) if count else 0,
                "items": [{"name": n, "online": True, "inboundBytes": 1} for n in chunk],
            }
        )

    return handle


def client_for(handler: Handler, **kwargs: Any) -> MediaMTXClient:
    api = kwargs.pop("api", "http://mediamtx:9997")
    return MediaMTXClient(api, transport=MockTransport(handler), **kwargs)


@pytest.mark.parametrize("per_page", [100, 1000])
def test_reads_every_page(per_page: int) -> None:
    seen: list[Request] = []
    client = client_for(paged_server(250, seen), items_per_page=per_page)
    paths = client.list_paths()
    assert len(paths) == 250
    assert {p.name for p in paths} == {f"cam{i:03d}" for i in range(250)}
    assert len(seen) == math.ceil(250 / per_page)
    assert [r.page for r in seen] == list(range(len(seen)))
    assert all(param(r, "itemsPerPage") == per_page for r in seen)
    assert {(r.method, r.body) for r in seen} == {("GET", b"")}


def test_asks_for_large_pages_by_default() -> None:
    seen: list[Request] = []
    client_for(paged_server(2500, seen)).list_paths()
    assert len(seen) == 3
    assert param(seen[0], "itemsPerPage") == 1000


def test_no_paths_is_one_request_and_empty() -> None:
    seen: list[Request] = []
    assert client_for(paged_server(0, seen)).list_paths() == ()
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("api", "expected_path"),
    [
        ("http://mediamtx:9997", "/v3/paths/list"),
        ("http://cams.example/api", "/api/v3/paths/list"),  # the seed's Caddy, strips /api
        ("http://cams.example/api/", "/api/v3/paths/list"),
    ],
)
def test_direct_and_behind_caddy(api: str, expected_path: str) -> None:
    seen: list[Request] = []
    client_for(paged_server(1, seen), api=api).list_paths()
    assert urlsplit(seen[0].url).path == expected_path


def raising(error: Exception) -> Handler:
    def handle(request: Request) -> Answer:
        raise error

    return handle


def answering(status: int, body: bytes, content_type: str = "application/json") -> Handler:
    return lambda request: answer(status, body, content_type)


@pytest.mark.parametrize(
    ("handler", "error_class", "words"),
    [
        (raising(UnreachableError("m: cannot connect (refused)")), UnreachableError, "connect"),
        (raising(UnreachableError("m: timed out")), UnreachableError, "timed out"),
        (raising(MalformedResponseError("m: broken answer")), MalformedResponseError, "broken"),
        (answering(500, b'{"status":"error","error":"x"}'), UpstreamHTTPError, "HTTP 500"),
        (answering(404, b"404 page not found", "text/plain"), UpstreamHTTPError, "HTTP 404"),
        (answering(401, b""), AuthError, "401"),
        (
            answering(200, b"<!doctype html><p>Caddy</p>", "text/html"),
            MalformedResponseError,
            "HTML",
        ),
        (answering(200, b'{"items": [{"na'), MalformedResponseError, "truncated"),
        (answering(200, b'{"items": null}'), MalformedResponseError, "null"),
        (answering(200, b'[{"name": "cam1"}]'), MalformedResponseError, "object"),
    ],
)
def test_failures_map_to_the_error_tree(
    handler: Any, error_class: type[Exception], words: str
) -> None:
    with pytest.raises(error_class, match=words) as caught:
        client_for(handler).list_paths()
    assert "\n" not in str(caught.value)


def test_http_status_is_kept() -> None:
    with pytest.raises(UpstreamHTTPError) as caught:
        client_for(answering(503, b"")).list_paths()
    assert caught.value.status_code == 503


def test_spent_deadline_gives_up_without_a_request() -> None:
    seen: list[Request] = []
    with pytest.raises(UnreachableError, match="time budget"):
        client_for(paged_server(1, seen)).list_paths(deadline=time.monotonic() - 1)
    assert seen == []


def test_timeout_is_bounded_by_the_deadline() -> None:
    left: list[float] = []

    def handle(request: Request) -> Answer:
        left.append(request.deadline - time.monotonic())
        return json_answer({"items": [], "pageCount": 0, "itemCount": 0})

    client_for(handle, timeout=30.0).list_paths(deadline=time.monotonic() + 2)
    assert 0 < left[0] <= 2


def test_metrics_read_and_failures() -> None:
    text = b'paths{name="cam1",state="ready"} 1\npaths_inbound_bytes{name="cam1",state="ready"} 5\n'
    client = client_for(answering(200, text, "text/plain"), metrics_url="http://m:9998/metrics")
    assert client.read_metrics().paths["cam1"].inbound_bytes == 5
    html = client_for(answering(200, b"<html>", "text/html"), metrics_url="http://m/metrics")
    with pytest.raises(MalformedResponseError):
        html.read_metrics()
    with pytest.raises(UnreachableError, match="no URL"):
        client_for(answering(200, text)).read_metrics()


def test_duplicate_names_across_pages_keep_the_newest() -> None:
    pages = [
        {"pageCount": 2, "itemCount": 2, "items": [{"name": "a", "ready": False}]},
        {"pageCount": 2, "itemCount": 2, "items": [{"name": "a", "ready": True}]},
    ]
    (only,) = client_for(lambda request: json_answer(pages[request.page])).list_paths()
    assert only.online


def test_paths_added_while_reading_are_fetched_too() -> None:
    """Page 0 says 2 pages; by page 1 a third page exists: it is read as well."""
    seen: list[int] = []

    def handle(request: Request) -> Answer:
        page = request.page
        seen.append(page)
        page_count = 2 if page == 0 else 3
        items = [{"name": f"p{page}", "online": True}]
        return json_answer({"itemCount": page_count, "pageCount": page_count, "items": items})

    paths = client_for(handle, items_per_page=1).list_paths()
    assert sorted(p.name for p in paths) == ["p0", "p1", "p2"]
    assert sorted(seen) == [0, 1, 2]


def test_an_error_on_a_later_page_fails_the_whole_list() -> None:
    def handle(request: Request) -> Answer:
        if request.page == 3:
            return answer(502, b"bad gateway", "text/plain")
        return json_answer({"itemCount": 5, "pageCount": 5, "items": [{"name": "x"}]})

    with pytest.raises(UpstreamHTTPError, match="502"):
        client_for(handle, items_per_page=1).list_paths()


def test_label_values_with_quotes_and_commas_fall_back_to_the_careful_parser() -> None:
    from trashmonitor.monitor.mediamtx_parse import parse_labels

    assert parse_labels('name="cam1",state="ready"') == {"name": "cam1", "state": "ready"}
    assert parse_labels('name="a",x",state="ready"') == {"name": 'a",x', "state": "ready"}
    assert parse_labels("") == {}


class RecordingTransport:
    """A transport of one's own (any object with ``send`` and ``close``): answers one
    page, records each request."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.requests: list[tuple[str, dict[str, int] | None, int]] = []
        self.closed = False

    def send(self, request: Request) -> Answer:
        params = None if request.params is None else dict(request.params)
        self.requests.append((request.url, params, request.max_bytes))
        return Answer(200, "OK", (), self.body)

    def close(self) -> None:
        self.closed = True


def test_the_client_reads_through_any_transport_given() -> None:
    page = {"pageCount": 1, "itemCount": 1, "items": [{"name": "cam1", "ready": True}]}
    transport = RecordingTransport(json.dumps(page).encode())
    with MediaMTXClient("http://m:9997", transport=transport, max_body_bytes=70_000) as client:
        assert [path.name for path in client.list_paths()] == ["cam1"]
    assert transport.requests == [
        ("http://m:9997/v3/paths/list", {"page": 0, "itemsPerPage": 1000}, 70_000)
    ]
    assert transport.closed
