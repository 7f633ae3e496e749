"""The pure health model: time is an input, no I/O, no sleeps."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest

from trashmonitor.errors import UnreachableError
from trashmonitor.monitor import health
from trashmonitor.monitor.health import Judging, blind, evaluate, state_for
from trashmonitor.monitor.mediamtx_parse import parse_paths_page, with_metrics
from trashmonitor.monitor.model import (
    DOWN_REASONS,
    REASONS,
    AgentView,
    CameraHealth,
    HealthReport,
    MediaMTXMetrics,
    PathMetrics,
    PathObservation,
    PathsSnapshot,
    Thresholds,
)

FIXTURES = Path(__file__).parent / "fixtures"
T0 = 1_763_700_000.0
REFUSED = UnreachableError("http://m:9997/v3/paths/list: cannot connect (refused)")


def path(name: str = "cam1", **fields: Any) -> PathObservation:
    base: dict[str, Any] = {
        "online": True,
        "available": True,
        "inbound_bytes": 0,
        "outbound_bytes": 0,
        "readers": 0,
    }
    return PathObservation(name=name, **{**base, **fields})


def snap(at: float, *paths: PathObservation) -> PathsSnapshot:
    return PathsSnapshot(at, {p.name: p for p in paths})


def growing(
    name: str, times: list[float], rate: int = 1000, stop_at: float | None = None
) -> list[PathsSnapshot]:
    """Polls at ``times`` of a publisher whose bytes grow until ``stop_at``."""
    snapshots = []
    for at in times:
        moving_until = at if stop_at is None else min(at, stop_at)
        snapshots.append(snap(at, path(name, inbound_bytes=int((moving_until - T0) * rate))))
    return snapshots


def one(report: HealthReport, name: str = "cam1") -> CameraHealth:
    (camera,) = [c for c in report.cameras if c.name == name]
    return camera


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("paths-v1.9.json", {"cam1": ("ok", ()), "cam2": ("down", ("no_publisher",))}),
        (
            "paths-v1.16.json",
            {
                "cam1": ("ok", ()),
                "lobby": ("down", ("no_publisher", "placeholder")),
                "cam3": ("down", ("no_publisher",)),
            },
        ),
        (
            "paths-v1.20.json",
            {
                "cam1": ("ok", ()),
                "lobby": ("down", ("no_publisher", "placeholder")),
                "av1cam": ("ok", ()),
            },
        ),
    ],
)
def test_single_poll_of_each_generation(fixture: str, expected: dict[str, Any]) -> None:
    page = parse_paths_page(json.loads((FIXTURES / fixture).read_text()))
    history = [PathsSnapshot(T0, {p.name: p for p in page.items})]
    report = evaluate(history, Judging(now=T0))
    assert {c.name: (c.state, c.reasons) for c in report.cameras} == expected
    assert report.healthy is (all(state == "ok" for state, _ in expected.values()))


def test_placeholder_is_not_live_even_though_available() -> None:
    placeholder = path(online=False, available=True, inbound_bytes=0)
    report = evaluate([snap(T0, placeholder)], Judging(now=T0))
    assert one(report).state == "down"
    assert one(report).reasons == ("no_publisher", "placeholder")
    assert not one(report).online


def test_parked_never_fails_and_carries_no_reasons() -> None:
    history = [snap(T0, path("cam1", online=False, available=False), path("cam2"))]
    report = evaluate(history, Judging(now=T0, parked={"cam1"}))
    assert one(report, "cam1").state == "parked"
    assert one(report, "cam1").reasons == ()
    assert report.healthy
    assert report.summary == {"ok": 1, "degraded": 0, "down": 0, "parked": 1}


def test_parked_names_that_exist_nowhere_are_not_invented() -> None:
    report = evaluate([snap(T0, path("cam1"))], Judging(now=T0, parked={"typo"}))
    assert [c.name for c in report.cameras] == ["cam1"]


def test_growing_bytes_are_ok_with_a_rate() -> None:
    history = growing("cam1", [T0, T0 + 1, T0 + 2, T0 + 3])
    camera = one(evaluate(history, Judging(now=T0 + 3)))
    assert camera.state == "ok"
    assert camera.inbound_bytes_per_second == pytest.approx(1000)
    assert camera.last_inbound_at == T0 + 3


@pytest.mark.parametrize(
    ("stop_at", "first_stalled_poll"),
    [
        (2.5, 4),  # stopped half-way through (2, 3]: 1.5 s later at the +4 poll
        (2.9, 5),  # stopped late in (2, 3]: +4 is only 1.1 s later, so +5
        (3.0, 5),  # stopped exactly at the +3 poll
    ],
)
def test_stall_is_called_stall_after_seconds_after_bytes_stop(
    stop_at: float, first_stalled_poll: int
) -> None:
    thresholds = Thresholds(stall_after=1.5)
    times = [T0 + i for i in range(7)]
    history = growing("cam1", times, stop_at=T0 + stop_at)
    stalled_polls = [
        i
        for i in range(len(times))
        if one(evaluate(history[: i + 1], Judging(now=times[i], thresholds=thresholds))).reasons
        == ("stalled",)
    ]
    assert stalled_polls == list(range(first_stalled_poll, len(times)))
    stalled = one(evaluate(history, Judging(now=times[-1], thresholds=thresholds)))
    assert stalled.state == "down"
    assert stalled.online  # still attached: that is what makes it a stall
    assert stalled.inbound_bytes_per_second == 0
    assert stalled.last_inbound_at == T0 + math.ceil(stop_at)


def test_a_steady_stream_skipping_one_interval_is_not_stalled() -> None:
    """A 1 fps camera can show no growth for one poll: its last interval grew at full
    rate, so the estimate says it stopped at the end of it, not part-way."""
    counts = [0, 1000, 2000, 3000, 3000, 4000]
    history = [snap(T0 + i, path(inbound_bytes=count)) for i, count in enumerate(counts)]
    assert one(evaluate(history[:5], Judging(now=T0 + 4))).reasons == ()
    assert one(evaluate(history, Judging(now=T0 + 5))).reasons == ()


def test_stall_recovers_when_bytes_grow_again() -> None:
    history = growing("cam1", [T0, T0 + 1, T0 + 2, T0 + 3], stop_at=T0)
    assert one(evaluate(history, Judging(now=T0 + 3))).reasons == ("stalled",)
    history.append(snap(T0 + 4, path("cam1", inbound_bytes=500)))
    recovered = one(evaluate(history, Judging(now=T0 + 4)))
    assert recovered.state == "ok"
    assert recovered.last_inbound_at == T0 + 4


def test_single_poll_never_calls_a_stall() -> None:
    report = evaluate([snap(T0, path(inbound_bytes=5))], Judging(now=T0 + 100))
    assert one(report).reasons == ()


def test_unchanged_bytes_since_the_start_of_history_are_a_stall() -> None:
    history = [snap(T0 + i, path(inbound_bytes=42)) for i in range(3)]
    camera = one(evaluate(history, Judging(now=T0 + 2)))
    assert camera.reasons == ("stalled",)
    assert camera.last_inbound_at is None  # growth never seen


def test_reconnect_resets_counter_without_a_negative_rate_or_stall() -> None:
    history = [snap(T0, path(inbound_bytes=10_000)), snap(T0 + 1, path(inbound_bytes=300))]
    camera = one(evaluate(history, Judging(now=T0 + 1)))
    assert camera.inbound_bytes_per_second is None
    assert camera.state == "ok"


def test_publisher_loss_and_return() -> None:
    history = growing("cam1", [T0, T0 + 1])
    history.append(snap(T0 + 2, path("cam1", online=False, available=False, inbound_bytes=0)))
    lost = one(evaluate(history, Judging(now=T0 + 2)))
    assert (lost.state, lost.reasons) == ("down", ("no_publisher",))
    history.append(snap(T0 + 3, path("cam1", inbound_bytes=10)))
    back = one(evaluate(history, Judging(now=T0 + 3)))
    assert back.state == "ok"  # a new publisher is not stalled by the old counter


def test_vanished_path_stays_down_while_known() -> None:
    history = [snap(T0, path("cam1"), path("cam2")), snap(T0 + 1, path("cam2"))]
    report = evaluate(history, Judging(now=T0 + 1, known={"cam1", "cam2"}))
    assert (one(report).state, one(report).reasons) == ("down", ("no_publisher",))
    assert one(report).inbound_bytes is None
    forgotten = evaluate(history, Judging(now=T0 + 1, known={"cam2"}))
    assert [c.name for c in forgotten.cameras] == ["cam2"]


def test_frames_in_error_rising_degrades_then_clears() -> None:
    thresholds = Thresholds(frames_error_window=5)
    history = [
        snap(T0 + i, path(inbound_bytes=1000 * i, frames_in_error=frames))
        for i, frames in enumerate([0, 0, 4, 4, 4, 4, 4, 4, 4, 4])
    ]
    rising = one(evaluate(history[:3], Judging(now=T0 + 2, thresholds=thresholds)))
    assert (rising.state, rising.reasons) == ("degraded", ("frames_in_error",))
    assert rising.frames_in_error == 4
    calm = one(evaluate(history, Judging(now=T0 + 9, thresholds=thresholds)))
    assert calm.reasons == ()


def test_frames_in_error_from_metrics_when_the_api_lacks_them() -> None:
    """Before v1.17 only /metrics counts them: the observer completes the paths with it
    (with_metrics), and the model judges the completed paths like any other."""

    def completed(at: float, frames: int) -> PathsSnapshot:
        metrics = MediaMTXMetrics({"cam1": PathMetrics("cam1", frames_in_error=frames)})
        listed = path(inbound_bytes=int(at - T0) * 10 + 1)
        return PathsSnapshot(at, with_metrics({"cam1": listed}, metrics))

    history = [completed(T0, 1), completed(T0 + 1, 9)]
    camera = one(evaluate(history, Judging(now=T0 + 1)))
    assert camera.reasons == ("frames_in_error",)
    assert camera.frames_in_error == 9


def test_frames_threshold_is_configurable() -> None:
    history = [
        snap(T0, path(frames_in_error=0)),
        snap(T0 + 1, path(inbound_bytes=9, frames_in_error=3)),
    ]
    assert (
        one(
            evaluate(history, Judging(now=T0 + 1, thresholds=Thresholds(frames_error_min=5)))
        ).reasons
        == ()
    )


def test_mediamtx_unreachable_is_a_state_for_every_known_camera() -> None:
    history = [snap(T0, path("cam1"), path("cam2"))]
    report = evaluate(history, Judging(now=T0 + 1, parked={"cam2"}, mediamtx_error=REFUSED))
    assert not report.mediamtx_reachable
    assert not report.healthy
    assert (one(report).state, one(report).reasons) == ("down", ("mediamtx_unreachable",))
    assert one(report, "cam2").state == "parked"
    empty = evaluate([], Judging(now=T0, mediamtx_error=REFUSED))
    assert empty.cameras == ()
    assert not empty.healthy


# ------------------------------------------------------------------ agent reasons


def agent(**fields: Any) -> AgentView:
    base: dict[str, Any] = {
        "camera": "cam1",
        "online": True,
        "status_changed_at": T0 - 100,
        "last_state_at": T0 - 1,
        "stream_state": "streaming",
        "fps": 15.0,
        "target_fps": 15.0,
    }
    return AgentView(**{**base, **fields})


def judge_with_agent(view: AgentView | None, *, online: bool = True) -> Any:
    current = path(online=online, available=online, inbound_bytes=100)
    history = [snap(T0 - 1, current._replace(inbound_bytes=50)), snap(T0, current)]
    agents = {} if view is None else {view.camera: view}
    return one(evaluate(history, Judging(now=T0, agents=agents)))


@pytest.mark.parametrize(
    ("view", "publisher", "state", "reasons"),
    [
        (agent(), True, "ok", ()),
        (agent(online=False), True, "degraded", ("agent_offline",)),
        (agent(online=False, black=True), True, "degraded", ("agent_offline",)),
        (agent(last_state_at=T0 - 91), True, "degraded", ("agent_stale",)),
        (agent(last_state_at=None, status_changed_at=T0 - 120), True, "degraded", ("agent_stale",)),
        (agent(black=True), True, "degraded", ("black_image",)),
        (agent(frozen=True), True, "degraded", ("frozen_image",)),
        (agent(black=True, frozen=True), True, "degraded", ("black_image", "frozen_image")),
        (agent(fps=6.0), True, "degraded", ("low_fps",)),
        (agent(fps=6.0, stream_state="starting"), True, "ok", ()),
        (agent(fps=8.0), True, "ok", ()),
        (agent(), False, "down", ("no_publisher", "agent_without_publisher")),
        (agent(online=False), False, "down", ("no_publisher", "agent_offline")),
        (None, True, "degraded", ("publisher_without_agent",)),
        (None, False, "down", ("no_publisher",)),
    ],
)
def test_agent_reasons(
    view: AgentView | None, publisher: bool, state: str, reasons: tuple[str, ...]
) -> None:
    camera = judge_with_agent(view, online=publisher)
    assert (camera.state, camera.reasons) == (state, reasons)
    assert camera.agent == view


def test_no_agent_observer_means_no_agent_reasons() -> None:
    history = [snap(T0, path(inbound_bytes=1))]
    assert one(evaluate(history, Judging(now=T0, agents=None))).reasons == ()


def test_agent_without_any_path_is_reported() -> None:
    report = evaluate([snap(T0)], Judging(now=T0, agents={"cam9": agent(camera="cam9")}))
    camera = one(report, "cam9")
    assert camera.reasons == ("no_publisher", "agent_without_publisher")


def test_agent_thresholds_are_configurable() -> None:
    view = agent(last_state_at=T0 - 31, fps=12.0)
    history = [snap(T0 - 1, path(inbound_bytes=1)), snap(T0, path(inbound_bytes=2))]
    loose = Thresholds(agent_stale_after=60, low_fps_ratio=0.9)
    assert one(
        evaluate(history, Judging(now=T0, agents={"cam1": view}, thresholds=loose))
    ).reasons == ("low_fps",)


def test_state_for_every_reason() -> None:
    for reason in REASONS:
        assert state_for([reason], parked=False) == (
            "down" if reason in DOWN_REASONS else "degraded"
        )
        assert state_for([reason], parked=True) == "parked"
    assert state_for([], parked=False) == "ok"


def test_reasons_come_in_canonical_order() -> None:
    view = agent(black=True, frozen=True, fps=1.0, last_state_at=T0)
    history = [
        snap(T0 - 1, path(frames_in_error=0)),
        snap(T0, path(inbound_bytes=0, frames_in_error=5)),
    ]
    camera = one(
        evaluate(
            history,
            Judging(now=T0 + 2, agents={"cam1": view}, thresholds=Thresholds(stall_after=1)),
        )
    )
    assert camera.reasons == (
        "stalled",
        "frames_in_error",
        "black_image",
        "frozen_image",
        "low_fps",
    )


def test_mediamtx_unreachable_keeps_what_the_agents_see() -> None:
    """The agent's view of its picture is independent evidence; publisher-relative
    reasons cannot be judged without MediaMTX and are left out."""
    history = [snap(T0, path("cam1"), path("cam2"))]
    agents = {
        "cam1": agent(black=True, last_state_at=T0),
        "cam2": agent(camera="cam2", online=False),
        "cam3": agent(camera="cam3", last_state_at=T0),
    }
    report = evaluate(history, Judging(now=T0 + 1, agents=agents, mediamtx_error=REFUSED))
    reasons = {camera.name: camera.reasons for camera in report.cameras}
    assert reasons == {
        "cam1": ("mediamtx_unreachable", "black_image"),
        "cam2": ("mediamtx_unreachable", "agent_offline"),
        "cam3": ("mediamtx_unreachable",),
    }
    assert {camera.state for camera in report.cameras} == {"down"}


def test_an_announced_heartbeat_shortens_the_stale_threshold() -> None:
    """A hung agent shows as stale after 2.5 of its heartbeats, long before the default."""
    history = [snap(T0 - 1, path(inbound_bytes=1)), snap(T0, path(inbound_bytes=2))]

    def reasons(**fields: Any) -> tuple[str, ...]:
        return one(evaluate(history, Judging(now=T0, agents={"cam1": agent(**fields)}))).reasons

    assert reasons(heartbeat=5.0, last_state_at=T0 - 12) == ()
    assert reasons(heartbeat=5.0, last_state_at=T0 - 13) == ("agent_stale",)
    assert reasons(heartbeat=None, last_state_at=T0 - 13) == ()  # 90 s default applies
    assert reasons(heartbeat=1000.0, last_state_at=T0 - 91) == ("agent_stale",)  # capped


def test_blind_reads_like_a_failed_poll_from_the_last_report() -> None:
    """A monitor that has not seen MediaMTX for too long judges as if the poll failed:
    the same states and reasons an outage gives, from the last report alone."""
    history = [snap(T0, path("cam1"), path("cam2", online=False), path("cam3"), path("cam4"))]
    agents = {
        "cam1": agent(black=True, last_state_at=T0),
        "cam3": agent(camera="cam3", last_state_at=T0),
    }
    seen = evaluate(history, Judging(now=T0, agents=agents, parked={"cam4"}))
    assert seen.healthy is False  # cam2 down, cam1 black
    stale = UnreachableError("no successful poll for 3 s")
    report = blind(seen, at=T0 + 3, error=stale)
    outage = evaluate(
        history, Judging(now=T0, agents=agents, parked={"cam4"}, mediamtx_error=REFUSED)
    )
    assert [(c.name, c.state, c.reasons) for c in report.cameras] == [
        (c.name, c.state, c.reasons) for c in outage.cameras
    ]
    assert (report.generated_at, report.mediamtx_error) == (T0 + 3, stale)
    assert not report.mediamtx_reachable
    assert all(not c.online for c in report.cameras if c.state != "parked")


def test_a_streaming_camera_judged_without_the_walk_is_the_camera_health_built_by_name() -> None:
    # The quick path allocates the tuple in field order: every field a distinct value,
    # so one written in another's place shows.
    agent = AgentView("cam1", True, T0, last_state_at=T0)
    before = path(
        inbound_bytes=1000, readers=2, frames_in_error=3, online_since=T0 - 5,
        codec="H264", resolution="640x480",
    )  # fmt: skip
    history = [snap(T0 - 2, before), snap(T0, before._replace(inbound_bytes=6000))]
    camera = one(evaluate(history, Judging(now=T0 + 1, agents={"cam1": agent})))
    expected = CameraHealth(
        name="cam1", state="ok", reasons=(), online=True, codec="H264", resolution="640x480",
        inbound_bytes=6000, inbound_bytes_per_second=2500.0, readers=2, frames_in_error=3,
        online_since=T0 - 5, last_inbound_at=T0, agent=agent,
    )  # fmt: skip
    assert camera == expected
    assert type(camera) is CameraHealth
    assert repr(camera) == repr(expected)
    assert {camera: 1}[expected] == 1
    with pytest.raises(AttributeError):
        camera.state = "parked"  # type: ignore[misc]
    assert camera._replace(state="parked", reasons=()).state == "parked"
    assert copy.copy(camera) == camera


def test_the_observation_fields_judging_reads_by_position_are_the_ones_named() -> None:
    # Streaming cameras read the previous poll's observation by position (quicker than
    # a NamedTuple's field): a field added or moved must move those positions too.
    fields = PathObservation._fields
    assert (fields[health._ONLINE], fields[health._INBOUND]) == ("online", "inbound_bytes")
