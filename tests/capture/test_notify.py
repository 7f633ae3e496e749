"""sd_notify (capture/notify.py) on our own datagram socket, and the watchdog interval."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from trashmonitor.capture.notify import notify, watchdog_interval


@pytest.fixture
def notify_socket(tmp_path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(5)
    return sock


def test_notify_reaches_a_datagram_socket(notify_socket: socket.socket) -> None:
    address = notify_socket.getsockname()
    assert notify("READY=1", {"NOTIFY_SOCKET": address})
    assert notify_socket.recv(4096) == b"READY=1"
    assert not notify("READY=1", {})
    assert not notify("READY=1", {"NOTIFY_SOCKET": "relative/path"})
    assert not notify("READY=1", {"NOTIFY_SOCKET": str(Path(address).parent / "absent")})
    notify_socket.close()


def test_notify_abstract_namespace() -> None:
    name = f"trashmon-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        assert notify("WATCHDOG=1", {"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(100) == b"WATCHDOG=1"


def test_watchdog_interval_is_half_of_watchdog_sec() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "x"}) is None
    assert watchdog_interval({}) is None
