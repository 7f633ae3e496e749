"""The monitor's /metrics render at 10,000 cameras, in-process, CPU time: the first
scrape of a poll, side by side with the straightforward render (every family built as
``Sample`` values and rendered by prometheus-client: what the collector did before it
kept each camera's lines), and a repeated scrape of the same poll. Between polls every
camera's inbound bytes grow (a streaming camera), the rest stays. No server, no
network: only the export path.

    .venv/bin/python bench/monitor_export.py [--cameras 10000] [--runs 5]
"""

from __future__ import annotations

import statistics
import time

from prometheus_client import generate_latest
from prometheus_client.core import Metric
from scaffold import options

from trashmonitor.monitor.daemon import Monitor
from trashmonitor.monitor.export import MonitorCollector
from trashmonitor.monitor.mediamtx import MediaMTXClient
from trashmonitor.monitor.model import AgentView, CameraHealth, HealthReport, MonitorState

NOW = 1_763_700_000.0


class Straightforward:
    """Families already built, for ``generate_latest`` to render."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> list[Metric]:
        return self._families


def report(cameras: int, poll: int = 0) -> HealthReport:
    return HealthReport(
        NOW,
        tuple(
            CameraHealth(
                f"cam{number:05d}",
                "ok" if number % 7 else "degraded",
                () if number % 7 else ("low_fps",),
                online=True,
                codec="H264",
                inbound_bytes=number * 1000 + poll * 40_000,
                readers=number % 3,
                frames_in_error=0,
                last_inbound_at=NOW - 1 + poll,
                agent=AgentView(
                    f"cam{number:05d}", True, NOW - 60, last_state_at=NOW - 2,
                    stream_state="streaming", fps=14.9, target_fps=15.0, restarts=1,
                    consecutive_failures=0, bitrate_bps=800_000.0, device_present=True,
                ),
            )
            for number in range(cameras)
        ),
    )  # fmt: skip


def main() -> None:
    args = options(__doc__.splitlines()[0], {"cameras": 300, "runs": 1}, cameras=10_000, runs=5)
    client = MediaMTXClient("http://127.0.0.1:9", stdlib=True)
    monitor = Monitor(client, clock=lambda: NOW)
    reference = MonitorCollector(lambda: monitor.state)
    first: list[float] = []
    again: list[float] = []
    straightforward: list[float] = []
    size = 0
    monitor.state = MonitorState(report=report(args.cameras), last_success_at=NOW)
    monitor.exposition()  # the poll before: the lines of every camera are kept
    for poll in range(1, args.runs + 1):
        # A new state, as each poll publishes: the first scrape renders it.
        monitor.state = MonitorState(report=report(args.cameras, poll), last_success_at=NOW)
        started = time.process_time()
        size = len(monitor.exposition())
        first.append(time.process_time() - started)
        started = time.process_time()
        monitor.exposition()
        again.append(time.process_time() - started)
        started = time.process_time()
        generate_latest(Straightforward(reference.families(monitor.state)))
        straightforward.append(time.process_time() - started)
    print(f"/metrics at {args.cameras} cameras ({size // 1024} KiB), CPU, median of {args.runs}")
    rows = (
        ("before: every sample built and rendered", straightforward),
        ("first scrape of a poll (changed lines only)", first),
        ("repeated scrape, same poll", again),
    )
    for label, times in rows:
        print(f"  {label:<44} {statistics.median(times) * 1000:9.1f} ms")


if __name__ == "__main__":
    main()
