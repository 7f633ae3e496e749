"""The agent's decisions as a pure function: ``step(machine, event, policy) -> (machine, actions)``.

No I/O and no clock: every event carries ``now`` (monotonic seconds) and the random
number used for jitter, so tests replay any history without sleeping. The supervisor
(``supervisor.py``) turns real happenings into events and performs the actions. The
machine, its events, actions and policy are values of ``model.py``.

States::

    starting ──progress──► streaming ──no progress for stall_seconds──► stalled
       │  no progress for        │ ffmpeg exited / RTSP branch failed       │ (stopping)
       │  connect+stall s        ▼                                          ▼
       └──────────────────►  backoff ◄─────────────────── ffmpeg gone ──────┘
                               │ delay over: device present → starting
                               │             device absent  → device_missing
    device_missing ──device back──► starting          any ──stop requested──► stopped
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType

from trashmonitor.capture import model
from trashmonitor.capture.model import Action, Actions, Event, EventKind, Machine, Policy, State

_RUNNING = (State.STARTING, State.STREAMING)


def backoff_delay(failures: int, policy: Policy, rand: float) -> float:
    """Capped exponential delay with jitter: 1, 2, 4, … seconds up to the maximum."""
    return policy.backoff.delay(failures, rand)


def _enter(machine: Machine, state: State, now: float, reason: str, **changes: object) -> Machine:
    return replace(machine, state=state, since=now, reason=reason, **changes)  # type: ignore[arg-type]


def _count(machine: Machine, reason: str) -> Mapping[str, int]:
    counts = dict(machine.restarts)
    counts[reason] = counts.get(reason, 0) + 1
    return MappingProxyType(counts)


def _run_over(machine: Machine, now: float, policy: Policy) -> Machine:
    """Fold the finished run's counters in and reset per-run fields."""
    healthy = (
        machine.streaming_since is not None
        and now - machine.streaming_since >= policy.healthy_seconds
    )
    return replace(
        machine,
        finished_runs=machine.totals,
        last_block=None,
        streaming_since=None,
        started_at=None,
        black_since=None,
        frozen=False,
        failures=0 if healthy else machine.failures,
    )


def _to_backoff(machine: Machine, now: float, reason: str, policy: Policy, rand: float) -> Machine:
    failures = machine.failures + 1
    return _enter(
        machine,
        State.BACKOFF,
        now,
        reason,
        failures=failures,
        retry_at=now + backoff_delay(failures, policy, rand),
        restarts=_count(machine, reason),
    )


def step(machine: Machine, event: Event, policy: Policy) -> tuple[Machine, Actions]:  # noqa: PLR0911  # one branch per event type
    """Apply one event; return the new machine and what the supervisor must do."""
    if machine.state is State.STOPPED:
        if isinstance(event, model.Exited):
            return replace(machine, process_running=False), ()
        return machine, ()
    if isinstance(event, model.StopRequested):
        actions = (Action.STOP,) if machine.process_running else ()
        return _enter(machine, State.STOPPED, event.now, "stop requested"), actions
    if isinstance(event, model.Started):
        return replace(
            machine, process_running=True, started_at=event.now, last_progress_at=None
        ), ()
    if isinstance(event, model.Progress):
        return _on_progress(machine, event, policy)
    if isinstance(event, model.Exited):
        return _on_exit(machine, event, policy)
    if isinstance(event, model.Image):
        return _on_image(machine, event, policy)
    return _on_tick(machine, event, policy)


def _on_progress(
    machine: Machine, event: model.Progress, policy: Policy
) -> tuple[Machine, Actions]:
    if not machine.process_running or machine.state not in _RUNNING:
        # e.g. a buffer-only ffmpeg during backoff: its run was already folded in.
        return machine, ()
    updated = replace(machine, last_progress_at=event.now, last_block=event.block)
    healthy = (
        machine.streaming_since is not None
        and event.now - machine.streaming_since >= policy.healthy_seconds
    )
    if healthy and machine.failures:
        # The crash loop is over once a run has streamed healthy_seconds: the gauge says
        # 0 from then on, not only after this run ends.
        updated = replace(updated, failures=0)
    if machine.state is State.STARTING:
        return _enter(
            updated,
            State.STREAMING,
            event.now,
            "progress",
            streaming_since=event.now,
        ), ()
    return updated, ()


def _on_exit(machine: Machine, event: model.Exited, policy: Policy) -> tuple[Machine, Actions]:
    if not machine.process_running:
        return machine, ()
    over = replace(_run_over(machine, event.now, policy), process_running=False)
    if machine.state is State.STALLED:
        # The watchdog's own stop: already counted when it fired.
        failures = over.failures + 1
        return _enter(
            over,
            State.BACKOFF,
            event.now,
            "stalled",
            failures=failures,
            retry_at=event.now + backoff_delay(failures, policy, event.rand),
        ), ()
    if machine.state is State.DEVICE_MISSING:
        return over, ()
    if machine.state is State.BACKOFF:  # a buffer-only ffmpeg ended while we wait
        return over, ()
    return _to_backoff(over, event.now, "exited", policy, event.rand), ()


def _on_image(machine: Machine, event: model.Image, policy: Policy) -> tuple[Machine, Actions]:
    kind = event.event.kind
    if kind is EventKind.BLACK_START:
        return replace(machine, black_since=event.now), ()
    if kind is EventKind.BLACK_END:
        return replace(machine, black_since=None), ()
    if kind is EventKind.FREEZE_START:
        return replace(machine, frozen=True), ()
    if kind is EventKind.FREEZE_END:
        return replace(machine, frozen=False), ()
    if kind is EventKind.PUBLISH_FAILED and machine.state in _RUNNING:
        # ffmpeg stays up for the local buffer; the retry after the delay restarts it.
        # Its picture is still watched: a black or frozen spell it reported (ffmpeg
        # filters the first frame before the RTSP branch fails) stays true.
        over = replace(
            _run_over(machine, event.now, policy),
            black_since=machine.black_since,
            frozen=machine.frozen,
        )
        return _to_backoff(over, event.now, "publish_failed", policy, event.rand), ()
    return machine, ()


def _on_tick(machine: Machine, event: model.Tick, policy: Policy) -> tuple[Machine, Actions]:  # noqa: PLR0911  # one branch per state
    now = event.now
    if machine.device_present != event.device_present:
        machine = replace(machine, device_present=event.device_present)
    state = machine.state
    if state in _RUNNING and not event.device_present:
        stopped = _enter(
            _run_over(machine, now, policy),
            State.DEVICE_MISSING,
            now,
            "device_missing",
            restarts=_count(machine, "device_missing"),
            retry_at=None,
        )
        return stopped, (Action.STOP,) if machine.process_running else ()
    if state is State.STARTING and machine.process_running:
        if machine.started_at is not None and now - machine.started_at > policy.start_seconds:
            return _stall(machine, now, "no progress since start")
        return machine, ()
    if state is State.STREAMING:
        last = machine.last_progress_at or machine.started_at or now
        if now - last > policy.stall_seconds:
            return _stall(machine, now, "stalled")
        return machine, ()
    if state is State.BACKOFF and machine.retry_at is not None and now >= machine.retry_at:
        if not event.device_present:
            waiting = _enter(machine, State.DEVICE_MISSING, now, "device_missing", retry_at=None)
            return waiting, (Action.STOP,) if machine.process_running else ()
        # START replaces any leftover (buffer-only) ffmpeg: the supervisor ends it quietly,
        # and with it what its filters said about the picture (the new one tells anew).
        restarted = _enter(
            machine,
            State.STARTING,
            now,
            "retry",
            retry_at=None,
            process_running=False,
            black_since=None,
            frozen=False,
        )
        return restarted, (Action.START,)
    if state is State.DEVICE_MISSING and event.device_present and not machine.process_running:
        return _enter(machine, State.STARTING, now, "device back"), (Action.START,)
    return machine, ()


def next_deadline(machine: Machine, policy: Policy, now: float) -> float | None:
    """When the next time-based decision is due after ``now``, so the supervisor can
    sleep until then instead of polling: the stall/start timeout, the end of a backoff,
    or the moment a black picture has lasted ``black_seconds``. A Tick just after it
    decides; deadlines already past are not repeated (no busy loop)."""
    due: list[float] = []
    if machine.state is State.STREAMING and machine.last_progress_at is not None:
        due.append(machine.last_progress_at + policy.stall_seconds)
    elif machine.state is State.STARTING and machine.started_at is not None:
        due.append(machine.started_at + policy.start_seconds)
    elif machine.state is State.BACKOFF and machine.retry_at is not None:
        due.append(machine.retry_at)
    if machine.black_since is not None:
        due.append(machine.black_since + policy.black_seconds)
    future = [at for at in due if at > now]
    return min(future) if future else None


def _stall(machine: Machine, now: float, reason: str) -> tuple[Machine, Actions]:
    stalled = _enter(machine, State.STALLED, now, reason, restarts=_count(machine, "stalled"))
    return stalled, (Action.STOP,)


def initial(now: float, device_present: bool = True) -> tuple[Machine, Actions]:
    """The machine at agent start: starting, and the first ffmpeg should be launched;
    or, when the camera is not there, waiting for it instead of letting ffmpeg fail in
    a loop."""
    if not device_present:
        machine = Machine(
            state=State.DEVICE_MISSING, since=now, reason="device_missing", device_present=False
        )
        return machine, ()
    return Machine(state=State.STARTING, since=now, reason="initial"), (Action.START,)
