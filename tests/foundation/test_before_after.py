"""bench/before_after.py: the figures it reads from the benches' printed lines, and the
base tree it makes: its own source imported (checked), the worktree gone afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.processes import REPO

sys.path.insert(0, str(REPO / "bench"))

import before_after

# Lines as the benches print them (monitor_scale's rows, monitor_detect's summary,
# dns_reconcile's steady line, capture_cpu's ratio): one figure each.
PRINTED = """\
  probe() in-process (fetch, parse, judge)          544 ms   ratio 1.03x
  trashmon probe --json as a process               1039 ms   ratio 1.54x (target <= 1.5x)
  CPU per cycle (one /metrics scrape in window)     280 ms
  RSS                                               276 MiB
  GET /metrics (2841 KiB)                          3734 ms
  GET /api/status                                   974 ms
  no_publisher  min 0.12s  median 0.16s  max 0.30s  (target <= 2s)
wall time per steady reconcile, --watch iteration (n=20): median 13.03 ms, p95 20.1 ms, max 30 ms
  agent / ffmpeg CPU:      1.31 %   (target <= 2 %)
"""
EXPECTED = {
    "probe in-process wall, 10,000 paths": 544.0,
    "  wall ratio to bare stdlib, in-process": 1.03,
    "probe as a process wall, 10,000 paths": 1039.0,
    "  wall ratio to bare stdlib process": 1.54,
    "monitor CPU per 1 s poll, 10,000 paths": 280.0,
    "monitor RSS": 276.0,
    "monitor first GET /metrics of a poll": 3734.0,
    "monitor GET /api/status": 974.0,
    "publisher loss -> /api/status, mean": 0.16,  # a median where no mean is printed
    "DNS reconcile, --watch iteration": 13.03,
    "capture agent CPU / its ffmpeg's CPU": 1.31,
}
FIGURES = {figure.name: figure for bench in before_after.BENCHES for figure in bench.figures}
BENCHES_BY_SCRIPT = {bench.script: bench for bench in before_after.BENCHES}


# The probe rows as monitor_scale prints them now (CPU ms, wall ms, CPU and wall ratios)
# and monitor_detect's summary with its mean.
PRINTED_NOW = """\
  probe() in-process (fetch, parse, judge)          164      306    1.63x  1.01x  (target <= 1.0x)
  trashmon probe --json as a process              350      477    2.60x  1.71x  (target <= 1.2x)
  no_publisher  min 0.05s  median 0.47s  mean 0.50s  max 0.96s  (target <= 2s)
  stalled       min 1.53s  median 2.05s  mean 2.02s  max 2.45s  (target <= 3s)
"""
EXPECTED_NOW = {
    "probe in-process wall, 10,000 paths": 306.0,
    "  wall ratio to bare stdlib, in-process": 1.01,
    "probe as a process wall, 10,000 paths": 477.0,
    "  wall ratio to bare stdlib process": 1.71,
    "publisher loss -> /api/status, mean": 0.50,
    "inbound bytes stop -> /api/status, mean": 2.02,
}


@pytest.mark.parametrize(("name", "value"), EXPECTED.items())
def test_each_figure_is_read_from_its_printed_line(name: str, value: float) -> None:
    assert FIGURES[name].read(PRINTED) == value


@pytest.mark.parametrize(("name", "value"), EXPECTED_NOW.items())
def test_the_probe_rows_are_read_in_todays_layout_too(name: str, value: float) -> None:
    assert FIGURES[name].read(PRINTED_NOW) == value


def test_a_figure_a_tree_does_not_print_is_none_and_shown_as_n_a() -> None:
    figure = FIGURES["monitor mean poll cycle wall time"]
    assert figure.read(PRINTED) is None
    assert before_after.shown(None, "ms") == "n/a"
    assert before_after.change(None, 3.0) == "n/a"
    assert before_after.change(200.0, 150.0) == "-25%"
    assert before_after.median_or_none([None, 3.0, 1.0, None, 2.0]) == 2.0
    assert before_after.median_or_none([None]) is None


def test_the_base_tree_imports_its_own_source_and_is_removed_after() -> None:
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    with before_after.base_worktree("HEAD") as (commit, worktree, source):
        assert commit == before_after.git("rev-parse", "HEAD")
        base = before_after.Tree("base", worktree, {**environ, "PYTHONPATH": str(source)})
        package, monitor = before_after.imported_from(base)
        assert os.path.realpath(package).startswith(f"{worktree}/trashmonitor/")
        assert os.path.realpath(monitor).startswith(f"{worktree}/monitor/")
        before_after.check_sources(base)  # exits 2 if either did not come from the worktree
        # The same check refuses this checkout's own import as the base's.
        with pytest.raises(SystemExit) as refused:
            before_after.check_sources(before_after.Tree("base", worktree, environ))
        assert refused.value.code == 2
    listed = subprocess.run(
        ["git", "-C", str(REPO), "worktree", "list", "--porcelain"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(worktree) not in listed
    assert not worktree.exists()


def test_the_package_is_compiled_through_linked_folders(tmp_path: Path) -> None:
    """The base side of a comparison is a package of links to the base revision's folders:
    compileall alone passes over links, so that side ran uncompiled, paying ~25 ms of
    compiling per probe process that the other side did not."""
    import scaffold

    real = tmp_path / "base" / "monitor"
    real.mkdir(parents=True)
    (real / "model.py").write_text("VALUE = 1\n")
    package = tmp_path / "package"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "monitor").symlink_to(real, target_is_directory=True)
    scaffold.compile_tree(package)
    assert list((real / "__pycache__").glob("model.*.pyc"))
    assert list((package / "__pycache__").glob("__init__.*.pyc"))


def test_only_and_arguments_select_benches_and_replace_their_full_run() -> None:
    chosen = before_after.selected(
        before_after.BENCHES,
        ["monitor_detect", "capture_cpu.py"],
        ["monitor_detect.py=--trials 20"],
    )
    assert [bench.script for bench in chosen] == ["monitor_detect.py", "capture_cpu.py"]
    assert chosen[0].arguments(quick=False) == ("--trials", "20")
    assert chosen[0].arguments(quick=True) == ("--trials", "1")  # --quick keeps its own
    assert chosen[1].full == BENCHES_BY_SCRIPT["capture_cpu.py"].full
    assert before_after.selected(before_after.BENCHES, [], []) == before_after.BENCHES


@pytest.mark.parametrize(
    ("only", "arguments"),
    [
        (["monitor_detct"], []),
        ([], ["nosuch.py=--x 1"]),
        ([], ["monitor_detect.py --trials 5"]),
        ([], ["monitor_detect.py=--trials '5"]),
    ],
)
def test_an_unknown_bench_or_a_malformed_argument_stops_with_exit_2(
    only: list[str], arguments: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        before_after.selected(before_after.BENCHES, only, arguments)
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("before_after: --")
    assert error.count("\n") == 1


def test_a_same_driver_bench_runs_this_checkouts_script_with_the_sides_package_first(
    tmp_path: Path,
) -> None:
    detect = BENCHES_BY_SCRIPT["monitor_detect.py"]
    capture = BENCHES_BY_SCRIPT["capture_cpu.py"]
    assert detect.same_driver
    assert not capture.same_driver
    env = {"PYTHONPATH": f"{tmp_path}/src:{tmp_path}/bench", "KEPT": "1"}
    base = before_after.Tree("base", tmp_path, env, f"{tmp_path}/src")
    script, driven = base.driver(detect)
    assert script == REPO / "bench" / "monitor_detect.py"
    assert driven == {"PYTHONPATH": f"{tmp_path}/src:{REPO / 'bench'}", "KEPT": "1"}
    assert base.driver(capture) == (tmp_path / "bench" / "capture_cpu.py", env)
    head = before_after.Tree("head", REPO, {"PYTHONPATH": str(REPO / "bench")})
    assert head.driver(detect) == (REPO / "bench" / "monitor_detect.py", head.env)


def test_compare_alternates_sides_keeps_each_output_and_prints_every_repetition(
    tmp_path: Path,
) -> None:
    """Two stand-in trees whose one bench prints the side and a number from a counter:
    the table holds each side's median, the per-repetition lines each value in run
    order, and --outputs one file per run."""
    trees = []
    for side, values in (("base", "4 1 3"), ("head", "2 5 2")):
        root = tmp_path / side
        (root / "bench").mkdir(parents=True)
        (root / "bench" / "figure.py").write_text(
            "from pathlib import Path\n"
            f"runs = Path({str(root / 'runs')!r})\n"
            "done = len(runs.read_text()) if runs.exists() else 0\n"
            "with runs.open('a') as log: log.write('x')\n"
            f"print('figure:', {values.split()!r}[done], 's')\n"
        )
        trees.append(before_after.Tree(side, root, dict(os.environ)))
    bench = before_after.Bench(
        "figure.py", (), (), (before_after.Figure("the figure", r"figure: (\d+)", "s"),)
    )
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    base, head = trees
    printed = before_after.compare(base, head, 3, False, benches=[bench], outputs=outputs)
    assert "the figure | 3 s    | 2 s   | -33%" in printed
    assert "  the figure: before 4 1 3 | after 2 5 2" in printed
    kept = sorted(path.name for path in outputs.iterdir())
    assert kept == [f"{n}-{side}-figure.txt" for n in (1, 2, 3) for side in ("after", "before")]
    assert (outputs / "2-after-figure.txt").read_text() == "figure: 5 s\n"
