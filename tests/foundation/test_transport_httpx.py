"""HttpxBridge (trashmonitor/transport_httpx.py): our transport protocol under an httpx
client, as the DNS adapters use it. The httpx request becomes our Request (method, URL,
headers, body, a deadline from the client's timeout); our Answer becomes the httpx
response (status, reason, headers, body); each of our errors becomes the httpx error the
SDK's retry and the adapters' mapping know, its message holding no secret."""

from __future__ import annotations

import time

import httpx
import pytest
from support.secret_walk import leaks

from trashmonitor.errors import (
    AuthError,
    MalformedResponseError,
    TimedOutError,
    TrashmonError,
    UnreachableError,
)
from trashmonitor.transport import Answer, MockTransport, Request
from trashmonitor.transport_httpx import HttpxBridge

TOKEN = "bridge-T0ken-5e8a"


def client_over(handler: MockTransport, timeout: float = 20.0) -> httpx.Client:
    return httpx.Client(transport=HttpxBridge(handler), timeout=timeout)


def test_the_httpx_request_becomes_our_request() -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Answer:
        seen.append(request)
        return Answer(200, "OK", (), b"")

    with client_over(MockTransport(handler), timeout=7.0) as client:
        client.patch(
            "http://api.test/api/v2/dns?x=1",
            headers={"Authorization": f"Bearer {TOKEN}"},
            json={"a": None},
        )
    (request,) = seen
    assert (request.method, request.url, request.params) == (
        "PATCH",
        "http://api.test/api/v2/dns?x=1",
        None,
    )
    assert request.body == b'{"a":null}'
    assert ("authorization", f"Bearer {TOKEN}") in request.headers
    assert 0 < request.deadline - time.monotonic() <= 7.0


def test_our_answer_becomes_the_httpx_response() -> None:
    headers = (("Content-Type", "application/json"), ("Retry-After", "3"))
    answer = Answer(429, "Too Many Requests", headers, b'{"message": "slow down"}')
    with client_over(MockTransport(lambda request: answer)) as client:
        response = client.get("http://api.test/x")
    assert (response.status_code, response.reason_phrase) == (429, "Too Many Requests")
    assert response.headers["retry-after"] == "3"
    assert response.json() == {"message": "slow down"}


def bridged_error(ours: TrashmonError) -> httpx.TransportError:
    """What the bridge raises for a request with the token in a header when our
    transport raises ``ours``."""

    def handler(request: Request) -> Answer:
        raise ours

    bridge = HttpxBridge(MockTransport(handler))
    with pytest.raises(httpx.TransportError) as raised:
        bridge.handle_request(
            httpx.Request("GET", "http://api.test/x", headers={"Authorization": f"Bearer {TOKEN}"})
        )
    return raised.value


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (TimedOutError("http://api.test/x: timed out"), httpx.ReadTimeout),
        (UnreachableError("http://api.test/x: cannot connect (refused)"), httpx.ConnectError),
        (MalformedResponseError("http://api.test/x: broken answer"), httpx.RemoteProtocolError),
        (AuthError("http://api.test/x: refused"), httpx.TransportError),
    ],
)
def test_each_of_our_errors_becomes_the_httpx_error_holding_no_secret(
    ours: TrashmonError, theirs: type[httpx.TransportError]
) -> None:
    error = bridged_error(ours)
    assert type(error) is theirs
    assert str(error) == ours.message
    assert error.__context__ is None
    assert error.__cause__ is None
    # The httpx request (the caller's, its header the token) is httpx's own, as in every
    # httpx error; what the bridge made of it and the frames it went through hold none.
    assert leaks(error, (TOKEN,), (httpx.Request,)) == []


def test_closing_the_client_closes_our_transport() -> None:
    closed: list[bool] = []

    class Closing(MockTransport):
        def close(self) -> None:
            closed.append(True)

    client_over(Closing(lambda request: Answer(200, "OK", (), b""))).close()
    assert closed == [True]
