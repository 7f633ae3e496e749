"""The MediaMTX observer over the transport protocol's MockTransport: one finished
observation per poll, every failure one typed error in it, /metrics merged into the
paths."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
from support.mediamtx_transports import answer, json_answer

from trashmonitor.errors import (
    MalformedResponseError,
    TrashmonError,
    UnreachableError,
    UpstreamHTTPError,
)
from trashmonitor.monitor import observe
from trashmonitor.monitor.mediamtx import MediaMTXClient
from trashmonitor.monitor.observe import MediaMTXObserver
from trashmonitor.transport import Answer, MockTransport, Request

OLD_LISTING = {  # v1.16: no inboundFramesInError in the API
    "pageCount": 1,
    "itemCount": 1,
    "items": [{"name": "cam1", "online": True, "available": True, "bytesReceived": 10}],
}
LISTING = {  # v1.17+: the API reports the frames in error itself
    "pageCount": 1,
    "itemCount": 1,
    "items": [{"name": "cam1", "online": True, "available": True, "inboundBytes": 10,
               "outboundBytes": 0, "inboundFramesInError": 3}],
}  # fmt: skip
METRICS = 'paths{name="cam1",state="ready"} 1\npaths_inbound_frames_in_error{name="cam1"} 7\n'


def observer(handle: MockTransport, metrics: bool = True) -> MediaMTXObserver:
    client = MediaMTXClient(
        "http://m:9997", "http://m:9998/metrics" if metrics else None, transport=handle
    )
    return MediaMTXObserver(client, clock=lambda: 1000.0)


def deadline() -> float:
    return time.monotonic() + 10


def is_metrics(request: Request) -> bool:
    return urlsplit(request.url).path == "/metrics"


def test_a_finished_snapshot_with_what_only_metrics_says() -> None:
    def handle(request: Request) -> Answer:
        if is_metrics(request):
            return answer(200, METRICS.encode(), "text/plain")
        return json_answer(OLD_LISTING)

    seen = observer(MockTransport(handle)).observe(deadline())
    assert seen.error is None
    assert seen.snapshot is not None
    assert seen.snapshot.at == 1000.0
    assert seen.snapshot.paths["cam1"].frames_in_error == 7
    assert (seen.metrics_up, seen.metrics_error) == (True, None)


def test_failures_are_typed_errors_in_the_observation() -> None:
    def handle(request: Request) -> Answer:
        if is_metrics(request):
            return answer(503, b"")
        raise UnreachableError(f"{request.url}: cannot connect (refused)")

    seen = observer(MockTransport(handle)).observe(deadline())
    assert seen.snapshot is None
    assert isinstance(seen.error, UnreachableError)
    assert isinstance(seen.metrics_error, UpstreamHTTPError)
    assert seen.metrics_up is False


def test_an_unanticipated_error_is_ours_of_kind_internal_chained_to_it() -> None:
    def handle(request: Request) -> Answer:
        raise RecursionError("deep\x1b[2J")

    seen = observer(MockTransport(handle), metrics=False).observe(deadline())
    assert type(seen.error) is TrashmonError
    assert seen.error.kind == "internal"
    assert seen.error.message == "unexpected RecursionError: deep\\x1b[2J"
    assert isinstance(seen.error.__cause__, RecursionError)
    assert seen.metrics_up is None


def answering(listing: object, metrics: str) -> MockTransport:
    def handle(request: Request) -> Answer:
        if is_metrics(request):
            return answer(200, metrics.encode(), "text/plain")
        return json_answer(listing)

    return MockTransport(handle)


def test_metrics_are_not_read_per_path_when_the_api_says_it_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def per_path(text: str) -> object:
        raise AssertionError("/metrics read per path for a v1.17+ listing")

    monkeypatch.setattr(observe, "parse_metrics", per_path)
    seen = observer(answering(LISTING, METRICS)).observe(deadline())
    assert seen.snapshot is not None
    assert seen.snapshot.paths["cam1"].frames_in_error == 3  # the API's, kept
    assert (seen.metrics_up, seen.metrics_error) == (True, None)


def test_a_malformed_metrics_answer_is_refused_whatever_the_api_says() -> None:
    seen = observer(answering(LISTING, METRICS + "paths_readers{name=cam1 oops\n")).observe(
        deadline()
    )
    assert seen.snapshot is not None
    assert seen.metrics_up is False
    assert isinstance(seen.metrics_error, MalformedResponseError)
    assert "metrics line 3: not a sample" in seen.metrics_error.message
