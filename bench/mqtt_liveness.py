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
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.mosquitto import (
    Broker,
    agent_argv,
    client_settings,
    make_pki,
    start_agent,
)
from support.processes import free_port, stop_process, wait_until

from trashmonitor.monitor.agents_mqtt import AgentSubscriber


def _online(monitor: AgentSubscriber) -> bool | None:
    view = monitor.observe().agents.get("camA")
    return None if view is None else view.online


def _poll(predicate, timeout: float) -> float:  # type: ignore[no-untyped-def]
    """Seconds until predicate() holds (polled every 5 ms)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.005)
    return float("nan")


def parse_options() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keepalives", default="2,5")
    parser.add_argument("--quick", action="store_true", help="tiny run: checks it works")
    options = parser.parse_args()
    if options.quick:
        options.runs, options.keepalives = 1, "2"
    return options


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
    try:

        def fresh_agent(keepalive: float) -> subprocess.Popen[bytes]:
            argv = agent_argv(layout, "camA", port, "--presence-only", keepalive=keepalive)
            proc = start_agent(argv, work / "agent.log")
            wait_until(lambda: _online(monitor), 15)
            return proc

        kills = []
        for _ in range(options.runs):
            proc = fresh_agent(2)
            time.sleep(0.3)
            proc.kill()
            kills.append(_poll(lambda: _online(monitor) is False, 10))
            proc.wait()
        print(
            f"kill -9 -> monitor offline: median {statistics.median(kills) * 1000:.0f} ms "
            f"(runs: {', '.join(f'{k * 1000:.0f}' for k in kills)} ms)"
        )

        for keepalive in (float(k) for k in options.keepalives.split(",")):
            hangs = []
            for _ in range(options.runs):
                proc = fresh_agent(keepalive)
                time.sleep(0.3)
                os.kill(proc.pid, signal.SIGSTOP)
                hangs.append(_poll(lambda: _online(monitor) is False, 4 * keepalive + 5))
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
            print(
                f"SIGSTOP hang, keepalive {keepalive:g} s -> monitor offline: median "
                f"{statistics.median(hangs):.2f} s = {statistics.median(hangs) / keepalive:.2f}"
                f" x keepalive (runs: {', '.join(f'{h:.2f}' for h in hangs)} s)"
            )

        proc = fresh_agent(2)
        recoveries = []
        for _ in range(options.runs):
            broker.stop()
            wait_until(lambda: not monitor.observe().connected, 10)
            before = monitor.observe().agents["camA"].status_changed_at
            restarted = time.monotonic()
            broker.start()
            # no persistence: the agent has to republish `online` itself
            _poll(lambda: monitor.observe().connected, 60)
            wait_until(
                lambda before=before: (  # type: ignore[misc]
                    monitor.observe().agents.get("camA") is not None
                    and monitor.observe().agents["camA"].status_changed_at != before
                    and _online(monitor)
                ),
                60,
            )
            recoveries.append(time.monotonic() - restarted)
        print(
            f"broker restart -> agent online at the monitor: median "
            f"{statistics.median(recoveries):.2f} s (runs: "
            f"{', '.join(f'{r:.2f}' for r in recoveries)} s; paho backoff 1-30 s)"
        )
        stop_process(proc)
    finally:
        monitor.stop()
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
