"""One playback pull's process (monitor/play_ffmpeg.py): it never outlives the monitor or
probe that started it (the pulls' figures and verdicts: test_play.py, test_play_parse.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap

from support.processes import children_of, pid_alive, stop_process, wait_until

# A parent pulling on a worker thread, as the monitor's playback check does; ``sleep``
# stands in for an ffmpeg waiting on a silent server.
_PARENT = textwrap.dedent(
    """
    import threading, time
    from trashmonitor.monitor.play_ffmpeg import pull
    threading.Thread(target=pull, args=(["sleep", "300"], 300.0), daemon=True).start()
    print("pulling", flush=True)
    time.sleep(300)
    """
)


def test_a_pull_ends_when_its_parent_is_killed_with_sigkill() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-P", "-c", _PARENT], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    children: list[int] = []
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline() == b"pulling\n"
        children = wait_until(lambda: children_of(parent.pid), 30, what="the pull's process")
        parent.kill()  # no handler, no cleanup: only the kernel can end the pull now
        parent.wait(30)
        wait_until(lambda: not any(map(pid_alive, children)), 30, what="the orphan ended")
    finally:
        stop_process(parent)
        for child in filter(pid_alive, children):  # left over only when the test fails
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
