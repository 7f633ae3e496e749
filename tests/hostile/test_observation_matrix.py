"""The hostile-upstream matrix (issue 12 §10): the real ``trashmon probe`` and ``trashmon
monitor`` processes against a MediaMTX stand-in that is slow, endless, deeply nested,
non-finite, huge-page-count, giant-name, control-character-name or flapping.

Each row asserts the outcome (exit code or state, ``trashmon_mediamtx_up``), a time
bound, a memory bound (peak RSS at most 50 MiB above the same command against a healthy
server) and that no traceback reached the logs."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support.http import http_get
from support.measure import (
    Measured,
    hostile_process,
    monitor_env,
    peak_rss_of,
    run_measured,
    set_mode,
)
from support.processes import OUTSIDE_REPO, TRASHMON, clean_environ, free_port, running, wait_until

CAMERAS = "cam0,cam1,cam2"
PROBE_TIMEOUT = 2.0
# Start-up of a Python process on a loaded 2-core machine, plus the 0.5 s.
WALL_SLACK = 4.0
RSS_SLACK = 50 * 1024 * 1024

pytestmark = pytest.mark.slow


def probe(url: str, *extra: str) -> Measured:
    argv = [*TRASHMON, "probe", "--api", url, "--timeout", str(PROBE_TIMEOUT), *extra]
    return run_measured(argv, env=clean_environ(), cwd=OUTSIDE_REPO, timeout=60)


@pytest.fixture(scope="module")
def healthy_probe() -> Measured:
    with hostile_process("healthy") as url:
        result = probe(url, "--expect", CAMERAS)
    assert result.returncode == 0, result.stderr
    return result


@dataclass(frozen=True)
class ProbeRow:
    mode: str
    exit_code: int
    says: str


PROBE_ROWS = [
    ProbeRow("trickle", 2, "timed out"),
    ProbeRow("endless", 2, "larger than"),
    ProbeRow("nested", 2, "nested too deeply"),
    ProbeRow("huge_pages", 2, "more than the 100 pages"),
    ProbeRow("nonfinite", 0, ""),  # the probe reads the API only; its JSON is fine
    ProbeRow("giant_name", 0, ""),  # the giant name is skipped, the cameras judged
    ProbeRow("control_name", 0, ""),
]


@pytest.mark.parametrize("row", PROBE_ROWS, ids=[row.mode for row in PROBE_ROWS])
def test_probe_against_a_hostile_mediamtx(row: ProbeRow, healthy_probe: Measured) -> None:
    with hostile_process(row.mode, "--trickle-interval", "0.2") as url:
        result = probe(url, "--expect", CAMERAS)
    assert result.returncode == row.exit_code, (result.stdout[-500:], result.stderr[-500:])
    assert row.says in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) <= 1
    assert result.wall <= PROBE_TIMEOUT + WALL_SLACK
    assert result.peak_rss_bytes <= healthy_probe.peak_rss_bytes + RSS_SLACK
    # Nothing a hostile name carries reaches the terminal or a CI log.
    output = result.stdout + result.stderr
    assert "\x1b" not in output
    assert "FAKE ok line" not in output
    assert "g" * 100 not in output


def test_probe_json_against_control_character_names() -> None:
    with hostile_process("control_name") as url:
        result = probe(url, "--expect", CAMERAS, "--json")
    assert result.returncode == 0, result.stderr
    names = [camera["name"] for camera in json.loads(result.stdout)["cameras"]]
    assert names == ["cam0", "cam1", "cam2"]


def test_probe_against_a_flapping_mediamtx_never_crashes() -> None:
    codes = set()
    with hostile_process("flapping", "--flap-period", "0.5") as url:
        for _ in range(4):
            result = probe(url, "--expect", CAMERAS)
            assert "Traceback" not in result.stderr
            codes.add(result.returncode)
    assert codes <= {0, 2}


def test_probe_of_an_empty_path_list_is_unhealthy() -> None:
    with hostile_process("healthy", "--cameras", "0") as url:
        result = probe(url)
    assert result.returncode == 1


# --------------------------------------------------------------------------- monitor


class Monitor:
    def __init__(self, base: str, pid: int, log: Path) -> None:
        self.base, self.pid, self.log = base, pid, log

    def metrics(self) -> str:
        return http_get(self.base + "/metrics")[1].decode(errors="replace")

    def value(self, name: str) -> float | None:
        match = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", self.metrics(), re.MULTILINE)
        return None if match is None else float(match.group(1))

    def status(self) -> dict[str, Any]:
        return json.loads(http_get(self.base + "/api/status")[1])  # type: ignore[no-any-return]

    def up(self) -> float | None:
        return self.value("trashmon_mediamtx_up")


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Monitor]]:
    log = tmp_path_factory.mktemp("monitor") / "monitor.log"
    with hostile_process("healthy", "--trickle-interval", "0.2") as url:
        port = free_port()
        env = monitor_env(url, port, 0.5, TRASHMON_TIMEOUT="1", TRASHMON_EXPECT=CAMERAS)
        argv = [*TRASHMON, "monitor"]
        with running(argv, env=env, cwd=OUTSIDE_REPO, log_path=log) as proc:
            monitor = Monitor(f"http://127.0.0.1:{port}", proc.pid, log)
            wait_until(lambda: monitor.up() == 1.0, 30, what="monitor sees MediaMTX")
            yield url, monitor
    assert "Traceback" not in log.read_text()


@dataclass(frozen=True)
class MonitorRow:
    mode: str
    up: float
    metrics_up: float | None = None


MONITOR_ROWS = [
    MonitorRow("trickle", 0.0),
    MonitorRow("endless", 0.0, 0.0),
    MonitorRow("nested", 0.0),
    MonitorRow("huge_pages", 0.0),
    MonitorRow("nonfinite", 1.0, 0.0),
    MonitorRow("giant_name", 1.0),
    MonitorRow("control_name", 1.0),
]


@pytest.mark.parametrize("row", MONITOR_ROWS, ids=[row.mode for row in MONITOR_ROWS])
def test_monitor_against_a_hostile_mediamtx(
    row: MonitorRow, monitored: tuple[str, Monitor]
) -> None:
    url, monitor = monitored
    set_mode(url, "healthy")
    wait_until(lambda: monitor.up() == 1.0, 30, what="healthy again")
    healthy_peak = peak_rss_of(monitor.pid)
    set_mode(url, row.mode)
    started = time.monotonic()
    try:
        # Several polls of the hostile answer: the verdict must hold, not just appear.
        wait_until(lambda: monitor.up() == row.up, 30, what=f"mediamtx_up {row.up}")
        seen_after = time.monotonic() - started
        if row.metrics_up is not None:
            wait_until(
                lambda: monitor.value("trashmon_mediamtx_metrics_up") == row.metrics_up,
                30,
                what=f"metrics_up {row.metrics_up}",
            )
        wait_until(lambda: monitor.value("trashmon_poll_duration_seconds_count"), 10)
        polls = monitor.value("trashmon_poll_duration_seconds_count") or 0
        wait_until(
            lambda: (monitor.value("trashmon_poll_duration_seconds_count") or 0) >= polls + 3,
            30,
            what="three more polls",
        )
        assert monitor.up() == row.up
        exposition = monitor.metrics()
        status = json.dumps(monitor.status())
    finally:
        set_mode(url, "healthy")
    assert seen_after <= 10  # 0.5 s polls, 1 s timeout: a few seconds at worst
    assert peak_rss_of(monitor.pid) <= healthy_peak + RSS_SLACK
    for text in (exposition, status):
        assert "\x1b" not in text
        assert "evil" not in text
        assert "g" * 100 not in text
    assert len(exposition) < 1024 * 1024
    assert "Traceback" not in monitor.log.read_text()


def test_monitor_follows_a_flapping_mediamtx(monitored: tuple[str, Monitor]) -> None:
    url, monitor = monitored
    set_mode(url, "flapping")
    try:
        seen: set[float | None] = set()

        def both_seen() -> bool:
            seen.add(monitor.up())
            return {0.0, 1.0} <= seen

        wait_until(both_seen, 30, what="mediamtx_up 1 and 0 in turn")
    finally:
        set_mode(url, "healthy")


def test_an_unresponsive_mediamtx_is_not_reported_ok(monitored: tuple[str, Monitor]) -> None:
    """Byte-trickle: within a few polls every camera stops being ``ok``."""
    url, monitor = monitored
    set_mode(url, "healthy")
    wait_until(lambda: monitor.up() == 1.0, 30, what="healthy")
    set_mode(url, "trickle")
    try:
        wait_until(
            lambda: all(camera["state"] != "ok" for camera in monitor.status()["cameras"]),
            15,
            what="no camera ok while MediaMTX cannot be read",
        )
    finally:
        set_mode(url, "healthy")


def test_last_successful_poll_is_exported(monitored: tuple[str, Monitor]) -> None:
    _, monitor = monitored
    assert monitor.value("trashmon_last_successful_poll_timestamp_seconds") is not None
