"""The shared runtime: run work every interval, and run a service until a signal.

Every long-running command has the same two needs: repeat a step on a fixed cadence
until told to stop, and turn SIGTERM/SIGINT into that "stop". Written once here so the
cadence (start to start, never drifting by the step's own duration) and the shutdown
(previous handlers restored, the signal logged) are the same everywhere.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def run_every(
    interval: float,
    step: Callable[[], object],
    stop: threading.Event,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Call ``step`` every ``interval`` seconds, start to start, until ``stop`` is set.

    A step that takes longer than the interval is followed at once by the next (never
    two at a time). ``step`` handles its own errors: one escaping ends the loop.
    """
    while not stop.is_set():
        started = clock()
        step()
        stop.wait(max(0.0, interval - (clock() - started)))


@contextmanager
def stop_on_signals(signals: Sequence[signal.Signals] = STOP_SIGNALS) -> Iterator[threading.Event]:
    """An event set by any of ``signals`` while inside the block (main thread only);
    the previous handlers come back on the way out."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        stop.set()

    previous = {signum: signal.signal(signum, on_signal) for signum in signals}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run_until_signal(service: Callable[[threading.Event], object]) -> None:
    """Run ``service(stop)`` with ``stop`` set by SIGTERM or SIGINT; it returns once set."""
    with stop_on_signals() as stop:
        service(stop)
