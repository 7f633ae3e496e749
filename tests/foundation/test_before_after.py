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
    "publisher loss -> /api/status": 0.16,
    "DNS reconcile, --watch iteration": 13.03,
    "capture agent CPU / its ffmpeg's CPU": 1.31,
}
FIGURES = {figure.name: figure for bench in before_after.BENCHES for figure in bench.figures}


# The probe rows as monitor_scale prints them now: CPU ms, wall ms, CPU and wall ratios.
PRINTED_NOW = """\
  probe() in-process (fetch, parse, judge)          164      306    1.63x  1.01x  (target <= 1.0x)
  trashmon probe --json as a process              350      477    2.60x  1.71x  (target <= 1.2x)
"""
EXPECTED_NOW = {
    "probe in-process wall, 10,000 paths": 306.0,
    "  wall ratio to bare stdlib, in-process": 1.01,
    "probe as a process wall, 10,000 paths": 477.0,
    "  wall ratio to bare stdlib process": 1.71,
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
