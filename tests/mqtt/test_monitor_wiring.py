"""The real `trashmon monitor` process hears agents over mTLS and judges with them."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

from support.fake_mediamtx import FakeMediaMTX
from support.http import get_json, get_text
from support.mosquitto import Broker, agent_argv, start_agent
from support.processes import TRASHMON, free_port, running, stop_process, wait_until

from trashmonitor.pki import Layout


def _camera(port: int, name: str) -> dict[str, Any] | None:
    cameras = get_json(f"http://127.0.0.1:{port}/api/status", timeout=2)["cameras"]
    return next((c for c in cameras if c["name"] == name), None)


def _metrics(port: int) -> str:
    return get_text(f"http://127.0.0.1:{port}/metrics", timeout=2)


def _monitor_argv(
    mediamtx: FakeMediaMTX, listen: int, broker: Broker, pki: Layout, interval: float
) -> list[str]:
    return [
        *TRASHMON, "monitor", "--api", mediamtx.url, "--metrics-url", "off",
        "--listen", f"127.0.0.1:{listen}", "--interval", str(interval),
        "--mqtt-url", f"mqtts://127.0.0.1:{broker.port}",
        "--mqtt-ca", str(pki.chain),
        "--mqtt-cert", str(pki.client_cert("monitor")),
        "--mqtt-key", str(pki.client_key("monitor")),
    ]  # fmt: skip


def test_monitor_follows_agent_presence(pki: Layout, broker: Broker, tmp_path: Path) -> None:
    listen = free_port()
    with FakeMediaMTX() as mediamtx:
        mediamtx.set_path("camA", online=True, rate=50_000)
        argv = _monitor_argv(mediamtx, listen, broker, pki, interval=0.5)
        with running(argv, cwd=tmp_path, log_path=tmp_path / "monitor.log") as monitor:
            # No agent yet: the stream flows but nobody answers for it.
            first = wait_until(lambda: _camera(listen, "camA"), 15, what="camA in status")
            assert first["agent"] is None
            wait_until(
                lambda: "publisher_without_agent" in (_camera(listen, "camA") or {})["reasons"],
                10,
            )
            agent = start_agent(agent_argv(pki, "camA", broker.port), tmp_path / "agent.log")
            try:
                ok = wait_until(
                    lambda: (c := _camera(listen, "camA")) and c["agent"] and c["agent"]["online"]
                    and "publisher_without_agent" not in c["reasons"] and c,
                    15, what="agent online in status",
                )  # fmt: skip
                assert ok["agent"]["online"] is True
                assert 'trashmon_agent_online{camera="camA"} 1.0' in _metrics(listen)
                assert "trashmon_mqtt_connected 1.0" in _metrics(listen)
                agent.send_signal(signal.SIGKILL)
                agent.wait(5)
                down = wait_until(
                    lambda: (c := _camera(listen, "camA")) and "agent_offline" in c["reasons"]
                    and c,
                    5, what="agent_offline after kill -9",
                )  # fmt: skip
                assert down["state"] == "degraded"
                assert 'trashmon_agent_online{camera="camA"} 0.0' in _metrics(listen)
            finally:
                stop_process(agent)
            assert monitor.poll() is None
        assert monitor.returncode == 0


def test_monitor_calls_a_hung_agent_stale_within_one_and_a_half_keepalives(
    pki: Layout, broker: Broker, tmp_path: Path
) -> None:
    """SIGSTOP: the broker's will comes only after its own keepalive scan (mosquitto 2.0
    scans every 5 s); the agent's announced heartbeat (keepalive/2) lets the monitor
    call it stale first."""
    keepalive = 4.0
    listen = free_port()
    with FakeMediaMTX() as mediamtx:
        mediamtx.set_path("camA", online=True, rate=50_000)
        argv = _monitor_argv(mediamtx, listen, broker, pki, interval=0.25)
        agent = start_agent(
            agent_argv(pki, "camA", broker.port, keepalive=keepalive), tmp_path / "agent.log"
        )
        try:
            with running(argv, cwd=tmp_path, log_path=tmp_path / "monitor.log"):
                wait_until(
                    lambda: (c := _camera(listen, "camA")) and c["agent"]
                    and c["agent"]["online"] and c["agent"]["last_state_at"]
                    and not c["reasons"],
                    15, what="healthy agent with its heartbeat known",
                )  # fmt: skip
                stopped = time.monotonic()
                agent.send_signal(signal.SIGSTOP)
                wait_until(
                    lambda: "agent_stale" in (_camera(listen, "camA") or {})["reasons"],
                    3 * keepalive, interval=0.05, what="agent_stale",
                )  # fmt: skip
                elapsed = time.monotonic() - stopped
                assert elapsed <= 1.5 * keepalive, f"stale after {elapsed:.2f}s"
        finally:
            agent.send_signal(signal.SIGCONT)
            stop_process(agent)
