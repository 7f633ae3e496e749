"""monitor/model.py: what its values say by themselves (tracks, paths, the report's
summary and verdict, the thresholds' look-back, the reason tables). No I/O, no clock."""

from __future__ import annotations

from typing import Any

import pytest

from trashmonitor.errors import UnreachableError
from trashmonitor.monitor.model import (
    AGENT_REASONS,
    DOWN_REASONS,
    REASONS,
    CameraHealth,
    HealthReport,
    PathObservation,
    State,
    Thresholds,
    Track,
    describe_tracks,
    observed_path,
)


@pytest.mark.parametrize(
    ("tracks", "described"),
    [
        ((), (None, None)),
        ((Track("Opus"),), ("Opus", None)),  # no video: the first track names the path
        ((Track("Opus"), Track("H264", 1920, 1080)), ("H264", "1920x1080")),
        ((Track("M-JPEG", 640),), ("M-JPEG", None)),  # half a size is no resolution
        ((Track("H265"), Track("AV1", 320, 240)), ("H265", None)),  # the first video track
    ],
    ids=["none", "audio-only", "audio-first", "width-only", "two-videos"],
)
def test_the_video_track_describes_the_path(
    tracks: tuple[Track, ...], described: tuple[str | None, str | None]
) -> None:
    assert describe_tracks(tracks) == described


def test_only_video_codecs_are_video() -> None:
    assert Track("H264").is_video
    assert Track("MPEG-1/2 Video").is_video
    assert not Track("MPEG-4 Audio").is_video
    assert not Track("h264").is_video  # MediaMTX's spelling only


def test_observed_path_is_the_path_built_by_name() -> None:
    # Every field a different value, so a field out of order cannot go unnoticed.
    fields: dict[str, Any] = {
        "name": "cam1", "online": True, "available": False, "inbound_bytes": 11,
        "outbound_bytes": 22, "readers": 3, "frames_in_error": 4, "online_since": 5.5,
        "source_type": "rtspSession", "tracks": (Track("H264", 2, 1),), "codec": "H264",
        "resolution": "2x1", "configured": True,
    }  # fmt: skip
    built = observed_path(**fields)
    assert type(built) is PathObservation
    assert built == PathObservation(**fields)
    assert built._asdict() == fields


@pytest.mark.parametrize(
    ("online", "available", "placeholder"),
    [(True, True, False), (False, True, True), (False, False, False)],
)
def test_a_placeholder_is_available_without_a_publisher(
    online: bool, available: bool, placeholder: bool
) -> None:
    path = PathObservation("lobby", online, available, 0, 0, 0)
    assert path.placeholder is placeholder


def camera(name: str, state: State) -> CameraHealth:
    return CameraHealth(name, state, (), online=state != "down")


def test_the_summary_counts_every_state_even_absent_ones() -> None:
    report = HealthReport(1.0, (camera("a", "ok"), camera("b", "ok"), camera("c", "down")))
    assert report.summary == {"ok": 2, "degraded": 0, "down": 1, "parked": 0}
    assert list(report.summary) == ["ok", "degraded", "down", "parked"]


@pytest.mark.parametrize(
    ("states", "error", "healthy"),
    [
        (("ok", "parked"), None, True),
        ((), None, True),
        (("ok", "degraded"), None, False),
        (("ok", "down"), None, False),
        (("ok",), UnreachableError("MediaMTX API: connection refused"), False),
        ((), UnreachableError("MediaMTX API: connection refused"), False),
    ],
    ids=["ok-and-parked", "empty", "degraded", "down", "unreachable", "unreachable-empty"],
)
def test_healthy_means_mediamtx_answered_and_every_unparked_camera_is_ok(
    states: tuple[State, ...], error: UnreachableError | None, healthy: bool
) -> None:
    cameras = tuple(camera(f"cam{index}", state) for index, state in enumerate(states))
    report = HealthReport(1.0, cameras, error)
    assert report.mediamtx_reachable is (error is None)
    assert report.healthy is healthy


def test_the_history_looked_at_is_the_longer_of_the_stall_and_frames_windows() -> None:
    assert Thresholds().history_seconds == 10.0
    assert Thresholds(stall_after=30.0, frames_error_window=10.0).history_seconds == 30.0
    assert Thresholds(stall_after=1.5, frames_error_window=2.0).history_seconds == 2.0


def test_the_reason_sets_name_only_known_reasons_once() -> None:
    """The health model sorts reasons by their place in REASONS (one it does not know
    has none) and picks the state from DOWN_REASONS; AGENT_REASONS are the ones kept when
    MediaMTX cannot be seen."""
    assert len(set(REASONS)) == len(REASONS)
    assert set(REASONS).issuperset(DOWN_REASONS)
    assert set(REASONS).issuperset(AGENT_REASONS)
