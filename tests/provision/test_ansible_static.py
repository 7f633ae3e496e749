"""The playbook and role pass ansible's own syntax check and ansible-lint."""

from __future__ import annotations

import os
import subprocess

from provision.playbooks import ANSIBLE_DIR, PLAYBOOK, VENV_BIN, ansible_tool


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
