"""HttpxTransport, the httpx implementation of the transport protocol, over
``httpx.MockTransport``: method, query, headers and body sent; status, headers and body of
any status answered; httpx's errors mapped to the error tree; each request bounded by its
deadline (its bounds against real servers: test_mediamtx_bounds.py)."""

from __future__ import annotations

import time

import httpx
import pytest

from trashmonitor.errors import MalformedResponseError, UnreachableError
from trashmonitor.monitor.mediamtx_httpx import HttpxTransport
from trashmonitor.transport import Answer, Credentials, Request

URL = "http://mediamtx:9997/v3/paths/list"


def over(handle: httpx.MockTransport) -> HttpxTransport:
    return HttpxTransport(httpx.Client(transport=handle))


def request(**fields: object) -> Request:
    defaults: dict[str, object] = {
        "method": "GET", "url": URL, "params": None,
        "deadline": time.monotonic() + 10, "max_bytes": 1024,
    }  # fmt: skip
    return Request(**(defaults | fields))  # type: ignore[arg-type]


def test_sends_method_query_headers_body_and_credentials() -> None:
    seen: list[httpx.Request] = []

    def handle(sent: httpx.Request) -> httpx.Response:
        seen.append(sent)
        return httpx.Response(201, headers={"X-Id": "7"}, content=b"made")

    asked = request(
        method="POST", params={"page": 2}, headers=(("X-Test", "yes"),), body=b"{}",
        credentials=Credentials("monitor", "secret"),
    )  # fmt: skip
    answer = over(httpx.MockTransport(handle)).send(asked)
    assert (answer.status, answer.reason, answer.body) == (201, "Created", b"made")
    assert answer.header("x-id") == "7"
    (sent,) = seen
    assert (sent.method, str(sent.url), sent.content) == ("POST", URL + "?page=2", b"{}")
    assert sent.headers["x-test"] == "yes"
    assert sent.headers["authorization"] == Credentials("monitor", "secret").authorization()


def test_the_body_of_an_error_status_is_answered() -> None:
    handle = httpx.MockTransport(lambda sent: httpx.Response(404, content=b"no such path"))
    assert over(handle).send(request()) == Answer(
        404, "Not Found", (("content-length", "12"),), b"no such path"
    )


@pytest.mark.parametrize(
    ("error", "error_class", "words"),
    [
        (httpx.ConnectError("Connection refused"), UnreachableError, "cannot connect"),
        (httpx.ConnectError("Name or service not known"), UnreachableError, "not known"),
        (httpx.ReadTimeout("timed out"), UnreachableError, "timed out"),
        (httpx.ConnectTimeout("timed out"), UnreachableError, "timed out"),
        (httpx.RemoteProtocolError("incomplete body"), MalformedResponseError, "broken"),
        (httpx.TooManyRedirects("loop"), UnreachableError, "TooManyRedirects"),
    ],
)
def test_httpx_errors_map_to_the_error_tree(
    error: Exception, error_class: type[Exception], words: str
) -> None:
    def handle(sent: httpx.Request) -> httpx.Response:
        raise error

    with pytest.raises(error_class, match=words) as caught:
        over(httpx.MockTransport(handle)).send(request())
    assert "\n" not in str(caught.value)
    assert caught.value.__context__ is None  # detached: no httpx request, no header


def test_each_request_is_bounded_by_its_deadline() -> None:
    timeouts: list[dict[str, float]] = []

    def handle(sent: httpx.Request) -> httpx.Response:
        timeouts.append(sent.extensions["timeout"])
        return httpx.Response(200, content=b"{}")

    over(httpx.MockTransport(handle)).send(request(deadline=time.monotonic() + 2))
    assert 0 < timeouts[0]["read"] <= 2


def test_a_body_over_the_cap_is_malformed() -> None:
    handle = httpx.MockTransport(lambda sent: httpx.Response(200, content=b"x" * 2048))
    with pytest.raises(MalformedResponseError, match="larger than 1024 bytes"):
        over(handle).send(request())


def test_a_given_client_stays_open_an_own_one_is_closed() -> None:
    given = httpx.Client(transport=httpx.MockTransport(lambda sent: httpx.Response(200)))
    HttpxTransport(given).close()
    assert not given.is_closed
    owned = HttpxTransport()
    owned.close()
    assert owned.client.is_closed
