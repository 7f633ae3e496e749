"""The incremental evaluator judges again only what changed, and it and :func:`evaluate`
(which skip the history walk where nothing there can change the verdict) always answer
what judging every camera in full answers: over random sequences of snapshots (counters
growing at a steady rate, stopping, frames lost), agents, parked sets and clocks (time is
a parameter; nothing sleeps)."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st
from support.properties import PROPERTIES

from trashmonitor.errors import UnreachableError
from trashmonitor.monitor.health import Evaluator, Judging, _camera_names, _judged, evaluate
from trashmonitor.monitor.model import (
    AgentView,
    HealthReport,
    PathObservation,
    PathsSnapshot,
    Thresholds,
)

T0 = 1_763_700_000.0
NAMES = ("cam1", "cam2", "cam3", "cam4")
REFUSED = UnreachableError("http://m:9997/v3/paths/list: cannot connect (refused)")

observations = st.builds(
    PathObservation,
    st.sampled_from(NAMES),
    st.booleans(),
    st.booleans(),
    st.sampled_from([0, 1000, 5000]),
    st.just(0),
    st.integers(0, 2),
    # Negative counts too (outside input): the window's floor must not assume >= 0.
    frames_in_error=st.sampled_from([None, None, 0, 3, -2, 7]),
    online_since=st.sampled_from([None, T0]),
    codec=st.sampled_from([None, "H264"]),
)
agents = st.builds(
    AgentView,
    st.sampled_from(NAMES),
    st.booleans(),
    st.sampled_from([T0 - 200, T0]),
    last_state_at=st.sampled_from([None, T0 - 100, T0, T0 + 5]),
    stream_state=st.sampled_from([None, "streaming"]),
    fps=st.sampled_from([None, 3.0, 15.0]),
    target_fps=st.sampled_from([None, 15.0]),
    black=st.booleans(),
    heartbeat=st.sampled_from([None, 2.0]),
)


def walked(history: Sequence[PathsSnapshot], judging: Judging) -> HealthReport:
    """Every camera judged in full, the history walked: what the quicker paths must equal
    (a failed poll has no quicker path: :func:`evaluate` is the reference there)."""
    if judging.mediamtx_error is not None:
        return evaluate(history, judging)
    paths = history[-1].paths if history else {}
    agents = judging.agents or {}
    cameras = tuple(
        _judged(name, history, judging, agents.get(name)) for name in _camera_names(paths, judging)
    )
    return HealthReport(judging.now, cameras, None)


@st.composite
def polls(draw: st.DrawFn) -> list[dict[str, object]]:
    """Successive polls: each a snapshot (or a failed read), agents, parked, a clock step."""
    sequence: list[dict[str, object]] = []
    paths: dict[str, PathObservation] = {}
    for _ in range(draw(st.integers(1, 12))):
        # Mostly small changes to the poll before: what an incremental path must follow.
        for changed in draw(st.lists(observations, max_size=3)):
            paths[changed.name] = changed
        for gone in draw(st.lists(st.sampled_from(NAMES), max_size=1)):
            paths.pop(gone, None)
        # Counters moving at a steady rate (the common case), stopping, or a frame lost.
        grown = draw(st.sampled_from([0, 4000, 4000, 4000]))
        lost = draw(st.sampled_from([0, 0, 1]))
        paths = {
            name: path._replace(
                inbound_bytes=path.inbound_bytes + grown,
                frames_in_error=None
                if path.frames_in_error is None
                else path.frames_in_error + lost,
            )
            if path.online
            else path
            for name, path in paths.items()
        }
        sequence.append(
            {
                "step": draw(st.sampled_from([0.0, 0.5, 1.0, 1.0, 30.0, 120.0])),
                "paths": dict(paths),
                "failed": draw(st.sampled_from([False, False, False, True])),
                "agents": draw(
                    st.none()
                    | st.lists(agents, max_size=3).map(lambda views: {v.camera: v for v in views})
                ),
                "parked": draw(st.sampled_from([frozenset(), frozenset({"cam2"})])),
                "known": draw(st.sampled_from([(), ("cam4",)])),
            }
        )
    return sequence


@PROPERTIES
@given(
    polls(),
    st.sampled_from(
        [
            Thresholds(),
            Thresholds(agent_stale_after=3.0),
            Thresholds(frames_error_min=0),
            Thresholds(frames_error_min=3, frames_error_window=2.0),
        ]
    ),
)
def test_incremental_and_quick_evaluation_equal_full_evaluation(
    sequence: list[dict[str, object]], thresholds: Thresholds
) -> None:
    evaluator = Evaluator()
    history: deque[PathsSnapshot] = deque(maxlen=6)
    now = T0
    for poll in sequence:
        now += poll["step"]  # type: ignore[operator]
        error = REFUSED if poll["failed"] else None
        if error is None:
            history.append(PathsSnapshot(now, poll["paths"]))  # type: ignore[arg-type]
        arguments = {
            "now": now,
            "thresholds": thresholds,
            "parked": poll["parked"],
            "agents": poll["agents"],
            "known": poll["known"],
            "mediamtx_error": error,
        }
        judging = Judging(**arguments)  # type: ignore[arg-type]
        full = walked(tuple(history), judging)
        assert evaluator.evaluate(tuple(history), judging) == full
        assert evaluate(tuple(history), judging) == full


def test_an_unchanged_camera_without_publisher_is_not_judged_again() -> None:
    evaluator = Evaluator()
    offline = PathObservation("cam1", False, True, 0, 0, 0)
    agent = AgentView("cam1", True, T0, last_state_at=T0)
    views = {"cam1": agent}
    first = evaluator.evaluate([PathsSnapshot(T0, {"cam1": offline})], Judging(T0, agents=views))
    later = PathsSnapshot(T0 + 1, {"cam1": PathObservation("cam1", False, True, 0, 0, 0)})
    second = evaluator.evaluate([later], Judging(T0 + 1, agents=views))
    assert second.cameras[0] is first.cameras[0]  # kept, not judged again
    # The clock alone makes the agent stale: judged again, and now says so.
    third = evaluator.evaluate([later], Judging(T0 + 1000, agents=views))
    assert "agent_stale" in third.cameras[0].reasons
    assert third == evaluate([later], Judging(now=T0 + 1000, agents=views))


def test_a_camera_without_publisher_reporting_frames_in_error_is_kept_while_they_hold() -> None:
    # MediaMTX v1.17+ reports a count for every path, offline ones too: a steady count
    # keeps the judgement; one that rose within the window is judged again.
    evaluator = Evaluator()
    offline = PathObservation("cam1", False, True, 0, 0, 0, frames_in_error=4)
    history = [PathsSnapshot(T0, {"cam1": offline}), PathsSnapshot(T0 + 1, {"cam1": offline})]
    first = evaluator.evaluate(history, Judging(T0 + 1))
    history.append(PathsSnapshot(T0 + 2, {"cam1": offline._replace()}))
    second = evaluator.evaluate(history, Judging(T0 + 2))
    assert second.cameras[0] is first.cameras[0]  # kept, not judged again
    history.append(PathsSnapshot(T0 + 3, {"cam1": offline._replace(frames_in_error=6)}))
    third = evaluator.evaluate(history, Judging(T0 + 3))
    assert "frames_in_error" in third.cameras[0].reasons
    assert third == evaluate(history, Judging(T0 + 3))


def test_frames_in_error_of_a_camera_without_publisher_follow_the_window() -> None:
    # Rising frames read the history: an unchanged observation is judged again as the
    # window slides past the poll it rose from.
    evaluator = Evaluator()
    before = PathObservation("cam1", False, False, 0, 0, 0, frames_in_error=0)
    after = PathObservation("cam1", False, False, 0, 0, 0, frames_in_error=3)
    history = [PathsSnapshot(T0, {"cam1": before}), PathsSnapshot(T0 + 1, {"cam1": after})]
    for now in (T0 + 1, T0 + 2, T0 + 30):
        history.append(PathsSnapshot(now, {"cam1": after}))
        full = evaluate(history, Judging(now=now))
        assert evaluator.evaluate(history, Judging(now)) == full
    assert "frames_in_error" not in full.cameras[0].reasons  # the window moved on


@PROPERTIES
@given(
    st.lists(st.sampled_from(NAMES), unique=True),
    st.lists(st.sampled_from(NAMES)),
    st.none() | st.lists(agents),
)
def test_the_cameras_judged_are_every_listed_known_and_agent_name_sorted(
    listed: list[str], known: list[str], agent_views: list[AgentView] | None
) -> None:
    # Listed in any order (MediaMTX's is by name, but nothing relies on it).
    paths = {name: PathObservation(name, True, True, 0, 0, 0) for name in listed}
    by_name = None if agent_views is None else {agent.camera: agent for agent in agent_views}
    judging = Judging(now=T0, known=known, agents=by_name)
    expected = sorted({*listed, *known, *(by_name or {})})
    assert _camera_names(paths, judging) == expected


@PROPERTIES
@given(
    st.lists(observations),
    st.sampled_from([T0, T0 + 100]),
    st.frozensets(st.sampled_from(NAMES)),
    st.lists(st.sampled_from(NAMES)),
    st.none() | st.lists(agents).map(lambda views: {view.camera: view for view in views}),
)
def test_one_poll_is_judged_as_in_full(
    listed: list[PathObservation],
    now: float,
    parked: frozenset[str],
    known: list[str],
    agent_views: dict[str, AgentView] | None,
) -> None:
    # The probe's case: a publisher's camera of a first poll has nothing to be compared
    # with, so evaluate() and the Evaluator take it without the walk.
    history = (PathsSnapshot(T0, {path.name: path for path in listed}),)
    judging = Judging(now=now, parked=parked, known=known, agents=agent_views)
    assert evaluate(history, judging) == walked(history, judging)
    assert Evaluator().evaluate(history, judging) == walked(history, judging)
