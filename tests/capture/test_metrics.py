"""Metrics names (contract + promtool), sd_notify on our own socket, the systemd unit."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from types import MappingProxyType

import pytest
from prometheus_client.exposition import generate_latest
from support.processes import REPO, promtool_check_metrics, require_binary

from trashmonitor.capture.machine import RESTART_REASONS, State
from trashmonitor.capture.metrics import agent_registry
from trashmonitor.capture.notify import notify, watchdog_interval
from trashmonitor.capture.snapshot import AgentSnapshot
from trashmonitor.capture.v4l2 import DeviceInfo

UNIT_DIR = REPO / "capture" / "systemd"


def snapshot(**changes: object) -> AgentSnapshot:
    values: dict[str, object] = {
        "camera": "cam1",
        "state": State.STREAMING,
        "reason": "progress",
        "since": 1.0,
        "fps": 14.9,
        "target_fps": 15.0,
        "speed": 1.01,
        "restarts": 3,
        "restarts_by_reason": MappingProxyType({"exited": 2, "stalled": 1}),
        "consecutive_failures": 0,
        "black": True,
        "frozen": False,
        "device": DeviceInfo("/dev/video0", True, "uvcvideo", 'Cam "A"', "usb-1"),
        "frames": 1234,
        "dropped_frames": 1,
        "duplicated_frames": 2,
        "output_bytes": 0,
        "last_progress_at": 1763700000.5,
        "ffmpeg_pid": 42,
        "ts": 1763700001.0,
        "bitrate_bps": 1_600_000.0,
    }
    values.update(changes)
    return AgentSnapshot(**values)  # type: ignore[arg-type]


def contract_names() -> set[str]:
    text = (REPO / "docs" / "contracts.md").read_text()
    section = text.split("## Capture agent metrics", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(trashcam_[a-z_]+)`", section, flags=re.MULTILINE))


def test_exported_names_are_exactly_the_contract() -> None:
    registry = agent_registry(snapshot)
    exported = {
        sample.name
        for family in registry.collect()
        for sample in family.samples
        if not sample.name.endswith("_created")
    }
    assert exported == contract_names()


def test_values_follow_the_snapshot() -> None:
    registry = agent_registry(snapshot)
    cam = {"camera": "cam1"}
    assert registry.get_sample_value("trashcam_state", {**cam, "state": "streaming"}) == 1
    assert registry.get_sample_value("trashcam_state", {**cam, "state": "stalled"}) == 0
    assert registry.get_sample_value("trashcam_fps", cam) == 14.9
    assert registry.get_sample_value("trashcam_frames_total", cam) == 1234
    assert registry.get_sample_value("trashcam_black_image", cam) == 1
    assert registry.get_sample_value("trashcam_frozen_image", cam) == 0
    assert registry.get_sample_value("trashcam_restarts_total", {**cam, "reason": "stalled"}) == 1
    for reason in RESTART_REASONS:
        assert registry.get_sample_value("trashcam_restarts_total", {**cam, "reason": reason}) in (
            0,
            1,
            2,
        )
    assert registry.get_sample_value("trashcam_bitrate_bytes_per_second", cam) == 200_000
    idle = agent_registry(
        lambda: snapshot(state=State.BACKOFF, fps=None, speed=None, bitrate_bps=None)
    )
    assert idle.get_sample_value("trashcam_bitrate_bytes_per_second", cam) is None
    assert idle.get_sample_value("trashcam_fps", cam) is None  # absent, not a stale 14.9
    assert idle.get_sample_value("trashcam_state", {**cam, "state": "backoff"}) == 1


def test_promtool_check_metrics_is_clean() -> None:
    assert promtool_check_metrics(generate_latest(agent_registry(snapshot))) == (0, "")


def test_state_message_has_the_contract_fields() -> None:
    message = snapshot().state_message()
    assert set(message) == {
        "camera", "state", "fps", "target_fps", "speed", "restarts", "consecutive_failures",
        "bitrate_bps", "black", "frozen", "device", "ts",
    }  # fmt: skip
    assert message["consecutive_failures"] == 0
    assert snapshot(bitrate_bps=800_000.0).state_message()["bitrate_bps"] == 800_000.0
    assert message["state"] == "streaming"
    assert message["device"] == {
        "path": "/dev/video0", "present": True, "driver": "uvcvideo", "card": 'Cam "A"',
    }  # fmt: skip


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


def test_unit_has_the_hardening_and_notify_settings() -> None:
    unit = (UNIT_DIR / "trashcam@.service").read_text()
    for line in [
        "Type=notify",
        "NotifyAccess=main",
        "WatchdogSec=30s",
        "DynamicUser=yes",
        "DeviceAllow=char-video4linux rw",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "ExecStart=/usr/bin/trashmon capture --id %i",
        "WantedBy=trashcam.target",
    ]:
        assert f"\n{line}\n" in unit, line
    assert "PartOf=trashcam.target" in unit
    assert "WantedBy=multi-user.target" in (UNIT_DIR / "trashcam.target").read_text()


def test_systemd_analyze_verify_is_clean(tmp_path: Path) -> None:
    analyze = require_binary("systemd-analyze")
    trashmon = shutil.which("trashmon", path=str(Path(sys.executable).parent))
    assert trashmon is not None
    # verify checks that ExecStart exists: point it at this checkout's trashmon.
    unit = (UNIT_DIR / "trashcam@.service").read_text()
    (tmp_path / "trashcam@.service").write_text(unit.replace("/usr/bin/trashmon", trashmon))
    shutil.copy(UNIT_DIR / "trashcam.target", tmp_path)
    done = subprocess.run(
        [analyze, "verify", "--man=no", "trashcam@cam1.service", "trashcam.target"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Unknown keys or bad values are only warnings (exit 0): any output is a failure.
    assert done.returncode == 0, done.stderr
    assert done.stdout + done.stderr == ""
