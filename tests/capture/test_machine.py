"""The pure state machine: every transition replayed with explicit times, no sleeping."""

from __future__ import annotations

import pytest

from trashmonitor.backoff import Backoff
from trashmonitor.capture.machine import backoff_delay, initial, next_deadline, step
from trashmonitor.capture.model import (
    Action,
    Event,
    EventKind,
    Exited,
    Image,
    Machine,
    Policy,
    Progress,
    ProgressBlock,
    Started,
    State,
    StderrEvent,
    StopRequested,
    Tick,
)

POLICY = Policy(stall_seconds=3, start_seconds=8, backoff=Backoff(initial=1, maximum=30))


def block(frame: int, fps: float = 15.0) -> ProgressBlock:
    return ProgressBlock(frame=frame, fps=fps, drop_frames=1, dup_frames=2, total_size=None)


def replay(events: list[Event], policy: Policy = POLICY) -> tuple[Machine, tuple[Action, ...]]:
    machine, actions = initial(0.0)
    seen = list(actions)
    for event in events:
        machine, actions = step(machine, event, policy)
        seen.extend(actions)
    return machine, tuple(seen)


def streaming_at(t: float = 1.0) -> list[Event]:
    return [Started(0.0), Progress(t, block(10))]


def test_start_then_progress_is_streaming() -> None:
    machine, actions = replay(streaming_at())
    assert actions == (Action.START,)
    assert machine.state is State.STREAMING
    assert machine.totals.frames == 10


def test_no_progress_for_stall_seconds_stops_ffmpeg() -> None:
    machine, actions = replay([*streaming_at(1.0), Tick(3.9), Tick(4.1)])
    assert machine.state is State.STALLED
    assert actions[-1] is Action.STOP
    assert machine.restarts["stalled"] == 1
    # the process ends (the supervisor escalated to SIGKILL): backoff, not another count
    machine, _ = step(machine, Exited(5.0, -9, rand=0.5), POLICY)
    assert machine.state is State.BACKOFF
    assert machine.reason == "stalled"
    assert machine.restarts["stalled"] == 1
    assert machine.retry_at == pytest.approx(6.0)


def test_progress_just_in_time_keeps_streaming() -> None:
    machine, actions = replay([*streaming_at(1.0), Progress(3.9, block(20)), Tick(6.8)])
    assert machine.state is State.STREAMING
    assert Action.STOP not in actions


def test_starting_without_progress_times_out_as_stalled() -> None:
    machine, actions = replay([Started(0.0), Tick(7.9)])
    assert machine.state is State.STARTING
    machine, actions = step(machine, Tick(8.1), POLICY)
    assert machine.state is State.STALLED
    assert actions == (Action.STOP,)


def test_exit_goes_to_backoff_then_retries_after_the_delay() -> None:
    machine, _ = replay([*streaming_at(), Exited(2.0, 1, rand=0.5)])
    assert machine.state is State.BACKOFF
    assert machine.restarts["exited"] == 1
    assert machine.failures == 1
    machine, actions = step(machine, Tick(2.9), POLICY)
    assert actions == ()
    machine, actions = step(machine, Tick(3.0), POLICY)
    assert machine.state is State.STARTING
    assert actions == (Action.START,)


def test_crash_loop_grows_the_delay_to_the_cap_and_counts() -> None:
    machine, _ = initial(0.0)
    now = 0.0
    delays = []
    for _ in range(8):
        machine, _ = step(machine, Started(now), POLICY)
        machine, _ = step(machine, Exited(now + 0.3, 1, rand=0.5), POLICY)
        assert machine.retry_at is not None
        delays.append(machine.retry_at - (now + 0.3))
        now = machine.retry_at
        machine, actions = step(machine, Tick(now), POLICY)
        assert actions == (Action.START,)
    assert delays == pytest.approx([1, 2, 4, 8, 16, 30, 30, 30])
    assert machine.restarts["exited"] == 8
    assert machine.failures == 8


def test_a_healthy_run_resets_the_backoff() -> None:
    machine, _ = initial(0.0)
    machine = Machine(state=State.STARTING, failures=5)
    machine, _ = step(machine, Started(100.0), POLICY)
    machine, _ = step(machine, Progress(101.0, block(1)), POLICY)
    machine, _ = step(machine, Progress(140.0, block(600)), POLICY)
    machine, _ = step(machine, Exited(140.5, 1, rand=0.5), POLICY)
    assert machine.failures == 1
    assert machine.retry_at == pytest.approx(141.5)


def test_jitter_stays_within_bounds_and_cap() -> None:
    policy = Policy(backoff=Backoff(initial=1, maximum=30, jitter=0.2))
    assert backoff_delay(1, policy, 0.0) == pytest.approx(0.8)
    assert backoff_delay(1, policy, 1.0) == pytest.approx(1.2)
    assert backoff_delay(3, policy, 0.5) == pytest.approx(4.0)
    assert backoff_delay(10, policy, 1.0) == 30
    assert backoff_delay(500, policy, 0.0) <= 30


def test_counters_sum_over_runs() -> None:
    machine, _ = replay(
        [
            Started(0.0),
            Progress(1.0, block(10)),
            Progress(1.5, block(15)),
            Exited(2.0, 1, rand=0.0),
            Tick(3.0),
            Started(3.0),
            Progress(4.0, block(7)),
        ]
    )
    assert machine.totals.frames == 22
    assert machine.totals.dropped == 2
    assert machine.totals.duplicated == 4


def test_black_needs_black_seconds_and_clears() -> None:
    start = StderrEvent(EventKind.BLACK_START)
    machine, _ = replay([*streaming_at(), Image(5.0, start)])
    assert not machine.black(6.9, POLICY)
    assert machine.black(7.0, POLICY)
    machine, _ = step(machine, Image(9.0, StderrEvent(EventKind.BLACK_END)), POLICY)
    assert not machine.black(20.0, POLICY)


def test_freeze_is_set_and_cleared_and_reset_by_a_new_run() -> None:
    machine, _ = replay([*streaming_at(), Image(5.0, StderrEvent(EventKind.FREEZE_START))])
    assert machine.frozen
    machine, _ = step(machine, Image(6.0, StderrEvent(EventKind.FREEZE_END)), POLICY)
    assert not machine.frozen
    machine, _ = step(machine, Image(7.0, StderrEvent(EventKind.FREEZE_START)), POLICY)
    machine, _ = step(machine, Exited(8.0, 1), POLICY)
    assert not machine.frozen


def test_publish_failure_backs_off_but_keeps_the_buffer_ffmpeg() -> None:
    failed = StderrEvent(EventKind.PUBLISH_FAILED, "Connection refused")
    machine, actions = replay([*streaming_at(), Image(2.0, failed, rand=0.5)])
    assert machine.state is State.BACKOFF
    assert machine.reason == "publish_failed"
    assert machine.process_running  # not stopped: it still writes the local buffer
    assert Action.STOP not in actions
    # its progress is not double counted while it only feeds the buffer
    machine, _ = step(machine, Progress(2.5, block(500)), POLICY)
    assert machine.totals.frames == 10
    machine, actions = step(machine, Tick(3.0), POLICY)
    assert actions == (Action.START,)
    assert not machine.process_running


def test_a_buffer_only_ffmpeg_keeps_reporting_its_picture_until_the_retry() -> None:
    """Real ffmpeg order (checked with Debian's 5.1): the first frame goes through the
    filters, so ``black_start`` is logged, before the RTSP branch fails. The same ffmpeg
    keeps running for the buffer, so the black it saw is still true in backoff; the retry
    starts a new ffmpeg, whose filters report afresh."""
    black = StderrEvent(EventKind.BLACK_START)
    failed = StderrEvent(EventKind.PUBLISH_FAILED, "Connection refused")
    machine, _ = replay([Started(0.0), Image(0.1, black), Image(0.2, failed, rand=0.5)])
    assert machine.state is State.BACKOFF
    assert machine.black(2.1, POLICY)
    machine, _ = step(machine, Image(2.2, StderrEvent(EventKind.FREEZE_START)), POLICY)
    assert machine.frozen  # the buffer-only ffmpeg's filters still count
    assert machine.retry_at is not None
    machine, actions = step(machine, Tick(machine.retry_at), POLICY)
    assert actions == (Action.START,)
    assert not machine.black(machine.since + 10, POLICY)
    assert not machine.frozen


def test_device_unplugged_while_streaming_stops_and_waits_without_storm() -> None:
    machine, actions = replay([*streaming_at(), Tick(2.0, device_present=False)])
    assert machine.state is State.DEVICE_MISSING
    assert actions[-1] is Action.STOP
    machine, _ = step(machine, Exited(2.5, 255), POLICY)
    restarts_before = dict(machine.restarts)
    for second in range(3, 300):
        machine, actions = step(machine, Tick(float(second), device_present=False), POLICY)
        assert actions == ()
    assert dict(machine.restarts) == restarts_before
    machine, actions = step(machine, Tick(300.0, device_present=True), POLICY)
    assert machine.state is State.STARTING
    assert actions == (Action.START,)


def test_an_agent_started_without_its_camera_waits_for_it_without_starting_ffmpeg() -> None:
    machine, actions = initial(5.0, device_present=False)
    assert (machine.state, machine.reason, machine.since) == (
        State.DEVICE_MISSING,
        "device_missing",
        5.0,
    )
    assert actions == ()
    machine, actions = step(machine, Tick(6.0, device_present=False), POLICY)
    assert (machine.state, actions) == (State.DEVICE_MISSING, ())
    machine, actions = step(machine, Tick(7.0, device_present=True), POLICY)
    assert (machine.state, actions) == (State.STARTING, (Action.START,))
    assert machine.restarts_total() == 0


def test_backoff_ending_with_the_device_gone_waits_for_it() -> None:
    machine, _ = replay([*streaming_at(), Exited(2.0, 1, rand=0.5), Tick(3.5, False)])
    assert machine.state is State.DEVICE_MISSING


def test_stop_request_stops_from_any_state_and_is_final() -> None:
    machine, actions = replay([*streaming_at(), StopRequested(2.0)])
    assert machine.state is State.STOPPED
    assert actions[-1] is Action.STOP
    machine, actions = step(machine, Tick(100.0), POLICY)
    assert machine.state is State.STOPPED
    assert actions == ()
    idle, _ = replay([Started(0.0), Exited(0.5, 1), StopRequested(0.6)])
    assert idle.state is State.STOPPED


def test_events_of_a_process_that_is_gone_change_nothing() -> None:
    machine, _ = replay([*streaming_at(), Exited(2.0, 1)])
    after, actions = step(machine, Progress(2.1, block(99)), POLICY)
    assert after == machine
    assert actions == ()
    after, _ = step(machine, Exited(2.2, 1), POLICY)
    assert after == machine


def test_next_deadline_lets_the_supervisor_sleep_until_a_decision_is_due() -> None:
    machine, _ = replay(streaming_at(1.0))
    assert next_deadline(machine, POLICY, 1.5) == 4.0  # last progress + stall_seconds
    assert next_deadline(machine, POLICY, 4.5) is None  # past: the next tick decides
    black, _ = step(machine, Image(2.5, StderrEvent(EventKind.BLACK_START)), POLICY)
    assert next_deadline(black, POLICY, 3.0) == 4.0  # the stall check comes first
    assert next_deadline(black, POLICY, 4.2) == 4.5  # then black has lasted 2 s
    starting, _ = replay([Started(10.0)])
    assert next_deadline(starting, POLICY, 10.0) == 18.0
    backoff, _ = replay([*streaming_at(), Exited(2.0, 1, rand=0.5)])
    assert next_deadline(backoff, POLICY, 2.0) == backoff.retry_at
    stopped, _ = replay([*streaming_at(), StopRequested(2.0)])
    assert next_deadline(stopped, POLICY, 2.0) is None


def test_buffer_only_ffmpeg_is_stopped_when_the_device_is_gone_at_retry() -> None:
    failed = StderrEvent(EventKind.PUBLISH_FAILED, "Connection refused")
    machine, _ = replay([*streaming_at(), Image(2.0, failed, rand=0.5)])
    machine, actions = step(machine, Tick(3.5, device_present=False), POLICY)
    assert machine.state is State.DEVICE_MISSING
    assert actions == (Action.STOP,)


def test_consecutive_failures_reset_while_a_run_is_healthy() -> None:
    """Reproduction: the gauge ("0 when healthy") kept its last value through hours of
    healthy streaming, because only the end of a run reset it."""
    machine = Machine(state=State.STARTING, failures=5)
    machine, _ = step(machine, Started(100.0), POLICY)
    machine, _ = step(machine, Progress(101.0, block(1)), POLICY)
    machine, _ = step(machine, Progress(101.0 + POLICY.healthy_seconds - 0.5, block(2)), POLICY)
    assert machine.failures == 5, "not healthy yet: a crash now still backs off longer"
    now = 101.0 + POLICY.healthy_seconds
    machine, _ = step(machine, Progress(now, block(3)), POLICY)
    assert machine.failures == 0
    for second in range(1, 3 * 3600):  # hours of healthy streaming: progress, ticks
        machine, _ = step(machine, Progress(now + second, block(3 + second)), POLICY)
        machine, _ = step(machine, Tick(now + second + 0.5), POLICY)
        assert (machine.state, machine.failures) == (State.STREAMING, 0)
    machine, _ = step(machine, Exited(now + 3 * 3600, 1, rand=0.5), POLICY)
    assert machine.failures == 1
