"""Bounded observation of a hostile MediaMTX (issue 12): figures, never asserted on time.

* Time from MediaMTX turning unresponsive (a byte-trickle: one byte a second) to the
  real ``trashmon monitor``'s ``/api/status`` saying MediaMTX is unreachable, against
  the target of 3 x the poll interval.
* ``trashmon probe --timeout T`` wall time under the same trickle, against T + 0.5 s.
* Peak RSS of the probe and of the monitor under each hostile input, against the same
  command with a healthy MediaMTX (target: at most 50 MiB above).

The stand-in is tests/support/hostile_mediamtx.py, run with ``python -P``.

    .venv/bin/python bench/hostile_observation.py [--quick] [--trials 5]
"""

from __future__ import annotations

import statistics
import time
from functools import partial

from scaffold import options
from support.hostile_mediamtx import MODES
from support.http import get_json, http_get
from support.measure import hostile_process, monitor_env, peak_rss_of, run_measured, set_mode
from support.processes import OUTSIDE_REPO, TRASHMON, clean_environ, free_port, running, wait_until

HOSTILE_MODES = tuple(mode for mode in MODES if mode not in ("healthy", "flapping"))
MIB = 1024 * 1024


def probe(url: str, timeout: float) -> tuple[int, float, int]:
    argv = [*TRASHMON, "probe", "--api", url, "--timeout", f"{timeout:g}"]
    result = run_measured(argv, env=clean_environ(), cwd=OUTSIDE_REPO, timeout=120)
    return result.returncode, result.wall, result.peak_rss_bytes


def unreachable(base: str) -> bool:
    return get_json(base + "/api/status")["mediamtx"]["reachable"] is False


def detection_figures(interval: float, trials: int) -> None:
    log = OUTSIDE_REPO / f"hostile-observation-{free_port()}.log"
    with hostile_process("healthy") as url:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = monitor_env(url, port, interval)
        with running([*TRASHMON, "monitor"], env=env, cwd=OUTSIDE_REPO, log_path=log):
            delays = []
            for _ in range(trials):
                set_mode(url, "healthy")
                wait_until(lambda: not unreachable(base), 60, what="MediaMTX seen")
                set_mode(url, "trickle")
                started = time.monotonic()
                while not unreachable(base) and time.monotonic() - started < 60:
                    time.sleep(0.01)  # sampling /api/status, the figure's resolution
                delays.append(time.monotonic() - started)
    log.unlink(missing_ok=True)
    print(
        f"monitor: trickle -> /api/status unreachable: median "
        f"{statistics.median(delays):.2f} s, max {max(delays):.2f} s "
        f"(target <= 3 x {interval:g} s = {3 * interval:g} s; default request timeout; "
        f"{trials} trials)"
    )


def _answers_ok(url: str) -> bool:
    return http_get(url)[0] == 200


def monitor_rss_figures(interval: float, modes: tuple[str, ...]) -> None:
    """A fresh monitor per input (peak RSS only rises), four polls of it."""
    print("monitor peak RSS (VmHWM), a fresh process per input, after 4 polls:")
    healthy = 0
    for mode in ("healthy", *modes):
        log = OUTSIDE_REPO / f"hostile-observation-{free_port()}.log"
        with hostile_process(mode) as url:
            port = free_port()
            env = monitor_env(url, port, interval)
            argv = [*TRASHMON, "monitor"]
            with running(argv, env=env, cwd=OUTSIDE_REPO, log_path=log) as proc:
                status_url = f"http://127.0.0.1:{port}/api/status"
                wait_until(partial(_answers_ok, status_url), 60, what="a poll")
                time.sleep(4 * interval)  # let several polls meet the input
                peak = peak_rss_of(proc.pid)
        log.unlink(missing_ok=True)
        healthy = healthy or peak
        print(f"  {mode:<13} {peak / MIB:7.1f} MiB  (+{(peak - healthy) / MIB:.1f} MiB)")


def probe_figures(timeout: float, trials: int, modes: tuple[str, ...]) -> None:
    walls = []
    with hostile_process("trickle") as url:
        for _ in range(trials):
            _, wall, _ = probe(url, timeout)
            walls.append(wall)
    print(
        f"probe --timeout {timeout:g} under a byte-trickle: median "
        f"{statistics.median(walls):.2f} s, max {max(walls):.2f} s "
        f"(target <= {timeout + 0.5:g} s; includes ~0.2 s of interpreter start-up)"
    )
    print("probe peak RSS (wait4 ru_maxrss), exit code:")
    healthy = 0
    for mode in ("healthy", *modes):
        with hostile_process(mode) as url:
            code, _, rss = probe(url, timeout)
        healthy = healthy or rss
        print(f"  {mode:<13} {rss / MIB:7.1f} MiB  (+{(rss - healthy) / MIB:.1f} MiB)  exit {code}")


def main() -> None:
    args = options(
        __doc__.splitlines()[0],
        {"trials": 1, "timeout": 1.0, "interval": 0.5},
        helps={"timeout": "the probe's --timeout"},
        quick_help="one trial, fewer inputs",
        trials=5,
        interval=1.0,
        timeout=3.0,
    )
    modes = ("trickle", "endless", "huge_pages") if args.quick else HOSTILE_MODES
    probe_figures(args.timeout, args.trials, modes)
    detection_figures(args.interval, args.trials)
    monitor_rss_figures(args.interval, modes)


if __name__ == "__main__":
    main()
