"""The fake MediaMTX starts as a process the way `just fake-mediamtx` (docs/monitor.md)
starts it: its script folder, tests/support, holds an http.py that shadows the standard
library's without ``-P`` (the recipe failed with "'http' is not a package")."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from support.http import http_get
from support.processes import REPO, stop_process


def _recipe(name: str) -> list[str]:
    """The one command line of a justfile recipe, with the venv's interpreter."""
    lines = (REPO / "justfile").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"{name}\b.*:", line))
    command = lines[start + 1].strip().replace("{{venv}}/python", sys.executable)
    return [part for part in shlex.split(command) if part != "$@"]


@contextmanager
def _serving(argv: list[str], banner: str) -> Iterator[str]:
    """Run ``argv`` from the checkout (as `just` does); yield the URL it prints."""
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        first: list[bytes] = []
        assert proc.stdout is not None
        reader = threading.Thread(target=lambda: first.append(proc.stdout.readline()))  # type: ignore[union-attr]
        reader.start()
        reader.join(60)
        line = first[0].decode() if first else ""
        assert banner in line, line + (proc.stdout.read().decode() if proc.poll() else "")
        yield line.split(" on ", 1)[1].strip()
    finally:
        stop_process(proc)


def test_just_fake_mediamtx_serves_the_paths_it_is_given() -> None:
    argv = _recipe("fake-mediamtx")
    with _serving([*argv, "--port", "0", "--paths", "2"], "fake MediaMTX") as url:
        status, body = http_get(url + "/v3/paths/list")
    assert status == 200
    assert [item["name"] for item in json.loads(body)["items"]] == ["cam0", "cam1"]
