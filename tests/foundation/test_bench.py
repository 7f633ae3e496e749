"""Every benchmark still runs (issue 12 point 12): each bench/*.py script, in its tiny
``--quick`` mode, run as ``just bench`` runs it (a plain ``python bench/x.py`` from the
repository root), exits 0 and prints figures. Scripts added later are picked up by the
glob, so a benchmark cannot rot unnoticed again (``monitor_scale.py`` once could not even
start: tests/support/http.py shadowed the standard library's ``http``).
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from support.processes import REPO, clean_environ

BENCH = REPO / "bench"
# Helper modules in bench/ (scaffold.py, capture_common.py) are imported, not run; the
# before/after comparison runs the others on two trees (minutes: `just bench-compare`).
COMPARISON = "before_after.py"
SCRIPTS = sorted(
    path.name
    for path in BENCH.glob("*.py")
    if 'if __name__ == "__main__":' in path.read_text(encoding="utf-8") and path.name != COMPARISON
)
# A figure: a number followed by a unit or a percent, e.g. "12.3 ms", "48 MiB", "1.2 %".
FIGURE = re.compile(r"\d(?:\.\d+)?\s*(?:ms|s|µs|us|MiB|KiB|MB|KB|%|MB/s)\b")


def test_the_glob_finds_the_benchmarks() -> None:
    assert {"monitor_scale.py", "probe_startup.py", "capture_cpu.py"} <= set(SCRIPTS)
    assert COMPARISON not in SCRIPTS


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("script", SCRIPTS)
def test_bench_script_runs_quick_and_prints_figures(script: str) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick"],
        cwd=REPO,
        env=clean_environ(),
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, f"{script} exited {done.returncode}:\n{done.stderr[-2000:]}"
    assert FIGURE.search(done.stdout), f"{script} printed no figure:\n{done.stdout[-2000:]}"
    assert "Traceback" not in done.stderr
