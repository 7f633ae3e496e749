"""The monitor's /metrics and /api/status render at 10,000 cameras, in-process, CPU
time: the first scrape of a poll, side by side with the straightforward render (every
family built as ``Sample`` values and rendered by prometheus-client: what the collector
did before it kept each camera's lines), and a repeated scrape of the same poll; the
/api/status answer from each camera's kept JSON text beside ``json.dumps`` of the whole
document; and the MiB the kept renderings hold. Between polls every camera's inbound
bytes grow (a streaming camera) and the history hands a new availability mapping (it
recomputes one every 5 s: most figures equal), the rest stays. No server, no network:
only the export path.

    .venv/bin/python bench/monitor_export.py [--cameras 10000] [--runs 5]
"""

from __future__ import annotations

import statistics
import sys
import time

from prometheus_client import generate_latest
from prometheus_client.core import Metric
from scaffold import options

from trashmonitor.monitor.daemon import Monitor
from trashmonitor.monitor.export import MonitorCollector, StatusResponse, state_document
from trashmonitor.monitor.history import CameraAvailability
from trashmonitor.monitor.mediamtx import MediaMTXClient
from trashmonitor.monitor.mediamtx_http import UrllibTransport
from trashmonitor.monitor.model import AgentView, CameraHealth, HealthReport, MonitorState
from trashmonitor.serving import json_response

NOW = 1_763_700_000.0


class Straightforward:
    """Families already built, for ``generate_latest`` to render."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> list[Metric]:
        return self._families


def report(cameras: int, poll: int = 0, flip: bool = False) -> HealthReport:
    """``flip``: the first camera down and its agent at another frame rate (one
    camera's state and agent families change: every camera's lines of those families
    are joined again)."""
    return HealthReport(
        NOW,
        tuple(
            CameraHealth(
                f"cam{number:05d}",
                "down" if flip and number == 0 else "ok" if number % 7 else "degraded",
                () if number % 7 else ("low_fps",),
                online=True,
                codec="H264",
                inbound_bytes=number * 1000 + poll * 40_000,
                readers=number % 3,
                frames_in_error=0,
                last_inbound_at=NOW - 1 + poll,
                agent=AgentView(
                    f"cam{number:05d}", True, NOW - 60, last_state_at=NOW - 2,
                    stream_state="streaming", fps=13.0 if flip and number == 0 else 14.9,
                    target_fps=15.0, restarts=1,
                    consecutive_failures=0, bitrate_bps=800_000.0, device_present=True,
                ),
            )
            for number in range(cameras)
        ),
    )  # fmt: skip


def availability(cameras: int) -> dict[str, CameraAvailability]:
    """A new mapping of new objects, as each refresh of the history hands."""
    return {
        f"cam{number:05d}": CameraAvailability(
            {"1h": 1.0, "1d": 0.99 if number % 5 else 1.0, "30d": 0.999}, number % 5 == 0
        )
        for number in range(cameras)
    }


def state(cameras: int, poll: int = 0, flip: bool = False) -> MonitorState:
    return MonitorState(
        report=report(cameras, poll, flip),
        last_success_at=NOW,
        availability=availability(cameras),
    )


def kept_bytes(root: object) -> int:
    """Bytes held by ``root`` and what it alone refers to (strings, bytes, containers,
    slotted objects), not the state's objects it points at."""
    seen: set[int] = set()
    pending = [root]
    total = 0
    while pending:
        item = pending.pop()
        if id(item) in seen or isinstance(item, (CameraHealth, AgentView, CameraAvailability)):
            continue
        seen.add(id(item))
        total += sys.getsizeof(item)
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, (list, tuple)):
            pending.extend(item)
        elif hasattr(item, "__slots__"):
            pending.extend(getattr(item, name) for name in item.__slots__ if hasattr(item, name))
        elif hasattr(item, "__dict__") and not callable(item):
            pending.extend(vars(item).values())
    return total


def main() -> None:
    args = options(__doc__.splitlines()[0], {"cameras": 300, "runs": 1}, cameras=10_000, runs=5)
    client = MediaMTXClient("http://127.0.0.1:9", transport=UrllibTransport())
    monitor = Monitor(client, clock=lambda: NOW)
    reference = MonitorCollector(lambda: monitor.state)
    status = StatusResponse()
    first: list[float] = []
    again: list[float] = []
    flipped: list[float] = []
    straightforward: list[float] = []
    status_kept: list[float] = []
    status_whole: list[float] = []
    size = 0
    monitor.state = state(args.cameras)
    monitor.exposition()  # the poll before: the lines of every camera are kept
    status(monitor.state)
    for poll in range(1, args.runs + 1):
        # A new state, as each poll publishes: the first scrape renders it.
        monitor.state = state(args.cameras, poll)
        started = time.process_time()
        size = len(monitor.exposition())
        first.append(time.process_time() - started)
        started = time.process_time()
        monitor.exposition()
        again.append(time.process_time() - started)
        # One camera changes state and agent figures, and back: those families re-joined.
        for flip in (True, False):
            monitor.state = state(args.cameras, poll, flip)
            started = time.process_time()
            monitor.exposition()
            flipped.append(time.process_time() - started)
        started = time.process_time()
        generate_latest(Straightforward(reference.families(monitor.state)))
        straightforward.append(time.process_time() - started)
        started = time.process_time()
        status(monitor.state)
        status_kept.append(time.process_time() - started)
        started = time.process_time()
        json_response(state_document(monitor.state))
        status_whole.append(time.process_time() - started)
    print(f"/metrics at {args.cameras} cameras ({size // 1024} KiB), CPU, median of {args.runs}")
    rows = (
        ("before: every sample built and rendered", straightforward),
        ("first scrape of a poll (changed lines only)", first),
        ("repeated scrape, same poll", again),
        ("first scrape, one camera's state changed", flipped),
        ("before: /api/status, json.dumps of it all", status_whole),
        ("/api/status from kept camera objects", status_kept),
    )
    for label, times in rows:
        print(f"  {label:<44} {statistics.median(times) * 1000:9.1f} ms")
    collector = monitor.collector
    caches = (
        ("kept /metrics lines and family texts", (collector._camera_lines,
                                                   collector._availability_lines)),
        ("kept /api/status camera objects", status._text),
    )  # fmt: skip
    for label, cache in caches:
        print(f"  {label:<44} {kept_bytes(cache) / 2**20:9.1f} MiB")


if __name__ == "__main__":
    main()
