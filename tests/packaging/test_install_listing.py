"""scripts/install-listing, what scripts/setup compares to decide a reinstall: the strict
editable install links files one by one, so a file added to any packaged folder must
change the listing, or it never reaches the installed package."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from support.processes import REPO

LISTING = REPO / "scripts" / "install-listing"
# One file in each folder the package's modules and data come from (pyproject.toml).
PACKAGED = (
    "trashmonitor/new.py",
    "monitor/new.py",
    "alerts/new.yaml",
    "dashboards/generated/new.json",
    "capture/systemd/new.service",
    "server/caddy/new.caddy",
    "server/viewer/dist/assets/new.js",
)


def listing(root: Path) -> str:
    result = subprocess.run(
        [str(root / "scripts" / "install-listing")],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return result.stdout


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A checkout's shape: the script, pyproject.toml, a file in each packaged folder."""
    (tmp_path / "scripts").mkdir()
    shutil.copy2(LISTING, tmp_path / "scripts" / "install-listing")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp_path / "server").mkdir()
    (tmp_path / "server" / "Caddyfile").write_text(":80\n")
    for name in PACKAGED:
        path = tmp_path / name.replace("new", "old")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("old\n")
    return tmp_path


@pytest.mark.parametrize("added", PACKAGED)
def test_a_file_added_to_a_packaged_folder_changes_the_listing(tree: Path, added: str) -> None:
    """Reproduction: only pyproject.toml and *.py were listed, so a new Caddy snippet or
    viewer asset never made scripts/setup reinstall."""
    before = listing(tree)
    (tree / added).write_text("new\n")
    after = listing(tree)
    assert after != before
    assert added in after.splitlines()


def test_bytecode_and_a_changed_file_leave_it_alone(tree: Path) -> None:
    before = listing(tree)
    (tree / "monitor" / "__pycache__").mkdir()
    (tree / "monitor" / "__pycache__" / "old.cpython-313.pyc").write_bytes(b"\0")
    (tree / "monitor" / "old.py").write_text("changed\n")  # linked: seen without reinstall
    assert listing(tree) == before


def test_the_checkout_lists_its_caddy_config_and_built_viewer() -> None:
    lines = listing(REPO).splitlines()
    assert "server/Caddyfile" in lines
    assert "server/caddy/tls-on.caddy" in lines
    assert "server/viewer/dist/index.html" in lines
