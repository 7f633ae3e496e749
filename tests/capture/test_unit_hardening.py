"""The shipped unit's process isolation (issue 11 §4, capture hosts)."""

from __future__ import annotations

from pathlib import Path

UNIT = Path(__file__).resolve().parents[2] / "capture" / "systemd" / "trashcam@.service"


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
