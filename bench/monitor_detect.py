"""Time to detect: publisher loss and inbound bytes stopping, as seen on /api/status.

Runs the real ``python -m trashmonitor monitor`` (default 1 s interval) against the fake
MediaMTX and, for each trial, changes one path at a random phase of the poll cycle and
polls ``/api/status`` every 10 ms until the camera shows the expected reason.
Targets (issue 2): publisher loss <= 2 s, bytes stopped <= 3 s. Figures only.

    .venv/bin/python bench/monitor_detect.py [--trials 8] [--interval 1]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.fake_mediamtx import FakeMediaMTX
from support.http import get_json
from support.processes import TRASHMON, free_port, running, wait_until


def camera(base: str, name: str) -> dict[str, object]:
    return next(c for c in get_json(base + "/api/status")["cameras"] if c["name"] == name)


def time_until(base: str, name: str, reason: str, started: float) -> float:
    while time.monotonic() - started < 30:
        if reason in camera(base, name)["reasons"]:  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(0.01)
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--interval", default="1")
    parser.add_argument("--quick", action="store_true", help="tiny run: checks it works")
    args = parser.parse_args()
    if args.quick:
        args.trials = 1
    results: dict[str, list[float]] = {"no_publisher": [], "stalled": []}
    with FakeMediaMTX("v1.20") as fake:
        names = fake.add_paths(4, rate=40_000)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            "TRASHMON_MEDIAMTX_API": fake.url,
            "TRASHMON_MEDIAMTX_METRICS": fake.metrics_url,
            "TRASHMON_LISTEN": f"127.0.0.1:{port}",
            "TRASHMON_INTERVAL": args.interval,
        }
        with running([*TRASHMON, "monitor"], env=env, cwd=Path(tempfile.gettempdir())):
            wait_until(lambda: camera(base, names[0])["state"] == "ok", 20, what="monitor up")
            for trial in range(args.trials):
                name = names[trial % len(names)]
                for reason, change, restore in (
                    ("no_publisher", {"online": False}, {"online": True}),
                    ("stalled", {"rate": 0.0}, {"rate": 40_000.0}),
                ):
                    # settle (the stop estimate needs two growing polls), then a random poll phase
                    time.sleep(2 * float(args.interval) + random.uniform(0, float(args.interval)))  # noqa: S311
                    started = time.monotonic()
                    fake.set_path(name, **change)
                    results[reason].append(time_until(base, name, reason, started))
                    fake.set_path(name, **restore)
                    wait_until(lambda: camera(base, name)["state"] == "ok", 20, what="recovery")  # noqa: B023
    print(f"time to detect on /api/status, interval {args.interval}s, {args.trials} trials")
    for reason, values in results.items():
        print(f"  {reason}: " + " ".join(f"{value:.2f}" for value in values))
    for reason, target in (("no_publisher", 2.0), ("stalled", 3.0)):
        values = results[reason]
        print(
            f"  {reason:<13} min {min(values):.2f}s  median {statistics.median(values):.2f}s  "
            f"max {max(values):.2f}s  (target <= {target:.0f}s)"
        )


if __name__ == "__main__":
    main()
