"""End to end: the MediaMTX stand-in runs ``trashmon-hook`` on path events, the real
monitor process re-reads the path and updates the camera long before its next poll."""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.fake_mediamtx import FakeMediaMTX
from support.http import http_get
from support.processes import (
    TRASHMON,
    TRASHMON_HOOK,
    clean_environ,
    free_port,
    running,
    stop_process,
    wait_until,
)

from trashmonitor.hook import ROUTE, SECRET_HEADER

SECRET = "e2e-hook-secret-0123456789abcdef"
# Polls this far apart: within a test only the hook can explain a change.
LONG_INTERVAL = "600"


class Stack:
    def __init__(self, fake: FakeMediaMTX, base: str) -> None:
        self.fake, self.base = fake, base

    def camera(self, name: str) -> dict[str, Any] | None:
        code, body = http_get(self.base + "/api/status")
        assert code == 200
        cameras = json.loads(body)["cameras"]
        return next((c for c in cameras if c["name"] == name), None)

    def state(self, name: str) -> str | None:
        camera = self.camera(name)
        return None if camera is None else str(camera["state"])

    def metric(self, line_start: str) -> float | None:
        text = http_get(self.base + "/metrics")[1].decode()
        for line in text.splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
        return None


@contextlib.contextmanager
def hooked_stack(tmp_path: Path, interval: str = LONG_INTERVAL) -> Iterator[Stack]:
    secret_file = tmp_path / "hook-secret"
    secret_file.write_text(SECRET + "\n")
    port = free_port()
    # MediaMTX passes its own environment to hook commands: this is what the entrypoint
    # and the demo give it.
    mediamtx_env = clean_environ(
        TRASHMON_MONITOR_URL=f"http://127.0.0.1:{port}",
        TRASHMON_HOOK_SECRET_FILE=str(secret_file),
    )
    hooks = {"runOnOnline": f"{TRASHMON_HOOK} online", "runOnOffline": f"{TRASHMON_HOOK} offline"}
    log = tmp_path / "monitor.log"
    with FakeMediaMTX("v1.20", hooks=hooks, hook_environ=mediamtx_env) as fake:
        fake.set_path("cam1", rate=20_000, configured=True)
        fake.set_path("cam2", rate=20_000, configured=True)
        env = clean_environ(
            TRASHMON_MEDIAMTX_API=fake.url,
            TRASHMON_MEDIAMTX_METRICS=fake.metrics_url,
            TRASHMON_LISTEN=f"127.0.0.1:{port}",
            TRASHMON_INTERVAL=interval,
            TRASHMON_HOOK_SECRET_FILE=str(secret_file),
        )
        with running([*TRASHMON, "monitor"], env=env, cwd=tmp_path, log_path=log) as proc:
            stack = Stack(fake, f"http://127.0.0.1:{port}")
            wait_until(lambda: stack.state("cam1") == "ok", timeout=30, what="first poll")
            yield stack
            assert stop_process(proc) == 0
    text = log.read_text()
    assert "Traceback" not in text
    assert SECRET not in text


@pytest.mark.slow
def test_a_lost_publisher_shows_at_once_through_the_hook(tmp_path: Path) -> None:
    with hooked_stack(tmp_path) as stack:
        stack.fake.set_path("cam1", online=False)  # MediaMTX runs `trashmon-hook offline`
        wait_until(lambda: stack.state("cam1") == "down", timeout=30, what="hook: cam1 down")
        camera = stack.camera("cam1")
        assert camera is not None
        assert "no_publisher" in camera["reasons"]
        assert stack.state("cam2") == "ok"
        assert stack.metric('trashmon_hooks_received_total{event="offline",outcome="accepted"}')
        assert stack.metric('trashmon_hook_refreshes_total{outcome="updated"}')
        # ... and back: the online hook (its command is interrupted on the next change).
        stack.fake.set_path("cam1", online=True)
        wait_until(lambda: stack.state("cam1") == "ok", timeout=30, what="hook: cam1 back")
        runs = [(run.hook, run.path) for run in stack.fake.hook_runs]
        assert runs[-2:] == [("runOnOffline", "cam1"), ("runOnOnline", "cam1")]
        for run in stack.fake.hook_runs:
            assert run.process.wait(30) == 0


@pytest.mark.slow
def test_a_lost_hook_changes_nothing_but_speed(tmp_path: Path) -> None:
    with hooked_stack(tmp_path, interval="2") as stack:
        stack.fake.hooks_lost = True  # MediaMTX never ran it (or the monitor was away)
        stack.fake.set_path("cam2", online=False)
        # The poll sees it on its own, within a couple of intervals.
        wait_until(lambda: stack.state("cam2") == "down", timeout=30, what="poll: cam2 down")
        assert not stack.metric('trashmon_hooks_received_total{event="offline",outcome="accepted"}')
        assert stack.state("cam1") == "ok"


@pytest.mark.slow
def test_without_a_secret_there_is_no_hook_route(tmp_path: Path, fake: FakeMediaMTX) -> None:
    fake.set_path("cam1", rate=20_000, configured=True)
    port = free_port()
    env = clean_environ(
        TRASHMON_MEDIAMTX_API=fake.url,
        TRASHMON_MEDIAMTX_METRICS="off",
        TRASHMON_LISTEN=f"127.0.0.1:{port}",
    )
    base = f"http://127.0.0.1:{port}"
    with running([*TRASHMON, "monitor"], env=env, cwd=tmp_path) as proc:
        wait_until(lambda: http_get(base + "/api/status")[0] == 200, timeout=30)
        request = urllib.request.Request(
            base + ROUTE,
            data=b'{"event":"offline","path":"cam1"}',
            method="POST",
            headers={SECRET_HEADER: SECRET},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 404
        assert "trashmon_hooks_received" not in http_get(base + "/metrics")[1].decode()
        assert stop_process(proc) == 0
