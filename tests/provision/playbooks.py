"""Run the trashcam role for real against localhost, with every host path in a temp dir.

The role's path variables (trashcam_etc_dir, trashcam_systemd_dir, trashcam_venv_dir ...)
point into ``tmp_path/root``, ``connection=local`` and ``become=false`` make it run as the
test user, and a stand-in ``systemctl`` (systemd is not PID 1 here) records what the role
asks systemd to do. Nothing outside the temp dir is touched, which test_check_mode asserts.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.processes import REPO

ANSIBLE_DIR = REPO / "ansible"
PLAYBOOK = ANSIBLE_DIR / "playbook.yml"
VENV_BIN = Path(sys.executable).parent
FAKES = Path(__file__).parent / "fakes"
UNIT_NAMES = ("trashcam@.service", "trashcam.target")
_RECAP = re.compile(r"^\S+\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def ansible_tool(name: str) -> str:
    path = VENV_BIN / name
    if not path.exists():
        pytest.fail(f"{name} is missing: run scripts/setup (it installs the 'provision' extra)")
    return str(path)


@dataclass(frozen=True)
class PlayResult:
    returncode: int
    output: str
    ok: int
    changed: int
    failed: int

    def changed_tasks(self) -> list[str]:
        """Names of tasks that reported a change, for readable assertion messages."""
        names, current = [], ""
        for line in self.output.splitlines():
            if line.startswith(("TASK [", "RUNNING HANDLER [")):
                current = line.split("[", 1)[1].rsplit("]", 1)[0]
            elif line.startswith("changed:") and current not in names:
                names.append(current)
        return names


@dataclass
class FakeHost:
    """A capture host rooted in a temp dir: its paths and its fake systemd."""

    base: Path

    def __post_init__(self) -> None:
        self.root = self.base / "root"
        self.systemd_state_file = self.base / "systemd-state.json"
        # Where the playbook puts things, below the host's root.
        self.etc, self.systemd_dir, self.venv, self.bin_link = (
            self.root / relative
            for relative in (
                "etc/trashcam", "etc/systemd/system", "opt/trashcam/venv", "usr/bin/trashmon"
            )
        )  # fmt: skip

    def systemd(self) -> dict[str, Any]:
        if not self.systemd_state_file.exists():
            return {"calls": [], "enabled": [], "active": [], "restarts": {}}
        state: dict[str, Any] = json.loads(self.systemd_state_file.read_text())
        return state

    def mutating_calls(self) -> list[list[str]]:
        """systemctl calls that change something (show/is-enabled only read)."""
        return [c for c in self.systemd()["calls"] if c and c[0] not in ("show", "is-enabled")]

    def host_vars(self, unit_src_dir: Path) -> dict[str, Any]:
        return {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "ansible_become": False,
            "trashcam_etc_dir": str(self.etc),
            "trashcam_systemd_dir": str(self.systemd_dir),
            "trashcam_venv_dir": str(self.venv),
            "trashcam_wheel_dir": str(self.root / "opt/trashcam/wheels"),
            "trashcam_bin_link": str(self.bin_link),
            "trashcam_wheel_build_dir": str(self.base / "wheel-build"),
            "trashcam_unit_src_dir": str(unit_src_dir),
            "trashcam_file_owner": _user(),
            "trashcam_file_group": _group(),
            "trashcam_env_group": _group(),
        }

    def make_system_dirs(self) -> None:
        """Directories every systemd host already has; the role writes into them."""
        self.systemd_dir.mkdir(parents=True, exist_ok=True)
        self.bin_link.parent.mkdir(parents=True, exist_ok=True)

    def files(self) -> list[str]:
        """Everything under root except the virtualenv's own contents."""
        return sorted(
            str(p.relative_to(self.root))
            for p in self.root.rglob("*")
            if self.venv not in p.parents
        )


def _user() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def _group() -> str:
    import grp

    return grp.getgrgid(os.getgid()).gr_name


def write_inventory(
    host: FakeHost,
    cameras: Sequence[Mapping[str, Any]],
    *,
    unit_src_dir: Path,
    extra_vars: Mapping[str, Any] | None = None,
) -> Path:
    """An inventory with one host, localhost, whose paths all lie in the temp dir."""
    host_vars = {
        **host.host_vars(unit_src_dir),
        "trashcam_cameras": list(cameras),
        **(extra_vars or {}),
    }
    inventory_file = host.base / "inventory.yml"
    inventory_file.write_text(yaml.safe_dump({"trashcam": {"hosts": {"localhost": host_vars}}}))
    return inventory_file


def ansible_env(host: FakeHost) -> dict[str, str]:
    """Environment for ansible processes: state and temp files in the temp dir."""
    return {
        **os.environ,
        "PATH": f"{FAKES}{os.pathsep}{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_HOME": str(host.base / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(host.base / "ansible-tmp"),
        "ANSIBLE_REMOTE_TEMP": str(host.base / "ansible-tmp"),
        "ANSIBLE_ROLES_PATH": str(ANSIBLE_DIR / "roles"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_PIPELINING": "1",
        "FAKE_SYSTEMD_STATE": str(host.systemd_state_file),
        "FAKE_SYSTEMD_UNIT_DIR": str(host.systemd_dir),
    }


def play_result(proc: subprocess.CompletedProcess[str]) -> PlayResult:
    output = proc.stdout + proc.stderr
    recap = _RECAP.search(output)
    ok, changed, _, failed = (int(n) for n in recap.groups()) if recap else (0, 0, 0, 1)
    return PlayResult(proc.returncode, output, ok, changed, failed)


def run_playbook(
    host: FakeHost,
    cameras: Sequence[Mapping[str, Any]],
    *,
    unit_src_dir: Path,
    extra_vars: Mapping[str, Any] | None = None,
    args: Sequence[str] = (),
    playbook: Path = PLAYBOOK,
) -> PlayResult:
    """One ansible-playbook process against localhost; returns its recap."""
    inventory = write_inventory(host, cameras, unit_src_dir=unit_src_dir, extra_vars=extra_vars)
    proc = subprocess.run(
        [ansible_tool("ansible-playbook"), "-i", str(inventory), str(playbook), *args],
        capture_output=True,
        text=True,
        env=ansible_env(host),
        cwd=host.base,
        timeout=300,
        check=False,
    )
    return play_result(proc)


def stand_in_units(directory: Path) -> Path:
    """The capture agent's units (capture/systemd/) when present, else stand-ins.

    The units are the capture agent's (issue 3) and arrive with that branch; the role
    only copies them, so a stand-in with the same names exercises the same tasks.
    """
    shipped = REPO / "capture" / "systemd"
    if all((shipped / name).exists() for name in UNIT_NAMES):
        return shipped
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "trashcam@.service").write_text(
        "[Unit]\nDescription=trashcam %i (stand-in)\nPartOf=trashcam.target\n\n"
        "[Service]\nEnvironmentFile=/etc/trashcam/%i.env\n"
        "ExecStart=/usr/bin/trashmon capture --id %i\n\n"
        "[Install]\nWantedBy=trashcam.target\n"
    )
    (directory / "trashcam.target").write_text(
        "[Unit]\nDescription=all trashcam cameras (stand-in)\n\n"
        "[Install]\nWantedBy=multi-user.target\n"
    )
    return directory


def just(*args: str, env: dict[str, str], empty_dotenv: Path) -> subprocess.CompletedProcess[str]:
    """The justfile recipe as a user runs it (a developer's own .env is ignored)."""
    return subprocess.run(
        [str(VENV_BIN / "just"), "--dotenv-path", str(empty_dotenv), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
