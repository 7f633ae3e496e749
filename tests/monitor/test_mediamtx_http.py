"""The MediaMTX client's transports behave alike: the probe's urllib reads, the
daemon's kept-alive standard-library connections and httpx (``https://``, proxies,
``HttpxTransport(client)``) read the same paths and raise the same error classes for
the same real HTTP answers. ``fake`` is tests/monitor/conftest.py's, a fresh MediaMTX
stand-in per test (no fault or path left over from another test)."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import httpx
import pytest
from support.fake_mediamtx import FakeMediaMTX
from support.http import serve_in_thread
from support.loopback_server import QuietHandler
from support.mediamtx_transports import EVERY_TRANSPORT, client_options, new_transport
from support.processes import free_port

from trashmonitor import errors
from trashmonitor.monitor.mediamtx import MediaMTXClient
from trashmonitor.monitor.mediamtx_http import (
    DEFAULT_MAX_BODY_BYTES,
    READ_INTO_BYTES,
    KeepAliveTransport,
    UrllibTransport,
    urllib_send,
)
from trashmonitor.monitor.mediamtx_httpx import HttpxTransport
from trashmonitor.transport import Answer, Request, Transport
from trashmonitor.transport_httpx import HttpxBridge

Triple = tuple[int, str, bytes]


def triple(answer: Answer) -> Triple:
    """(status, reason, body): what these tests compare (headers vary with the server)."""
    return answer.status, answer.reason, bytes(answer.body)


def error_of(client: MediaMTXClient) -> type[errors.TrashmonError]:
    with pytest.raises(errors.TrashmonError) as raised, client:
        client.list_paths()
    return type(raised.value)


def test_both_read_the_same_pages(fake: FakeMediaMTX) -> None:
    fake.add_paths(250, rate=1000)
    with (
        MediaMTXClient(fake.url, items_per_page=100) as via_keepalive,
        MediaMTXClient(fake.url, items_per_page=100, transport=UrllibTransport()) as via_stdlib,
    ):
        names = [path.name for path in via_stdlib.list_paths()]
        assert names == [path.name for path in via_keepalive.list_paths()]
    assert len(names) == 250


def test_both_read_the_same_page_of_more_than_one_read_into_the_buffer() -> None:
    # One page over READ_INTO_BYTES: the urllib transport fills its buffer in several reads.
    with FakeMediaMTX("v1.20") as server:
        server.add_paths(2500, rate=0)  # answers equal byte for byte
        request = Request(
            "GET",
            server.url + "/v3/paths/list",
            {"page": 0, "itemsPerPage": 2500},
            time.monotonic() + 30,
            DEFAULT_MAX_BODY_BYTES,
        )
        status, _, _, body = urllib_send(request)
        assert status == 200
        assert len(body) > READ_INTO_BYTES
        via_httpx = HttpxTransport()
        try:
            assert via_httpx.send(request).body == body
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
        ("no_answer", errors.MalformedResponseError),
    ],
)
@EVERY_TRANSPORT
def test_faults_map_to_the_same_errors(
    fake: FakeMediaMTX, fault: str, error: type[errors.TrashmonError], transport: str
) -> None:
    fake.fault = fault
    assert error_of(MediaMTXClient(fake.url, timeout=2, **client_options(transport))) is error


@EVERY_TRANSPORT
def test_refused_is_unreachable(transport: str) -> None:
    client = MediaMTXClient(
        f"http://127.0.0.1:{free_port()}", timeout=2, **client_options(transport)
    )
    assert error_of(client) is errors.UnreachableError


class StatusAnswer(BaseHTTPRequestHandler):
    """Answers every request with the status in its path's first segment (``/401/...``),
    its body the method and the request's body (``GET:`` for a GET)."""

    def do_GET(self) -> None:
        status = int(self.path.split("/")[1])
        length = int(self.headers.get("Content-Length") or 0)
        body = self.command.encode() + b":" + (self.rfile.read(length) if length else b"")
        self.send_response(status)
        self.send_header("Location", "/200/v3/paths/list")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PATCH = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def answering() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StatusAnswer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("method", "body"), [("GET", b""), ("POST", b'{"a": 1}'), ("PATCH", b"x")])
@pytest.mark.parametrize("status", [200, 404, 500])
@EVERY_TRANSPORT
def test_every_transport_sends_the_method_and_body_and_answers_any_status_whole(
    answering: str, status: int, method: str, body: bytes, transport: str
) -> None:
    """One protocol: the DNS APIs POST and PATCH, and their 4xx bodies say why."""
    sending = new_transport(transport)
    try:
        request = Request(method, f"{answering}/{status}/x", None, time.monotonic() + 10, 1024)
        answer = sending.send(request._replace(body=body))
    finally:
        sending.close()
    assert (answer.status, bytes(answer.body)) == (status, method.encode() + b":" + body)
    assert answer.header("content-length") == str(len(method) + 1 + len(body))


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, errors.AuthError),
        (403, errors.AuthError),
        (302, errors.UpstreamHTTPError),
        (404, errors.UpstreamHTTPError),
    ],
)
@EVERY_TRANSPORT
def test_statuses_map_to_the_same_errors(
    answering: str, status: int, error: type[errors.TrashmonError], transport: str
) -> None:
    # A redirect is reported, not followed (its target would answer 200).
    client = MediaMTXClient(f"{answering}/{status}", timeout=2, **client_options(transport))
    assert error_of(client) is error


# --------------------------------------------------------------------------- keep-alive


class Counting(QuietHandler):
    """Answers ``{}`` to every GET over HTTP/1.1, counting the connections it was given;
    with ``drop_idle`` it closes each connection after one answer without saying so (as
    a server does when it drops an idle connection)."""

    connections = 0
    drop_idle = False

    def setup(self) -> None:
        super().setup()
        type(self).connections += 1

    def do_GET(self) -> None:
        self.send_body(200, b"{}", "application/json")
        self.close_connection = self.drop_idle


def keepalive_gets(port: int, count: int, fallback: Transport | None = None) -> list[Triple]:
    def no_fallback() -> Transport:
        raise AssertionError("a plain http:// request went to the fallback")

    transport = KeepAliveTransport(fallback=no_fallback if fallback is None else lambda: fallback)
    try:
        url = f"http://127.0.0.1:{port}/v3/paths/list"
        return [
            triple(transport.send(Request("GET", url, {"page": page}, time.monotonic() + 10, 1024)))
            for page in range(count)
        ]
    finally:
        transport.close()


def test_the_keepalive_transport_reads_every_request_over_one_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Counting, "connections", 0)
    with serve_in_thread(Counting, "counting") as port:
        answers = keepalive_gets(port, 5)
    assert answers == [(200, "OK", b"{}")] * 5
    assert Counting.connections == 1


def test_a_connection_the_server_dropped_while_idle_is_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The server closes each connection after its answer: every later request finds its
    # kept connection dead and must be sent again on a new one, not fail the poll.
    monkeypatch.setattr(Counting, "connections", 0)
    monkeypatch.setattr(Counting, "drop_idle", True)
    with serve_in_thread(Counting, "dropping") as port:
        answers = keepalive_gets(port, 5)
    assert answers == [(200, "OK", b"{}")] * 5
    assert Counting.connections == 5


class Recording:
    """A transport that answers ``{}`` and keeps the URLs it was asked for."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def send(self, request: Request) -> Answer:
        self.urls.append(request.url)
        return Answer(200, "OK", (), b"{}")

    def close(self) -> None:
        """Nothing held."""


def test_proxied_and_https_requests_go_through_the_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # urllib and httpx honour *_proxy: a proxied request is the fallback's (httpx's).
    for name in ("http_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    fallback = Recording()
    with serve_in_thread(Counting, "proxied") as port:
        assert keepalive_gets(port, 2, fallback) == [(200, "OK", b"{}")] * 2
        assert len(fallback.urls) == 2
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        keepalive_gets(port, 1)  # bypassed: direct, never the fallback
        monkeypatch.delenv("http_proxy")
        keepalive_gets(port, 1)
    transport = KeepAliveTransport(fallback=lambda: fallback)
    https = Request("GET", "https://127.0.0.1:9/metrics", None, time.monotonic() + 10, 1024)
    assert triple(transport.send(https)) == (200, "OK", b"{}")
    assert fallback.urls[-1] == "https://127.0.0.1:9/metrics"


class Held(QuietHandler):
    """Answers ``{}`` once :attr:`answer` is set, saying in :attr:`asked` that a request
    came; :attr:`hung_up` is set when the client closes the connection."""

    asked = threading.Event()
    answer = threading.Event()
    hung_up = threading.Event()

    def do_GET(self) -> None:
        type(self).asked.set()
        type(self).answer.wait(30)
        self.send_body(200, b"{}", "application/json")

    def finish(self) -> None:
        super().finish()
        type(self).hung_up.set()


def in_thread(action: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    """``action`` started on a daemon thread; the list gets what it returned."""
    done: list[object] = []
    thread = threading.Thread(target=lambda: done.append(action()), daemon=True)
    thread.start()
    return thread, done


def test_a_connection_released_after_close_is_closed_not_pooled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A poll still reading when the monitor closes its client: once its answer is read,
    # its connection used to go into the closed transport's pool and stay open for good.
    for name in ("asked", "answer", "hung_up"):
        monkeypatch.setattr(Held, name, threading.Event())
    transport = KeepAliveTransport(fallback=Recording)
    with serve_in_thread(Held, "held") as port:
        url = f"http://127.0.0.1:{port}/v3/paths/list"
        request = Request("GET", url, None, time.monotonic() + 30, 1024)
        reading, answers = in_thread(lambda: triple(transport.send(request)))
        assert Held.asked.wait(10), "the request never reached the server"
        transport.close()
        Held.answer.set()
        reading.join(30)
        assert answers == [(200, "OK", b"{}")]
        assert Held.hung_up.wait(10), "the connection was kept open after close()"


def test_building_the_fallback_holds_up_no_plain_request() -> None:
    # httpx loads the CA bundle while the fallback is built (~35 ms): a plain http://
    # request at that moment used to wait for it, behind the transport's one lock.
    building, built = threading.Event(), threading.Event()
    made: list[Recording] = []

    def slow_fallback() -> Transport:
        building.set()
        assert built.wait(30)
        made.append(Recording())
        return made[-1]

    transport = KeepAliveTransport(fallback=slow_fallback)
    https = Request("GET", "https://127.0.0.1:9/metrics", None, time.monotonic() + 30, 1024)
    try:
        with serve_in_thread(Counting, "plain") as port:
            first, first_answer = in_thread(lambda: triple(transport.send(https)))
            assert building.wait(10)
            second, second_answer = in_thread(lambda: triple(transport.send(https)))
            plain = Request("GET", f"http://127.0.0.1:{port}/", None, time.monotonic() + 30, 1024)
            direct, direct_answer = in_thread(lambda: triple(transport.send(plain)))
            direct.join(10)
            held_up = direct.is_alive()
            built.set()
            for thread in (first, second, direct):
                thread.join(30)
        assert not held_up, "a plain request waited for the fallback being built"
        assert direct_answer == [(200, "OK", b"{}")]
        assert first_answer == second_answer == [(200, "OK", b"{}")]
        assert len(made) == 1  # one fallback built and kept, not one per waiting request
        assert triple(transport.send(https)) == (200, "OK", b"{}")
        assert len(made) == 1
        assert len(made[0].urls) == 3
    finally:
        built.set()
        transport.close()


def test_a_post_is_sent_once_when_its_kept_connection_was_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A POST is not idempotent: its kept connection, possibly dropped by the server, is
    not tried (the server may have read the request before hanging up); a GET is sent
    again on a new connection."""
    monkeypatch.setattr(DropsKeptConnections, "received", [])
    transport = KeepAliveTransport(fallback=Recording)
    try:
        with serve_in_thread(DropsKeptConnections, "drops-kept") as port:
            url = f"http://127.0.0.1:{port}/x"
            for method, body in (("POST", b"1"), ("POST", b"2"), ("GET", b""), ("GET", b"")):
                request = Request(method, url, None, time.monotonic() + 20, 1024, body=body)
                assert triple(transport.send(request)) == (200, "OK", b"{}")
    finally:
        transport.close()
    # Each GET reached the server twice: on the kept connection it dropped, then a new one.
    assert DropsKeptConnections.received == ["POST:1", "POST:2"] + ["GET:"] * 4


class DropsKeptConnections(QuietHandler):
    """Answers ``{}`` to the first request of each connection, keeping it open; a later
    request on it is received (kept in :attr:`received`, ``METHOD:body``) and the
    connection closed unanswered, as a server that dropped it idle at that moment."""

    received: ClassVar[list[str]] = []
    answered = False  # set on the instance: one per connection

    def do_GET(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        type(self).received.append(f"{self.command}:{body.decode()}")
        if self.answered:
            self.close_connection = True
            return
        self.answered = True
        self.send_body(200, b"{}", "application/json")

    do_POST = do_GET


class CountingStatusAnswer(StatusAnswer):
    """:class:`StatusAnswer` over HTTP/1.1 (keep-alive), counting its connections."""

    protocol_version = "HTTP/1.1"
    connections = 0

    def setup(self) -> None:
        super().setup()
        type(self).connections += 1


def test_the_keepalive_transport_keeps_its_connection_after_an_error_status(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 404 or 503 with a small body read whole leaves the connection fit for the next
    request (the DNS APIs answer 4xx routinely)."""
    monkeypatch.setattr(CountingStatusAnswer, "connections", 0)
    transport = KeepAliveTransport(fallback=Recording)
    try:
        with serve_in_thread(CountingStatusAnswer, "counting-status") as port:
            statuses = []
            for status in (404, 500, 200, 503, 401, 200):
                url = f"http://127.0.0.1:{port}/{status}/x"
                answer = transport.send(Request("GET", url, None, time.monotonic() + 20, 1024))
                statuses.append((answer.status, bytes(answer.body)))
    finally:
        transport.close()
    assert statuses == [(s, b"GET:") for s in (404, 500, 200, 503, 401, 200)]
    assert CountingStatusAnswer.connections == 1


# --------------------------------------------------------------------------- encodings

ZEROS = 5_000_000
GZIPPED_ZEROS = gzip.compress(b"0" * ZEROS)


class AnswersGzip(QuietHandler):
    """Answers 5,000,000 zeros gzipped (~5 KB) whatever was asked, keeping the
    ``Accept-Encoding`` each request sent."""

    asked: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        type(self).asked.append(self.headers.get("Accept-Encoding"))
        self.send_response(200)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(GZIPPED_ZEROS)))
        self.end_headers()
        self.wfile.write(GZIPPED_ZEROS)


@EVERY_TRANSPORT
def test_every_transport_asks_identity_and_gives_back_the_bytes_received(
    monkeypatch: pytest.MonkeyPatch, transport: str
) -> None:
    """Reproduction: a caller's ``Accept-Encoding: gzip`` was passed on, and the 64 KiB
    cap counted compressed bytes (httpx's transport inflated them and failed every
    compressed answer as longer than its Content-Length)."""
    monkeypatch.setattr(AnswersGzip, "asked", [])
    sending = new_transport(transport)
    try:
        with serve_in_thread(AnswersGzip, "gzip") as port:
            request = Request(
                "GET", f"http://127.0.0.1:{port}/x", None, time.monotonic() + 20, 64 * 1024,
                headers=(("Accept-Encoding", "gzip, deflate"),),
            )  # fmt: skip
            answer = sending.send(request)
    finally:
        sending.close()
    assert AnswersGzip.asked == ["identity"]
    assert bytes(answer.body) == GZIPPED_ZEROS  # as received, not inflated


@EVERY_TRANSPORT
def test_under_the_httpx_bridge_a_gzip_answer_is_refused_not_inflated(
    monkeypatch: pytest.MonkeyPatch, transport: str
) -> None:
    """Reproduction: httpx's ``Accept-Encoding: gzip, deflate`` went through the bridge,
    and httpx inflated the answer: 5,000,000 bytes given to the SDK under a 64 KiB cap."""
    monkeypatch.setattr(AnswersGzip, "asked", [])
    bridge = HttpxBridge(new_transport(transport), max_bytes=64 * 1024)
    with (
        serve_in_thread(AnswersGzip, "gzip-bridge") as port,
        httpx.Client(transport=bridge) as client,
        pytest.raises(httpx.RemoteProtocolError, match="content coding not asked for"),
    ):
        client.get(f"http://127.0.0.1:{port}/x")
    assert AnswersGzip.asked == ["identity"]


# --------------------------------------------------------------------------- error bodies


class SlowErrorBody(QuietHandler):
    """``/v3/paths/list``: a 503 whose body trickles (100 bytes every 50 ms) without end,
    announced as 1 MiB (over the error body's cap) or chunked (:attr:`chunked`);
    ``/ok``: ``{}``. Counts its connections."""

    chunked = False
    connections = 0

    def setup(self) -> None:
        super().setup()
        type(self).connections += 1

    def do_GET(self) -> None:
        if self.path == "/ok":
            self.send_body(200, b"{}", "application/json")
            return
        self.send_response(503)
        if self.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(1024 * 1024))
        self.end_headers()
        chunk = b"64\r\n" + b"x" * 100 + b"\r\n" if self.chunked else b"x" * 100
        stop = threading.Event()
        try:
            while not stop.wait(0.05):  # paces the trickle; nothing waits on it
                self.wfile.write(chunk)
                self.wfile.flush()
        except OSError:  # the client hung up
            self.close_connection = True


@pytest.mark.parametrize("chunked", [False, True], ids=["over-the-cap", "chunked"])
@EVERY_TRANSPORT
def test_a_503_with_a_slow_or_oversized_body_is_still_the_503(
    monkeypatch: pytest.MonkeyPatch, transport: str, chunked: bool
) -> None:
    """Reproduction: the error body was read under the 16 MiB cap and the whole timeout:
    a trickling 503 became a TimedOutError (kind unreachable). Its connection, the rest of
    the body still coming, must not serve the next request."""
    monkeypatch.setattr(SlowErrorBody, "chunked", chunked)
    monkeypatch.setattr(SlowErrorBody, "connections", 0)
    sending = new_transport(transport)
    try:
        with serve_in_thread(SlowErrorBody, "slow-503") as port:
            url = f"http://127.0.0.1:{port}"
            with pytest.raises(errors.TrashmonError) as raised:
                MediaMTXClient(url, timeout=8, transport=sending).list_paths()
            ok = Request("GET", url + "/ok", None, time.monotonic() + 20, 1024)
            after = triple(sending.send(ok))
    finally:
        sending.close()
    assert type(raised.value) is errors.UpstreamHTTPError
    assert (raised.value.kind, raised.value.status_code) == ("http", 503)
    assert after == (200, "OK", b"{}")
    assert SlowErrorBody.connections == 2
