"""Before/after figures: the same benches on a base revision and on this tree, side by side.

Makes a temporary ``git worktree`` of ``--base`` (default: the commit before issue 13's
step began), then, for each repetition, runs each bench script once per tree (base
first on odd repetitions, head first on even ones, so load from other processes hits
both alike) and prints one table: figure | before | after | change, each side the median
of its repetitions, then each figure's values per repetition (the spread the medians
hide). Each tree runs ITS OWN bench scripts and source with this checkout's virtualenv:
the base as ``python -P`` with ``PYTHONPATH`` on a link tree of its package folders (laid
out as its pyproject.toml maps them), checked by printing the ``trashmonitor.__file__``
each side imports. A figure a tree's scripts do not print is
"n/a". The temporary worktree is removed at exit, Ctrl-C and SIGTERM included.

    .venv/bin/python bench/before_after.py [--base REV] [--repetitions 3] [--quick]
        [--only monitor_detect.py ...] [--arguments "monitor_detect.py=--trials 5" ...]
        [--outputs DIR]

``--only`` runs just the named benches; ``--arguments`` replaces a bench's full-run
arguments (both sides); ``--outputs`` keeps every run's printed output (e.g. the trial
lists behind a median) as DIR/<repetition>-<before|after>-<script>.txt.

Not part of ``just bench`` (``just bench-compare`` runs it): it takes minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, NamedTuple, NoReturn

REPO = Path(__file__).resolve().parents[1]
DEFAULT_BASE = "8132e65^1"  # the merge that began issue 13's step, minus the step
SCRIPT_TIMEOUT = 1200.0
PIPED: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}


@dataclass(frozen=True)
class Figure:
    """One number a bench prints: the first group of ``pattern`` that matched on its
    output (a pattern may list a row's older and newer layouts as alternatives)."""

    name: str
    pattern: str
    unit: str

    def read(self, output: str) -> float | None:
        found = re.search(self.pattern, output, re.MULTILINE)
        if found is None:
            return None
        return float(next(group for group in found.groups() if group is not None))


class Bench(NamedTuple):
    """A bench script, its arguments (full and quick run) and the figures read from it.

    ``same_driver``: the bench only starts the code it measures as processes (whose
    imports follow the side's PYTHONPATH), so this checkout's script drives both sides:
    the figure then differs only by the code measured, not by how each revision's
    script measured it."""

    script: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    figures: tuple[Figure, ...]
    same_driver: bool = False

    def arguments(self, quick: bool) -> tuple[str, ...]:
        return self.quick if quick else self.full


def refuse(message: str) -> NoReturn:
    """Bad options: one line on stderr, exit 2."""
    print(f"before_after: {message}", file=sys.stderr)
    raise SystemExit(2)


def selected(
    benches: Sequence[Bench], only: Sequence[str], arguments: Sequence[str]
) -> tuple[Bench, ...]:
    """``benches`` narrowed to the scripts named in ``only`` (all when empty; ".py" may be
    left off), each ``SCRIPT=ARGS`` of ``arguments`` replacing that script's full-run
    arguments. An unknown script or a malformed ``SCRIPT=ARGS`` stops (exit 2)."""
    known = {bench.script for bench in benches}

    def script_named(name: str, option: str) -> str:
        script = name if name.endswith(".py") else f"{name}.py"
        if script not in known:
            refuse(f"{option} {name!r}: no such bench ({', '.join(sorted(known))})")
        return script

    chosen = {script_named(name, "--only") for name in only} or known
    replaced: dict[str, tuple[str, ...]] = {}
    for given in arguments:
        name, equals, argv = given.partition("=")
        if not equals:
            refuse(f"--arguments {given!r}: expected SCRIPT=ARGS")
        try:
            words = tuple(shlex.split(argv))
        except ValueError as error:  # an unclosed quote
            refuse(f"--arguments {given!r}: {error}")
        replaced[script_named(name.strip(), "--arguments")] = words
    return tuple(
        bench._replace(full=replaced.get(bench.script, bench.full))
        for bench in benches
        if bench.script in chosen
    )


NUMBER = r"(\d+(?:\.\d+)?)"
IN_PROCESS = r"probe\(\) in-process \(fetch, parse, judge\)"
AS_PROCESS = r"trashmon probe --json as a process"


def _probe_row(row: str, figure: int) -> str:
    """The wall time (``figure`` 1) or its ratio to bare (2) on a probe row, in the
    base's layout or in today's."""
    old = (rf"{NUMBER} ms", rf"\d+ ms\s+ratio {NUMBER}x")[figure - 1]
    new = (rf"\d+\s+{NUMBER}\s", rf"\d+\s+\d+\s+[\d.]+x\s+{NUMBER}x")[figure - 1]
    return rf"{row}\s+(?:{old}|{new})"


def _detect_row(reason: str) -> str:
    """monitor_detect's mean for ``reason``, or its median in a layout without a mean."""
    return rf"{reason}\s+min \S+\s+(?:median \S+\s+mean {NUMBER}s|median {NUMBER}s)"


BENCHES = (
    Bench(
        "monitor_scale.py",
        # 15 runs a repetition: the probe-as-a-process wall ratio (the figure, a
        # median of per-pair ratios) spread between repetitions, two batches on the
        # shared machine (load 12-20): 1.43 and 0.55 apart at 3 runs, 0.27 and 0.35 at
        # 9, 0.29 and 0.37 at 15; the CPU ratio 0.22/0.12, 0.11/0.13, 0.04/0.06. Wall
        # is steadied by quiet more than by runs (docs/monitor.md); 15 makes CPU
        # steady. Each of the compare's six invocations takes ~35 s longer (quiet).
        ("--paths", "10000", "--runs", "15", "--monitor-seconds", "10"),
        ("--paths", "10000", "--runs", "1", "--monitor-seconds", "4"),
        (
            # Wall time: the base printed only that ("544 ms   ratio 1.03x"); the rows
            # now print CPU ms, wall ms, then the CPU and wall ratios.
            Figure("probe in-process wall, 10,000 paths", _probe_row(IN_PROCESS, 1), "ms"),
            Figure("  wall ratio to bare stdlib, in-process", _probe_row(IN_PROCESS, 2), "x"),
            Figure("probe as a process wall, 10,000 paths", _probe_row(AS_PROCESS, 1), "ms"),
            Figure("  wall ratio to bare stdlib process", _probe_row(AS_PROCESS, 2), "x"),
            Figure("monitor CPU per 1 s poll, 10,000 paths", rf"CPU per cycle.*?{NUMBER} ms", "ms"),
            Figure(
                "monitor mean poll cycle wall time",
                rf"mean poll cycle wall time\s+{NUMBER} ms",
                "ms",
            ),
            Figure("monitor RSS", rf"^\s*RSS\s+{NUMBER} MiB", "MiB"),
            Figure(
                "monitor first GET /metrics of a poll",
                rf"GET /metrics \(\d+ KiB\)\s+{NUMBER} ms",
                "ms",
            ),
            Figure("monitor GET /api/status", rf"GET /api/status\s+{NUMBER} ms", "ms"),
        ),
    ),
    Bench(
        "monitor_detect.py",
        ("--trials", "4"),
        ("--trials", "1"),
        (
            # The mean over the trials' evenly spread poll phases (monitor_detect.py's
            # docstring says why); a median where no mean is printed.
            Figure("publisher loss -> /api/status, mean", _detect_row("no_publisher"), "s"),
            Figure("inbound bytes stop -> /api/status, mean", _detect_row("stalled"), "s"),
        ),
        same_driver=True,
    ),
    Bench(
        "dns_reconcile.py",
        ("--runs", "100"),
        ("--runs", "20"),
        (
            # Not the `python -m trashmonitor dns` figure: that process gets an environment
            # without PYTHONPATH, so on the base side it would run this tree's code.
            Figure(
                "DNS reconcile, --watch iteration",
                rf"--watch iteration \(n=\d+\): median {NUMBER} ms",
                "ms",
            ),
            Figure(
                "DNS reconcile, one-shot (clients built)",
                rf"one-shot \(n=\d+\): median {NUMBER} ms",
                "ms",
            ),
        ),
    ),
    Bench(
        "probe_startup.py",
        ("--runs", "5"),
        ("--runs", "3"),
        (
            Figure(
                "trashmon probe --help, cold start", rf"trashmon probe --help\s+{NUMBER} ms", "ms"
            ),
        ),
    ),
    Bench(
        "capture_cpu.py",
        ("--seconds", "10"),
        ("--seconds", "4"),
        (
            Figure(
                "capture agent CPU / its ffmpeg's CPU", rf"agent / ffmpeg CPU:\s+{NUMBER} %", "%"
            ),
            Figure("capture agent RSS", rf"agent RSS:\s+{NUMBER} MiB", "MiB"),
        ),
    ),
)


@dataclass(frozen=True)
class Tree:
    """One side: its checkout (whose bench/ scripts run) and the environment they run in."""

    label: str
    root: Path
    env: dict[str, str]
    package: str = ""  # PYTHONPATH of its package ("": the one installed in this venv)

    def python(self, *argv: str) -> list[str]:
        return [sys.executable, "-P", *argv]

    def driver(self, bench: Bench) -> tuple[Path, dict[str, str]]:
        """The script that measures this side and its environment: the side's own, or
        this checkout's with the side's package first (``Bench.same_driver``)."""
        if not bench.same_driver:
            return self.root / "bench" / bench.script, self.env
        path = os.pathsep.join(entry for entry in (self.package, str(REPO / "bench")) if entry)
        return REPO / "bench" / bench.script, {**self.env, "PYTHONPATH": path}


def link_tree(root: Path, into: Path) -> Path:
    """Lay out ``root``'s package folders as its pyproject.toml's package-dir maps them
    (``trashmonitor.monitor`` = ``monitor/``…) under ``into``, with links, not copies."""
    setuptools = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping: dict[str, str] = setuptools["package-dir"]
    # Parents first, so that a sub-package's link lands in its parent's folder.
    for package in sorted(mapping, key=lambda name: name.count(".")):
        target = into.joinpath(*package.split("."))
        if package.count(".") == 0:
            target.mkdir(parents=True)
            for child in (root / mapping[package]).iterdir():
                if child.name != "__pycache__":
                    (target / child.name).symlink_to(child)
        else:
            target.symlink_to(root / mapping[package], target_is_directory=True)
    return into


def imported_from(tree: Tree) -> tuple[str, str]:
    """Where the side's Python imports ``trashmonitor`` and ``trashmonitor.monitor``."""
    code = (
        "import trashmonitor, trashmonitor.monitor as m; print(trashmonitor.__file__, m.__file__)"
    )
    done = subprocess.run(
        tree.python("-c", code),
        env=tree.env,
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"before_after: {tree.label} cannot import trashmonitor: {done.stderr}")
    package, monitor = done.stdout.split()
    return package, monitor


def check_sources(tree: Tree) -> None:
    """Print where the side imports from; stop (exit 2) unless it is the side's tree."""
    files = imported_from(tree)
    print(f"{tree.label}: trashmonitor.__file__ = {files[0]}")
    for file in files:
        resolved = Path(file).resolve()
        if not resolved.is_relative_to(tree.root):
            print(
                f"before_after: {tree.label} imports {resolved}, not from {tree.root}",
                file=sys.stderr,
            )
            raise SystemExit(2)
    print(f"{tree.label}: resolves into {tree.root} (trashmonitor.monitor too)")


def stop_group(proc: subprocess.Popen[str]) -> None:
    """Stop a bench and everything it started (its own process group): SIGINT, as Ctrl-C
    would, so its cleanup runs; SIGKILL if it lingers."""
    for sig, grace in ((signal.SIGINT, 20.0), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


def run_bench(tree: Tree, bench: Bench, quick: bool) -> str | None:
    """The bench's output on ``tree``; None when the tree has no such script or it failed."""
    script, env = tree.driver(bench)
    if not script.exists():
        return None
    argv = tree.python(str(script), *bench.arguments(quick))
    # In a session of its own: its process group is stopped as one, whatever interrupts us.
    proc: subprocess.Popen[str] = subprocess.Popen(
        argv, env=env, cwd=tree.root, **PIPED, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=SCRIPT_TIMEOUT)
    except BaseException:
        stop_group(proc)
        raise
    if proc.returncode != 0:
        last = (err.strip().splitlines() or ["(no output)"])[-1]
        print(f"  {tree.label} {bench.script} exited {proc.returncode}: {last}", file=sys.stderr)
        return None
    return out


def change(before: float | None, after: float | None) -> str:
    if before is None or after is None:
        return "n/a"
    if before == 0:
        return "same" if after == 0 else "n/a (before is 0)"
    return f"{(after / before - 1) * 100:+.0f}%"


def shown(value: float | None, unit: str) -> str:
    return "n/a" if value is None else f"{value:g} {unit}"


def median_or_none(values: Sequence[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def table(rows: Sequence[tuple[str, str, str, str]]) -> str:
    header = ("figure", "before", "after", "change")
    widths = [max(len(line[i]) for line in (header, *rows)) for i in range(4)]
    lines = [
        " | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in (header, *rows)
    ]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(lines)


def spread(name: str, before: Sequence[float | None], after: Sequence[float | None]) -> str:
    """One figure's values per repetition, each side in run order."""

    def listed(values: Sequence[float | None]) -> str:
        return " ".join("n/a" if value is None else f"{value:g}" for value in values)

    return f"{name.strip()}: before {listed(before)} | after {listed(after)}"


def compare(
    base: Tree,
    head: Tree,
    repetitions: int,
    quick: bool,
    *,
    benches: Sequence[Bench] = BENCHES,
    outputs: Path | None = None,
) -> str:
    """Run each bench on both sides ``repetitions`` times: the figures table, then each
    figure's values per repetition. With ``outputs``, each run's output is kept there."""
    values: dict[tuple[str, str], list[float | None]] = {}
    for repetition in range(repetitions):
        order = (base, head) if repetition % 2 == 0 else (head, base)
        for bench in benches:
            for tree in order:
                print(f"repetition {repetition + 1}/{repetitions}: {tree.label} {bench.script}")
                output = run_bench(tree, bench, quick)
                if outputs is not None:
                    side = "before" if tree is base else "after"
                    kept = outputs / f"{repetition + 1}-{side}-{bench.script[:-3]}.txt"
                    kept.write_text(output if output is not None else "(failed)\n")
                for figure in bench.figures:
                    value = figure.read(output) if output is not None else None
                    values.setdefault((tree.label, figure.name), []).append(value)
    rows = []
    spreads = []
    for bench in benches:
        for figure in bench.figures:
            befores = values[(base.label, figure.name)]
            afters = values[(head.label, figure.name)]
            before, after = median_or_none(befores), median_or_none(afters)
            rows.append(
                (
                    figure.name,
                    shown(before, figure.unit),
                    shown(after, figure.unit),
                    change(before, after),
                )
            )
            spreads.append(spread(figure.name, befores, afters))
    return table(rows) + "\n\nper repetition:\n" + "\n".join(f"  {line}" for line in spreads)


def git(*argv: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(REPO), *argv], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"before_after: git {' '.join(argv)}: {done.stderr.strip()}")
    return done.stdout.strip()


@contextlib.contextmanager
def base_worktree(revision: str) -> Iterator[tuple[str, Path, Path]]:
    """(commit, worktree, link tree) of ``revision``, removed when the block ends."""
    commit = git("rev-parse", "--verify", f"{revision}^{{commit}}")
    scratch = Path(tempfile.mkdtemp(prefix="before-after-"))
    worktree = scratch / "base"
    try:
        git("worktree", "add", "--detach", str(worktree), commit)
        yield commit, worktree, link_tree(worktree, scratch / "src")
    finally:
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "remove", "--force", str(worktree)],
            capture_output=True,
            check=False,
        )
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "prune"], capture_output=True, check=False
        )
        subprocess.run(["rm", "-rf", str(scratch)], check=False)


def raise_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the cleanups like Ctrl-C does


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--base", default=DEFAULT_BASE, help=f"revision to compare with ({DEFAULT_BASE})"
    )
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="shorter runs, same 10,000 paths")
    parser.add_argument(
        "--only", action="append", default=[], metavar="SCRIPT",
        help="run only this bench (repeatable; e.g. monitor_detect.py)",
    )  # fmt: skip
    parser.add_argument(
        "--arguments", action="append", default=[], metavar="SCRIPT=ARGS",
        help='replace a bench\'s full-run arguments (repeatable; "monitor_detect.py=--trials 5")',
    )  # fmt: skip
    parser.add_argument(
        "--outputs", type=Path, metavar="DIR", help="keep each run's output in DIR (created)"
    )
    args = parser.parse_args()
    benches = selected(BENCHES, args.only, args.arguments)
    if args.outputs is not None:
        args.outputs.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, raise_exit)
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSAFEPATH")}
    with base_worktree(args.base) as (commit, worktree, source):
        base = Tree(
            f"before ({commit[:7]})", worktree,
            {**environ, "PYTHONPATH": f"{source}{os.pathsep}{worktree / 'bench'}"}, str(source),
        )  # fmt: skip
        head = Tree("after (this tree)", REPO, {**environ, "PYTHONPATH": str(REPO / "bench")})
        check_sources(base)
        check_sources(head)
        result = compare(
            base, head, args.repetitions, args.quick, benches=benches, outputs=args.outputs
        )
    print(
        f"\nmedian of {args.repetitions} repetitions per side"
        f"{' (quick runs)' if args.quick else ''}; lower is better for every figure"
    )
    print(result)


if __name__ == "__main__":
    main()
