"""The MediaMTX password in no exception a transport or the client raises: not in the
error, not in its ``__cause__``/``__context__`` chain, not in the locals of any frame
reachable from them (what a crash reporter or a debugger showing locals would print,
and what an error kept in a reference cycle keeps alive)."""

from __future__ import annotations

import base64
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType, FunctionType, ModuleType

import pytest
from support.fake_mediamtx import FakeMediaMTX
from support.mediamtx_transports import EVERY_TRANSPORT, client_options
from support.processes import free_port

from trashmonitor import errors
from trashmonitor.monitor.mediamtx import MediaMTXClient
from trashmonitor.monitor.mediamtx_http import (
    Credentials,
    GetRequest,
    KeepAliveTransport,
    Transport,
    UrllibTransport,
    read_credentials_file,
)
from trashmonitor.monitor.mediamtx_httpx import HttpxTransport

PASSWORD = "chain-Pa55word-7f3a"
CREDENTIALS = Credentials("monitor", PASSWORD)
SECRETS = (PASSWORD, base64.b64encode(f"monitor:{PASSWORD}".encode()).decode())
DEPTH = 6


def holds_secret(value: object, depth: int = DEPTH, seen: set[int] | None = None) -> bool:
    """``value`` is or reaches the password (or its Basic token) through containers and
    object attributes. Credentials objects are the caller's own setting (their repr
    hides the password): they do not count, what was made of them does."""
    seen = set() if seen is None else seen
    if id(value) in seen or depth < 0 or isinstance(value, Credentials):
        return False
    seen.add(id(value))
    if isinstance(value, str):
        return any(secret in value for secret in SECRETS)
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        return any(secret.encode() in data for secret in SECRETS)
    if isinstance(value, type | ModuleType | FunctionType | FrameType):
        return False
    if isinstance(value, dict):
        items: list[object] = [*value.keys(), *value.values()]
    elif isinstance(value, list | tuple | set | frozenset):
        items = list(value)
    else:
        items = list(getattr(value, "__dict__", {}).values())
        if isinstance(value, BaseException):
            items += list(value.args)
    return any(holds_secret(item, depth - 1, seen) for item in items)


def chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and every exception linked from it as cause or context."""
    pending, seen = [error], set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [linked for linked in (current.__cause__, current.__context__) if linked]


def leaks(error: BaseException) -> list[str]:
    """Where the password is reachable from ``error``: an exception of its chain, or a
    local of a frame of their tracebacks (``function.name``)."""
    found = []
    for linked in chain(error):
        if holds_secret(linked):
            found.append(f"{type(linked).__name__} itself")
        for frame, _ in traceback.walk_tb(linked.__traceback__):
            for name, value in frame.f_locals.items():
                if holds_secret(value):
                    found.append(f"{frame.f_code.co_name}.{name} (via {type(linked).__name__})")
    return found


def raised_by(action: Callable[[], object]) -> errors.TrashmonError:
    with pytest.raises(errors.TrashmonError) as raised:
        action()
    return raised.value


TRANSPORTS: dict[str, Callable[[], Transport]] = {
    "keepalive": lambda: KeepAliveTransport(fallback=HttpxTransport),
    "httpx": HttpxTransport,
    "stdlib": UrllibTransport,
}


def failing_server(fake: FakeMediaMTX, fault: str) -> str:
    """The URL of a server failing with ``fault``: ``refused`` (nothing listens) or one
    of the fake's (``hang``: the deadline passes while the answer is awaited)."""
    if fault == "refused":
        return f"http://127.0.0.1:{free_port()}"
    fake.fault = fault
    return fake.url


@pytest.mark.parametrize("fault", ["refused", "cut_connection", "no_answer", "hang"])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_no_transport_error_reaches_the_password(
    fake: FakeMediaMTX, transport: str, fault: str
) -> None:
    url = failing_server(fake, fault)
    through = TRANSPORTS[transport]()
    deadline = time.monotonic() + (0.5 if fault == "hang" else 10)
    request = GetRequest(url + "/v3/paths/list", None, deadline, 1024, CREDENTIALS)
    try:
        error = raised_by(lambda: through.get(request))
    finally:
        through.close()
    assert leaks(error) == []


@pytest.mark.parametrize("fault", ["refused", "cut_connection", "hang"])
@EVERY_TRANSPORT
def test_no_client_error_reaches_the_password(
    fake: FakeMediaMTX, transport: str, fault: str
) -> None:
    with MediaMTXClient(
        failing_server(fake, fault),
        timeout=0.5,
        credentials=CREDENTIALS,
        **client_options(transport),
    ) as client:
        error = raised_by(client.read_paths)
    assert leaks(error) == []


def test_the_walk_finds_a_password_left_in_a_frame() -> None:
    # The check itself: an error raised where a local holds the Basic header is caught.
    def failing() -> None:
        headers = {"Authorization": CREDENTIALS.authorization()}
        raise errors.UnreachableError(f"cannot connect ({len(headers)} headers)")

    assert leaks(raised_by(failing)) == ["failing.headers (via UnreachableError)"]


BAD_FILES = {
    "not UTF-8": f"monitor:{PASSWORD}\xff\n".encode("latin-1"),
    "not one line": f"monitor:{PASSWORD}\nsecond line\n".encode(),
    "a control character": f"monitor:{PASSWORD}\x07\n".encode(),
}


@pytest.mark.parametrize("bad", BAD_FILES)
def test_no_credentials_file_error_reaches_the_password(tmp_path: Path, bad: str) -> None:
    # The file is written by name here: this frame is in the traceback walked too.
    path = tmp_path / "credentials"
    path.write_bytes(BAD_FILES[bad])
    with pytest.raises(ValueError, match="credentials file") as raised:
        read_credentials_file(str(path))
    assert leaks(raised.value) == []
