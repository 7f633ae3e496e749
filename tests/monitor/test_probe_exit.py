"""`trashmon probe`'s quick exit (flush stdout and stderr, ``os._exit``: no teardown).

When the shell closed its stdout or stderr (``>&-``, ``2>&-``), Python starts with
``sys.stdout``/``sys.stderr`` set to None: the quick exit must skip such a stream, not
crash on it. With ``--play``, every ffmpeg pull must be reaped before it."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from support.fake_mediamtx import FakeMediaMTX
from support.processes import TRASHMON, clean_environ, require_binary


@pytest.mark.parametrize("output", [(), ("--json",)], ids=["table", "json"])
@pytest.mark.parametrize("closed", [">&-", "2>&-"])
def test_a_healthy_probe_with_a_closed_stream_exits_0(
    fake: FakeMediaMTX, closed: str, output: tuple[str, ...]
) -> None:
    """Reproductions: AttributeError on None.flush(), a traceback and exit 1; with
    --json, on None.isatty(): "unexpected AttributeError" and exit 2."""
    fake.add_paths(3, rate=10_000)
    # The shell closes the descriptor, as a user's `trashmon probe ... >&-` does.
    result = subprocess.run(
        ["/bin/bash", "-c", f'exec "$@" {closed}', "bash", *TRASHMON, "probe", "--api", fake.url,
         *output],
        capture_output=True, text=True, env=clean_environ(), timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    if closed == ">&-":
        assert result.stderr == ""
    elif output:  # the document still reaches the open stdout
        assert json.loads(result.stdout)["summary"]["ok"] == 3
    else:
        assert result.stdout.splitlines()[-1].startswith("3 cameras: 3 ok")


def test_with_stderr_closed_what_it_would_say_stays_off_the_piped_document(
    fake: FakeMediaMTX,
) -> None:
    """Reproduction: print(file=None) writes to stdout, so the "no camera to judge"
    line followed the JSON document and the pipe's reader got invalid JSON."""
    fake.add_paths(0)
    result = subprocess.run(
        ["/bin/bash", "-c", 'exec "$@" 2>&-', "bash", *TRASHMON, "probe", "--api", fake.url,
         "--json"],
        capture_output=True, text=True, env=clean_environ(), timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1  # nothing to judge
    assert json.loads(result.stdout)["cameras"] == []
    refused = subprocess.run(
        ["/bin/bash", "-c", 'exec "$@" 2>&-', "bash", *TRASHMON, "probe", "--api", "ftp://x"],
        capture_output=True, text=True, env=clean_environ(), timeout=60, check=False,
    )  # fmt: skip
    assert (refused.returncode, refused.stdout) == (2, "")


# Runs argv as a child subreaper: a process its child leaves behind (a pull not reaped
# when the probe exited: killed by its parent-death signal, or still running) becomes
# this script's child, which os.waitpid(-1) then finds; none left raises ChildProcessError.
AS_SUBREAPER = """
import ctypes, os, subprocess, sys
PR_SET_CHILD_SUBREAPER = 36
if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
    sys.exit(f"prctl: errno {ctypes.get_errno()}")
probe = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE)
sys.stdout.buffer.write(probe.stdout)
try:
    left, _ = os.waitpid(-1, 0)
except ChildProcessError:
    left = 0
print(f"exit {probe.returncode} left {left}", file=sys.stderr)
"""


@contextlib.contextmanager
def dripping_origin(interval: float) -> Iterator[str]:
    """An HTTP origin that answers every request with a status line and then one byte
    every ``interval`` seconds, never ending: a reader's I/O timeout never fires."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def drip(connection: socket.socket) -> None:
        with connection, contextlib.suppress(OSError):
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
            while not stop.wait(interval):
                connection.sendall(b"#")

    def accept() -> None:
        with contextlib.suppress(OSError):  # the listener closed: done
            while True:
                connection, _ = listener.accept()
                threading.Thread(target=drip, args=(connection,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        listener.close()


def test_play_reaps_every_pull_before_the_quick_exit(fake: FakeMediaMTX) -> None:
    require_binary("ffmpeg")
    fake.add_paths(3, rate=10_000)
    # Every pull runs until the probe kills it at its deadline (1 + 0.5 + 3 s).
    with dripping_origin(0.05) as origin:
        play = [
            "--play", "--play-rtsp", "off", "--play-hls", origin + "/{name}/index.m3u8",
            "--play-seconds", "1", "--play-first-frame-max", "0.5",
        ]  # fmt: skip
        result = subprocess.run(
            [sys.executable, "-c", AS_SUBREAPER, *TRASHMON, "probe", "--api", fake.url,
             *play, "--json"],
            capture_output=True, text=True, env=clean_environ(), timeout=120, check=False,
        )  # fmt: skip
    assert result.stderr.splitlines()[-1] == "exit 1 left 0", result.stderr
    pulls = json.loads(result.stdout)["playback"]["cameras"]
    assert [(pull["name"], pull["verdict"]) for pull in pulls] == [
        (f"cam{number}", "not_playable") for number in range(3)
    ]
