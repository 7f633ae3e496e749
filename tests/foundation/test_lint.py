"""The code stays ruff- and mypy --strict-clean: CI fails on a regression, not a reviewer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support.processes import REPO, require_binary

BIN = Path(sys.executable).parent


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)


def test_ruff_check_and_format() -> None:
    for argv in ([str(BIN / "ruff"), "check", "."], [str(BIN / "ruff"), "format", "--check", "."]):
        result = _run(argv, REPO)
        assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_sees_every_component(tmp_path: Path) -> None:
    # From outside the checkout, or ./trashmonitor would hide monitor/, capture/, dns/...
    result = _run(
        [str(BIN / "mypy"), "--config-file", str(REPO / "pyproject.toml"), "-p", "trashmonitor"],
        tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    checked = int(result.stdout.split("in ")[-1].split()[0])
    assert checked > 40, result.stdout  # the components, not only trashmonitor/


def test_shell_scripts_pass_shellcheck() -> None:
    scripts = [REPO / "dev", REPO / ".ci" / "run", REPO / "server" / "entrypoint"]
    names = ("setup", "bootstrap", "provision")
    scripts += [REPO / "scripts" / name for name in names]
    result = _run([require_binary("shellcheck"), *map(str, scripts)], REPO)
    assert result.returncode == 0, result.stdout
