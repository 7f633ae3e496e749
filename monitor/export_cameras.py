"""The per-camera /metrics families, rendered incrementally: only what changed since the
last poll.

At 10,000 cameras the per-camera families are ~140,000 samples; building them as
``Sample`` values and rendering them with prometheus-client costs ~1.5 s of CPU a poll.
Between two polls most of a camera's lines do not change (its state, reasons, agent
announcements, quality grade), and the ones that do (inbound bytes) are a few per
camera. :class:`CameraLines` keeps each camera's part of each family, per group of
families fed by the same values, with those values; a new state re-renders a group only
where its values differ. To keep the memory low at 10,000 cameras, a camera's part is
its rendered lines (``bytes``) only for the reasons and quality grade families; for the
state families it is the current state's name, for the others its number's text (shared
between cameras), and those lines are written when a family is joined.

The text is what ``generate_latest`` renders for the reference families of
:func:`~trashmonitor.monitor.export.camera_families` and
:func:`~trashmonitor.monitor.history_export.history_families`, byte for byte (a test
holds the two equal over random sequences of states); those still build the ``Sample``
values, lazily, for whoever reads ``samples`` (``registry.get_sample_value``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import cast

from prometheus_client.utils import floatToGoString

from trashmonitor.capture.model import State as AgentStreamState
from trashmonitor.monitor.history import (
    AVAILABLE_STATES,
    COUNTED_STATES,
    WINDOWS,
    CameraAvailability,
)
from trashmonitor.monitor.model import STATES, AgentView, CameraHealth, HealthReport
from trashmonitor.monitor.quality import CameraQuality

# The order of the per-camera families on /metrics (after trashmon_cameras), as the
# reference builds them; the last two (availability, incidents) are not per camera.
CAMERA_FAMILY_COUNT = 24
_CORE = (0, 1, 2, 4, 5, 23)
"""state, reason, online, readers, frames in error, available: from state and counts."""
_INBOUND = (3, 6)
_INBOUND_NAMES = (
    "trashmon_camera_inbound_bytes_total",
    "trashmon_camera_last_inbound_timestamp_seconds",
)
_AGENT = tuple(range(7, 18))
_QUALITY = tuple(range(18, 23))
# The families of several lines a camera (or none): kept as each camera's rendered
# lines. Every other family has one sample a camera at most: each camera keeps only its
# number's text (most are shared: 0, 1, small counts) and the lines are written when
# the family is joined, from the camera's labels (a third of the memory).
_MULTI_LINE = frozenset({1, 18})
_SAMPLE_NAMES = {
    2: "trashmon_camera_online",
    4: "trashmon_camera_readers",
    5: "trashmon_camera_frames_in_error_total",
    7: "trashmon_agent_online",
    8: "trashmon_agent_last_state_timestamp_seconds",
    10: "trashmon_agent_fps",
    11: "trashmon_agent_target_fps",
    12: "trashmon_agent_restarts",
    13: "trashmon_agent_consecutive_failures",
    14: "trashmon_agent_black_image",
    15: "trashmon_agent_frozen_image",
    16: "trashmon_agent_device_present",
    17: "trashmon_agent_bitrate_bytes_per_second",
    19: "trashmon_camera_quality_level",
    20: "trashmon_camera_reconnects_last_hour",
    21: "trashmon_camera_stalls_last_hour",
    22: "trashmon_camera_fps_ratio",
    23: "trashmon_camera_available",
}
# The state families (one line per candidate state, 1 for the current one): each camera
# keeps its current state's name, its lines are written at the join.
_STATE_FAMILIES = {0: "trashmon_camera_state", 9: "trashmon_agent_state"}
_Line = bytes | str | None
"""A camera's part of a family: its lines (multi-line families, b"" for none) or its
number's text (None for no sample)."""

# The agent states in the order the reference renders trashmon_agent_state.
_AGENT_STREAM_STATES = tuple(str(state) for state in AgentStreamState)
_ONE, _ZERO = "1.0", "0.0"
# prometheus-client's own number format (Go's), so the text matches its rendering.
_go_float = cast(Callable[[float], str], floatToGoString)
# Integers below this are exact as floats, and their repr is their digits and ".0".
_EXACT_INTEGERS = 2**53


def go_number(value: float) -> str:
    """What prometheus-client's ``floatToGoString`` writes for ``value``, by shorter ways
    for the numbers that move at every poll (byte counters: integers; timestamps:
    positive floats), by that function for any other."""
    kind: type = type(value)
    if kind is int and 0 <= value < _EXACT_INTEGERS:
        digits = str(value)
        if len(digits) <= 6:
            return digits + ".0"
        mantissa = f"{digits[0]}.{digits[1:]}".rstrip("0.")
        return f"{mantissa}e+{len(digits) - 1:02d}"
    if kind is float and 0.0 < value < math.inf:
        text = repr(value)
        dot = text.find(".")
        if dot > 6:
            mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1 :]}".rstrip("0.")
            return f"{mantissa}e+{dot - 1:02d}"
        return text
    return _go_float(value)


def escape_label_value(value: str) -> str:
    """prometheus-client's escaping of a label value (backslash, newline, quote)."""
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def site_pair(site: str) -> str:
    """The ``site`` label as prometheus-client writes it after ``camera`` (labels are
    written sorted: camera, grade, reason, site, state); "" for the unnamed MediaMTX."""
    return f',site="{escape_label_value(site)}"' if site else ""


# The number texts of the single-sample families, shared between cameras (most values
# are 0, 1 or a few small integers); positive values only, 0 apart: 0, 0.0 and -0.0
# are equal keys written differently.
_NUMBER_TEXTS: dict[float, str] = {}
_NUMBER_TEXTS_KEPT = 4096


def _number(value: float) -> str:
    """``floatToGoString(value)``, the same ``str`` for equal common values."""
    if value == 0 and type(value) is not float:
        return _ZERO
    text = _NUMBER_TEXTS.get(value) if value > 0 else None
    if text is None:
        text = _go_float(value)
        if value > 0 and len(_NUMBER_TEXTS) < _NUMBER_TEXTS_KEPT:
            _NUMBER_TEXTS[value] = text
    return text


def _core(label: str, site: str, camera: CameraHealth) -> tuple[_Line, ...]:
    state = camera.state
    reasons = "".join(
        f'trashmon_camera_reason{{camera="{label}",reason="{reason}"{site}}} 1.0\n'
        for reason in camera.reasons
    ).encode()
    online = _number(1 if camera.online else 0)
    readers = None if camera.readers is None else _number(camera.readers)
    frames = None if camera.frames_in_error is None else _number(camera.frames_in_error)
    available = (
        _number(camera.state in AVAILABLE_STATES) if camera.state in COUNTED_STATES else None
    )
    return state, reasons, online, readers, frames, available


def _number_lines(
    header: bytes, name: str, labels: Sequence[str], values: Sequence[float | None]
) -> bytes:
    """One family's text: ``header``, then the sample lines ``name{labels} value`` from
    each camera's labels (without the closing brace) and its value (no line without a
    value)."""
    # Many cameras share a value (the poll's time, when their bytes last grew): each
    # is written once. Only positive ones are kept: 0, 0.0 and -0.0 are equal keys that
    # are written differently.
    written: dict[float, str] = {}
    parts: list[str] = []
    add = parts.extend
    for camera_labels, value in zip(labels, values, strict=True):
        if value is None:
            continue
        number = written.get(value)
        if number is None:
            number = go_number(value)
            if value > 0:
                written[value] = number
        add((name, camera_labels, "} ", number, "\n"))
    return header + "".join(parts).encode()


_NO_AGENT = tuple(b"" if index in _MULTI_LINE else None for index in _AGENT)


def _agent(label: str, site: str, agent: AgentView | None) -> tuple[_Line, ...]:
    if agent is None:
        return _NO_AGENT
    online = _number(1 if agent.online else 0)
    if agent.last_state_at is None:  # heard on its status topic only
        return (online, *_NO_AGENT[1:])

    def optional(value: float | None) -> str | None:
        return None if value is None else _number(value)

    # None (not announced) is no candidate: every line 0, as for an unknown state.
    states = "" if agent.stream_state is None else agent.stream_state
    bitrate = None if agent.bitrate_bps is None else agent.bitrate_bps / 8
    present = None if agent.device_present is None else int(agent.device_present)
    return (
        online,
        _number(agent.last_state_at),
        states,
        optional(agent.fps),
        optional(agent.target_fps),
        _number(agent.restarts),
        optional(agent.consecutive_failures),
        _number(int(agent.black)),
        _number(int(agent.frozen)),
        optional(present),
        optional(bitrate),
    )


_NO_QUALITY = tuple(b"" if index in _MULTI_LINE else None for index in _QUALITY)


def _quality(label: str, site: str, quality: CameraQuality | None) -> tuple[_Line, ...]:
    if quality is None:
        return _NO_QUALITY
    ratio = quality.fps_ratio
    return (
        f'trashmon_camera_quality{{camera="{label}",grade="{quality.grade}"{site}}} 1.0\n'.encode(),
        _number(quality.level),
        _number(quality.reconnects),
        _number(quality.stalls),
        None if ratio is None else _number(ratio),
    )


# Which groups of families :meth:`_Camera.update` rendered again (a bit mask).
_CORE_CHANGED, _AGENT_CHANGED, _QUALITY_CHANGED = 1, 2, 4
_GROUPS = ((_CORE_CHANGED, _CORE), (_AGENT_CHANGED, _AGENT), (_QUALITY_CHANGED, _QUALITY))


class _Camera:
    """One camera's part of each family (:data:`_Line`; none for the inbound families)
    and what fed it.

    The lines of the single-sample and state families, and the inbound ones (they move
    at every poll of a streaming camera), are written when a family is joined, from the
    camera's ``opening`` (``{camera="…"`` and its ``site``): :class:`CameraLines`."""

    __slots__ = ("health", "lines", "opening", "quality", "site")

    def __init__(self, camera: CameraHealth, quality: CameraQuality | None, site: str) -> None:
        label = escape_label_value(camera.name)
        self.site = site
        self.health = camera
        self.quality = quality
        self.opening = f'{{camera="{label}"{site}'
        lines: list[_Line] = [None] * CAMERA_FAMILY_COUNT
        _put(lines, _CORE, _core(label, site, camera))
        _put(lines, _AGENT, _agent(label, site, camera.agent))
        _put(lines, _QUALITY, _quality(label, site, quality))
        self.lines = lines

    def update(self, camera: CameraHealth, quality: CameraQuality | None) -> int:
        """Re-render the groups whose values changed; which ones, as a bit mask."""
        changed = 0
        old = self.health
        site = self.site
        if old is not camera:
            if (
                old.state != camera.state
                or old.reasons != camera.reasons
                or old.online != camera.online
                or old.readers != camera.readers
                or old.frames_in_error != camera.frames_in_error
            ):
                _put(self.lines, _CORE, _core(escape_label_value(camera.name), site, camera))
                changed |= _CORE_CHANGED
            if old.agent is not camera.agent and old.agent != camera.agent:
                label = escape_label_value(camera.name)
                _put(self.lines, _AGENT, _agent(label, site, camera.agent))
                changed |= _AGENT_CHANGED
            self.health = camera
        if self.quality is not quality and self.quality != quality:
            label = escape_label_value(camera.name)
            _put(self.lines, _QUALITY, _quality(label, site, quality))
            changed |= _QUALITY_CHANGED
        self.quality = quality
        return changed


def _put(lines: list[_Line], indexes: tuple[int, ...], values: tuple[_Line, ...]) -> None:
    for index, value in zip(indexes, values, strict=True):
        lines[index] = value


class CameraLines:
    """Each camera's rendered lines, kept across states; :meth:`render` gives the sample
    text of every per-camera family for a new report, re-rendering only what changed.
    Not thread-safe: the collector renders one state at a time.

    Each family's joined text is kept too: a family none of whose lines changed (most of
    them from one poll to the next: only the inbound ones move for every streaming
    camera) is not joined again.

    One instance per MediaMTX: with several sites each site's collector has its own, so a
    camera's entry is the (site, path) one and its lines carry ``site`` (a site's cameras
    are all its own: two sites listing the same path name never share an entry)."""

    def __init__(self, site: str = "", headers: Sequence[bytes] | None = None) -> None:
        self._cameras: dict[str, _Camera] = {}
        self._order: list[_Camera] = []
        # Each family's # HELP and # TYPE lines, written before its samples (the family's
        # whole text is kept once, as one bytes object).
        self._headers: Sequence[bytes] = [b""] * CAMERA_FAMILY_COUNT if headers is None else headers
        self._texts: list[bytes] | None = None
        self._site = site_pair(site)
        # The inbound families: each camera's labels, in order, and the last values.
        self._inbound_labels: list[str] = []
        self._inbound: tuple[list[int | None], list[float | None]] = ([], [])

    def render(
        self, report: HealthReport | None, quality: Mapping[str, CameraQuality]
    ) -> list[bytes]:
        """The text of each of the :data:`CAMERA_FAMILY_COUNT` families (its header, then
        its sample lines), in the reference order, cameras in the report's order. A
        family whose text did not change is the very same ``bytes`` object as in the
        last call."""
        kept = self._cameras
        cameras: dict[str, _Camera] = {}
        order: list[_Camera] = []
        changed = 0
        health = report.cameras if report is not None else ()
        for camera in health:
            seen = quality.get(camera.name)
            entry = kept.get(camera.name)
            if entry is None:
                entry = _Camera(camera, seen, self._site)
            else:
                changed |= entry.update(camera, seen)
            cameras[camera.name] = entry
            order.append(entry)
        self._cameras = cameras  # vanished cameras are dropped with their lines
        last_texts = self._texts
        moved = last_texts is None or order != self._order  # cameras came, went or moved
        texts = [b""] * CAMERA_FAMILY_COUNT if last_texts is None else list(last_texts)
        for group, indexes in _GROUPS:
            if moved or changed & group:
                for index in indexes:
                    texts[index] = _joined(self._headers[index], order, index)
        if moved:
            self._inbound_labels = [entry.opening for entry in order]
        inbound = (
            [camera.inbound_bytes for camera in health],
            [camera.last_inbound_at for camera in health],
        )
        for family, index in enumerate(_INBOUND):
            if moved or inbound[family] != self._inbound[family]:
                texts[index] = _number_lines(
                    self._headers[index],
                    _INBOUND_NAMES[family],
                    self._inbound_labels,
                    inbound[family],
                )
        self._order, self._texts, self._inbound = order, texts, inbound
        return texts


def _joined(header: bytes, cameras: list[_Camera], index: int) -> bytes:
    if index in _MULTI_LINE:
        return header + b"".join([cast(bytes, camera.lines[index]) for camera in cameras])
    # The lines are joined from their parts (existing strings): no short-lived string
    # per line, whose thousands of small blocks would be left scattered in the heap.
    parts: list[str] = []
    add = parts.extend
    state_name = _STATE_FAMILIES.get(index)
    if state_name is not None:
        candidates = _AGENT_STREAM_STATES if index == 9 else STATES
        for camera in cameras:
            current = cast("str | None", camera.lines[index])
            if current is not None:
                for suffix in _state_suffixes(candidates, current):
                    add((state_name, camera.opening, suffix))
        return header + "".join(parts).encode()
    name = _SAMPLE_NAMES[index]
    for camera in cameras:
        number = cast("str | None", camera.lines[index])
        if number is not None:
            add((name, camera.opening, "} ", number, "\n"))
    return header + "".join(parts).encode()


@lru_cache(maxsize=64)
def _state_suffixes(candidates: tuple[str, ...], current: str) -> tuple[str, ...]:
    """The end of each line of a state family (``,state="…"} 1.0``) for ``current``
    (a stream state an agent announces may be none of the candidates: all 0)."""
    return tuple(
        f',state="{candidate}"}} {_ONE if candidate == current else _ZERO}\n'
        for candidate in candidates
    )


class AvailabilityLines:
    """The sample text of the availability families (ratio per window, incidents of the
    last day). The history recomputes its availability mapping every few seconds; equal
    figures are one object there (``HistoryStore.refresh``), so the end of each line
    (``",window="1h"} 0.98``…) is written once per distinct value and every camera's
    lines are joined from its label and those ends: nothing is kept per camera between
    renders. Equal, byte for byte, to prometheus-client's render of
    :func:`~trashmonitor.monitor.history_export.availability_families`.
    Not thread-safe, like :class:`CameraLines`; one instance per site."""

    def __init__(self, site: str = "") -> None:
        self._site = site_pair(site)
        self._names: list[str] = []
        self._name_set: frozenset[str] = frozenset()
        self._labels: list[str] = []

    def render(self, availability: Mapping[str, CameraAvailability]) -> tuple[bytes, bytes]:
        """(ratio lines, incident lines), cameras sorted by name as the reference."""
        if availability.keys() != self._name_set:
            self._names = sorted(availability)
            self._name_set = frozenset(self._names)
            # escape_label_value hands the name itself back when nothing is escaped.
            self._labels = [escape_label_value(name) for name in self._names]
        ends: dict[int, tuple[tuple[str, ...], str]] = {}
        ratio_parts: list[str] = []
        incident_parts: list[str] = []
        add_ratio, add_incident = ratio_parts.extend, incident_parts.extend
        for name, label in zip(self._names, self._labels, strict=True):
            seen = availability[name]
            written = ends.get(id(seen))  # the mapping keeps ``seen`` alive meanwhile
            if written is None:
                written = ends[id(seen)] = self._ends(seen)
            for end in written[0]:
                add_ratio((_RATIO_OPENING, label, end))
            add_incident((_INCIDENTS_OPENING, label, written[1]))
        return "".join(ratio_parts).encode(), "".join(incident_parts).encode()

    def _ends(self, seen: CameraAvailability) -> tuple[tuple[str, ...], str]:
        """What follows a camera's label on each of its lines, for figures ``seen``."""
        ratios = tuple(
            f'"{self._site},window="{window}"}} {go_number(ratio)}\n'
            for window, _ in WINDOWS
            if (ratio := seen.ratios.get(window)) is not None
        )
        return ratios, f'"{self._site}}} {go_number(seen.incidents_1d)}\n'


_RATIO_OPENING = 'trashmon_camera_availability_ratio{camera="'
_INCIDENTS_OPENING = 'trashmon_camera_incidents_last_day{camera="'
