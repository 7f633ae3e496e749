"""Child processes that die with their parent and stop however stuck they are.

Two needs every command that starts a process has (the capture agent's ffmpeg, the
demo's whole stack): the child must not outlive the parent even when the parent is
killed with SIGKILL, and stopping it must end it for sure (ffmpeg stuck on a frozen
RTSP server ignores one SIGTERM; a stopped process ignores every SIGTERM).

- :func:`start_child`: ``subprocess.Popen`` whose child asks the kernel, before exec,
  for ``PR_SET_PDEATHSIG``. The kernel sends that signal when the *thread* that forked
  the child ends, so start long-lived children from a thread that lives as long as
  they should (the capture agent's loop thread, the demo's main thread).
- :func:`stop_child`: signal, wait, escalate, and always reap (unless even SIGKILL
  leaves the process alive, a process stuck in the kernel; reaping it would block).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _prctl() -> Callable[..., int] | None:
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux: the child may outlive us
        return None
    return prctl


# Looked up once in the parent: between fork and exec the child makes one foreign call
# and nothing else (no import, no allocation-heavy lookup in a process copied from a
# threaded parent).
_PRCTL = _prctl()


def die_with_parent_hook(die_signal: signal.Signals) -> Callable[[], None] | None:
    """A ``preexec_fn`` asking the kernel to send ``die_signal`` when the parent dies."""
    prctl = _PRCTL
    if prctl is None:
        return None
    number = int(die_signal)
    parent = os.getpid()

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, number, 0, 0, 0)
        # A parent that died between fork and this call sent no signal: the child was
        # re-parented already, so it ends itself as the kernel would have ended it.
        if os.getppid() != parent:
            os.kill(os.getpid(), number)

    return hook


def start_child(
    argv: Sequence[str],
    *,
    die_signal: signal.Signals = signal.SIGKILL,
    **popen: Any,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` as a child that gets ``die_signal`` when this process dies.

    ``popen`` goes to :class:`subprocess.Popen` as is (streams, env, process group).
    """
    return subprocess.Popen(
        list(argv),
        preexec_fn=die_with_parent_hook(die_signal),  # noqa: PLW1509  # one prctl call
        **popen,
    )


@dataclass(frozen=True)
class StopStep:
    """Send ``signal`` (named ``name`` in the outcome), then wait up to ``wait`` seconds."""

    name: str
    signal: signal.Signals
    wait: float


def escalation(
    term_wait: float, *, second_term_wait: float | None = None, kill_wait: float = 5.0
) -> tuple[StopStep, ...]:
    """SIGTERM, wait; optionally a second SIGTERM, wait; then SIGKILL, wait."""
    steps = [StopStep("SIGTERM", signal.SIGTERM, term_wait)]
    if second_term_wait is not None:
        steps.append(StopStep("second SIGTERM", signal.SIGTERM, second_term_wait))
    steps.append(StopStep("SIGKILL", signal.SIGKILL, kill_wait))
    return tuple(steps)


ALREADY_EXITED = "already exited"
STILL_RUNNING = "still running after SIGKILL"


def stop_child(proc: subprocess.Popen[Any], steps: Sequence[StopStep]) -> str:
    """End ``proc`` by ``steps`` until it exits; returns the step that ended it,
    :data:`ALREADY_EXITED` or :data:`STILL_RUNNING` (unkillable, left unreaped)."""
    if proc.poll() is not None:
        return ALREADY_EXITED
    for step in steps:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(step.signal)
        try:
            proc.wait(step.wait)
        except subprocess.TimeoutExpired:
            continue
        return step.name
    return STILL_RUNNING
