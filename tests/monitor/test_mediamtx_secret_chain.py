"""The MediaMTX password in no exception a transport or the client raises: not in the
error, not in its ``__cause__``/``__context__`` chain, not in the locals of any frame
reachable from them (what a crash reporter or a debugger showing locals would print,
and what an error kept in a reference cycle keeps alive)."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support import secret_walk
from support.fake_mediamtx import FakeMediaMTX
from support.mediamtx_transports import EVERY_TRANSPORT, TRANSPORTS, client_options, new_transport
from support.processes import free_port

from trashmonitor import errors
from trashmonitor.monitor.mediamtx import MediaMTXClient
from trashmonitor.monitor.mediamtx_http import (
    CREDENTIALS_FILE_MAX_BYTES,
    read_credentials_file,
)
from trashmonitor.transport import Credentials, Request

PASSWORD = "chain-Pa55word-7f3a"
CREDENTIALS = Credentials("monitor", PASSWORD)
SECRETS = (PASSWORD, base64.b64encode(f"monitor:{PASSWORD}".encode()).decode())


def leaks(error: BaseException) -> list[str]:
    """Where the password is reachable from ``error`` (Credentials objects, whose repr
    hides it, are the caller's own setting: what was made of them counts)."""
    return secret_walk.leaks(error, SECRETS, opaque=(Credentials,))


def raised_by(action: Callable[[], object]) -> errors.TrashmonError:
    with pytest.raises(errors.TrashmonError) as raised:
        action()
    return raised.value


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
    through = new_transport(transport)
    deadline = time.monotonic() + (0.5 if fault == "hang" else 10)
    request = Request("GET", url + "/v3/paths/list", None, deadline, 1024, CREDENTIALS)
    try:
        error = raised_by(lambda: through.send(request))
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
    "too big": f"monitor:{PASSWORD}\n".encode() + b"#" * CREDENTIALS_FILE_MAX_BYTES,
}


@pytest.mark.parametrize("bad", BAD_FILES)
def test_no_credentials_file_error_reaches_the_password(tmp_path: Path, bad: str) -> None:
    # The file is written by name here: this frame is in the traceback walked too.
    path = tmp_path / "credentials"
    path.write_bytes(BAD_FILES[bad])
    with pytest.raises(ValueError, match="credentials file") as raised:
        read_credentials_file(str(path))
    assert leaks(raised.value) == []
