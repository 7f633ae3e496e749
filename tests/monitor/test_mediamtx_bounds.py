"""A hostile MediaMTX cannot hold, flood or crash the client (issue 12 §1, §4): a total
deadline per request in both transports, a body cap, bounded page fan-out, hostile
values as malformed data, names outside MediaMTX's grammar counted and skipped, and
HTTP Basic credentials."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.hostile_mediamtx import HostileMediaMTX
from support.mediamtx_transports import EVERY_TRANSPORT, client_options, json_answer

from trashmonitor.errors import AuthError, MalformedResponseError, UnreachableError
from trashmonitor.monitor.mediamtx import MediaMTXClient
from trashmonitor.monitor.mediamtx_http import Credentials, read_credentials_file
from trashmonitor.monitor.mediamtx_httpx import HttpxTransport
from trashmonitor.monitor.mediamtx_parse import (
    decode_json,
    is_valid_path_name,
    parse_metrics,
    parse_paths_page,
)
from trashmonitor.monitor.model import MAX_PATH_NAME_LENGTH
from trashmonitor.transport import Answer, MockTransport, Request

# Generous for a loaded 2-core machine; the point is "about the timeout", not "forever".
SLACK = 1.5


@pytest.fixture
def hostile() -> Iterator[HostileMediaMTX]:
    with HostileMediaMTX(trickle_interval=0.1, endless_limit=8 * 1024 * 1024) as server:
        yield server


def elapsed_of(action: Callable[[], object]) -> tuple[float, BaseException | None]:
    started = time.monotonic()
    try:
        action()
    except Exception as error:
        return time.monotonic() - started, error
    return time.monotonic() - started, None


# --------------------------------------------------------------------------- deadlines


@EVERY_TRANSPORT
def test_a_byte_trickle_cannot_hold_a_request_past_its_timeout(
    hostile: HostileMediaMTX, transport: str
) -> None:
    """One byte every 0.1 s never lets a read time out: only a total deadline ends it."""
    hostile.mode = "trickle"
    with MediaMTXClient(hostile.url, timeout=1.0, **client_options(transport)) as client:
        took, error = elapsed_of(client.list_paths)
    assert isinstance(error, UnreachableError), error
    assert "timed out" in str(error)
    assert took < 1.0 + SLACK


@EVERY_TRANSPORT
def test_a_trickle_is_bounded_by_the_callers_deadline_too(
    hostile: HostileMediaMTX, transport: str
) -> None:
    hostile.mode = "trickle"
    with MediaMTXClient(
        hostile.url, hostile.metrics_url, timeout=30, **client_options(transport)
    ) as client:
        took, error = elapsed_of(lambda: client.read_metrics(deadline=time.monotonic() + 1.0))
    assert isinstance(error, UnreachableError), error
    assert took < 1.0 + SLACK


@EVERY_TRANSPORT
def test_an_endless_body_stops_at_the_size_cap(hostile: HostileMediaMTX, transport: str) -> None:
    hostile.mode = "endless"
    client = MediaMTXClient(
        hostile.url, timeout=30, max_body_bytes=1024 * 1024, **client_options(transport)
    )
    with client, pytest.raises(MalformedResponseError, match="larger than 1048576 bytes"):
        client.list_paths()


@EVERY_TRANSPORT
def test_an_endless_metrics_body_stops_at_the_size_cap(
    hostile: HostileMediaMTX, transport: str
) -> None:
    hostile.mode = "endless"
    client = MediaMTXClient(
        hostile.url,
        hostile.metrics_url,
        timeout=30,
        max_body_bytes=1024 * 1024,
        **client_options(transport),
    )
    with client, pytest.raises(MalformedResponseError, match="larger than"):
        client.read_metrics()


def test_a_declared_length_over_the_cap_is_refused_before_reading() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"{}", headers={"Content-Length": "99999999999"})

    mock = httpx.Client(transport=httpx.MockTransport(handle))
    client = MediaMTXClient("http://m", transport=HttpxTransport(mock))
    with pytest.raises(MalformedResponseError, match="larger than"):
        client.list_paths()


# --------------------------------------------------------------------------- page fan-out


def counting_server(
    document: Callable[[int], dict[str, Any]], seen: list[int]
) -> Callable[[Request], Answer]:
    lock = threading.Lock()

    def handle(request: Request) -> Answer:
        with lock:
            seen.append(request.page)
        return json_answer(document(request.page))

    return handle


def mocked(handler: Callable[[Request], Answer], **kwargs: Any) -> MediaMTXClient:
    return MediaMTXClient("http://m:9997", transport=MockTransport(handler), **kwargs)


def test_page_count_is_clamped_by_the_item_count() -> None:
    """pageCount 100 000 for one item: one request, not 100 000 queued ones."""
    seen: list[int] = []
    cam = {"name": "cam1", "online": True}
    document = {"itemCount": 1, "pageCount": 100_000, "items": [cam]}
    paths = mocked(counting_server(lambda page: document, seen)).list_paths()
    assert [path.name for path in paths] == ["cam1"]
    assert seen == [0]


def test_a_billion_pages_is_refused_without_queueing_any() -> None:
    seen: list[int] = []
    cam = {"name": "cam1", "online": True}
    huge = {"itemCount": 10**9, "pageCount": 10**9, "items": [cam]}
    with pytest.raises(MalformedResponseError, match="more than the 100 pages"):
        mocked(counting_server(lambda page: huge, seen)).list_paths()
    assert seen == [0]


def test_pages_go_through_a_bounded_window() -> None:
    """40 pages, 4 at a time: never more than 4 requests outstanding."""
    in_flight = 0
    most = 0
    lock = threading.Lock()

    def handle(request: Request) -> Answer:
        nonlocal in_flight, most
        page = request.page
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        if page > 0:
            time.sleep(0.02)  # a slow server, so requests would pile up if allowed
        with lock:
            in_flight -= 1
        items = [{"name": f"cam{page:02d}", "online": True}]
        return json_answer({"itemCount": 40, "pageCount": 40, "items": items})

    paths = mocked(handle, items_per_page=1, parallel_pages=4).list_paths()
    assert len(paths) == 40
    assert most <= 4


def test_the_deadline_stops_queueing_pages() -> None:
    seen: list[int] = []
    page_time = 0.05

    def document(page: int) -> dict[str, Any]:
        time.sleep(page_time)  # each page costs the server time
        return {"itemCount": 100, "pageCount": 100, "items": [{"name": f"c{page}"}]}

    client = mocked(counting_server(document, seen), items_per_page=1, max_pages=100)
    took, error = elapsed_of(lambda: client.list_paths(deadline=time.monotonic() + 0.5))
    assert isinstance(error, UnreachableError), error
    assert len(seen) < 100
    assert took < 0.5 + SLACK


# --------------------------------------------------------------------------- hostile values


def test_deeply_nested_json_is_malformed_not_a_recursion_error() -> None:
    with pytest.raises(MalformedResponseError, match="nested too deeply"):
        decode_json(b"[" * 200_000 + b"]" * 200_000, "src")


@pytest.mark.parametrize(
    "body",
    [
        b'{"itemCount": NaN, "pageCount": 1, "items": []}',
        b'{"itemCount": 1, "pageCount": Infinity, "items": []}',
        b'{"itemCount": 1, "pageCount": 1, "items": [{"name": "a", "inboundBytes": -Infinity}]}',
        b'{"itemCount": 1, "pageCount": 1, "items": [{"name": "a", "inboundBytes": 1e400}]}',
        b'{"itemCount": 1, "pageCount": 1, "items": [{"name": "a", "inboundBytes": '
        + b"9" * 5000
        + b"}]}",
        b'{"itemCount": 1, "pageCount": 1, "items": [{"name": "a", "bytesReceived": '
        + str(2**64).encode()
        + b"}]}",
    ],
    ids=["nan", "infinity", "minus-infinity", "1e400", "5000-digits", "2**64"],
)
def test_non_finite_or_overflowing_json_numbers_are_malformed(body: bytes) -> None:
    with pytest.raises(MalformedResponseError):
        parse_paths_page(decode_json(body, "src"))


@pytest.mark.parametrize("value", ["NaN", "+Inf", "-Inf", "1e400", "-1", "18446744073709551616"])
@pytest.mark.parametrize("family", ["paths_inbound_bytes", "paths_readers", "paths"])
def test_non_finite_or_overflowing_metrics_are_malformed(family: str, value: str) -> None:
    with pytest.raises(MalformedResponseError, match="not a count"):
        parse_metrics(f'{family}{{name="cam1",state="ready"}} {value}\n')


@pytest.mark.parametrize(
    "name",
    [
        "cam1",
        "group/cam1",
        "cam.v1/main",
        "a-b_c~d:e",  # "~" up to v1.17.0, ":" v1.12.3 to v1.17.0
        "x" * MAX_PATH_NAME_LENGTH,
    ],
)
def test_names_mediamtx_accepts(name: str) -> None:
    assert is_valid_path_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "/cam",
        "cam/",
        "../cam",
        "a/./b",
        "..",
        "cam 1",
        "cäm",
        "evil\x1b[2J",
        "line\nbreak",
        'q"uote',
        "x" * (MAX_PATH_NAME_LENGTH + 1),
    ],
)
def test_names_mediamtx_refuses(name: str) -> None:
    assert not is_valid_path_name(name)


def test_items_with_bad_names_are_counted_and_skipped() -> None:
    items = [
        {"name": "cam1", "online": True},
        {"name": "evil\x1b[2J\nok", "online": True},
        {"name": "g" * 10_000, "online": True},
        {"name": "../etc", "online": True},
    ]
    page = parse_paths_page({"itemCount": 4, "pageCount": 1, "items": items})
    assert [path.name for path in page.items] == ["cam1"]
    assert page.rejected == 3


def test_rejected_count_reaches_the_listing(hostile: HostileMediaMTX) -> None:
    hostile.mode = "control_name"
    with MediaMTXClient(hostile.url, timeout=5) as client:
        listing = client.read_paths()
    assert sorted(listing.paths) == ["cam0", "cam1", "cam2"]
    assert listing.rejected == 1


def test_metrics_samples_with_bad_names_are_counted_and_skipped() -> None:
    text = (
        'paths{name="cam1",state="ready"} 1\n'
        f'paths{{name="{"g" * 10_000}",state="ready"}} 1\n'
        'paths_inbound_bytes{name="a b",state="ready"} 5\n'
    )
    metrics = parse_metrics(text)
    assert set(metrics.paths) == {"cam1"}
    assert metrics.rejected_paths == 2


def test_hostile_codec_names_are_malformed() -> None:
    item = {"name": "cam1", "online": True, "tracks2": [{"codec": "\x1b[2J"}]}
    with pytest.raises(MalformedResponseError, match="codec"):
        parse_paths_page({"itemCount": 1, "pageCount": 1, "items": [item]})


# --------------------------------------------------------------------------- credentials

SECRET = "s3cr3t-Pa55:with-colon"


@pytest.fixture
def guarded() -> Iterator[HostileMediaMTX]:
    with HostileMediaMTX(credentials=f"monitor:{SECRET}") as server:
        yield server


@EVERY_TRANSPORT
def test_credentials_are_sent_as_basic_auth_on_api_and_metrics(
    guarded: HostileMediaMTX, transport: str
) -> None:
    login = Credentials("monitor", SECRET)
    with MediaMTXClient(
        guarded.url, guarded.metrics_url, credentials=login, **client_options(transport)
    ) as client:
        assert len(client.list_paths()) == 3
        assert set(client.read_metrics().paths) == {"cam0", "cam1", "cam2"}


@EVERY_TRANSPORT
def test_401_is_an_auth_error_saying_what_to_set(guarded: HostileMediaMTX, transport: str) -> None:
    with (
        MediaMTXClient(guarded.url, **client_options(transport)) as client,
        pytest.raises(AuthError) as none,
    ):
        client.list_paths()
    assert "no credentials" in str(none.value)
    assert "--mediamtx-credentials-file" in str(none.value)
    wrong = Credentials("monitor", "not-" + SECRET)
    with (
        MediaMTXClient(guarded.url, credentials=wrong, **client_options(transport)) as client,
        pytest.raises(AuthError) as refused,
    ):
        client.list_paths()
    assert "refused" in str(refused.value)
    assert SECRET not in str(refused.value)


def test_the_password_is_not_in_the_repr() -> None:
    assert SECRET not in repr(Credentials("monitor", SECRET))


def test_credentials_file_is_one_line_user_colon_password(tmp_path: Path) -> None:
    path = tmp_path / "mediamtx-credentials"
    path.write_text(f"monitor:{SECRET}\n")
    assert read_credentials_file(str(path)) == Credentials("monitor", SECRET)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "one line user:password"),
        (b"monitor\n", "one line user:password"),
        (b"monitor:\n", "one line user:password"),
        (b":" + SECRET.encode() + b"\n", "one line user:password"),
        (b"monitor:" + SECRET.encode() + b"\nsecond:line\n", "one line user:password"),
        (b"monitor:" + SECRET.encode() + b"\x00\n", "control characters"),
        (b"monitor:\xff" + SECRET.encode(), "not UTF-8"),
        (b"x:" + b"y" * 5000, "over 4096 bytes"),
    ],
    ids=["empty", "no-colon", "no-password", "no-user", "two-lines", "nul", "latin1", "huge"],
)
def test_malformed_credentials_files_never_echo_the_content(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    path = tmp_path / "mediamtx-credentials"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=problem) as caught:
        read_credentials_file(str(path))
    assert SECRET not in str(caught.value)


def test_missing_or_unreadable_credentials_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not found"):
        read_credentials_file(str(tmp_path / "absent"))
    with pytest.raises(ValueError, match="cannot read"):
        read_credentials_file(str(tmp_path))  # a directory
