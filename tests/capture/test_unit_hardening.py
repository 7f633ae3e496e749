"""The shipped unit (capture/systemd/): its process isolation (issue 11 §4, capture hosts),
sd_notify and watchdog settings, and systemd-analyze verify."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from support.processes import REPO, require_binary

UNIT_DIR = REPO / "capture" / "systemd"
UNIT = UNIT_DIR / "trashcam@.service"


def service_settings() -> list[str]:
    lines = UNIT.read_text().splitlines()
    start = lines.index("[Service]")
    return [line for line in lines[start + 1 :] if line and not line.startswith("#")]


def test_each_agent_sees_only_its_own_processes() -> None:
    """ffmpeg's argv holds the push URL, password included (ffmpeg 5.1 takes it nowhere
    else). ProtectProc=invisible mounts this unit's own /proc with hidepid=invisible, so
    one camera's agent cannot read another camera's command line; the dynamic user of
    each instance is distinct, so "other users" includes every other camera."""
    settings = service_settings()
    assert "ProtectProc=invisible" in settings
    assert "DynamicUser=yes" in settings


def test_secrets_come_from_credentials_not_the_shared_group() -> None:
    """The unit itself loads no secret and gives no group beyond video: a camera's key or
    password reaches only its own instance, through LoadCredential= in its drop-in."""
    settings = service_settings()
    assert "SupplementaryGroups=video" in settings
    assert not [s for s in settings if s.startswith(("LoadCredential", "EnvironmentFile"))]
    assert "ReadOnlyPaths=/etc/trashcam" in settings


def test_unit_has_the_hardening_and_notify_settings() -> None:
    unit = (UNIT_DIR / "trashcam@.service").read_text()
    for line in [
        "Type=notify",
        "NotifyAccess=main",
        "WatchdogSec=30s",
        "DynamicUser=yes",
        "DeviceAllow=char-video4linux rw",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "ExecStart=/usr/bin/trashmon capture --id %i",
        "WantedBy=trashcam.target",
    ]:
        assert f"\n{line}\n" in unit, line
    assert "PartOf=trashcam.target" in unit
    assert "WantedBy=multi-user.target" in (UNIT_DIR / "trashcam.target").read_text()


def test_systemd_analyze_verify_is_clean(tmp_path: Path) -> None:
    analyze = require_binary("systemd-analyze")
    trashmon = shutil.which("trashmon", path=str(Path(sys.executable).parent))
    assert trashmon is not None
    # verify checks that ExecStart exists: point it at this checkout's trashmon.
    unit = (UNIT_DIR / "trashcam@.service").read_text()
    (tmp_path / "trashcam@.service").write_text(unit.replace("/usr/bin/trashmon", trashmon))
    shutil.copy(UNIT_DIR / "trashcam.target", tmp_path)
    done = subprocess.run(
        [analyze, "verify", "--man=no", "trashcam@cam1.service", "trashcam.target"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Unknown keys or bad values are only warnings (exit 0): any output is a failure.
    assert done.returncode == 0, done.stderr
    assert done.stdout + done.stderr == ""
