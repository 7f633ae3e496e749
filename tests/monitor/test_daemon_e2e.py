"""End to end: the real `python -m trashmonitor monitor` process against the fake MediaMTX."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.fake_mediamtx import FakeMediaMTX
from support.http import http_get
from support.monitor import MonitorProcess, monitor_process
from support.processes import (
    OUTSIDE_REPO,
    TRASHMON,
    clean_environ,
    free_port,
    run_trashmon,
    running,
    stop_process,
    wait_until,
)


@pytest.fixture
def monitor(fake: FakeMediaMTX, tmp_path: Path) -> Iterator[MonitorProcess]:
    with monitor_process(fake, tmp_path, TRASHMON_PARKED="spare") as process:
        yield process
        assert stop_process(process.proc) == 0


@pytest.mark.slow
def test_status_and_metrics_follow_mediamtx_over_time(
    fake: FakeMediaMTX, monitor: MonitorProcess
) -> None:
    fake.add_paths(3, rate=20_000, configured=True)  # listed in mediamtx.yml: remembered
    fake.set_path("spare", online=False)

    def state(name: str) -> tuple[str, list[str]] | None:
        camera = monitor.camera(name)
        return None if camera is None else (camera["state"], camera["reasons"])

    wait_until(lambda: state("cam2") == ("ok", []), 15, what="cam2 ok")
    assert state("spare") == ("parked", [])
    assert monitor.status()["summary"] == {"ok": 3, "degraded": 0, "down": 0, "parked": 1}
    assert http_get(monitor.base + "/healthz")[0] == 200

    fake.set_path("cam0", online=False)  # the publisher leaves
    wait_until(lambda: state("cam0") == ("down", ["no_publisher"]), 10, what="cam0 down")
    assert 'trashmon_camera_state{camera="cam0",state="down"} 1.0' in monitor.metrics()

    fake.set_path("cam1", rate=0.0)  # attached but nothing flows
    wait_until(lambda: state("cam1") == ("down", ["stalled"]), 10, what="cam1 stalled")
    assert 'trashmon_camera_reason{camera="cam1",reason="stalled"} 1.0' in monitor.metrics()

    fake.set_path("cam1", rate=20_000.0)
    fake.set_path("cam0", online=True)
    wait_until(
        lambda: state("cam1") == ("ok", []) and state("cam0") == ("ok", []), 10, what="recovery"
    )
    assert 'trashmon_camera_reason{camera="cam1"' not in monitor.metrics()

    fake.remove_path("cam2")  # an on-demand path vanishes with its publisher
    wait_until(lambda: state("cam2") == ("down", ["no_publisher"]), 10, what="cam2 vanished")

    fake.fault = "html"  # e.g. a proxy error page instead of MediaMTX
    wait_until(lambda: not monitor.status()["mediamtx"]["reachable"], 10, what="outage")
    assert state("cam0") == ("down", ["mediamtx_unreachable"])
    metrics = monitor.metrics()
    assert "trashmon_mediamtx_up 0.0" in metrics
    assert 'trashmon_poll_errors_total{kind="malformed",source="api"}' in metrics
    assert http_get(monitor.base + "/healthz")[0] == 200  # the monitor itself is fine

    fake.fault = None
    wait_until(lambda: monitor.status()["mediamtx"]["reachable"], 10, what="back")
    assert "trashmon_mediamtx_up 1.0" in monitor.metrics()


def run_monitor(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_trashmon("monitor", *args, env=clean_environ(**env), timeout=30)


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        ([], {"TRASHMON_INTERVAL": "fast"}, "TRASHMON_INTERVAL"),
        (["--interval", "0"], {}, "--interval"),
        ([], {"TRASHMON_LISTEN": "nowhere"}, "TRASHMON_LISTEN"),
        ([], {"TRASHMON_MEDIAMTX_API": "mediamtx:9997"}, "TRASHMON_MEDIAMTX_API"),
        ([], {"TRASHMON_MEDIAMTX_METRICS": "gopher://x"}, "TRASHMON_MEDIAMTX_METRICS"),
        (["--metrics-url", "x"], {}, "--metrics-url"),
        ([], {"TRASHMON_STALL_AFTER": "-2"}, "TRASHMON_STALL_AFTER"),
        ([], {"TRASHMON_FRAMES_ERROR_MIN": "0"}, "TRASHMON_FRAMES_ERROR_MIN"),
        ([], {"TRASHMON_TIMEOUT": "never"}, "TRASHMON_TIMEOUT"),
        ([], {"TRASHMON_STALE_AFTER": "0.5"}, "TRASHMON_STALE_AFTER"),  # < one interval
        (["--stale-after", "1e9"], {}, "--stale-after"),
        (["--interval", "10", "--stale-after", "2h"], {}, "--stale-after"),
        ([], {"TRASHMON_MAX_CAMERAS": "0"}, "TRASHMON_MAX_CAMERAS"),
        (["--max-cameras", "many"], {}, "--max-cameras"),
        ([], {"TRASHMON_MAX_CAMERAS": "1e12"}, "TRASHMON_MAX_CAMERAS"),
    ],
)
def test_invalid_settings_exit_2_naming_the_setting(
    args: list[str], env: dict[str, str], named: str
) -> None:
    result = run_monitor(*args, **env)
    assert result.returncode == 2
    assert named in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_listen_address_in_use_exits_2() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_monitor("--listen", f"127.0.0.1:{port}", "--api", "http://127.0.0.1:1")
    assert result.returncode == 2
    assert "cannot listen" in result.stderr
    assert "Traceback" not in result.stderr


def test_debug_shows_why_the_listen_address_could_not_be_taken() -> None:
    # Raised from its cause (issue 13): the OSError holds no secret, --debug shows it.
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        listen = f"127.0.0.1:{taken.getsockname()[1]}"
        plain = run_monitor("--listen", listen, "--api", "http://127.0.0.1:1")
        debug = run_monitor("--listen", listen, "--api", "http://127.0.0.1:1", "--debug")
    assert plain.returncode == debug.returncode == 2
    error = plain.stderr.splitlines()[-1]
    assert error.startswith("trashmon monitor: error: TRASHMON_LISTEN: cannot listen on ")
    assert "Traceback" not in plain.stderr
    assert "direct cause of the following exception" in debug.stderr
    assert "OSError: [Errno 98] Address already in use" in debug.stderr
    assert debug.stderr.endswith(error + "\n")


def test_sigint_and_sigterm_exit_0_while_mediamtx_is_down(tmp_path: Path) -> None:
    import signal

    for signum in (signal.SIGINT, signal.SIGTERM):
        port = free_port()
        healthz, metrics = (f"http://127.0.0.1:{port}/{route}" for route in ("healthz", "metrics"))
        env = clean_environ(TRASHMON_LISTEN=f"127.0.0.1:{port}", TRASHMON_INTERVAL="0.2")
        args = [*TRASHMON, "monitor", "--api", f"http://127.0.0.1:{free_port()}"]
        log = tmp_path / f"{signum}.log"
        with running(args, env=env, cwd=OUTSIDE_REPO, log_path=log) as proc:
            wait_until(lambda: http_get(healthz)[0] == 200, 15, what="healthz")  # noqa: B023
            _, body = http_get(metrics)
            assert "trashmon_mediamtx_up 0.0" in body.decode()
            proc.send_signal(signum)
            assert proc.wait(10) == 0
        assert "Traceback" not in log.read_text()


def blind_everywhere(base: str) -> dict[str, Any] | None:
    """What each route says once the monitor cannot see, or None while any still sees."""
    code, body = http_get(base + "/api/status")
    if code != 200:
        return None
    status = json.loads(body)
    metrics = http_get(base + "/metrics")[1].decode()
    healthz = json.loads(http_get(base + "/healthz")[1])
    if status["mediamtx"]["reachable"] or "trashmon_mediamtx_up 0.0" not in metrics:
        return None
    if healthz["sees_mediamtx"]:
        return None
    return {"status": status, "metrics": metrics, "healthz": healthz}


@pytest.mark.slow
def test_a_mediamtx_that_stops_answering_turns_every_route_blind(
    fake: FakeMediaMTX, tmp_path: Path
) -> None:
    """The poll hangs far longer than the staleness bound (timeout 30 s): the routes must
    turn blind from the clock, not from the poll's end."""
    import time

    fake.add_paths(2, rate=20_000)
    settings = {"TRASHMON_MEDIAMTX_METRICS": "off", "TRASHMON_TIMEOUT": "30"}
    with monitor_process(fake, tmp_path, **settings) as monitor:

        def sees_cam1() -> bool:
            camera = monitor.camera("cam1")
            return camera is not None and camera["state"] == "ok"

        wait_until(sees_cam1, 20, what="cam1 ok")
        fake.fault = "hang"
        hung_at = time.monotonic()
        blind = wait_until(lambda: blind_everywhere(monitor.base), 15, what="blind on every route")
        took = time.monotonic() - hung_at
        print(f"unanswered MediaMTX -> every route blind in {took:.2f} s (3 intervals: 1.5 s)")
        assert took < 15  # the hung request would only end after 30 s
        cameras = {c["name"]: c for c in blind["status"]["cameras"]}
        assert cameras["cam1"]["state"] == "down"
        assert cameras["cam1"]["reasons"] == ["mediamtx_unreachable"]
        reason = 'trashmon_camera_reason{camera="cam1",reason="mediamtx_unreachable"} 1.0'
        assert reason in blind["metrics"]
        assert "trashmon_last_successful_poll_timestamp_seconds" in blind["metrics"]
        assert blind["healthz"]["status"] == "blind"
        assert stop_process(monitor.proc) == 0


@pytest.mark.slow
def test_sigterm_ends_the_monitor_at_once_even_mid_request(
    fake: FakeMediaMTX, tmp_path: Path
) -> None:
    import signal
    import time

    fake.add_paths(1)
    fake.fault = "hang"  # accepts, reads the request, never answers
    with monitor_process(fake, tmp_path, TRASHMON_TIMEOUT="30") as monitor:
        wait_until(lambda: http_get(monitor.base + "/healthz")[0], 20, what="serving")
        wait_until(lambda: fake.requests >= 2, 20, what="the API request and /metrics in flight")
        sent = time.monotonic()
        monitor.proc.send_signal(signal.SIGTERM)
        code = monitor.proc.wait(10)
        took = time.monotonic() - sent
    print(f"SIGTERM mid-request -> exit {code} in {took:.2f} s")
    assert code == 0
    assert took < 1.5
