"""Scale: 10,000 paths. Probe wall time vs a bare stdlib fetch; monitor CPU and RSS.

The fake MediaMTX runs as its own process so its CPU does not share our GIL. Printed:

* bare: urllib fetch of every page (itemsPerPage=1000, like the probe) + json.loads,
  in-process and as a fresh ``python -c`` process (same interpreter start-up as the probe);
* ``trashmon probe --api … --json`` wall time as a process, and ``probe()`` in-process;
  ratio probe / bare for both (target <= 1.5x); the processes alternate with the bare
  ones and their ratio is the median of the per-pair ratios;
* the monitor daemon at 10,000 paths (1 s interval): CPU seconds per poll cycle (from
  /proc, divided by cycles counted in its own histogram), mean cycle time, RSS, and the
  time to render /metrics (first scrape of a poll, then a second scrape of the same
  poll, which reuses the per-camera rendering) and /api/status.

    .venv/bin/python bench/monitor_scale.py [--paths 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import urllib.request
from typing import Any

from scaffold import (
    REPO,
    bench_monitor,
    median_time,
    options,
    process_cpu_seconds,
    row,
    rss_bytes,
)
from support.processes import OUTSIDE_REPO, TRASHMON, free_port, running, wait_until

BARE = """
import json, urllib.request
def fetch_all(api):
    page, pages, n = 0, 1, 0
    while page < pages:
        url = f"{api}/v3/paths/list?page={page}&itemsPerPage=1000"
        with urllib.request.urlopen(url) as response:
            document = json.loads(response.read())
        pages, page, n = document["pageCount"], page + 1, n + len(document["items"])
    return n
"""
BARE_PROCESS = BARE + "import sys\nprint(fetch_all(sys.argv[1]))\n"


def run_quiet(argv: list[str]) -> None:
    subprocess.run(argv, cwd=OUTSIDE_REPO, stdout=subprocess.DEVNULL, check=False)


def sample(metrics: str, name: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return float("nan")


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()  # type: ignore[no-any-return]


def probe_figures(api: str, paths: int, runs: int) -> None:
    namespace: dict[str, Any] = {}
    exec(BARE, namespace)  # noqa: S102  # the very code the process variant runs
    assert namespace["fetch_all"](api) == paths
    bare_in = median_time(lambda: namespace["fetch_all"](api), runs)
    # Processes alternate (bare, probe, bare, probe…) so that load from other processes
    # hits both alike; the ratio printed is the median of the per-pair ratios.
    bare_times, probe_times = [], []
    for _ in range(runs):
        bare_times.append(
            median_time(lambda: run_quiet([sys.executable, "-c", BARE_PROCESS, api]), 1)
        )
        probe_times.append(
            median_time(lambda: run_quiet([*TRASHMON, "probe", "--api", api, "--json"]), 1)
        )
    bare_proc, probe_proc = statistics.median(bare_times), statistics.median(probe_times)
    pair_ratio = statistics.median(p / b for p, b in zip(probe_times, bare_times, strict=True))
    from trashmonitor.monitor.probe_cli import configure, probe

    probe_parser = argparse.ArgumentParser()
    configure(probe_parser)
    probe_args = probe_parser.parse_args(["--api", api])
    probe_in = median_time(lambda: probe(probe_args), runs)
    print(f"{paths} paths, median of {runs} runs")
    row("bare stdlib fetch + json.loads, in-process", bare_in * 1000)
    row("probe() in-process (fetch, parse, judge)", probe_in * 1000,
        note=f"   ratio {probe_in / bare_in:.2f}x")  # fmt: skip
    row("bare stdlib fetch as a python process", bare_proc * 1000)
    row("trashmon probe --json as a process", probe_proc * 1000,
        note=f"   ratio {pair_ratio:.2f}x (target <= 1.5x)")  # fmt: skip


def monitor_figures(api: str, seconds: float) -> None:
    count = "trashmon_poll_duration_seconds_count"
    with bench_monitor(api, 1.0) as monitor:
        base, pid = monitor.base, monitor.proc.pid
        time.sleep(2)  # let start-up settle
        cycles_before = sample(fetch(base + "/metrics").decode(), count)
        cpu_before = process_cpu_seconds(pid)
        time.sleep(seconds)
        cpu_after = process_cpu_seconds(pid)
        started = time.perf_counter()
        metrics = fetch(base + "/metrics").decode()
        metrics_ms = (time.perf_counter() - started) * 1000
        # Scrapes right after: at least one of three lands in the same poll as the one
        # before it, and reuses its per-camera rendering.
        again_ms = 1000 * min(median_time(lambda: fetch(base + "/metrics"), 1) for _ in range(3))
        started = time.perf_counter()
        status = json.loads(fetch(base + "/api/status"))
        status_ms = (time.perf_counter() - started) * 1000
        cycles = sample(metrics, count) - cycles_before
        mean_cycle = sample(metrics, "trashmon_poll_duration_seconds_sum") / sample(metrics, count)
        rss = rss_bytes(pid) / 2**20
    print(f"monitor at {len(status['cameras'])} cameras, interval 1 s, {cycles:.0f} cycles")
    row("CPU per cycle (one /metrics scrape in window)", (cpu_after - cpu_before) / cycles * 1000)
    row("mean poll cycle wall time", mean_cycle * 1000)
    row("RSS", rss, "MiB")
    row(f"GET /metrics ({len(metrics) // 1024} KiB)", metrics_ms)
    row("GET /metrics again, same poll (min of 3)", again_ms)
    row("GET /api/status", status_ms)


def main() -> None:
    args = options(
        __doc__.splitlines()[0],
        {"paths": 300, "runs": 1, "monitor_seconds": 3.0},
        paths=10_000,
        runs=5,
        monitor_seconds=15.0,
    )
    fake_port = free_port()
    api = f"http://127.0.0.1:{fake_port}"
    fake_argv = [
        # -P: else tests/support/ is sys.path[0] and its http.py shadows the stdlib's.
        sys.executable, "-P", str(REPO / "tests/support/fake_mediamtx.py"),
        "--port", str(fake_port), "--paths", str(args.paths), "--rate", "40000",
    ]  # fmt: skip
    with running(fake_argv):
        wait_until(lambda: fetch(api + "/v3/paths/list?itemsPerPage=1"), 60, what="fake up")
        probe_figures(api, args.paths, args.runs)
        monitor_figures(api, args.monitor_seconds)


if __name__ == "__main__":
    main()
