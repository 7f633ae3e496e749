"""Connection quality: a pure function of successive reports, time is an input."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from trashmonitor.errors import TrashmonError, UnreachableError
from trashmonitor.monitor.model import AgentView, CameraHealth, HealthReport, State
from trashmonitor.monitor.quality import (
    DEFAULT_QUALITY,
    GRADES,
    MAX_EVENTS,
    WINDOW_SECONDS,
    CameraQuality,
    QualityTracker,
    _Camera,
    grade,
)

T0 = 1_763_700_000.0


def camera(
    *,
    online: bool = True,
    online_since: float | None = T0,
    reasons: tuple[str, ...] = (),
    agent: AgentView | None = None,
) -> CameraHealth:
    state: State = "down" if (not online or "stalled" in reasons) else "ok"
    return CameraHealth("cam1", state, reasons, online, online_since=online_since, agent=agent)


def agent(restarts: int = 0, fps: float | None = 15.0, target: float = 15.0) -> AgentView:
    return AgentView(
        "cam1", True, T0, last_state_at=T0, stream_state="streaming", fps=fps,
        target_fps=target, restarts=restarts,
    )  # fmt: skip


def report(at: float, *cameras: CameraHealth, error: TrashmonError | None = None) -> HealthReport:
    return HealthReport(at, cameras, error)


def test_a_steady_camera_is_excellent() -> None:
    tracker = QualityTracker()
    for second in range(10):
        quality = tracker.observe(report(T0 + second, camera(agent=agent())), T0 + second)
    assert quality["cam1"].reconnects == 0
    assert quality["cam1"].stalls == 0
    assert quality["cam1"].fps_ratio == 1.0
    assert quality["cam1"].grade == "excellent"
    assert quality["cam1"].level == 4


def test_new_publisher_sessions_are_reconnects_and_expire_after_an_hour() -> None:
    tracker = QualityTracker()
    tracker.observe(report(T0, camera()), T0)
    # The path goes offline and back: one reconnect.
    tracker.observe(report(T0 + 1, camera(online=False, online_since=None)), T0 + 1)
    tracker.observe(report(T0 + 2, camera(online_since=T0 + 2)), T0 + 2)
    # readyTime changes while online (a reconnect quicker than a poll): another.
    quality = tracker.observe(report(T0 + 3, camera(online_since=T0 + 3)), T0 + 3)
    assert quality["cam1"].reconnects == 2
    assert quality["cam1"].grade == "good"
    later = T0 + 2 + WINDOW_SECONDS + 0.5
    quality = tracker.observe(report(later, camera(online_since=T0 + 3)), later)
    assert quality["cam1"].reconnects == 1
    quality = tracker.observe(report(later + 1, camera(online_since=T0 + 3)), later + 1)
    assert quality["cam1"].reconnects == 0


def test_one_ffmpeg_restart_seen_both_ways_counts_once() -> None:
    tracker = QualityTracker()
    tracker.observe(report(T0, camera(agent=agent(0))), T0)
    tracker.observe(report(T0 + 1, camera(online_since=T0 + 1, agent=agent(1))), T0 + 1)
    quality = tracker.observe(report(T0 + 2, camera(online_since=T0 + 1, agent=agent(1))), T0 + 2)
    assert quality["cam1"].reconnects == 1


def test_agent_restarts_count_even_when_mediamtx_missed_the_session() -> None:
    tracker = QualityTracker()
    tracker.observe(report(T0, camera(agent=agent(3))), T0)
    quality = tracker.observe(report(T0 + 1, camera(agent=agent(6))), T0 + 1)
    assert quality["cam1"].reconnects == 3
    # The agent process restarted: its count starts again from 0 (one more reconnect).
    quality = tracker.observe(report(T0 + 2, camera(agent=agent(0))), T0 + 2)
    assert quality["cam1"].reconnects == 4
    assert quality["cam1"].grade == "fair"


def test_a_stall_counts_once_however_long_it_lasts() -> None:
    tracker = QualityTracker()
    tracker.observe(report(T0, camera()), T0)
    for second in range(1, 5):
        tracker.observe(report(T0 + second, camera(reasons=("stalled",))), T0 + second)
    quality = tracker.observe(report(T0 + 5, camera()), T0 + 5)
    assert quality["cam1"].stalls == 1
    assert quality["cam1"].grade == "good"
    quality = tracker.observe(report(T0 + 6, camera(reasons=("stalled",))), T0 + 6)
    assert quality["cam1"].stalls == 2
    assert quality["cam1"].grade == "unusable"  # down right now


def test_an_unreachable_mediamtx_is_not_a_reconnect() -> None:
    tracker = QualityTracker()
    tracker.observe(report(T0, camera()), T0)
    blind = camera(online=False, online_since=None, reasons=("mediamtx_unreachable",))
    tracker.observe(report(T0 + 1, blind, error=UnreachableError("unreachable")), T0 + 1)
    quality = tracker.observe(report(T0 + 2, camera()), T0 + 2)
    assert quality["cam1"].reconnects == 0


def test_low_fps_lowers_the_grade() -> None:
    tracker = QualityTracker()
    quality = tracker.observe(report(T0, camera(agent=agent(fps=12.0, target=15.0))), T0)
    assert quality["cam1"].fps_ratio == 0.8
    assert quality["cam1"].grade == "fair"
    quality = tracker.observe(report(T0 + 1, camera(agent=agent(fps=3.0))), T0 + 1)
    assert quality["cam1"].grade == "unusable"


def test_memory_is_bounded_per_camera_and_forgotten_cameras_go() -> None:
    tracker = QualityTracker()
    tracker.observe(report(T0, camera(agent=agent(0))), T0)
    quality = tracker.observe(report(T0 + 1, camera(agent=agent(10**9))), T0 + 1)
    assert quality["cam1"].reconnects == MAX_EVENTS
    tracker.observe(report(T0 + 2), T0 + 2)
    assert tracker._cameras == {}


@given(
    reconnects=st.integers(0, 100),
    stalls=st.integers(0, 100),
    ratio=st.none() | st.floats(0, 2),
    extra=st.integers(0, 5),
)
def test_more_trouble_never_grades_better(
    reconnects: int, stalls: int, ratio: float | None, extra: int
) -> None:
    better = grade(down=False, reconnects=reconnects, stalls=stalls, fps_ratio=ratio)
    worse = grade(down=False, reconnects=reconnects + extra, stalls=stalls + extra,
                  fps_ratio=None if ratio is None else ratio * 0.9)  # fmt: skip
    assert GRADES.index(worse) >= GRADES.index(better)


def test_each_grade_is_reached_at_its_documented_limit() -> None:
    for name, (reconnects, stalls, ratio) in DEFAULT_QUALITY.limits():
        assert grade(down=False, reconnects=reconnects, stalls=stalls, fps_ratio=ratio) == name
    poor = DEFAULT_QUALITY.poor
    assert grade(down=False, reconnects=poor[0] + 1, stalls=0, fps_ratio=None) == "unusable"
    assert grade(down=True, reconnects=0, stalls=0, fps_ratio=1.0) == "unusable"


def test_parked_cameras_are_graded_without_being_down() -> None:
    tracker = QualityTracker()
    parked = camera()._replace(state="parked")
    assert tracker.observe(report(T0, parked), T0)["cam1"].grade == "excellent"


class FollowingEveryCamera(QualityTracker):
    """The tracker without its steady-camera shortcut: every camera through ``_follow``."""

    def observe(self, report: HealthReport, now: float) -> dict[str, CameraQuality]:
        seen = {}
        for health in report.cameras:
            tracked = self._cameras.setdefault(health.name, _Camera())
            seen[health.name] = self._follow(tracked, health, report.mediamtx_reachable, now)
        for gone in self._cameras.keys() - seen.keys():
            del self._cameras[gone]
        return seen


@st.composite
def report_sequences(draw: st.DrawFn) -> list[tuple[float, HealthReport]]:
    """Reports of two cameras: mostly the same streaming camera again, with sessions,
    stalls, agents restarting or slow, down and parked states, failed polls."""
    sequence = []
    at = T0
    for _ in range(draw(st.integers(1, 30))):
        at += draw(st.sampled_from([1.0, 1.0, 1.0, 60.0, WINDOW_SECONDS]))
        cameras = []
        for name in draw(st.lists(st.sampled_from(["cam1", "cam2"]), max_size=2, unique=True)):
            online = draw(st.sampled_from([True, True, True, False]))
            reasons = draw(st.sampled_from([(), (), (), ("stalled",), ("low_fps",)]))
            state: State = draw(st.sampled_from(["ok", "ok", "degraded", "down", "parked"]))
            view = draw(
                st.none()
                | st.none()
                | st.builds(agent, st.sampled_from([0, 0, 1, 3]), st.sampled_from([15.0, 4.0]))
            )
            since = draw(st.sampled_from([T0, T0, T0 + 100, None]))
            health = CameraHealth(name, state, reasons, online, online_since=since, agent=view)
            cameras.append(health)
        error = draw(st.sampled_from([None, None, None, UnreachableError("refused")]))
        sequence.append((at, report(at, *cameras, error=error)))
    return sequence


@given(report_sequences())
def test_the_steady_shortcut_answers_what_following_every_camera_answers(
    sequence: list[tuple[float, HealthReport]],
) -> None:
    tracker, reference = QualityTracker(), FollowingEveryCamera()
    for at, each in sequence:
        assert tracker.observe(each, at) == reference.observe(each, at)
