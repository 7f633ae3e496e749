"""Agent liveness as the monitor sees it, with real mosquitto and agent processes.

Prints: agent death -> monitor view offline (kill -9, and SIGSTOP hang per keepalive),
broker restart -> agent back online at the monitor. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from scaffold import options
from support.mosquitto import (
    Broker,
    agent_argv,
    client_settings,
    make_pki,
    start_agent,
)
from support.processes import free_port, stop_process, wait_until

from trashmonitor.monitor.agents_mqtt import AgentSubscriber
from trashmonitor.pki import Layout


def _online(monitor: AgentSubscriber) -> bool | None:
    view = monitor.observe().agents.get("camA")
    return None if view is None else view.online


def _poll(predicate: Callable[[], object], timeout: float) -> float:
    """Seconds until predicate() holds (polled every 5 ms)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.005)
    return float("nan")


def parse_options() -> argparse.Namespace:
    return options(
        __doc__.splitlines()[0], {"runs": 1, "keepalives": "2"}, runs=3, keepalives="2,5"
    )


@dataclass
class Rig:
    """A broker, the monitor's subscriber on it, and where agents log."""

    work: Path
    layout: Layout
    port: int
    broker: Broker
    monitor: AgentSubscriber

    def fresh_agent(self, keepalive: float) -> subprocess.Popen[bytes]:
        argv = agent_argv(self.layout, "camA", self.port, "--presence-only", keepalive=keepalive)
        proc = start_agent(argv, self.work / "agent.log")
        wait_until(lambda: _online(self.monitor), 15)
        return proc

    def seconds_until_offline(self, timeout: float) -> float:
        return _poll(lambda: _online(self.monitor) is False, timeout)


def kill_figures(rig: Rig, runs: int) -> None:
    kills = []
    for _ in range(runs):
        proc = rig.fresh_agent(2)
        time.sleep(0.3)
        proc.kill()
        kills.append(rig.seconds_until_offline(10))
        proc.wait()
    print(
        f"kill -9 -> monitor offline: median {statistics.median(kills) * 1000:.0f} ms "
        f"(runs: {', '.join(f'{k * 1000:.0f}' for k in kills)} ms)"
    )


def hang_figures(rig: Rig, runs: int, keepalive: float) -> None:
    hangs = []
    for _ in range(runs):
        proc = rig.fresh_agent(keepalive)
        time.sleep(0.3)
        os.kill(proc.pid, signal.SIGSTOP)
        hangs.append(rig.seconds_until_offline(4 * keepalive + 5))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    print(
        f"SIGSTOP hang, keepalive {keepalive:g} s -> monitor offline: median "
        f"{statistics.median(hangs):.2f} s = {statistics.median(hangs) / keepalive:.2f}"
        f" x keepalive (runs: {', '.join(f'{h:.2f}' for h in hangs)} s)"
    )


def _announced_since(monitor: AgentSubscriber, before: float | None) -> bool:
    """camA online again, by a status message newer than ``before``."""
    view = monitor.observe().agents.get("camA")
    return view is not None and view.status_changed_at != before and bool(view.online)


def broker_restart_figures(rig: Rig, runs: int) -> None:
    proc = rig.fresh_agent(2)
    recoveries = []
    for _ in range(runs):
        rig.broker.stop()
        wait_until(lambda: not rig.monitor.observe().connected, 10)
        before = rig.monitor.observe().agents["camA"].status_changed_at
        restarted = time.monotonic()
        rig.broker.start()
        # no persistence: the agent has to republish `online` itself
        _poll(lambda: rig.monitor.observe().connected, 60)
        wait_until(partial(_announced_since, rig.monitor, before), 60)
        recoveries.append(time.monotonic() - restarted)
    print(
        f"broker restart -> agent online at the monitor: median "
        f"{statistics.median(recoveries):.2f} s (runs: "
        f"{', '.join(f'{r:.2f}' for r in recoveries)} s; paho backoff 1-30 s)"
    )
    stop_process(proc)


def main() -> None:
    options = parse_options()
    work = Path(tempfile.mkdtemp(prefix="bench-mqtt-"))
    port = free_port()
    layout = make_pki(work / "pki", port)
    broker = Broker(layout, port, work / "mosquitto.log")
    broker.start()
    monitor = AgentSubscriber(client_settings(layout, "monitor", port))
    monitor.start()
    wait_until(lambda: monitor.observe().connected, 10)
    rig = Rig(work, layout, port, broker, monitor)
    try:
        kill_figures(rig, options.runs)
        for keepalive in (float(k) for k in options.keepalives.split(",")):
            hang_figures(rig, options.runs, keepalive)
        broker_restart_figures(rig, options.runs)
    finally:
        monitor.stop()
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
