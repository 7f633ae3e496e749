"""The code and its tests stay ruff- and mypy --strict-clean and the shell scripts
shellcheck-clean: CI fails on a regression, not a reviewer. Each tool runs once, here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.processes import REPO, require_binary

BIN = Path(sys.executable).parent


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=900, check=False)


def _checked(mypy_stdout: str) -> int:
    """How many source files mypy's summary line says it checked."""
    return int(mypy_stdout.rsplit("in ", maxsplit=1)[-1].split(maxsplit=1)[0])


@pytest.fixture(scope="module")
def outside_the_checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """mypy runs from here: in the checkout, ./trashmonitor would hide the installed link
    tree that maps monitor/, capture/, dns/ ... into the package. One directory for both
    runs, so the second reuses the first's cache of the package."""
    return tmp_path_factory.mktemp("mypy")


def test_ruff_check_and_format() -> None:
    for argv in ([str(BIN / "ruff"), "check", "."], [str(BIN / "ruff"), "format", "--check", "."]):
        result = _run(argv, REPO)
        assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_sees_every_component(outside_the_checkout: Path) -> None:
    result = _run(
        [str(BIN / "mypy"), "--config-file", str(REPO / "pyproject.toml"), "-p", "trashmonitor"],
        outside_the_checkout,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert _checked(result.stdout) > 40, result.stdout  # the components, not only trashmonitor/


def test_mypy_strict_checks_every_test_and_bench_file(outside_the_checkout: Path) -> None:
    """tests/ and bench/ are code too (issue 13). pyproject's mypy_path names their import
    roots; every file found on disk must be among those checked."""
    folders = [REPO / "tests", REPO / "bench"]
    result = _run(
        [str(BIN / "mypy"), "--config-file", str(REPO / "pyproject.toml"), *map(str, folders)],
        outside_the_checkout,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    on_disk = sum(1 for folder in folders for _ in folder.rglob("*.py"))
    assert _checked(result.stdout) == on_disk, result.stdout


# The scripts the product and CI run (the scan below must find at least these).
KNOWN_SCRIPTS = {
    "dev", ".ci/run", "server/entrypoint", "capture/rpm/build",
    "scripts/setup", "scripts/bootstrap", "scripts/provision",
}  # fmt: skip


def _shell_scripts() -> list[str]:
    """Every committed file with a shell shebang, so a new script cannot be forgotten."""
    listed = _run([require_binary("git"), "ls-files", "-z"], REPO)
    assert listed.returncode == 0, listed.stderr
    scripts = []
    for name in filter(None, listed.stdout.split("\0")):
        path = REPO / name
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as file:
                first = file.readline(100)
            if first.startswith(b"#!") and first.rstrip().endswith((b"sh", b"bash")):
                scripts.append(name)
    return scripts


def test_shell_scripts_pass_shellcheck() -> None:
    scripts = _shell_scripts()
    assert set(scripts) >= KNOWN_SCRIPTS, "the shebang scan misses a known script"
    result = _run([require_binary("shellcheck"), *scripts], REPO)
    assert result.returncode == 0, result.stdout
