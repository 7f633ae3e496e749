"""The shared runtime: the interval loop's cadence (a pure test: time is a parameter) and
signal wiring (a real signal to a real child process)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading

from support.processes import wait_until

from trashmonitor.runtime import run_every, stop_on_signals


class SteppedClock:
    """A clock each step advances by what that step "took"."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class RecordingStop(threading.Event):
    """Records every wait instead of sleeping; set after ``runs`` waits."""

    def __init__(self, runs: int) -> None:
        super().__init__()
        self.waits: list[float] = []
        self.runs = runs

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(0.0 if timeout is None else timeout)
        if len(self.waits) >= self.runs:
            self.set()
        return self.is_set()


def test_run_every_keeps_start_to_start_cadence_and_never_waits_negative() -> None:
    clock = SteppedClock()
    durations = iter([0.25, 1.5, 0.0])
    starts: list[float] = []

    def step() -> None:
        starts.append(clock.now)
        clock.now += next(durations)

    stop = RecordingStop(runs=3)
    run_every(1.0, step, stop, clock=clock)
    assert starts == [0.0, 0.25, 1.75]  # the fake clock does not advance while "waiting"
    assert stop.waits == [0.75, 0.0, 1.0]


def test_run_every_does_nothing_once_stopped() -> None:
    stop = threading.Event()
    stop.set()
    calls: list[int] = []
    run_every(1.0, lambda: calls.append(1), stop)
    assert calls == []


def test_stop_on_signals_turns_sigterm_into_stop_and_restores_the_handler() -> None:
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, sys\n"
            "from trashmonitor.runtime import stop_on_signals\n"
            "before = signal.getsignal(signal.SIGTERM)\n"
            "with stop_on_signals() as stop:\n"
            "    print('ready', flush=True)\n"
            "    assert stop.wait(60), 'no signal seen'\n"
            "sys.exit(0 if signal.getsignal(signal.SIGTERM) is before else 3)\n",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"ready\n"
        child.send_signal(signal.SIGTERM)
        wait_until(lambda: child.poll() is not None, 30, 0.05, "child ends on SIGTERM")
        assert child.returncode == 0
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()


def test_stop_on_signals_in_process_sets_the_event_on_sigint() -> None:
    with stop_on_signals((signal.SIGINT,)) as stop:
        signal.raise_signal(signal.SIGINT)
        assert stop.is_set()
