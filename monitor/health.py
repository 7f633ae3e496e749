"""The health model: a pure function from observations and the clock to camera states.

Inputs are values only (snapshots of the path list over time with the metrics read in
the same poll, the agents' MQTT views, the parked set, thresholds and ``now``), so
tests need neither I/O nor sleeps.

Each camera gets one state and machine-readable reasons (docs/monitor.md):

* ``down`` when nobody can watch it: ``no_publisher``, ``placeholder`` (MediaMTX shows
  its "stream is offline" picture), ``stalled`` (a publisher is attached but inbound
  bytes stopped growing), ``agent_without_publisher`` (the agent is up but nothing
  reaches MediaMTX), ``mediamtx_unreachable``.
* ``degraded`` when it can be watched but something is wrong: ``frames_in_error``
  (rising), ``agent_offline``, ``agent_stale``, ``black_image``, ``frozen_image``,
  ``low_fps``, ``publisher_without_agent``.
* ``parked`` for cameras an operator set aside: never failing, no reasons (so no
  reason-based alert can fire for them).
* ``ok`` otherwise.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Final, NamedTuple

from trashmonitor.errors import TrashmonError
from trashmonitor.monitor.model import (
    AGENT_REASONS,
    DOWN_REASONS,
    REASONS,
    AgentView,
    CameraHealth,
    HealthReport,
    PathObservation,
    PathsSnapshot,
    State,
    Thresholds,
)
from trashmonitor.monitor.past_polls import PastPaths, lowest_frames_in_error

_ORDER = {reason: index for index, reason in enumerate(REASONS)}
DEFAULT_THRESHOLDS: Final = Thresholds()
STALE_HEARTBEATS: Final = 2.5


def state_for(reasons: Collection[str], parked: bool) -> State:
    if parked:
        return "parked"
    if not DOWN_REASONS.isdisjoint(reasons):
        return "down"
    return "degraded" if reasons else "ok"


class Judging(NamedTuple):
    """What a judgement reads besides the history: one value for :func:`evaluate` and
    :meth:`Evaluator.evaluate`.

    ``known`` names cameras seen before that must not silently vanish when MediaMTX
    drops their path (paths created on demand disappear with their publisher).
    ``agents`` is None when no agent observer is configured; then no agent reasons
    apply. ``mediamtx_error`` says why the current poll failed (None: it did not).
    """

    now: float
    thresholds: Thresholds = DEFAULT_THRESHOLDS
    parked: Collection[str] = frozenset()
    agents: Mapping[str, AgentView] | None = None
    known: Collection[str] = ()
    mediamtx_error: TrashmonError | None = None


def _camera_names(paths: Mapping[str, PathObservation], judging: Judging) -> list[str]:
    """Every camera to judge, sorted: the listed paths, the known cameras and the
    agents. Most polls the known cameras and agents are all listed, and MediaMTX lists
    paths in name order: then sorting the listing alone is one quick pass over it."""
    missing = [name for name in judging.known if name not in paths]
    if judging.agents is not None:
        missing.extend(name for name in judging.agents if name not in paths)
    if not missing:
        return sorted(paths)
    return sorted({*paths, *missing})


def evaluate(history: Sequence[PathsSnapshot], judging: Judging) -> HealthReport:
    """Judge every camera.

    ``history`` is oldest first; its last snapshot is the current poll (unless
    ``judging.mediamtx_error`` says the current poll failed). ``judging`` says the rest
    (``evaluate(history, Judging(now, parked=…))``).
    """
    if judging.mediamtx_error is not None:
        return _unreachable(history, judging, judging.mediamtx_error)
    agents, paths = judging.agents, history[-1].paths if history else {}
    unwalked = _Unwalked(history, judging)
    cameras = []
    for name in _camera_names(paths, judging):
        agent = agents.get(name) if agents is not None else None
        path = paths.get(name)
        health = unwalked.judge(name, path, agent) if path is not None and path.online else None
        cameras.append(health if health is not None else _judged(name, history, judging, agent))
    return HealthReport(judging.now, tuple(cameras), None)


def _unreachable(
    history: Sequence[PathsSnapshot], judging: Judging, error: TrashmonError
) -> HealthReport:
    """Every camera of a poll that could not read MediaMTX: ``down``, keeping the
    agent's own view of its picture (whether a publisher is attached cannot be known)."""
    agents, paths = judging.agents, history[-1].paths if history else {}
    cameras = []
    for name in _camera_names(paths, judging):
        agent = agents.get(name) if agents is not None else None
        state: State = "down"
        reasons: tuple[str, ...] = ()
        if name in judging.parked:
            state = "parked"
        else:
            seen = (
                _agent_reasons(agent, None, judging.now, judging.thresholds)
                if agents is not None
                else set()
            )
            reasons = _ordered({"mediamtx_unreachable", *seen})
        cameras.append(
            CameraHealth(name=name, state=state, reasons=reasons, online=False, agent=agent)
        )
    return HealthReport(judging.now, tuple(cameras), error)


class Evaluator:
    """:func:`evaluate`, judging again only the cameras whose inputs changed.

    A camera without a publisher (no path, or one not online) is judged from its current
    observation, its agent and two facts that depend on the clock and the history: is
    the agent stale, and did its frames in error rise within the window (MediaMTX v1.17+
    reports a count for every path)? Its judgement is kept, keyed by those values, and
    handed back (the same object, so the collector and the quality tracker skip it too)
    while they stay equal.

    A camera with a publisher is judged as :func:`evaluate` judges it: without walking
    the history when nothing there can change the verdict (:class:`_Unwalked`), in full
    otherwise; so is every camera of a failed poll. The result always equals the full
    judgement of every camera (a property test holds them equal over random sequences of
    snapshots, steady and stopping counters, agents and clocks)."""

    def __init__(self) -> None:
        self._kept: dict[str, tuple[tuple[object, ...], CameraHealth]] = {}

    def evaluate(self, history: Sequence[PathsSnapshot], judging: Judging) -> HealthReport:
        if judging.mediamtx_error is not None or not history:
            self._kept = {}
            return evaluate(history, judging)
        agents, paths = judging.agents, history[-1].paths
        unwalked = _Unwalked(history, judging)
        kept, self._kept = self._kept, {}
        cameras: list[CameraHealth] = []
        # Bound once: this loop runs for every camera at every poll.
        judge, listed, keep = unwalked.judge, paths.get, cameras.append
        for name in _camera_names(paths, judging):
            agent = agents.get(name) if agents is not None else None
            path = listed(name)
            if path is not None and path[_ONLINE]:
                health = judge(name, path, agent)
                if health is None:
                    health = _judged(name, history, judging, agent)
            else:
                frames = path.frames_in_error if path is not None else None
                rose = frames is not None and unwalked.frames_rose(name, frames)
                health = self._offline(
                    name, path, agent, rose, history=history, judging=judging,
                    previous=kept.get(name),
                )  # fmt: skip
            keep(health)
        return HealthReport(judging.now, tuple(cameras), None)

    def _offline(
        self,
        name: str,
        path: PathObservation | None,
        agent: AgentView | None,
        frames_rose: bool,
        *,
        history: Sequence[PathsSnapshot],
        judging: Judging,
        previous: tuple[tuple[object, ...], CameraHealth] | None,
    ) -> CameraHealth:
        """A camera without a publisher: its last judgement while its inputs are equal."""
        thresholds = judging.thresholds
        stale = (
            agent is not None
            and agent.online
            and judging.now - _heard_at(agent) > _stale_after(agent, thresholds)
        )
        key = (
            path, agent, judging.agents is None, stale, frames_rose, thresholds,
            name in judging.parked,
        )  # fmt: skip
        if previous is not None and previous[0] == key:
            health = previous[1]
        else:
            health = _judged(name, history, judging, agent)
        self._kept[name] = (key, health)
        return health


def _judged(
    name: str, history: Sequence[PathsSnapshot], judging: Judging, agent: AgentView | None
) -> CameraHealth:
    """:func:`_judge` in full, parked applied: the reference every quicker path equals."""
    health = _judge(
        name, history, judging.now, judging.thresholds, agents=judging.agents, agent=agent
    )
    if name in judging.parked:
        health = health._replace(state="parked", reasons=())
    return health


_new_tuple = tuple.__new__
# PathObservation's fields read by position where it pays (test_health checks them).
_ONLINE: Final = 1
_INBOUND: Final = 3


class _Unwalked:
    """The one place that decides a camera with a publisher has nothing in the history
    to walk, and what :func:`_judge` then concludes; what every camera of one evaluation
    shares is worked out once.

    Nothing to walk when no agent reason applies and either this is the first poll
    (nothing to compare with: the probe's case) or the bytes grew since the previous
    poll (the streaming case, most cameras most polls: not stalled, last growth now, the
    rate over the interval) with no frames in error rising within the window."""

    def __init__(self, history: Sequence[PathsSnapshot], judging: Judging) -> None:
        self.judging = judging
        self.now, self.thresholds = judging.now, judging.thresholds
        self.parked, self.agents = judging.parked, judging.agents
        self.first_poll = len(history) == 1
        self.at = history[-1].at if history else judging.now
        before = history[-2] if len(history) > 1 else None
        self.interval = self.at - before.at if before is not None else 0.0
        self.before = before.paths if before is not None and self.interval > 0 else {}
        since = judging.now - judging.thresholds.frames_error_window
        # _frames_rising's snapshots, oldest first: the window's, the current one aside.
        self.window = tuple(s.paths for s in history[:-1] if s.at >= since)
        self.frames_min = judging.thresholds.frames_error_min
        # frames_min above the least count in the window (None: no count in it): a camera
        # whose count is below cannot have risen (any earlier count <= it is >= the least),
        # so most cameras, most polls, look nothing up in the window.
        floors = [f for f in map(lowest_frames_in_error, self.window) if f is not None]
        self.frames_rise_from = min(floors) + self.frames_min if floors else None

    def judge(
        self, name: str, path: PathObservation, agent: AgentView | None
    ) -> CameraHealth | None:
        """``path`` is online. The judgement, or None when the history must be walked."""
        # Unpacked once and read by position (this runs for each streaming camera at
        # every poll: a NamedTuple's field read costs twice a tuple's).
        _, _, _, inbound, _, readers, frames, since, _, _, codec, resolution, _ = path
        if self.first_poll:  # a first poll has no rate, no growth seen, no stall
            rate: float | None = None
            grew_at: float | None = None
        else:
            before = self.before.get(name)
            if (
                before is None
                or not before[_ONLINE]
                or inbound <= before[_INBOUND]
                or (
                    frames is not None
                    and self.frames_rise_from is not None
                    and frames >= self.frames_rise_from
                    and self._frames_rising(name, frames)
                )
            ):
                return None
            rate = (inbound - before[_INBOUND]) / self.interval
            grew_at = self.at
        if self.agents is not None and _agent_reasons(agent, True, self.now, self.thresholds):
            return None
        # One tuple in CameraHealth's field order (its class call costs twice as much).
        return _new_tuple(
            CameraHealth,
            (name, "parked" if name in self.parked else "ok", (), True, codec, resolution,
             inbound, rate, readers, frames, since, grew_at, agent),
        )  # fmt: skip

    def frames_rose(self, name: str, frames: int) -> bool:
        """:func:`_frames_rising` over the window found once (:meth:`judge` makes the
        first check itself: it runs for each streaming camera at every poll)."""
        rise_from = self.frames_rise_from
        return rise_from is not None and frames >= rise_from and self._frames_rising(name, frames)

    def _frames_rising(self, name: str, frames: int) -> bool:
        """:func:`_frames_rising` over the window found once, for a count at or above
        :attr:`frames_rise_from`."""
        for paths in self.window:
            counted = _frames_in_error(paths, name)
            if counted is not None and counted <= frames:
                return frames - counted >= self.frames_min
        return False


def blind(report: HealthReport, *, at: float, error: TrashmonError) -> HealthReport:
    """``report`` as it must be read once MediaMTX has not been seen for too long.

    Every camera is ``down`` with ``mediamtx_unreachable`` (parked ones stay parked),
    exactly as when a poll fails, keeping only the agents' reasons about their own
    picture: nothing judged from the last good poll may still say ``ok``.
    """
    cameras = tuple(
        camera
        if camera.state == "parked"
        else CameraHealth(
            name=camera.name,
            state="down",
            reasons=_ordered({"mediamtx_unreachable", *AGENT_REASONS.intersection(camera.reasons)}),
            online=False,
            agent=camera.agent,
        )
        for camera in report.cameras
    )
    return HealthReport(at, cameras, error)


def _judge(
    name: str,
    history: Sequence[PathsSnapshot],
    now: float,
    thresholds: Thresholds,
    *,
    agents: Mapping[str, AgentView] | None,
    agent: AgentView | None,
) -> CameraHealth:
    current_snapshot = history[-1] if history else None
    path = current_snapshot.paths.get(name) if current_snapshot is not None else None
    reasons: set[str] = set()
    online = path is not None and path.online
    if path is None or not path.online:
        reasons.add("no_publisher")
        if path is not None and path.placeholder:
            reasons.add("placeholder")

    rate: float | None = None
    last_inbound_at: float | None = None
    frames: int | None = None
    if path is not None and current_snapshot is not None:
        frames = path.frames_in_error
        if online:
            rate, last_inbound_at, stalled = _inbound(name, path, history, now, thresholds)
            if stalled:
                reasons.add("stalled")
        if frames is not None and _frames_rising(name, frames, history, now, thresholds):
            reasons.add("frames_in_error")

    if agents is not None:
        reasons.update(_agent_reasons(agent, online, now, thresholds))

    ordered = _ordered(reasons)
    state = state_for(ordered, parked=False)
    if path is None:
        return CameraHealth(
            name=name, state=state, reasons=ordered, online=online, frames_in_error=frames,
            agent=agent,
        )  # fmt: skip
    return CameraHealth(
        name=name, state=state, reasons=ordered, online=online, codec=path.codec,
        resolution=path.resolution, inbound_bytes=path.inbound_bytes,
        inbound_bytes_per_second=rate, readers=path.readers, frames_in_error=frames,
        online_since=path.online_since, last_inbound_at=last_inbound_at, agent=agent,
    )  # fmt: skip


def _inbound(
    name: str,
    path: PathObservation,
    history: Sequence[PathsSnapshot],
    now: float,
    thresholds: Thresholds,
) -> tuple[float | None, float | None, bool]:
    """(bytes/s over the last interval, when bytes last grew, stalled?).

    Walks back through the trailing run of polls with the publisher attached and the
    same byte count. A stall needs at least one whole quiet interval (a run of two
    polls) and ``stall_after`` seconds since the bytes stopped. When they stopped is
    estimated from the last growing interval: if it grew less than the rate before it,
    the stream stopped part-way through (at the point that rate explains). That lets a
    real stop be called 1.5-2.5 s after it happens at a 1 s interval, while a steady
    low-fps stream that skips one interval is not called stalled (its last interval
    grew at the full rate, so it "stopped" only at the end of it). A run reaching the
    start of the history proves no growth since then (a lower bound).
    """
    # Only the trailing run is looked at: build it lazily, newest first (a dozen polls
    # of history times 10,000 cameras is too many lookups to make up front).
    current_at = history[-1].at
    rate: float | None = None
    previous = _present(history[-2], name) if len(history) > 1 else None
    if previous is not None and current_at > history[-2].at:
        grown = path.inbound_bytes - previous.inbound_bytes
        if grown >= 0:  # a reconnect resets the counter: no rate for that interval
            rate = grown / (current_at - history[-2].at)

    index = len(history) - 1
    earlier = previous
    while index > 0:
        if earlier is None or earlier.inbound_bytes != path.inbound_bytes:
            break
        index -= 1
        earlier = _present(history[index - 1], name) if index > 0 else None
    run_start = history[index].at
    grew_at = run_start if index > 0 and earlier is not None else None
    if run_start >= current_at:  # grew in the last interval (most cameras): no stall
        return rate, grew_at, False
    stopped_at = run_start
    if grew_at is not None:
        stopped_at = _stop_estimate(history, name, index, path.inbound_bytes)
    return rate, grew_at, now - stopped_at >= thresholds.stall_after


def _stop_estimate(
    history: Sequence[PathsSnapshot], name: str, run_index: int, count: int
) -> float:
    """When bytes stopped, between the poll before the run and the run's first poll."""
    run_at = history[run_index].at
    before_at = history[run_index - 1].at
    before = _present(history[run_index - 1], name)
    if before is None or run_index < 2:
        return run_at
    earlier_at = history[run_index - 2].at
    earlier = _present(history[run_index - 2], name)
    if earlier is None or before_at <= earlier_at or before.inbound_bytes < earlier.inbound_bytes:
        return run_at
    rate_before = (before.inbound_bytes - earlier.inbound_bytes) / (before_at - earlier_at)
    grown = count - before.inbound_bytes
    if rate_before <= 0 or grown < 0:
        return run_at
    return before_at + min(run_at - before_at, grown / rate_before)


def _present(snapshot: PathsSnapshot, name: str) -> PathObservation | None:
    path = snapshot.paths.get(name)
    return path if path is not None and path.online else None


def _frames_rising(
    name: str,
    frames: int,
    history: Sequence[PathsSnapshot],
    now: float,
    thresholds: Thresholds,
) -> bool:
    if len(history) < 2:
        return False
    since = now - thresholds.frames_error_window
    for snapshot in history[:-1]:
        if snapshot.at < since:
            continue
        earlier = _frames_in_error(snapshot.paths, name)
        if earlier is not None and earlier <= frames:
            return frames - earlier >= thresholds.frames_error_min
    return False


def _frames_in_error(paths: Mapping[str, PathObservation], name: str) -> int | None:
    """``name``'s count in a poll (None: not listed or not reported); a past poll's read
    from its array (no :class:`PathObservation` built for one number)."""
    if isinstance(paths, PastPaths):
        return paths.frames_in_error(name)
    path = paths.get(name)
    return None if path is None else path.frames_in_error


def _heard_at(agent: AgentView) -> float:
    return agent.last_state_at if agent.last_state_at is not None else agent.status_changed_at


def _stale_after(agent: AgentView, thresholds: Thresholds) -> float:
    """Silence that makes an online agent stale: two missed heartbeats and a half when
    the agent announces its heartbeat (a hung agent shows before the broker's will),
    the configured threshold otherwise."""
    if agent.heartbeat is not None and agent.heartbeat > 0:
        return min(thresholds.agent_stale_after, STALE_HEARTBEATS * agent.heartbeat)
    return thresholds.agent_stale_after


def _ordered(reasons: Collection[str]) -> tuple[str, ...]:
    if not reasons:  # most cameras, most polls
        return ()
    return tuple(sorted(reasons, key=_ORDER.__getitem__))


def _agent_reasons(
    agent: AgentView | None, publisher_online: bool | None, now: float, thresholds: Thresholds
) -> set[str]:
    """``publisher_online`` is None when MediaMTX could not be asked this poll."""
    if agent is None:
        return {"publisher_without_agent"} if publisher_online else set()
    if not agent.online:
        # The retained state of a dead agent says nothing about the picture now.
        return {"agent_offline"}
    reasons: set[str] = set()
    if publisher_online is False:
        reasons.add("agent_without_publisher")
    if now - _heard_at(agent) > _stale_after(agent, thresholds):
        reasons.add("agent_stale")
        return reasons  # as above: an old state message is not evidence about the picture
    if agent.black:
        reasons.add("black_image")
    if agent.frozen:
        reasons.add("frozen_image")
    if (
        agent.stream_state == "streaming"
        and agent.fps is not None
        and agent.target_fps
        and agent.fps < agent.target_fps * thresholds.low_fps_ratio
    ):
        reasons.add("low_fps")
    return reasons
