"""The one transport protocol's values and mock (trashmonitor/transport.py): the request's
URL and page, the answer's headers, the credentials' repr, MockTransport; and the module
stays standard library only (the probe imports it)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from support.processes import OUTSIDE_REPO

from trashmonitor.errors import UnreachableError
from trashmonitor.transport import Answer, Credentials, MockTransport, Request, Transport

PASSWORD = "transport-Pa55-91c"


def get(url: str, params: dict[str, int] | None = None) -> Request:
    return Request("GET", url, params, 0.0, 1024)


def test_the_full_url_adds_the_params_to_any_query_of_its_own() -> None:
    assert get("http://m/v3/paths/list").full_url == "http://m/v3/paths/list"
    asked = get("http://m/v3/paths/list", {"page": 2, "itemsPerPage": 1000})
    assert asked.full_url == "http://m/v3/paths/list?page=2&itemsPerPage=1000"
    assert get("http://m/x?a=1", {"page": 0}).full_url == "http://m/x?a=1&page=0"


def test_a_request_says_its_page_and_defaults_to_no_headers_nor_body() -> None:
    assert get("http://m/v3/paths/list", {"page": 3}).page == 3
    assert get("http://m/metrics").page == -1
    request = get("http://m/metrics")
    assert (request.headers, request.body, request.credentials) == ((), b"", None)


def test_a_request_with_credentials_shows_no_password() -> None:
    request = get("http://m/metrics")._replace(credentials=Credentials("monitor", PASSWORD))
    assert PASSWORD not in repr(request)
    assert "monitor" in repr(request)
    assert request.credentials is not None
    assert request.credentials.authorization().startswith("Basic ")


def test_an_answer_finds_a_header_in_any_case_the_first_of_a_repeated_one() -> None:
    answer = Answer(200, "OK", (("Retry-After", "7"), ("X-Two", "a"), ("x-two", "b")), b"")
    assert answer.header("retry-after") == "7"
    assert answer.header("X-TWO") == "a"
    assert answer.header("content-type") is None


def test_the_mock_answers_through_its_handler_and_raises_what_it_raises() -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Answer:
        seen.append(request)
        if request.method == "DELETE":
            raise UnreachableError(f"{request.url}: cannot connect (refused)")
        return Answer(201, "Created", (), request.body)

    mock: Transport = MockTransport(handler)
    posted = Request("POST", "http://api/x", None, 0.0, 1024, body=b"{}")
    assert mock.send(posted) == Answer(201, "Created", (), b"{}")
    with pytest.raises(UnreachableError, match="cannot connect"):
        mock.send(posted._replace(method="DELETE"))
    mock.close()
    assert [request.method for request in seen] == ["POST", "DELETE"]


def test_importing_the_protocol_loads_no_third_party_module() -> None:
    code = (
        "import sys, trashmonitor.transport; "
        "print(sorted(m for m in ('httpx', 'httpcore', 'opentelemetry', 'dataclasses') "
        "if m in sys.modules))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code], cwd=OUTSIDE_REPO, capture_output=True, text=True, check=True
    )
    assert shown.stdout.strip() == "[]"
