"""Incident history and availability: the follower is pure (time is the report's), the
store a real SQLite database in a temporary state directory."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.properties import PROPERTIES

from trashmonitor.monitor.history import (
    AVAILABLE_STATES,
    BUCKET_SECONDS,
    COUNTED_STATES,
    DATABASE_NAME,
    MAX_GAP_SECONDS,
    MAX_QUEUED,
    Follower,
    HistoryStore,
    Transition,
)
from trashmonitor.monitor.model import CameraHealth, HealthReport, State

T0 = 1_763_700_000.0  # a whole minute
REASONS: dict[State, tuple[str, ...]] = {
    "ok": (),
    "degraded": ("low_fps",),
    "down": ("no_publisher",),
    "parked": (),
}


def report(at: float, **states: State) -> HealthReport:
    cameras = tuple(
        CameraHealth(name, state, REASONS[state], state != "down")
        for name, state in sorted(states.items())
    )
    return HealthReport(at, cameras)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[HistoryStore]:
    history = HistoryStore(tmp_path, blip_seconds=30.0)
    yield history
    history.close()


def feed(store: HistoryStore, timeline: list[tuple[float, State]], camera: str = "cam1") -> None:
    for index, (at, state) in enumerate(timeline):
        store.observe(report(at, **{camera: state}))
        if index % 100 == 99:  # hours of polls in a moment: let the writer keep up
            assert store.flush()
    assert store.flush()
    assert store.dropped == 0


def test_every_state_change_is_recorded_with_its_cause() -> None:
    follower = Follower()
    changes, _ = follower.observe(report(T0, cam1="ok", cam2="ok"))
    assert [(c.camera, c.previous, c.state) for c in changes] == [
        ("cam1", None, "ok"),
        ("cam2", None, "ok"),
    ]
    changes, _ = follower.observe(report(T0 + 1, cam1="down", cam2="ok"))
    assert [(c.camera, c.previous, c.state, c.reasons) for c in changes] == [
        ("cam1", "ok", "down", ("no_publisher",))
    ]
    changes, _ = follower.observe(report(T0 + 2, cam1="down", cam2="ok"))
    assert changes == []


def test_time_is_counted_per_minute_for_the_state_held() -> None:
    follower = Follower()
    follower.observe(report(T0, cam1="ok"))
    follower.observe(report(T0 + 20, cam1="down"))  # 20 s ok
    follower.observe(report(T0 + 50, cam1="parked"))  # 30 s down
    assert follower.pending() == {("cam1", int(T0)): [20.0, 50.0]}
    # The next minute's first poll finishes the bucket; its 10 s parked count for nobody.
    _, finished = follower.observe(report(T0 + 60, cam1="ok"))
    assert finished == {("cam1", int(T0)): [20.0, 50.0]}
    assert follower.pending() == {}


@PROPERTIES
@given(
    st.lists(
        st.tuples(
            st.sampled_from([-61.0, -1.0, 0.0, 1.0, 7.5, 30.0, 59.0, 60.0, 125.0]),
            st.dictionaries(
                st.sampled_from(["cam1", "cam2", "cam3"]),
                st.sampled_from(["ok", "degraded", "down", "parked"]),
            ),
        ),
        max_size=20,
    )
)
def test_a_bucket_is_finished_by_the_first_poll_of_a_later_minute(
    polls: list[tuple[float, dict[str, State]]],
) -> None:
    # Any clock steps (backwards too): after each poll every bucket of an earlier minute
    # has been handed over, once, and every bucket of this minute or later is kept.
    follower = Follower()
    at = T0
    for step, states in polls:
        at += step
        held = follower.pending()
        _, finished = follower.observe(report(at, **states))
        kept = follower.pending()
        minute = int(at // 60) * 60
        assert all(key[1] < minute for key in finished)
        assert all(key[1] >= minute for key in kept)
        assert finished.keys().isdisjoint(kept)
        assert held.keys() <= finished.keys() | kept.keys()
        assert all(finished[key] == seconds for key, seconds in held.items() if key in finished)


class FormerFollower:
    """The follower before its buckets were keyed by minute, then camera (one
    ``(camera, minute)`` key per camera and poll): the reference the new one equals."""

    def __init__(self) -> None:
        self._states: dict[str, str] = {}
        self._last_at: float | None = None
        self._buckets: dict[tuple[str, int], list[float]] = {}

    def observe(
        self, report: HealthReport
    ) -> tuple[list[Transition], dict[tuple[str, int], list[float]]]:
        now = report.generated_at
        elapsed = 0.0 if self._last_at is None else now - self._last_at
        self._last_at = now
        minute = int(now // BUCKET_SECONDS) * BUCKET_SECONDS
        count_time = 0 < elapsed <= MAX_GAP_SECONDS
        transitions = []
        for camera in report.cameras:
            previous = self._states.get(camera.name)
            if count_time and previous in COUNTED_STATES:
                bucket = self._buckets.setdefault((camera.name, minute), [0.0, 0.0])
                bucket[1] += elapsed
                if previous in AVAILABLE_STATES:
                    bucket[0] += elapsed
            if previous != camera.state:
                transitions.append(
                    Transition(camera.name, now, previous, camera.state, camera.reasons)
                )
                self._states[camera.name] = camera.state
        finished = {key: value for key, value in self._buckets.items() if key[1] < minute}
        for key in finished:
            del self._buckets[key]
        current = {camera.name for camera in report.cameras}
        for name in [name for name in self._states if name not in current]:
            del self._states[name]
        return transitions, finished

    def pending(self) -> dict[tuple[str, int], list[float]]:
        return {key: list(seconds) for key, seconds in self._buckets.items()}


@PROPERTIES
@given(
    st.lists(
        st.tuples(
            st.sampled_from([-61.0, -1.0, 0.0, 0.1, 1.0, 1.0, 1.0, 7.5, 30.0, 59.0, 60.0, 125.0]),
            st.dictionaries(
                st.sampled_from(["cam1", "cam2", "cam3", "cam4"]),
                st.sampled_from(["ok", "degraded", "down", "parked"]),
            ),
        ),
        max_size=40,
    )
)
def test_the_follower_answers_what_the_former_follower_answers(
    polls: list[tuple[float, dict[str, State]]],
) -> None:
    # Same transitions, the same finished and pending seconds in the same order (the
    # order the writer sums them in: floats, so it must not change).
    follower, former = Follower(), FormerFollower()
    at = T0
    for step, states in polls:
        at += step
        transitions, finished = follower.observe(report(at, **states))
        former_transitions, former_finished = former.observe(report(at, **states))
        assert transitions == former_transitions
        assert list(finished.items()) == list(former_finished.items())
        assert list(follower.pending().items()) == list(former.pending().items())


def test_a_long_gap_between_polls_counts_for_nobody() -> None:
    follower = Follower()
    follower.observe(report(T0, cam1="down"))
    follower.observe(report(T0 + MAX_GAP_SECONDS + 1, cam1="down"))
    assert follower.pending() == {}


def test_incidents_and_blips(store: HistoryStore) -> None:
    feed(store, [(T0, "ok"), (T0 + 10, "down"), (T0 + 20, "ok")])  # 10 s: a blip
    feed(store, [(T0 + 100, "down"), (T0 + 200, "degraded"), (T0 + 300, "down")])
    page = store.incidents(now=T0 + 310, since=T0, until=T0 + 310)
    # The last one is ongoing and 10 s old: not an incident yet.
    assert [(i.start, i.end, i.reasons) for i in page.incidents] == [
        (T0 + 100, T0 + 200, ("no_publisher",))
    ]
    assert page.blips == 2
    page = store.incidents(now=T0 + 400, since=T0, until=T0 + 400)
    assert [(i.start, i.end) for i in page.incidents] == [(T0 + 300, None), (T0 + 100, T0 + 200)]
    assert page.blips == 1
    # Filters: the window and the camera.
    assert store.incidents(now=T0 + 400, since=T0 + 201, until=T0 + 299).incidents == ()
    assert store.incidents(now=T0 + 400, camera="cam2", since=T0, until=T0 + 400).incidents == ()
    page = store.incidents(now=T0 + 400, since=T0, until=T0 + 400, limit=1)
    assert len(page.incidents) == 1
    assert page.truncated


def test_history_survives_a_new_store_on_the_same_directory(tmp_path: Path) -> None:
    first = HistoryStore(tmp_path)
    feed(first, [(T0, "ok"), (T0 + 10, "down")])
    first.close()
    second = HistoryStore(tmp_path)
    try:
        # The state is remembered: a camera still down is no new transition.
        second.observe(report(T0 + 100, cam1="down"))
        second.observe(report(T0 + 110, cam1="ok"))
        assert second.flush()
        assert [(t.previous, t.state) for t in second.transitions()] == [
            (None, "ok"),
            ("ok", "down"),
            ("down", "ok"),
        ]
        (incident,) = second.incidents(now=T0 + 200, since=T0, until=T0 + 200).incidents
        assert (incident.start, incident.end) == (T0 + 10, T0 + 110)
    finally:
        second.close()
    with sqlite3.connect(tmp_path / DATABASE_NAME) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_availability_over_the_windows(store: HistoryStore) -> None:
    # 30 min ok, then 30 min down, one poll every 10 s.
    timeline: list[tuple[float, State]] = [
        (T0 + second, "ok" if second < 1800 else "down") for second in range(0, 3601, 10)
    ]
    feed(store, timeline)
    store.refresh(T0 + 3600)
    availability = store.availability["cam1"]
    assert availability.ratios["1h"] == pytest.approx(0.5, abs=0.01)
    assert availability.ratios["30d"] == pytest.approx(0.5, abs=0.01)
    assert availability.incidents_1d == 1
    # Three hours later the last hour is all down; the day still half and half.
    feed(store, [(T0 + 3600 + second, "down") for second in range(10, 3 * 3600, 10)])
    store.refresh(T0 + 4 * 3600)
    availability = store.availability["cam1"]
    assert availability.ratios["1h"] == 0.0
    assert availability.ratios["1d"] == pytest.approx(1800 / (4 * 3600), abs=0.01)


def test_equal_availability_is_one_object_across_cameras_and_refreshes(
    store: HistoryStore,
) -> None:
    # cam1 and cam2 always ok, cam3 down half the time: two distinct values.
    for second in range(0, 601, 10):
        down = second >= 300
        states: dict[str, State] = {"cam1": "ok", "cam2": "ok", "cam3": "down" if down else "ok"}
        store.observe(report(T0 + second, **states))
    assert store.flush()
    store.refresh(T0 + 600)
    first = dict(store.availability)
    assert first["cam1"] is first["cam2"]  # equal figures: one object
    assert first["cam1"].ratios == {"1h": 1.0, "1d": 1.0, "30d": 1.0}
    assert first["cam3"] != first["cam1"]
    assert first["cam3"].ratios["1h"] == pytest.approx(0.5, abs=0.02)
    store.refresh(T0 + 600)  # nothing new: the same objects again
    assert store.availability is not first
    assert all(store.availability[name] is value for name, value in first.items())
    # What the database summed is kept once for cameras with equal sums, too.
    assert store._sums["cam1"] is store._sums["cam2"]
    assert store._sums["cam3"] is not store._sums["cam1"]


def test_a_parked_camera_has_no_availability(store: HistoryStore) -> None:
    feed(store, [(T0 + second, "parked") for second in range(0, 200, 10)])
    store.refresh(T0 + 200)
    assert "cam1" not in store.availability  # no sample: neither up nor down


def test_retention_by_age_and_rows(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path, max_rows=3, retention_seconds=1000.0)
    try:
        flips: list[tuple[float, State]] = [
            (T0 + i * BUCKET_SECONDS, "down" if i % 2 else "ok") for i in range(10)
        ]
        feed(store, flips)
        store.refresh(T0 + 9 * BUCKET_SECONDS)
        assert len(store.transitions()) == 3
        store.refresh(T0 + 10_000)
        assert store.transitions() == []
    finally:
        store.close()


def test_without_a_state_directory_history_is_in_memory() -> None:
    store = HistoryStore(None)
    try:
        feed(store, [(T0, "ok"), (T0 + 10, "down")])
        assert len(store.transitions()) == 2
        assert store.describe() == "memory (no --state-dir)"
    finally:
        store.close()


def test_a_flood_of_names_seen_once_stays_bounded(tmp_path: Path) -> None:
    """A peer publishing to a new name every poll: rows capped, gone names forgotten."""
    store = HistoryStore(tmp_path, max_rows=50)
    try:
        for poll in range(200):
            adhoc: dict[str, State] = {f"adhoc{poll}": "ok"}
            store.observe(report(T0 + poll, cam1="ok", **adhoc))
        assert store.flush()
        store.refresh(T0 + 300, {}, store.follower.cameras())
        with sqlite3.connect(tmp_path / DATABASE_NAME) as db:
            for table in ("transitions", "current", "availability"):
                (rows,) = db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()  # noqa: S608
                assert rows <= 51, table  # + cam1's one row in current
        assert set(store.availability) <= {"cam1", "adhoc199"}
    finally:
        store.close()


def test_a_stuck_writer_neither_blocks_the_poll_nor_grows_memory(store: HistoryStore) -> None:
    """The database hangs (a stuck disk, here its lock held): observe() stays quick and
    drops what does not fit in the queue instead of piling it up."""
    with store._lock:
        for poll in range(MAX_QUEUED + 50):
            store.observe(report(T0 + poll, cam1="ok" if poll % 2 else "down"))
        assert store.dropped >= 49
    assert store.flush()
