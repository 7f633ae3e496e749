"""Connection quality per camera: how often it reconnects and stalls, how close its fps
is to its target, and a grade. A pure function of successive health reports and the
clock (time is an input), with bounded memory.

What counts (docs/monitor.md, "Connection quality"):

* a **reconnect** is a new publisher session seen by MediaMTX (the path comes back
  online, or its ``readyTime`` changes while online), or an ffmpeg restart the agent
  announces (its ``restarts`` count grows, or drops because the agent itself
  restarted). One ffmpeg restart usually shows both ways, so the hour's count is the
  larger of the two, not their sum; the agent's count also catches restarts quicker
  than a poll.
* a **stall** is the ``stalled`` reason appearing (one per stall, however long).
* the **fps ratio** is the agent's announced fps over its target (None without both).

Events older than :data:`WINDOW_SECONDS` are dropped, and each camera keeps at most
:data:`MAX_EVENTS` of each kind (a count saturates there); cameras no longer reported
are forgotten.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from trashmonitor.monitor.model import CameraHealth, HealthReport

Grade = Literal["excellent", "good", "fair", "poor", "unusable"]
GRADES: Final[tuple[Grade, ...]] = ("excellent", "good", "fair", "poor", "unusable")
"""Best first; ``trashmon_camera_quality_level`` is 4 for excellent down to 0."""

WINDOW_SECONDS: Final = 3600.0
MAX_EVENTS: Final = 1000


@dataclass(frozen=True)
class QualityThresholds:
    """The grade's limits, declared once: the model grades with them, the alert rules
    and dashboards read them through alerts/config.py.

    A camera gets the best grade whose three limits it meets: at most ``reconnects``
    and ``stalls`` in the last hour, and an fps ratio of at least ``fps_ratio`` (not
    checked while unknown). A camera that is ``down`` now is ``unusable``.
    """

    excellent: tuple[int, int, float] = (0, 0, 0.95)
    good: tuple[int, int, float] = (2, 1, 0.9)
    fair: tuple[int, int, float] = (5, 3, 0.75)
    poor: tuple[int, int, float] = (12, 6, 0.5)

    def limits(self) -> tuple[tuple[Grade, tuple[int, int, float]], ...]:
        return (
            ("excellent", self.excellent),
            ("good", self.good),
            ("fair", self.fair),
            ("poor", self.poor),
        )


DEFAULT_QUALITY: Final = QualityThresholds()


@dataclass(frozen=True, slots=True)
class CameraQuality:
    reconnects: int
    """Reconnects in the last hour."""
    stalls: int
    """Stalls that began in the last hour."""
    fps_ratio: float | None
    grade: Grade

    @property
    def level(self) -> int:
        """4 for excellent down to 0 for unusable (what the dashboards plot)."""
        return len(GRADES) - 1 - GRADES.index(self.grade)


def grade(
    *,
    down: bool,
    reconnects: int,
    stalls: int,
    fps_ratio: float | None,
    thresholds: QualityThresholds = DEFAULT_QUALITY,
) -> Grade:
    if down:
        return "unusable"
    for name, (max_reconnects, max_stalls, min_ratio) in thresholds.limits():
        if (
            reconnects <= max_reconnects
            and stalls <= max_stalls
            and (fps_ratio is None or fps_ratio >= min_ratio)
        ):
            return name
    return "unusable"


def fps_ratio(camera: CameraHealth) -> float | None:
    agent = camera.agent
    if agent is None or not agent.online or agent.fps is None or not agent.target_fps:
        return None
    if agent.stream_state != "streaming":
        return None
    return agent.fps / agent.target_fps


def _events(times: deque[float] | None, now: float, count: int = 1) -> deque[float]:
    """``times`` (made if None) with ``count`` events at ``now`` added."""
    if times is None:
        times = deque(maxlen=MAX_EVENTS)
    times.extend([now] * count)
    return times


def _count(times: deque[float] | None, since: float) -> int:
    """Events at or after ``since``; older ones are dropped on the way."""
    if times is None:
        return 0
    while times and times[0] < since:
        times.popleft()
    return len(times)


class _Camera:
    """One camera's recent events (times, the last hour, at most MAX_EVENTS each) and
    what the last report said."""

    __slots__ = ("agent_restarts", "last", "online", "online_since", "restarts", "sessions",
                 "stalled", "stalls", "steady")  # fmt: skip

    def __init__(self) -> None:
        # Made at a camera's first event: most cameras have none, and an empty deque
        # is ~0.4 KB (three per camera were 22 MiB at 10,000 cameras).
        self.sessions: deque[float] | None = None
        self.restarts: deque[float] | None = None
        self.stalls: deque[float] | None = None
        self.online: bool | None = None
        self.online_since: float | None = None
        self.agent_restarts: int | None = None
        self.stalled = False
        self.last: CameraQuality | None = None
        self.steady = False
        """Online, not stalled, no event in the deques and ``last`` the grade of no
        trouble: the same report of a publisher without agent changes nothing."""


def _note_events(tracked: _Camera, camera: CameraHealth, reachable: bool, now: float) -> bool:
    """Count this poll's sessions, restarts and stalls into ``tracked``; whether the camera
    is stalled now."""
    if reachable:  # an unreachable MediaMTX says nothing about the publisher
        if camera.online and tracked.online is not None:
            came_back = not tracked.online
            new_session = (
                tracked.online_since is not None
                and camera.online_since is not None
                and camera.online_since != tracked.online_since
            )
            if came_back or new_session:
                tracked.sessions = _events(tracked.sessions, now)
        tracked.online = camera.online
        tracked.online_since = camera.online_since if camera.online else None
    agent = camera.agent
    if agent is not None and agent.last_state_at is not None:
        previous = tracked.agent_restarts
        if previous is not None and agent.restarts != previous:
            # Grew: ffmpeg restarts; dropped: the agent restarted (one reconnect).
            restarted = min(max(agent.restarts - previous, 1), MAX_EVENTS)
            tracked.restarts = _events(tracked.restarts, now, restarted)
        tracked.agent_restarts = agent.restarts
    stalled = "stalled" in camera.reasons
    if stalled and not tracked.stalled:
        tracked.stalls = _events(tracked.stalls, now)
    tracked.stalled = stalled
    return stalled


class QualityTracker:
    """Follows each camera across reports; :meth:`observe` is called once per poll."""

    def __init__(self, thresholds: QualityThresholds = DEFAULT_QUALITY) -> None:
        self.thresholds = thresholds
        self._cameras: dict[str, _Camera] = {}

    def observe(self, report: HealthReport, now: float) -> Mapping[str, CameraQuality]:
        seen: dict[str, CameraQuality] = {}
        # Looked up once, not for each of 10,000 cameras.
        reachable, cameras, follow = report.mediamtx_reachable, self._cameras, self._follow
        for camera in report.cameras:
            name = camera.name
            tracked = cameras.get(name)
            if tracked is None:
                tracked = cameras[name] = _Camera()
            elif (  # most cameras, most polls: streaming as before, nothing to follow
                tracked.steady
                and reachable
                and camera.online
                and not camera.reasons
                and camera.agent is None
                and camera.online_since == tracked.online_since
                and camera.state != "down"
                and (last := tracked.last) is not None
            ):
                seen[name] = last
                continue
            seen[name] = follow(tracked, camera, reachable, now)
        if len(self._cameras) > len(seen):  # some camera no longer reported (rare)
            for gone in self._cameras.keys() - seen.keys():
                del self._cameras[gone]
        return seen

    def _follow(
        self, tracked: _Camera, camera: CameraHealth, reachable: bool, now: float
    ) -> CameraQuality:
        stalled = _note_events(tracked, camera, reachable, now)
        agent = camera.agent
        # Most cameras, most polls: no event in the hour, nothing changed. Reuse the last
        # value rather than build one (10,000 cameras a second).
        if tracked.sessions or tracked.restarts or tracked.stalls:
            since = now - WINDOW_SECONDS
            reconnects = max(_count(tracked.sessions, since), _count(tracked.restarts, since))
            stalls = _count(tracked.stalls, since)
        else:
            reconnects = stalls = 0
        ratio = None if agent is None else fps_ratio(camera)
        down = camera.state == "down"
        last = tracked.last
        # What observe() needs to skip this camera next time (see _Camera.steady).
        tracked.steady = bool(
            tracked.online
            and not down
            and not stalled
            and not reconnects
            and not stalls
            and ratio is None
            and not (tracked.sessions or tracked.restarts or tracked.stalls)
        )
        if (  # a grade other than unusable was computed for a camera not down
            last is not None
            and not down
            and last.grade != "unusable"
            and last.reconnects == reconnects
            and last.stalls == stalls
            and last.fps_ratio == ratio
        ):
            return last
        tracked.last = CameraQuality(
            reconnects,
            stalls,
            ratio,
            grade(
                down=down,
                reconnects=reconnects,
                stalls=stalls,
                fps_ratio=ratio,
                thresholds=self.thresholds,
            ),
        )
        return tracked.last
