"""Past polls kept as numbers (:mod:`trashmonitor.monitor.past_polls`): judging over a
history whose older polls are compacted answers exactly what it answers over the whole
observations, over random sequences of polls (counters growing, stopping, reset, frames
lost, paths coming and going, clocks); and the daemon keeps its history that way."""

from __future__ import annotations

from collections import deque

from hypothesis import given
from hypothesis import strategies as st
from support.fake_mediamtx import FakeMediaMTX
from support.properties import PROPERTIES

from trashmonitor.monitor.daemon import Monitor
from trashmonitor.monitor.health import Evaluator, Judging, evaluate
from trashmonitor.monitor.mediamtx import MediaMTXClient
from trashmonitor.monitor.model import PathObservation, PathsSnapshot, Thresholds
from trashmonitor.monitor.past_polls import PastPaths, lowest_frames_in_error, past_poll

T0 = 1_763_700_000.0
NAMES = ("cam1", "cam2", "cam3")
INT64 = (-(2**63), 2**63 - 1)

counters = st.sampled_from([0, 1, 1000, 5000, 2**62]) | st.integers(*INT64)
frames_counts = st.none() | st.sampled_from([0, 1, 3]) | st.integers(*INT64)


@st.composite
def observation(draw: st.DrawFn, name: str) -> PathObservation:
    return PathObservation(
        name,
        draw(st.booleans()),
        draw(st.booleans()),
        draw(counters),
        draw(st.sampled_from([0, 7])),
        draw(st.integers(0, 2)),
        frames_in_error=draw(frames_counts),
        online_since=draw(st.sampled_from([None, T0])),
        codec=draw(st.sampled_from([None, "H264"])),
        configured=draw(st.booleans()),
    )


@st.composite
def poll_sequences(draw: st.DrawFn) -> list[tuple[float, dict[str, PathObservation]]]:
    """(clock step, paths) per poll: mostly steady growth, with stops, resets, lost
    frames, paths appearing, vanishing and going offline."""
    sequence = []
    paths: dict[str, PathObservation] = {}
    for _ in range(draw(st.integers(1, 16))):
        for name in draw(st.lists(st.sampled_from(NAMES), max_size=2)):
            paths[name] = draw(observation(name))
        for gone in draw(st.lists(st.sampled_from(NAMES), max_size=1)):
            paths.pop(gone, None)
        grown = draw(st.sampled_from([0, 4000, 4000, 4000, -1000]))
        lost = draw(st.sampled_from([0, 0, 1]))
        paths = {
            name: path._replace(
                inbound_bytes=max(0, min(path.inbound_bytes + grown, 2**63 - 1)),
                frames_in_error=None
                if path.frames_in_error is None
                else min(path.frames_in_error + lost, 2**63 - 1),
            )
            if path.online
            else path
            for name, path in paths.items()
        }
        step = draw(st.sampled_from([0.0, 0.5, 1.0, 1.0, 1.0, 3.0, 30.0]))
        sequence.append((step, dict(paths)))
    return sequence


def compacted(history: deque[PathsSnapshot]) -> None:
    """What the daemon does after each poll: the poll before the previous one becomes
    numbers."""
    if len(history) >= 3:
        history[-3] = past_poll(history[-3], history[-4] if len(history) >= 4 else None)


@PROPERTIES
@given(
    poll_sequences(),
    st.sampled_from(
        [
            Thresholds(),
            Thresholds(stall_after=4.0, frames_error_window=3.0),
            # The window's floor (no lookup below frames_error_min above it) at other minima.
            Thresholds(frames_error_min=0),
            Thresholds(frames_error_min=3),
        ]
    ),
    st.sampled_from([frozenset(), frozenset({"cam2"})]),
)
def test_judging_past_polls_as_numbers_equals_judging_the_whole_observations(
    sequence: list[tuple[float, dict[str, PathObservation]]],
    thresholds: Thresholds,
    parked: frozenset[str],
) -> None:
    whole: deque[PathsSnapshot] = deque(maxlen=14)
    compact: deque[PathsSnapshot] = deque(maxlen=14)
    evaluator = Evaluator()
    now = T0
    for step, paths in sequence:
        now += step
        whole.append(PathsSnapshot(now, paths))
        compact.append(PathsSnapshot(now, paths))
        compacted(compact)
        judging = Judging(now, thresholds, parked, None, frozenset({"cam3"}))
        expected = evaluate(tuple(whole), judging)
        assert evaluate(tuple(compact), judging) == expected
        assert evaluator.evaluate(tuple(compact), judging) == expected


@PROPERTIES
@given(
    st.dictionaries(
        st.sampled_from(NAMES), st.tuples(st.booleans(), counters, frames_counts), max_size=3
    )
)
def test_a_past_poll_reads_back_the_numbers_judging_needs(
    values: dict[str, tuple[bool, int, int | None]],
) -> None:
    paths = {
        name: PathObservation(name, online, True, inbound, 5, 2, frames, T0, "rtspSession")
        for name, (online, inbound, frames) in values.items()
    }
    past = past_poll(PathsSnapshot(T0, paths, rejected=2))
    assert (past.at, past.rejected, list(past.paths)) == (T0, 2, list(paths))
    for name, path in paths.items():
        read = past.paths.get(name)
        assert read is not None
        assert read == past.paths[name]
        assert (read.name, read.online, read.inbound_bytes, read.frames_in_error) == (
            name,
            path.online,
            path.inbound_bytes,
            path.frames_in_error,
        )
    assert past.paths.get("absent") is None
    assert "absent" not in past.paths
    # The frames-in-error window's reads: the one number, and the least of the poll.
    counts = [path.frames_in_error for path in paths.values() if path.frames_in_error is not None]
    lowest = min(counts, default=None)
    if isinstance(past.paths, PastPaths):  # (a count equal to the "none" mark keeps it whole)
        for name, path in paths.items():
            assert past.paths.frames_in_error(name) == path.frames_in_error
        assert past.paths.frames_in_error("absent") is None
        assert past.paths.lowest_frames_in_error == lowest
    assert lowest_frames_in_error(past.paths) == lowest
    assert lowest_frames_in_error(paths) == lowest


def test_counters_the_arrays_cannot_hold_keep_the_poll_whole() -> None:
    huge = PathObservation("cam1", True, True, 2**64 - 1, 0, 0)
    snapshot = PathsSnapshot(T0, {"cam1": huge})
    assert past_poll(snapshot) is snapshot
    marked = PathObservation("cam1", True, True, 0, 0, 0, frames_in_error=-(2**63))
    kept = PathsSnapshot(T0, {"cam1": marked, "cam2": marked._replace(name="cam2")})
    assert past_poll(kept) is kept


def test_polls_listing_the_same_names_share_one_index() -> None:
    paths = {name: PathObservation(name, True, True, 10, 0, 0) for name in NAMES}
    first = past_poll(PathsSnapshot(T0, paths))
    second = past_poll(PathsSnapshot(T0 + 1, dict(paths)), first)
    reordered = past_poll(PathsSnapshot(T0 + 2, dict(reversed(paths.items()))), second)
    assert isinstance(first.paths, PastPaths)
    assert isinstance(second.paths, PastPaths)
    assert second.paths.positions is first.paths.positions
    assert isinstance(reordered.paths, PastPaths)
    assert reordered.paths.positions is not first.paths.positions
    assert list(reordered.paths) == list(reversed(NAMES))
    assert past_poll(first) is first


def test_the_daemon_keeps_past_polls_as_numbers_and_still_sees_a_stall(
    fake: FakeMediaMTX,
) -> None:
    now = [T0]
    fake.set_path("cam1", inbound_bytes=10, frames_in_error=0)
    fake.set_path("cam2", inbound_bytes=10, frames_in_error=0)
    monitor = Monitor(
        MediaMTXClient(fake.url, fake.metrics_url, timeout=2),
        clock=lambda: now[0],
        thresholds=Thresholds(stall_after=4.0),
    )
    # cam1 stops growing after the first poll: the stall's run reaches into past polls.
    for grown in (10, 20, 30, 40, 50, 60):
        fake.set_path("cam2", inbound_bytes=grown, frames_in_error=0)
        monitor.poll_once()
        now[0] += 1
    fake.set_path("cam2", inbound_bytes=70, frames_in_error=1)
    monitor.poll_once()
    history = list(monitor._history)
    assert len(history) == 7
    assert all(isinstance(snapshot.paths, PastPaths) for snapshot in history[:-2])
    assert not any(isinstance(snapshot.paths, PastPaths) for snapshot in history[-2:])
    report = monitor.state.report
    assert report is not None
    cameras = {camera.name: camera for camera in report.cameras}
    assert "stalled" in cameras["cam1"].reasons
    assert cameras["cam2"].reasons == ("frames_in_error",)
    assert cameras["cam1"].last_inbound_at is None  # never grew while watched
