"""Scale: 10,000 paths (and 50,000). Probe cost vs a bare stdlib fetch; monitor CPU, RSS.

The fake MediaMTX runs as its own process so its CPU does not share ours. CPU time is
the figure (the machine is shared; wall time is printed beside it). Printed, side by
side in one run:

* bare: urllib fetch of every page (itemsPerPage=1000, like the probe) + json.loads,
  in-process and as a fresh ``python -c`` process (same interpreter start-up as the probe);
* ``probe()`` in-process, before (every page read by the json.loads reference parser)
  and now (msgspec for large pages), and ``trashmon probe --api … --json`` as a process
  (CPU of the child from getrusage); ratios to bare (targets: <= 1.0x in-process, <=
  1.2x as a process); processes alternate with the bare ones and their ratio is the
  median of the per-pair ratios; start-up apart: ``trashmon probe --help`` beside a
  python importing what bare imports (the package byte-compiled first, as pip installs
  it: this environment sets PYTHONDONTWRITEBYTECODE);
* the parsers on this run's answers, before (json.loads + reference parser;
  /metrics line by line) and now (and the check the monitor makes of /metrics when the
  API reports every path's frames in error itself, MediaMTX v1.17+);
* the monitor daemon at 10,000 paths (1 s interval): CPU seconds per poll cycle (from
  /proc, divided by the cycles counted in its own histogram), mean cycle time, RSS, and
  the time to render /metrics (first scrape of a poll, then a second scrape of the same
  poll) and to GET and parse /api/status (median over polls, the parse apart in a note);
* at 50,000 paths, on one MediaMTX and over 10 sites (10 stand-ins of 5,000 paths each,
  the same path names at every site, one ``--site`` each): probe wall and CPU time,
  monitor CPU per cycle (a cycle: one poll of every site), RSS and the first /metrics
  after a poll (with sites: every site's kept camera lines, joined).

    .venv/bin/python bench/monitor_scale.py [--paths 10000] [--scale-paths 50000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from scaffold import (
    REPO,
    bench_monitor,
    compile_package,
    median_time,
    options,
    process_cpu_seconds,
    row,
    rss_bytes,
)
from support.processes import OUTSIDE_REPO, TRASHMON, free_port, running, wait_until

SITES = 10
# First /metrics of a poll, timed over this many polls (min / median / max).
FIRST_SCRAPES = 10
# GET /api/status, timed over this many polls (median).
STATUS_GETS = 5

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
BARE_START = "import json, urllib.request"  # what the bare process imports, nothing done


def median_cpu(action: Callable[[], object], runs: int) -> float:
    """Median CPU seconds of this process (all its threads) for ``action``."""
    return statistics.median(timed(action)[0] for _ in range(runs))


def child_cpu(argv: list[str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one run of ``argv`` as a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    run_quiet(argv)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, wall


def run_quiet(argv: list[str]) -> None:
    subprocess.run(argv, cwd=OUTSIDE_REPO, stdout=subprocess.DEVNULL, check=False)


def sample(metrics: str, name: str) -> float:
    """The sum of the samples named ``name`` (one per site when sites are named)."""
    values = [
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith((name + " ", name + "{"))
    ]
    return sum(values) if values else float("nan")


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()  # type: ignore[no-any-return]


def timed(action: Callable[[], object]) -> tuple[float, float]:
    """(CPU seconds of this process, all its threads; wall seconds) of one ``action``."""
    cpu, wall = time.process_time(), time.perf_counter()
    action()
    return time.process_time() - cpu, time.perf_counter() - wall


def ratios(runs: list[tuple[float, float]], bare: list[tuple[float, float]]) -> str:
    """Medians of the per-pair ratios to bare, CPU and wall."""
    cpu = statistics.median(r[0] / b[0] for r, b in zip(runs, bare, strict=True))
    wall = statistics.median(r[1] / b[1] for r, b in zip(runs, bare, strict=True))
    return f"{cpu:5.2f}x {wall:5.2f}x"


def medians(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def probe_figures(api: str, paths: int, runs: int) -> None:
    compile_package()  # as installed: the bare baseline's standard library comes compiled
    namespace: dict[str, Any] = {}
    exec(BARE, namespace)  # noqa: S102  # the very code the process variant runs
    assert namespace["fetch_all"](api) == paths
    from trashmonitor.monitor import mediamtx_parse
    from trashmonitor.monitor.probe_cli import configure, probe

    probe_parser = argparse.ArgumentParser()
    configure(probe_parser)
    probe_args = probe_parser.parse_args(["--api", api])
    probe(probe_args)  # imports (msgspec among them) outside the timing, as for bare
    fast_from = mediamtx_parse.FAST_DECODE_MIN_BYTES

    def probe_before() -> None:
        mediamtx_parse.FAST_DECODE_MIN_BYTES = sys.maxsize  # every page by json.loads
        try:
            probe(probe_args)
        finally:
            mediamtx_parse.FAST_DECODE_MIN_BYTES = fast_from

    # Runs alternate (bare, before, probe, bare, …) so that load from other processes
    # hits them alike; ratios are medians of the per-run ratios to the bare run beside.
    bare_in: list[tuple[float, float]] = []
    before_in: list[tuple[float, float]] = []
    probe_in: list[tuple[float, float]] = []
    bare_out: list[tuple[float, float]] = []
    probe_out: list[tuple[float, float]] = []
    bare_start: list[tuple[float, float]] = []
    probe_start: list[tuple[float, float]] = []
    for _ in range(runs):
        bare_in.append(timed(lambda: namespace["fetch_all"](api)))
        before_in.append(timed(probe_before))
        probe_in.append(timed(lambda: probe(probe_args)))
        bare_out.append(child_cpu([sys.executable, "-c", BARE_PROCESS, api]))
        probe_out.append(child_cpu([*TRASHMON, "probe", "--api", api, "--json"]))
        bare_start.append(child_cpu([sys.executable, "-c", BARE_START]))
        probe_start.append(child_cpu([*TRASHMON, "probe", "--help"]))
    print(f"{paths} paths, median of {runs} runs        CPU ms  wall ms   ratio CPU, wall")
    lines = (
        ("bare stdlib fetch + json.loads, in-process", bare_in, ""),
        ("before: probe() with the json.loads reader", before_in, ratios(before_in, bare_in)),
        ("probe() in-process (fetch, parse, judge)", probe_in,
         ratios(probe_in, bare_in) + "  (target <= 1.0x)"),
        ("bare stdlib fetch as a python process", bare_out, ""),
        ("trashmon probe --json as a process", probe_out,
         ratios(probe_out, bare_out) + "  (target <= 1.2x)"),
        ("of which start-up: bare's imports, a process", bare_start, ""),
        ("trashmon probe --help as a process", probe_start, ratios(probe_start, bare_start)),
    )  # fmt: skip
    for label, measured, note in lines:
        cpu, wall = medians(measured)
        print(f"  {label:<44}{cpu * 1000:7.0f} {wall * 1000:8.0f}   {note}")


def parser_figures(api: str, runs: int) -> None:
    """The page and /metrics readers on this run's answers, before and now."""
    from trashmonitor.monitor.mediamtx_parse import (
        check_metrics,
        decode_json,
        decode_paths_page,
        parse_metrics,
        parse_metrics_lines,
        parse_paths_page,
    )

    first = json.loads(fetch(f"{api}/v3/paths/list?page=0&itemsPerPage=1000"))
    pages = [
        fetch(f"{api}/v3/paths/list?page={page}&itemsPerPage=1000")
        for page in range(first["pageCount"])
    ]
    metrics = fetch(api + "/metrics").decode()
    decode_paths_page(pages[0], "bench")  # msgspec imported outside the timing

    def reference_pages() -> None:
        for body in pages:
            parse_paths_page(decode_json(body, "bench"))

    def fast_pages() -> None:
        for body in pages:
            decode_paths_page(body, "bench")

    print(f"readers on this run's answers ({len(pages)} pages, /metrics "
          f"{len(metrics) // 1024} KiB), CPU, median of {runs}")  # fmt: skip
    figures = (
        ("before: pages by json.loads + reference parser", reference_pages),
        ("pages by msgspec structs", fast_pages),
        ("before: /metrics line by line", lambda: parse_metrics_lines(metrics)),
        ("/metrics in one regex pass", lambda: parse_metrics(metrics)),
        ("/metrics checked only (the monitor, v1.17+)", lambda: check_metrics(metrics)),
    )
    for label, action in figures:
        row(label, median_cpu(action, runs) * 1000)


@dataclass(frozen=True)
class StandIn:
    """A MediaMTX stand-in process, by its URL (what ``bench_monitor`` takes per site)."""

    url: str


def monitor_figures(
    mediamtx: str | Mapping[str, StandIn], seconds: float, *, show: bool = True
) -> tuple[float, float, float]:
    """(CPU seconds per cycle, RSS MiB, first /metrics ms) of the monitor daemon watching
    ``mediamtx`` (one API URL, or stand-ins by site name)."""
    count = "trashmon_poll_duration_seconds_count"
    with bench_monitor(mediamtx, 1.0) as monitor:
        base, pid = monitor.base, monitor.proc.pid
        time.sleep(2)  # let start-up settle
        unscraped_rss = rss_bytes(pid) / 2**20
        cycles_before = sample(fetch(base + "/metrics").decode(), count)
        cpu_before = process_cpu_seconds(pid)
        time.sleep(seconds)
        cpu_after = process_cpu_seconds(pid)
        started = time.perf_counter()
        metrics = fetch(base + "/metrics").decode()
        opening_ms = (time.perf_counter() - started) * 1000
        unforecast_ms, first_ms, again_ms = _scrape_timings(base, opening_ms)
        metrics_ms = statistics.median(first_ms)
        scraped_rss = rss_bytes(pid) / 2**20
        status_ms, parse_ms, body, status = _status_timings(base)
        # Sites poll side by side: a cycle is one poll of every site.
        sites = len(mediamtx) if isinstance(mediamtx, Mapping) else 1
        cycles = (sample(metrics, count) - cycles_before) / sites
        mean_cycle = sample(metrics, "trashmon_poll_duration_seconds_sum") / sample(metrics, count)
        rss = rss_bytes(pid) / 2**20
    cpu_per_cycle = (cpu_after - cpu_before) / cycles
    if not show:
        return cpu_per_cycle, rss, metrics_ms
    print(f"monitor at {len(status['cameras'])} cameras, interval 1 s, {cycles:.0f} cycles")
    row("CPU per cycle (one /metrics scrape in window)", cpu_per_cycle * 1000,
        note="   target <= 100 ms")  # fmt: skip
    row("mean poll cycle wall time", mean_cycle * 1000)
    row("RSS", rss, "MiB", note="   target <= 100 MiB")
    row("  of which before /metrics was first scraped", unscraped_rss, "MiB")
    row("  after the /metrics scrapes, before /api/status", scraped_rss, "MiB")
    # The label stays what bench/before_after.py reads; the spread goes in the note.
    spread = f"min {min(first_ms):.0f}, max {max(first_ms):.0f}"
    row(f"first GET /metrics ({len(metrics) // 1024} KiB)", metrics_ms,
        note=f"   median of {len(first_ms)} polls, {spread}; target <= 150 ms")  # fmt: skip
    row("  a new scraper's first two (not forecast)", max(unforecast_ms),
        note=f"   max of {', '.join(f'{ms:.0f}' for ms in unforecast_ms)}")  # fmt: skip
    row("GET /metrics again, same poll (min of 3)", again_ms)
    row("GET /api/status", statistics.median(status_ms),
        note=f"   median of {len(status_ms)} polls, min {min(status_ms):.0f}, max "
        f"{max(status_ms):.0f}; of which json.loads of its {len(body) // 1024} KiB here "
        f"{statistics.median(parse_ms):.0f}")  # fmt: skip
    return cpu_per_cycle, rss, metrics_ms


def _scrape_timings(base: str, opening_ms: float) -> tuple[list[float], list[float], float]:
    """(a new scraper's first two, the first scrape of each of several polls, a scrape
    right after one) in ms; ``opening_ms`` is the new scraper's first."""
    # The monitor renders ahead of a scrape it expects from the last two (a scraper at a
    # fixed interval): this one and the next it cannot expect, and render themselves, as
    # every scrape did before.
    time.sleep(1.1)
    unforecast_ms = [opening_ms, 1000 * median_time(lambda: fetch(base + "/metrics"), 1)]
    # First scrapes of a poll, each in a later poll: 1.1 s apart with a 1 s interval, so
    # they fall at every phase of the cycle (some while a poll runs).
    first_ms = []
    for _ in range(FIRST_SCRAPES):
        time.sleep(1.1)
        first_ms.append(1000 * median_time(lambda: fetch(base + "/metrics"), 1))
    # Scrapes right after: at least one of three lands in the same poll as the one before
    # it, and reuses its per-camera rendering.
    again_ms = 1000 * min(median_time(lambda: fetch(base + "/metrics"), 1) for _ in range(3))
    return unforecast_ms, first_ms, again_ms


def _status_timings(base: str) -> tuple[list[float], list[float], bytes, Any]:
    """(GET /api/status ms, json.loads ms, the last body, its document). One GET at one
    phase of the poll swung ±50% (a poll running or not): several, each in a later poll,
    timed as before: the GET and json.loads."""
    status_ms, parse_ms = [], []
    body, status = b"", None
    for _ in range(STATUS_GETS):
        time.sleep(1.1)
        started = time.perf_counter()
        body = fetch(base + "/api/status")
        parsing = time.perf_counter()
        status = json.loads(body)
        parse_ms.append((time.perf_counter() - parsing) * 1000)
        status_ms.append((time.perf_counter() - started) * 1000)
    return status_ms, parse_ms, body, status


@contextmanager
def fake_mediamtx(paths: int) -> Iterator[str]:
    """A fake MediaMTX process listing ``paths`` streaming paths; yields its API URL."""
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    argv = [
        # -P: else tests/support/ is sys.path[0] and its http.py shadows the stdlib's.
        sys.executable, "-P", str(REPO / "tests/support/fake_mediamtx.py"),
        "--port", str(port), "--paths", str(paths), "--rate", "40000",
    ]  # fmt: skip
    with running(argv):
        wait_until(lambda: fetch(api + "/v3/paths/list?itemsPerPage=1"), 120, what="fake up")
        yield api


def scale_rows(probe_time: tuple[float, float], monitor: tuple[float, float, float]) -> None:
    probe_cpu, probe_wall = probe_time
    cpu_per_cycle, rss, metrics_ms = monitor
    row("trashmon probe --json as a process, wall", probe_wall * 1000,
        note=f"   CPU {probe_cpu * 1000:.0f} ms")  # fmt: skip
    row("monitor CPU per cycle (1 s interval)", cpu_per_cycle * 1000)
    row("monitor RSS", rss, "MiB")
    row("monitor first GET /metrics of a poll", metrics_ms)


def scale_figures(paths: int, seconds: float) -> None:
    with fake_mediamtx(paths) as api:
        probe_time = child_cpu([*TRASHMON, "probe", "--api", api, "--json"])
        monitor = monitor_figures(api, seconds, show=False)
    print(f"{paths} paths, one MediaMTX")
    scale_rows(probe_time, monitor)


def sites_figures(paths: int, seconds: float) -> None:
    """``paths`` over :data:`SITES` stand-ins, each listing the same path names."""
    per_site = paths // SITES
    with ExitStack() as stack:
        sites = {
            f"site{number}": StandIn(stack.enter_context(fake_mediamtx(per_site)))
            for number in range(SITES)
        }
        flags = [
            argument
            for name, stand_in in sites.items()
            for argument in ("--site", f"{name}={stand_in.url},{stand_in.url}/metrics")
        ]
        probe_time = child_cpu([*TRASHMON, "probe", *flags, "--json"])
        monitor = monitor_figures(sites, seconds, show=False)
    print(f"{per_site * SITES} paths over {SITES} sites ({per_site} each, same names)")
    scale_rows(probe_time, monitor)


def main() -> None:
    args = options(
        __doc__.splitlines()[0],
        {"paths": 300, "scale_paths": 1500, "runs": 1, "monitor_seconds": 3.0},
        paths=10_000,
        scale_paths=50_000,
        runs=5,
        monitor_seconds=15.0,
    )
    with fake_mediamtx(args.paths) as api:
        probe_figures(api, args.paths, args.runs)
        parser_figures(api, args.runs)
        monitor_figures(api, args.monitor_seconds)
    scale_figures(args.scale_paths, args.monitor_seconds)
    sites_figures(args.scale_paths, args.monitor_seconds)


if __name__ == "__main__":
    main()
