"""The whole playbook against localhost: a dry run, a real run, a re-run, a change.

Synthetic cameras (testsrc) need no V4L2 device; the agent really gets built as a wheel
and pip-installed into a virtualenv inside the temp dir; systemd is the stand-in in
fakes/systemctl. The real run is shared by the tests of this module (it takes ~30 s).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from provision.playbooks import (
    UNIT_NAMES,
    FakeHost,
    PlayResult,
    ansible_env,
    just,
    play_result,
    run_playbook,
    stand_in_units,
    write_inventory,
)
from support.processes import require_binary

from trashmonitor.settings import read_env_file

# The module's fixture runs the role twice for real (a venv and pip install each time):
# ~70 s on an idle 2-core machine, several minutes under load (a CI run with a CPU hog
# took over 180 s). Each play has its own 300 s limit (provision/playbooks.py).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

STREAM_PASSWORD = "cam1-p@ss:w/rd"
CAMERAS: list[dict[str, Any]] = [
    {
        "id": "cam1",
        "device": "testsrc",
        "fps": 15,
        "width": 640,
        "height": 480,
        "bitrate": "800k",
        "stream_user": "cam1",
        "stream_password": STREAM_PASSWORD,
    },
    {"id": "cam2", "device": "testsrc", "fps": 10, "width": 320, "height": 240, "bitrate": "300k"},
]
# Debian packages are checked (not installed) in the dry run; the real run runs as a
# plain user without apt, so it leaves them alone.
NO_PACKAGES = {"trashcam_manage_packages": False}


def camera_units() -> list[str]:
    return [f"trashcam@{camera['id']}.service" for camera in CAMERAS]


@dataclass(frozen=True)
class Provisioned:
    host: FakeHost
    units: Path
    first: PlayResult
    second: PlayResult
    calls_after_first: int


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory: pytest.TempPathFactory) -> Provisioned:
    host = FakeHost(tmp_path_factory.mktemp("host"))
    host.make_system_dirs()
    units = stand_in_units(host.base / "units")
    first = run_playbook(host, CAMERAS, unit_src_dir=units, extra_vars=NO_PACKAGES)
    calls_after_first = len(host.systemd()["calls"])
    second = run_playbook(host, CAMERAS, unit_src_dir=units, extra_vars=NO_PACKAGES)
    return Provisioned(host, units, first, second, calls_after_first)


def test_first_run_writes_env_files_units_and_agent(provisioned: Provisioned) -> None:
    host, first = provisioned.host, provisioned.first
    assert first.returncode == 0, first.output
    assert first.failed == 0

    for camera in CAMERAS:
        values = read_env_file(host.etc / f"{camera['id']}.env")
        assert values["CAMERA_DEV"] == camera["device"]
        assert values["FPS"] == str(camera["fps"])
    for name in UNIT_NAMES:
        assert (host.systemd_dir / name).read_bytes() == (provisioned.units / name).read_bytes()


def test_credentials_are_root_only_and_loaded_by_their_unit_alone(
    provisioned: Provisioned, tmp_path: Path
) -> None:
    """cam1's publish password: a 0600 file in a 0700 directory, loaded by cam1's unit
    only (LoadCredential= in its drop-in); cam2 has none; the env files are 0640 and hold
    no secret; the installed unit with the drop-in passes systemd-analyze verify."""
    host = provisioned.host
    secret = host.etc / "cam1" / "stream.password"
    assert secret.read_text() == STREAM_PASSWORD + "\n"
    assert secret.stat().st_mode & 0o777 == 0o600
    assert secret.parent.stat().st_mode & 0o777 == 0o700
    for camera in CAMERAS:
        env_file = host.etc / f"{camera['id']}.env"
        assert env_file.stat().st_mode & 0o777 == 0o640
        assert STREAM_PASSWORD not in env_file.read_text()
    dropin = host.systemd_dir / "trashcam@cam1.service.d" / "credentials.conf"
    lines = dropin.read_text().splitlines()
    load_lines = [line for line in lines if line.startswith("LoadCredential")]
    assert load_lines == [f"LoadCredential=stream.password:{secret}"]
    assert not (host.systemd_dir / "trashcam@cam2.service.d").exists()
    assert STREAM_PASSWORD not in provisioned.first.output + provisioned.second.output

    analyze = require_binary("systemd-analyze")
    trashmon = Path(sys.executable).parent / "trashmon"
    unit = (host.systemd_dir / "trashcam@.service").read_text()
    (tmp_path / "trashcam@.service").write_text(unit.replace("/usr/bin/trashmon", str(trashmon)))
    shutil.copy(host.systemd_dir / "trashcam.target", tmp_path)
    shutil.copytree(dropin.parent, tmp_path / dropin.parent.name)
    done = subprocess.run(
        [analyze, "verify", "--man=no", "trashcam@cam1.service", "trashcam.target"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout + done.stderr == ""


def test_agent_runs_from_its_virtualenv_and_the_link(provisioned: Provisioned) -> None:
    host = provisioned.host
    assert host.bin_link.resolve() == (host.venv / "bin/trashmon").resolve()

    result = subprocess.run(
        [str(host.bin_link), "--help"], capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 0, result.stderr
    assert "usage: trashmon" in result.stdout


def test_first_run_enables_and_starts_one_unit_per_camera(provisioned: Provisioned) -> None:
    systemd = provisioned.host.systemd()

    assert ["daemon-reload"] in systemd["calls"]
    assert set(systemd["enabled"]) == {"trashcam.target", *camera_units()}
    assert set(systemd["active"]) == {"trashcam.target", *camera_units()}
    assert systemd["restarts"] == {}, "units started by this run need no restart"
    for unit in camera_units():
        assert f"{unit}: active (running), enabled" in provisioned.first.output


def test_second_run_changes_nothing(provisioned: Provisioned) -> None:
    second = provisioned.second
    assert second.returncode == 0, second.output

    assert second.changed == 0, f"not idempotent: {second.changed_tasks()}"
    later_calls = provisioned.host.systemd()["calls"][provisioned.calls_after_first :]
    assert [c for c in later_calls if c[0] not in ("show", "is-enabled")] == []


def test_dry_run_of_a_provisioned_host_reports_nothing(provisioned: Provisioned) -> None:
    host = provisioned.host
    calls_before = len(host.systemd()["calls"])

    result = run_playbook(
        host,
        CAMERAS,
        unit_src_dir=provisioned.units,
        extra_vars=NO_PACKAGES,
        args=["--check", "--diff"],
    )

    assert result.returncode == 0, result.output
    assert result.changed == 0, f"dry run after a run: {result.changed_tasks()}"
    later = host.systemd()["calls"][calls_before:]
    assert later, "the dry run should ask systemd about the installed units"
    assert [c for c in later if c[0] not in ("show", "is-enabled")] == []


def test_changed_camera_restarts_alone_and_removed_camera_is_pruned(
    provisioned: Provisioned,
) -> None:
    """Runs last: it changes the shared host (cam1 gets a new fps, cam2 is removed)."""
    host = provisioned.host
    unmanaged = host.etc / "handmade.env"
    unmanaged.write_text("CAMERA_DEV=testsrc\n")
    changed_cam1 = {**CAMERAS[0], "fps": 5}

    result = run_playbook(
        host, [changed_cam1], unit_src_dir=provisioned.units, extra_vars=NO_PACKAGES
    )

    assert result.returncode == 0, result.output
    systemd = host.systemd()
    assert systemd["restarts"] == {"trashcam@cam1.service": 1}
    assert read_env_file(host.etc / "cam1.env")["FPS"] == "5"
    assert "trashcam@cam2.service" not in systemd["enabled"]
    assert "trashcam@cam2.service" not in systemd["active"]
    assert not (host.etc / "cam2.env").exists()
    assert unmanaged.exists(), "a file the role did not write must be left alone"


def test_just_provision_check_on_a_fresh_host_shows_changes_and_touches_nothing(
    fake_host: FakeHost,
) -> None:
    """The seed's dry run, through the justfile recipe, packages checked via apt."""
    units = stand_in_units(fake_host.base / "units")
    inventory = write_inventory(fake_host, CAMERAS, unit_src_dir=units)
    env = {**ansible_env(fake_host), "TRASHCAM_INVENTORY": str(inventory)}
    empty = fake_host.base / "empty.env"
    empty.write_text("")
    before = fake_host.files()

    result = just("provision-check", "HOST=localhost", env=env, empty_dotenv=empty)

    assert result.returncode == 0, result.stdout + result.stderr
    recap = play_result(result)
    assert recap.changed > 0, "a fresh host must show what would change"
    assert recap.failed == 0
    assert fake_host.files() == before, "check mode wrote into the host"
    assert fake_host.mutating_calls() == [], "check mode asked systemd to change something"
    # --diff shows each env file as it would be written.
    assert "+CAMERA_DEV=testsrc" in result.stdout
    assert "+BITRATE=300k" in result.stdout


def test_just_provision_host_refuses_a_host_not_in_the_inventory(fake_host: FakeHost) -> None:
    inventory = write_inventory(fake_host, CAMERAS, unit_src_dir=fake_host.base)
    env = {**ansible_env(fake_host), "TRASHCAM_INVENTORY": str(inventory)}
    empty = fake_host.base / "empty.env"
    empty.write_text("")

    result = just("provision-host", "HOST=garage-pi", env=env, empty_dotenv=empty)

    assert result.returncode != 0
    assert not fake_host.etc.exists()


def test_just_provision_host_explains_a_missing_inventory(fake_host: FakeHost) -> None:
    env = {**ansible_env(fake_host), "TRASHCAM_INVENTORY": str(fake_host.base / "nope.yml")}
    empty = fake_host.base / "empty.env"
    empty.write_text("")

    result = just("provision-host", "garage-pi", env=env, empty_dotenv=empty)

    assert result.returncode == 2
    assert "cp ansible/inventory.example.yml ansible/inventory.yml" in result.stderr
