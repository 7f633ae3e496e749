"""trashmonitor.children with real processes: a child never outlives its parent, and a
stop escalates until the child is gone."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest
from support.processes import pid_alive, stop_process, wait_until

from trashmonitor.children import (
    ALREADY_EXITED,
    escalation,
    start_child,
    stop_child,
)

# A parent that starts ``sleep`` through start_child, says the child's pid, and waits.
_PARENT = textwrap.dedent(
    """
    import signal, subprocess, sys, time
    from trashmonitor.children import start_child
    child = start_child(["sleep", "300"], die_signal=signal.Signals[sys.argv[1]],
                        stdin=subprocess.DEVNULL)
    print(child.pid, flush=True)
    time.sleep(300)
    """
)

# A child that ignores SIGTERM, as ffmpeg stuck on a frozen RTSP server does.
_STUBBORN = textwrap.dedent(
    """
    import signal, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("ready", flush=True)
    time.sleep(300)
    """
)


@pytest.mark.parametrize("die_signal", ["SIGKILL", "SIGTERM"])
def test_a_child_ends_when_its_parent_is_killed_with_sigkill(die_signal: str) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT, die_signal],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert parent.stdout is not None
        child_pid = int(parent.stdout.readline())
        assert pid_alive(child_pid)
        parent.kill()  # no handler, no cleanup: only the kernel can end the child now
        parent.wait(30)
        wait_until(lambda: not pid_alive(child_pid), 30, what="the orphan ended")
    finally:
        stop_process(parent)


def test_stop_escalates_to_sigkill_for_a_child_ignoring_sigterm() -> None:
    child = start_child(
        [sys.executable, "-c", _STUBBORN], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"ready\n"  # SIGTERM is ignored from here on
        steps = escalation(0.3, second_term_wait=0.3, kill_wait=30)
        assert stop_child(child, steps) == "SIGKILL"
        assert child.returncode == -signal.SIGKILL
    finally:
        stop_process(child)


def test_stop_ends_at_the_first_sigterm_for_a_child_that_obeys_it() -> None:
    child = start_child(["sleep", "300"], stdin=subprocess.DEVNULL)
    assert stop_child(child, escalation(30)) == "SIGTERM"
    assert child.returncode == -signal.SIGTERM


def test_stopping_a_child_that_already_exited_says_so() -> None:
    child = start_child(["true"], stdin=subprocess.DEVNULL)
    child.wait(30)
    assert stop_child(child, escalation(30)) == ALREADY_EXITED
    assert child.returncode == 0


def test_escalation_lists_its_steps_in_order() -> None:
    steps = escalation(2.0, second_term_wait=1.0, kill_wait=5.0)
    assert [(s.name, s.signal, s.wait) for s in steps] == [
        ("SIGTERM", signal.SIGTERM, 2.0),
        ("second SIGTERM", signal.SIGTERM, 1.0),
        ("SIGKILL", signal.SIGKILL, 5.0),
    ]
    assert [s.name for s in escalation(8.0)] == ["SIGTERM", "SIGKILL"]


# The hook run in a process whose parent is not the one that made it: what a child sees
# when its parent died between fork and the hook (re-parented, and no signal was sent,
# since the kernel only signals deaths that come after the request).
_REPARENTED = textwrap.dedent(
    """
    import os, signal
    from trashmonitor.children import die_with_parent_hook
    hook = die_with_parent_hook(signal.SIGTERM)
    middle = os.fork()
    if middle == 0:
        child = os.fork()
        if child == 0:
            hook()
            os._exit(0)
        _, status = os.waitpid(child, 0)
        os._exit(os.WTERMSIG(status) if os.WIFSIGNALED(status) else 100)
    _, status = os.waitpid(middle, 0)
    print(os.WEXITSTATUS(status))
    """
)


def test_a_child_whose_parent_died_before_the_request_ends_itself() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _REPARENTED], capture_output=True, text=True, timeout=60, check=True
    )
    assert int(result.stdout) == signal.SIGTERM
