"""Connection quality and availability as /metrics families and /api/status fields.

Read from the :class:`~trashmonitor.monitor.model.MonitorState` of a poll, like every
other family (docs/contracts.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client.core import Metric
from prometheus_client.samples import Sample

from trashmonitor.monitor.families import gauge_family
from trashmonitor.monitor.history import (
    AVAILABLE_STATES,
    COUNTED_STATES,
    WINDOWS,
    CameraAvailability,
)
from trashmonitor.monitor.model import MonitorState
from trashmonitor.monitor.quality import CameraQuality

QUALITY = "trashmon_camera_quality"
QUALITY_LEVEL = "trashmon_camera_quality_level"
RECONNECTS = "trashmon_camera_reconnects_last_hour"
STALLS = "trashmon_camera_stalls_last_hour"
FPS_RATIO = "trashmon_camera_fps_ratio"
AVAILABLE = "trashmon_camera_available"
AVAILABILITY = "trashmon_camera_availability_ratio"
INCIDENTS = "trashmon_camera_incidents_last_day"


def history_families(state: MonitorState) -> list[Metric]:
    cameras = state.report.cameras if state.report is not None else ()
    quality = state.quality
    graded = [(camera.name, quality[camera.name]) for camera in cameras if camera.name in quality]
    return [
        # Only the current grade: 0 for the four others would add 40,000 samples at
        # 10,000 cameras (trashmon_camera_quality_level carries the grade as a number).
        gauge_family(QUALITY, "1, labelled with the camera's connection quality grade (excellent, "
               "good, fair, poor, unusable; limits in docs/monitor.md).", [
            Sample(QUALITY, {"camera": name, "grade": seen.grade}, 1) for name, seen in graded
        ]),
        gauge_family(QUALITY_LEVEL,
               "The connection quality grade as a number: 4 excellent, 3 good, "
               "2 fair, 1 poor, 0 unusable.", [
            Sample(QUALITY_LEVEL, {"camera": name}, seen.level) for name, seen in graded
        ]),
        gauge_family(RECONNECTS, "New publisher sessions or ffmpeg restarts in the last hour (the "
               "larger of the two counts).", [
            Sample(RECONNECTS, {"camera": name}, seen.reconnects) for name, seen in graded
        ]),
        gauge_family(STALLS, "Stalls (inbound bytes stopped with a publisher attached) that began "
               "in the last hour.", [
            Sample(STALLS, {"camera": name}, seen.stalls) for name, seen in graded
        ]),
        gauge_family(FPS_RATIO, "The agent's announced fps over its target fps (absent without "
               "both, or while the agent is not streaming).", [
            Sample(FPS_RATIO, {"camera": name}, seen.fps_ratio)
            for name, seen in graded if seen.fps_ratio is not None
        ]),
        gauge_family(AVAILABLE, "1 while the camera can be watched (ok or degraded), 0 while down; "
               "absent while parked. The availability objective's SLI.", [
            Sample(AVAILABLE, {"camera": camera.name}, 1 if camera.state in AVAILABLE_STATES else 0)
            for camera in cameras if camera.state in COUNTED_STATES
        ]),
        *availability_families(state.availability),
    ]  # fmt: skip


def availability_families(availability: Mapping[str, CameraAvailability]) -> list[Metric]:
    """Availability ratios and incident counts: refreshed once a minute, not per poll."""
    return [
        gauge_family(AVAILABILITY, "Share of the window the camera was ok or degraded, of the time "
               "it was observed and not parked (window: 1h, 1d, 30d; refreshed every minute).", [
            Sample(AVAILABILITY, {"camera": name, "window": window}, ratio)
            for name, seen in sorted(availability.items())
            for window, _ in WINDOWS
            if (ratio := seen.ratios.get(window)) is not None
        ]),
        gauge_family(INCIDENTS, "Incidents (down at least --incident-min) that began in the last "
               "day.", [
            Sample(INCIDENTS, {"camera": name}, seen.incidents_1d)
            for name, seen in sorted(availability.items())
        ]),
    ]  # fmt: skip


def camera_extras(state: MonitorState) -> dict[str, dict[str, Any]]:
    """Per camera, the ``quality`` and ``availability`` objects of /api/status."""
    names = state.report.cameras if state.report is not None else ()
    return {
        camera.name: camera_extra(
            state.quality.get(camera.name), state.availability.get(camera.name)
        )
        for camera in names
    }


def camera_extra(
    quality: CameraQuality | None, availability: CameraAvailability | None
) -> dict[str, Any]:
    """One camera's ``quality`` and ``availability`` objects of /api/status."""
    return {
        "quality": None
        if quality is None
        else {
            "grade": quality.grade,
            "reconnects_last_hour": quality.reconnects,
            "stalls_last_hour": quality.stalls,
            "fps_ratio": None if quality.fps_ratio is None else round(quality.fps_ratio, 3),
        },
        "availability": None
        if availability is None
        else {
            **{window: availability.ratios.get(window) for window, _ in WINDOWS},
            "incidents_last_day": availability.incidents_1d,
        },
    }
