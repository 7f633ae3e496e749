"""The playbook and role pass ansible's own syntax check and ansible-lint."""

from __future__ import annotations

import os
import subprocess

import yaml
from provision.playbooks import ANSIBLE_DIR, PLAYBOOK, VENV_BIN, ansible_tool
from support.processes import REPO


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env["ANSIBLE_NOCOLOR"] = env["NO_COLOR"] = "1"
    return subprocess.run(
        argv, capture_output=True, text=True, env=env, timeout=180, check=False, cwd=ANSIBLE_DIR
    )


def test_playbook_passes_syntax_check_with_the_example_inventory() -> None:
    result = _run(
        [
            ansible_tool("ansible-playbook"),
            "--syntax-check",
            "-i",
            str(ANSIBLE_DIR / "inventory.example.yml"),
            str(PLAYBOOK),
        ]
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_example_inventory_lists_cameras_with_the_seed_keys() -> None:
    result = _run([ansible_tool("ansible-inventory"), "-i", "inventory.example.yml", "--list"])
    assert result.returncode == 0, result.stderr
    import json

    hostvars = json.loads(result.stdout)["_meta"]["hostvars"]
    cameras = [camera for host in hostvars.values() for camera in host["trashcam_cameras"]]
    assert cameras, "the example inventory should show at least one camera"
    for camera in cameras:
        assert {"id", "device", "fps", "width", "height", "bitrate"} <= camera.keys(), camera


def test_role_passes_ansible_lint_production_profile() -> None:
    result = _run([ansible_tool("ansible-lint"), "--nocolor", "-c", ".ansible-lint", "."])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Profile 'production' was required, and it passed" in result.stdout + result.stderr


def test_shipped_unit_runs_the_binary_the_role_links() -> None:
    """The role links trashcam_bin_link to the venv; the unit must call that path."""
    unit = REPO / "capture" / "systemd" / "trashcam@.service"
    defaults = yaml.safe_load((ANSIBLE_DIR / "roles/trashcam/defaults/main.yml").read_text())
    exec_start = next(
        line.split("=", 1)[1].split()[0]
        for line in unit.read_text().splitlines()
        if line.startswith("ExecStart=")
    )
    assert exec_start == defaults["trashcam_bin_link"]
    assert "EnvironmentFile" not in unit.read_text() or "/etc/trashcam/%i.env" in unit.read_text()
    assert defaults["trashcam_etc_dir"] == "/etc/trashcam"
