"""The per-camera /metrics families, rendered incrementally: only what changed since the
last poll.

At 10,000 cameras the per-camera families are ~140,000 samples; building them as
``Sample`` values and rendering them with prometheus-client costs ~1.5 s of CPU a poll.
Between two polls most of a camera's lines do not change (its state, reasons, agent
announcements, quality grade), and the ones that do (inbound bytes) are a few per
camera. :class:`CameraLines` keeps each camera's rendered lines, per group of families
fed by the same values, with those values; a new state re-renders a group only where its
values differ.

The text is what ``generate_latest`` renders for the reference families of
:func:`~trashmonitor.monitor.export.camera_families` and
:func:`~trashmonitor.monitor.history_export.history_families`, byte for byte (a test
holds the two equal over random sequences of states); those still build the ``Sample``
values, lazily, for whoever reads ``samples`` (``registry.get_sample_value``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import cast

from prometheus_client.utils import floatToGoString

from trashmonitor.capture.machine import State as AgentStreamState
from trashmonitor.monitor.history import AVAILABLE_STATES, COUNTED_STATES
from trashmonitor.monitor.model import STATES, AgentView, CameraHealth, HealthReport
from trashmonitor.monitor.quality import CameraQuality

# The order of the per-camera families on /metrics (after trashmon_cameras), as the
# reference builds them; the last two (availability, incidents) are not per camera.
CAMERA_FAMILY_COUNT = 24
_CORE = (0, 1, 2, 4, 5, 23)
"""state, reason, online, readers, frames in error, available: from state and counts."""
_INBOUND = (3, 6)
_AGENT = tuple(range(7, 18))
_QUALITY = tuple(range(18, 23))

# The agent states in the order the reference renders trashmon_agent_state.
_AGENT_STREAM_STATES = tuple(str(state) for state in AgentStreamState)
_ONE, _ZERO = "1.0", "0.0"
# prometheus-client's own number format (Go's), so the text matches its rendering.
_go_float = cast(Callable[[float], str], floatToGoString)


def escape_label_value(value: str) -> str:
    """prometheus-client's escaping of a label value (backslash, newline, quote)."""
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def site_pair(site: str) -> str:
    """The ``site`` label as prometheus-client writes it after ``camera`` (labels are
    written sorted: camera, grade, reason, site, state); "" for the unnamed MediaMTX."""
    return f',site="{escape_label_value(site)}"' if site else ""


def _value(name: str, label: str, site: str, value: float) -> str:
    return f'{name}{{camera="{label}"{site}}} {_go_float(value)}\n'


def _core(label: str, site: str, camera: CameraHealth) -> tuple[str, str, str, str, str, str]:
    state = "".join(
        f'trashmon_camera_state{{camera="{label}"{site},state="{candidate}"}} '
        f"{_ONE if candidate == camera.state else _ZERO}\n"
        for candidate in STATES
    )
    reasons = "".join(
        f'trashmon_camera_reason{{camera="{label}",reason="{reason}"{site}}} 1.0\n'
        for reason in camera.reasons
    )
    online = _value("trashmon_camera_online", label, site, 1 if camera.online else 0)
    readers = (
        ""
        if camera.readers is None
        else _value("trashmon_camera_readers", label, site, camera.readers)
    )
    frames = (
        ""
        if camera.frames_in_error is None
        else _value("trashmon_camera_frames_in_error_total", label, site, camera.frames_in_error)
    )
    available = (
        _value("trashmon_camera_available", label, site, camera.state in AVAILABLE_STATES)
        if camera.state in COUNTED_STATES
        else ""
    )
    return state, reasons, online, readers, frames, available


def _inbound(label: str, site: str, camera: CameraHealth) -> tuple[str, str]:
    inbound = (
        ""
        if camera.inbound_bytes is None
        else _value("trashmon_camera_inbound_bytes_total", label, site, camera.inbound_bytes)
    )
    last = (
        ""
        if camera.last_inbound_at is None
        else _value(
            "trashmon_camera_last_inbound_timestamp_seconds", label, site, camera.last_inbound_at
        )
    )
    return inbound, last


_NO_AGENT = ("",) * len(_AGENT)


def _agent(label: str, site: str, agent: AgentView | None) -> tuple[str, ...]:
    if agent is None:
        return _NO_AGENT
    online = _value("trashmon_agent_online", label, site, 1 if agent.online else 0)
    if agent.last_state_at is None:  # heard on its status topic only
        return (online, *_NO_AGENT[1:])

    def optional(name: str, value: float | None) -> str:
        return "" if value is None else _value(name, label, site, value)

    states = "".join(
        f'trashmon_agent_state{{camera="{label}"{site},state="{candidate}"}} '
        f"{_ONE if candidate == agent.stream_state else _ZERO}\n"
        for candidate in _AGENT_STREAM_STATES
    )
    bitrate = None if agent.bitrate_bps is None else agent.bitrate_bps / 8
    present = None if agent.device_present is None else int(agent.device_present)
    return (
        online,
        _value("trashmon_agent_last_state_timestamp_seconds", label, site, agent.last_state_at),
        states,
        optional("trashmon_agent_fps", agent.fps),
        optional("trashmon_agent_target_fps", agent.target_fps),
        _value("trashmon_agent_restarts", label, site, agent.restarts),
        optional("trashmon_agent_consecutive_failures", agent.consecutive_failures),
        _value("trashmon_agent_black_image", label, site, int(agent.black)),
        _value("trashmon_agent_frozen_image", label, site, int(agent.frozen)),
        optional("trashmon_agent_device_present", present),
        optional("trashmon_agent_bitrate_bytes_per_second", bitrate),
    )


_NO_QUALITY = ("",) * len(_QUALITY)


def _quality(label: str, site: str, quality: CameraQuality | None) -> tuple[str, ...]:
    if quality is None:
        return _NO_QUALITY
    ratio = quality.fps_ratio
    return (
        f'trashmon_camera_quality{{camera="{label}",grade="{quality.grade}"{site}}} 1.0\n',
        _value("trashmon_camera_quality_level", label, site, quality.level),
        _value("trashmon_camera_reconnects_last_hour", label, site, quality.reconnects),
        _value("trashmon_camera_stalls_last_hour", label, site, quality.stalls),
        "" if ratio is None else _value("trashmon_camera_fps_ratio", label, site, ratio),
    )


class _Camera:
    """One camera's lines (one string per family, possibly empty) and what fed them."""

    __slots__ = ("health", "label", "lines", "quality", "site")

    def __init__(self, camera: CameraHealth, quality: CameraQuality | None, site: str) -> None:
        self.label = escape_label_value(camera.name)
        self.site = site
        self.health = camera
        self.quality = quality
        lines = [""] * CAMERA_FAMILY_COUNT
        _put(lines, _CORE, _core(self.label, self.site, camera))
        _put(lines, _INBOUND, _inbound(self.label, self.site, camera))
        _put(lines, _AGENT, _agent(self.label, self.site, camera.agent))
        _put(lines, _QUALITY, _quality(self.label, self.site, quality))
        self.lines = lines

    def update(self, camera: CameraHealth, quality: CameraQuality | None) -> None:
        """Re-render the groups whose values changed."""
        old = self.health
        if old is not camera:
            if (
                old.state != camera.state
                or old.reasons != camera.reasons
                or old.online != camera.online
                or old.readers != camera.readers
                or old.frames_in_error != camera.frames_in_error
            ):
                _put(self.lines, _CORE, _core(self.label, self.site, camera))
            if (
                old.inbound_bytes != camera.inbound_bytes
                or old.last_inbound_at != camera.last_inbound_at
            ):
                _put(self.lines, _INBOUND, _inbound(self.label, self.site, camera))
            if old.agent is not camera.agent and old.agent != camera.agent:
                _put(self.lines, _AGENT, _agent(self.label, self.site, camera.agent))
            self.health = camera
        if self.quality is not quality and self.quality != quality:
            _put(self.lines, _QUALITY, _quality(self.label, self.site, quality))
        self.quality = quality


def _put(lines: list[str], indexes: tuple[int, ...], values: tuple[str, ...]) -> None:
    for index, value in zip(indexes, values, strict=True):
        lines[index] = value


class CameraLines:
    """Each camera's rendered lines, kept across states; :meth:`render` gives the sample
    text of every per-camera family for a new report, re-rendering only what changed.
    Not thread-safe: the collector renders one state at a time.

    One instance per MediaMTX: with several sites each site's collector has its own, so a
    camera's entry is the (site, path) one and its lines carry ``site`` (a site's cameras
    are all its own: two sites listing the same path name never share an entry)."""

    def __init__(self, site: str = "") -> None:
        self._cameras: dict[str, _Camera] = {}
        self._site = site_pair(site)

    def render(
        self, report: HealthReport | None, quality: Mapping[str, CameraQuality]
    ) -> list[str]:
        """The sample lines of each of the :data:`CAMERA_FAMILY_COUNT` families, in the
        reference order, cameras in the report's order."""
        kept = self._cameras
        cameras: dict[str, _Camera] = {}
        rows: list[list[str]] = []
        for camera in report.cameras if report is not None else ():
            seen = quality.get(camera.name)
            entry = kept.get(camera.name)
            if entry is None:
                entry = _Camera(camera, seen, self._site)
            else:
                entry.update(camera, seen)
            cameras[camera.name] = entry
            rows.append(entry.lines)
        self._cameras = cameras  # vanished cameras are dropped with their lines
        return ["".join([row[index] for row in rows]) for index in range(CAMERA_FAMILY_COUNT)]
