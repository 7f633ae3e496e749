"""Cost of connection quality and incident history on the poll's hot path, at scale.

Feeds synthetic health reports (N cameras, one poll a second, a few cameras changing
state each poll) straight into :class:`QualityTracker` and :class:`HistoryStore` (a
real SQLite database in a temporary state directory) and prints:

* per poll, on the poll thread: ``QualityTracker.observe`` and ``HistoryStore.observe``
  (the comparison and the per-minute buckets; the writes are queued), median and p95;
* the writer thread: time to commit one poll's transitions, one minute's buckets for
  every camera, and one availability refresh (the database summed over 1h/1d/30d);
* the database's size after the run.

    .venv/bin/python bench/monitor_history.py [--cameras 10000] [--polls 180] [--quick]
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from scaffold import options, percentile

from trashmonitor.monitor.history import DATABASE_NAME, HistoryStore
from trashmonitor.monitor.model import CameraHealth, HealthReport, State
from trashmonitor.monitor.quality import QualityTracker

T0 = 1_763_700_000.0


def reports(cameras: int, polls: int, flapping: int) -> list[HealthReport]:
    """One report a second; ``flapping`` cameras change state every poll."""
    names = [f"cam{index:05d}" for index in range(cameras)]
    built = []
    for poll in range(polls):
        health = []
        for index, name in enumerate(names):
            down = index < flapping and (poll + index) % 2 == 0
            state: State = "down" if down else "ok"
            reasons = ("no_publisher",) if down else ()
            health.append(
                CameraHealth(name, state, reasons, not down, online_since=T0 + (index % 7))
            )
        built.append(HealthReport(T0 + poll, tuple(health)))
    return built


def main() -> None:
    args = options(
        __doc__.splitlines()[0],
        {"cameras": 100, "polls": 70},
        quick_help="100 cameras, 70 polls",
        cameras=10_000,
        polls=150,
        flapping=20,
    )
    timeline = reports(args.cameras, args.polls, args.flapping)
    with tempfile.TemporaryDirectory() as state:
        store = HistoryStore(Path(state))
        tracker = QualityTracker()
        quality_ms: list[float] = []
        history_ms: list[float] = []
        for report in timeline:
            started = time.perf_counter()
            tracker.observe(report, report.generated_at)
            quality_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            store.observe(report)
            history_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        store.flush(600)
        drain = time.perf_counter() - started
        # The writer's pieces, measured on this thread (the writer is idle now).
        follower_report = timeline[-1]
        transitions, _ = store.follower.observe(
            HealthReport(follower_report.generated_at + 1, follower_report.cameras[:0])
        )
        minute = {(camera.name, int(T0 // 60) * 60 + 3600): [60.0, 60.0]
                  for camera in follower_report.cameras}  # fmt: skip
        started = time.perf_counter()
        store.write([], minute)
        buckets_ms = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        store.refresh(T0 + args.polls + 3600, {})
        refresh_ms = (time.perf_counter() - started) * 1000
        store.close()
        size = (Path(state) / DATABASE_NAME).stat().st_size
        wal = Path(state) / f"{DATABASE_NAME}-wal"
        size += wal.stat().st_size if wal.exists() else 0
    print(f"{args.cameras} cameras, {args.polls} polls, {args.flapping} changing state each poll")
    print(
        f"poll thread, QualityTracker.observe: median {statistics.median(quality_ms):.2f} ms, "
        f"p95 {percentile(quality_ms, 0.95):.2f} ms"
    )
    print(
        f"poll thread, HistoryStore.observe:   median {statistics.median(history_ms):.2f} ms, "
        f"p95 {percentile(history_ms, 0.95):.2f} ms"
    )
    print(f"writer: queue drained {drain * 1000:.0f} ms after the last poll")
    print(f"writer: one minute's buckets for every camera committed in {buckets_ms:.1f} ms")
    print(f"writer: availability refresh (1h/1d/30d sums) in {refresh_ms:.1f} ms")
    print(f"database after the run: {size / 1e6:.1f} MB ({len(transitions)} left over)")


if __name__ == "__main__":
    main()
