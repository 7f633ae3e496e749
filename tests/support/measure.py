"""Run a process to its end and measure it: exit code, output, wall time and peak RSS
(``wait4``'s rusage of that one child), for the hostile-upstream tests and benches.

Also starts :mod:`support.hostile_mediamtx` as a process (``python -P``, so this folder's
``http.py`` cannot shadow the standard library's ``http``)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.request import Request, urlopen

HOSTILE_SCRIPT = Path(__file__).resolve().parent / "hostile_mediamtx.py"


@dataclass(frozen=True)
class Measured:
    returncode: int
    stdout: str
    stderr: str
    wall: float
    peak_rss_bytes: int


def run_measured(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path | None = None,
    timeout: float = 120,
) -> Measured:
    """Run ``argv`` to its end (killed after ``timeout`` s) and measure it."""
    started = time.monotonic()
    proc = subprocess.Popen(
        list(argv),
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    outputs: dict[str, bytes] = {}
    readers = [
        threading.Thread(target=lambda n=name, s=stream: outputs.__setitem__(n, s.read()))
        for name, stream in (("out", proc.stdout), ("err", proc.stderr))
    ]
    for reader in readers:
        reader.start()
    deadline = started + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
        time.sleep(0.01)  # polling the child's end; no synchronisation depends on it
    wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join(30)
    return Measured(
        proc.returncode,
        outputs.get("out", b"").decode(errors="replace"),
        outputs.get("err", b"").decode(errors="replace"),
        wall,
        usage.ru_maxrss * 1024,
    )


def peak_rss_of(pid: int) -> int:
    """A running process's peak RSS so far (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for pid {pid}")


@contextlib.contextmanager
def hostile_process(mode: str = "healthy", *options: str) -> Iterator[str]:
    """A hostile MediaMTX process on a free loopback port; yields its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-P", str(HOSTILE_SCRIPT), "--port", "0", "--mode", mode, *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        first: list[str] = []
        reader = threading.Thread(target=lambda: first.append(proc.stdout.readline()))  # type: ignore[union-attr]
        reader.start()
        reader.join(30)
        if not first or " on http" not in first[0]:
            raise AssertionError(f"hostile MediaMTX did not start: {first}")
        yield first[0].split(" on ", 1)[1].strip()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def monitor_env(url: str, port: int, interval: float, **extra: str) -> dict[str, str]:
    """The environment of a ``trashmon monitor`` reading the stand-in at ``url`` (API and
    /metrics) every ``interval`` s and serving on loopback ``port``."""
    from support.processes import clean_environ

    return clean_environ(
        TRASHMON_MEDIAMTX_API=url,
        TRASHMON_MEDIAMTX_METRICS=url + "/metrics",
        TRASHMON_LISTEN=f"127.0.0.1:{port}",
        TRASHMON_INTERVAL=f"{interval:g}",
        **extra,
    )


def set_mode(url: str, mode: str) -> None:
    with urlopen(Request(f"{url}/_hostile/mode/{mode}", method="POST"), timeout=10) as reply:
        reply.read()
