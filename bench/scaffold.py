"""What every bench script shares: its options (each with ``--quick``), the tests'
helpers on ``sys.path``, the monitor as a process, /proc readers and figure printing.

Benches print figures and assert nothing about time; `bench/before_after.py` parses what
they print, so a figure's line keeps its wording.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The tests' helpers (tests/support/, tests/capture/harness.py) serve the benches too.
if str(REPO / "tests") not in sys.path:
    sys.path.insert(0, str(REPO / "tests"))

from support.monitor import MonitorProcess, Served, monitor_process  # noqa: E402
from support.processes import wait_until  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
QUICK_HELP = "tiny run: checks it works"


def options(
    description: str | None,
    quick: Mapping[str, object],
    helps: Mapping[str, str] | None = None,
    quick_help: str = QUICK_HELP,
    **defaults: float | str,
) -> argparse.Namespace:
    """Parse ``--name VALUE`` for each default (typed like it; ``frozen_timeout`` is
    ``--frozen-timeout``) and ``--quick``, which replaces the values named in ``quick``."""
    parser = argparse.ArgumentParser(description=description)
    for name, default in defaults.items():
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=type(default),
            default=default,
            help=(helps or {}).get(name),
        )
    parser.add_argument("--quick", action="store_true", help=quick_help)
    args = parser.parse_args()
    if args.quick:
        for name, value in quick.items():
            setattr(args, name, value)
    return args


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank ``fraction`` percentile (0.95 → p95) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summary_ms(name: str, samples: list[float]) -> str:
    """``name: n=… median … ms, p95 … ms, max … ms`` of samples in seconds."""
    return (
        f"{name}: n={len(samples)} median {statistics.median(samples) * 1000:.1f} ms, "
        f"p95 {percentile(samples, 0.95) * 1000:.1f} ms, max {max(samples) * 1000:.1f} ms"
    )


def median_seconds(values: list[float]) -> str:
    """``median … s, max … s`` of samples in seconds."""
    return f"median {statistics.median(values):.2f} s, max {max(values):.2f} s"


def median_time(action: Callable[[], object], runs: int) -> float:
    """Median wall seconds of ``runs`` calls of ``action``."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def compile_package() -> None:
    """Byte-compile the trashmonitor package these benches import, as pip does when it
    installs one. With PYTHONDONTWRITEBYTECODE set (as on the CI machine) no .pyc is ever
    written, so each ``trashmon`` process would compile every module it imports (~25 ms
    of a probe's start-up) while the standard library, which a bare baseline imports,
    comes compiled."""
    import trashmonitor

    compile_tree(Path(trashmonitor.__file__).parent)


def compile_tree(root: Path) -> None:
    """Byte-compile every module below root, through linked folders too: compileall
    passes over links, and bench/before_after.py builds the base revision's package out
    of links, so without this only one side of a comparison would run compiled."""
    import compileall

    for folder, _, _ in os.walk(root, followlinks=True):
        compileall.compile_dir(folder, maxlevels=0, quiet=1)


def row(label: str, value: float, unit: str = "ms", note: str = "") -> None:
    """One line of a figures table: label, value, unit and an optional note."""
    print(f"  {label:<46}{value:7.0f} {unit}{note}")


def process_cpu_seconds(pid: int) -> float:
    """CPU time of a whole process so far, threads that ended included (10 ms ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def live_threads_cpu_seconds(pid: int) -> float:
    """CPU time of a process's live threads, to the nanosecond.

    /proc/<pid>/task/*/schedstat counts nanoseconds; /proc/<pid>/stat counts 10 ms
    ticks, too coarse for an agent that uses ~30 ms in 30 s.
    """
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, IndexError, ValueError):
            continue
    return total / 1e9 if total else process_cpu_seconds(pid)


def rss_bytes(pid: int) -> int:
    """A running process's resident set size now (VmRSS), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@contextlib.contextmanager
def bench_monitor(
    mediamtx: Served | str | Mapping[str, Served], interval: float
) -> Iterator[MonitorProcess]:
    """The real ``trashmon monitor`` polling ``mediamtx`` (a stand-in, its URL, or
    stand-ins by site name) every ``interval`` s, once its first poll answers on
    /api/status; its log lives in a temporary directory."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-monitor-") as logs,
        monitor_process(mediamtx, Path(logs), TRASHMON_INTERVAL=f"{interval:g}") as monitor,
    ):
        wait_until(monitor.status, 60, what="the monitor's first poll")
        yield monitor
