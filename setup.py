"""Only what pyproject.toml cannot say: the wheel carries the built viewer.

``trashmonitor._server`` is server/ itself (pyproject.toml, package-dir), so the demo
reads the same Caddyfile, caddy/*.caddy and viewer/dist/ as the server image. dist/ is
built, not committed: before the package data is collected it is (re)built with node when
it is missing or older than its sources, and a build with neither a viewer nor node to
build one stops with one line instead of shipping a wheel without the viewer; so does a
failing build (after node's own message), never with a traceback.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

VIEWER = Path(__file__).resolve().parent / "server" / "viewer"


def _newest_source() -> float:
    sources = [VIEWER / "build.mjs", VIEWER / "package-lock.json"]
    sources += (VIEWER / "src").glob("**/*") if (VIEWER / "src").is_dir() else []
    return max((path.stat().st_mtime for path in sources if path.is_file()), default=0.0)


def ensure_viewer_built() -> None:
    built = VIEWER / "dist" / "index.html"
    if built.is_file() and built.stat().st_mtime >= _newest_source():
        return
    node = shutil.which("node")
    if node is not None and (VIEWER / "node_modules" / "hls.js").is_dir():
        build = [node, str(VIEWER / "build.mjs")]
        exit_code = subprocess.run(build, check=False, stdout=subprocess.DEVNULL).returncode
        if exit_code != 0:  # node said why on stderr, above this line
            sys.exit(f"trashmonitor: the viewer build failed (node build.mjs exit {exit_code})")
        return
    if built.is_file():  # a copy without node_modules: its dist/ as it is, said
        print("trashmonitor: server/viewer/dist/ is older than its sources", file=sys.stderr)
        return
    sys.exit(
        "trashmonitor: the viewer is not built (server/viewer/dist/) and cannot be "
        "(needs node and `npm ci --prefix server/viewer`; scripts/setup does both)"
    )


class BuildPyWithViewer(build_py):
    # finalize_options: before sdist, wheel or editable builds collect the package data.
    def finalize_options(self) -> None:
        ensure_viewer_built()
        super().finalize_options()


setup(cmdclass={"build_py": BuildPyWithViewer})
