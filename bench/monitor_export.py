"""The monitor's /metrics render at 10,000 cameras, in-process: the first scrape of a
poll (families built and rendered) and a repeated scrape of the same poll (what the
collector kept for that state). No server, no network: only the export path.

    .venv/bin/python bench/monitor_export.py [--cameras 10000] [--runs 5]
"""

from __future__ import annotations

import statistics
import time

from scaffold import options

from trashmonitor.monitor.daemon import Monitor
from trashmonitor.monitor.mediamtx import MediaMTXClient
from trashmonitor.monitor.model import AgentView, CameraHealth, HealthReport, MonitorState

NOW = 1_763_700_000.0


def report(cameras: int) -> HealthReport:
    return HealthReport(
        NOW,
        tuple(
            CameraHealth(
                f"cam{number:05d}",
                "ok" if number % 7 else "degraded",
                () if number % 7 else ("low_fps",),
                online=True,
                codec="H264",
                inbound_bytes=number * 1000,
                readers=number % 3,
                frames_in_error=0,
                last_inbound_at=NOW - 1,
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
    first: list[float] = []
    again: list[float] = []
    size = 0
    for _ in range(args.runs):
        # A new state, as each poll publishes: the first scrape renders it.
        monitor.state = MonitorState(report=report(args.cameras), last_success_at=NOW)
        started = time.perf_counter()
        size = len(monitor.exposition())
        first.append(time.perf_counter() - started)
        started = time.perf_counter()
        monitor.exposition()
        again.append(time.perf_counter() - started)
    print(f"/metrics at {args.cameras} cameras ({size // 1024} KiB), median of {args.runs}")
    print(f"  {'first scrape of a poll':<44} {statistics.median(first) * 1000:9.1f} ms")
    print(f"  {'repeated scrape, same poll':<44} {statistics.median(again) * 1000:9.1f} ms")


if __name__ == "__main__":
    main()
