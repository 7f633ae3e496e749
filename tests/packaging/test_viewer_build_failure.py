"""setup.py's viewer build (run by every sdist, wheel and editable build) failing: node's
own message, then one line naming the failure, never a CalledProcessError traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from support.processes import REPO, require_binary

# setup.py's ensure_viewer_built, as build_py calls it, without running setup() itself.
BUILD_THE_VIEWER = (
    "import runpy, sys, setuptools\n"
    "setuptools.setup = lambda **_: None\n"
    "runpy.run_path(sys.argv[1])['ensure_viewer_built']()\n"
)


def test_a_failing_node_build_stops_in_one_line(tmp_path: Path) -> None:
    """Reproduction: check=True raised CalledProcessError, a traceback."""
    require_binary("node")
    shutil.copy2(REPO / "setup.py", tmp_path / "setup.py")
    viewer = tmp_path / "server" / "viewer"
    (viewer / "node_modules" / "hls.js").mkdir(parents=True)
    (viewer / "build.mjs").write_text('console.error("build.mjs: cannot bundle src/app.js");\n'
                                      "process.exit(3);\n")  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-c", BUILD_THE_VIEWER, str(tmp_path / "setup.py")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "build.mjs: cannot bundle src/app.js",
        "trashmonitor: the viewer build failed (node build.mjs exit 3)",
    ]
    assert not (viewer / "dist").exists()
