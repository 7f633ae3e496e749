"""``/metrics`` answers any scrape: a scrape config's ``params:`` add query fields (any
number), and a body on the GET is ignored, as before it became an Endpoint."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Callable, Iterator

import pytest

from trashmonitor.monitor.history import HistoryStore
from trashmonitor.monitor.routes import routes
from trashmonitor.serving import HTTPService, Response
from trashmonitor.settings import HostPort

EXPOSITION = b"# EOF\n"


class Watched:
    """The least a :func:`routes` needs: a fixed exposition, recording who scraped."""

    history: HistoryStore | None = None
    clock: Callable[[], float] = staticmethod(lambda: 0.0)

    def __init__(self) -> None:
        self.scrapers: list[str] = []

    def exposition(self, scraper: str = "") -> bytes:
        self.scrapers.append(scraper)
        return EXPOSITION

    def healthz(self) -> Response:
        return Response(200, b"ok\n")

    def status(self) -> Response:
        return Response(200, b"{}")


@pytest.fixture
def service() -> Iterator[tuple[HTTPService, Watched]]:
    watched = Watched()
    served = HTTPService(HostPort("127.0.0.1", 0), routes(watched), "--listen")
    served.start()
    try:
        yield served, watched
    finally:
        served.stop()


def raw_exchange(served: HTTPService, request: bytes) -> bytes:
    """``request`` sent as is; the whole answer, read until the server closes."""
    with socket.create_connection((served.address.host, served.address.port), 30) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def test_a_scrape_with_many_query_fields_is_answered(
    service: tuple[HTTPService, Watched],
) -> None:
    """Reproduction: 33 query fields got 400 "too many query fields"."""
    served, watched = service
    query = "&".join(f"p{index}=1" for index in range(33))
    url = f"http://{served.address.host}:{served.address.port}/metrics?{query}"
    with urllib.request.urlopen(url, timeout=30) as answer:
        assert (answer.status, answer.read()) == (200, EXPOSITION)
    (scraper,) = watched.scrapers  # read as before: the peer and its User-Agent
    assert scraper.startswith("127.0.0.1 Python-urllib/")


@pytest.mark.parametrize(
    "framing",
    [
        b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",  # was 411
        b"Content-Length: 20000\r\n\r\n" + b"x" * 20_000,  # was 413
    ],
    ids=["chunked", "over 16 KiB"],
)
def test_a_body_on_a_scrape_is_ignored_and_ends_the_connection(
    service: tuple[HTTPService, Watched], framing: bytes
) -> None:
    """Reproduction: a body got 411/413. Answered now, and the connection closed after
    the answer, so the unread body is never parsed as a second request."""
    served, _ = service
    answer = raw_exchange(served, b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + framing)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200") or head.startswith(b"HTTP/1.1 200"), answer[:200]
    assert b"Connection: close" in head
    assert body == EXPOSITION
