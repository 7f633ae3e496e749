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


# The measured command is started by a small launcher process, not by us: a child's peak
# RSS counts the memory of the process it was forked from (Linux keeps the pre-exec
# high-water mark), and a test runner is far bigger than the command it measures. The
# launcher reports the command's rusage, exit status and wall time on a pipe.
_LAUNCHER = """
import os, sys, time
report = int(sys.argv[1])
started = time.monotonic()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
wall = time.monotonic() - started
os.write(report, f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss} {wall}".encode())
"""


def run_measured(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path | None = None,
    timeout: float = 120,
) -> Measured:
    """Run ``argv`` to its end (its process group killed after ``timeout`` s) and measure
    it: exit code, output, wall time and peak RSS of that command alone."""
    report_read, report_write = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-P", "-c", _LAUNCHER, str(report_write), *argv],
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        pass_fds=(report_write,),
        start_new_session=True,
    )
    os.close(report_write)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
    with os.fdopen(report_read, "rb") as report:
        fields = report.read().decode().split()
    if len(fields) != 3:
        raise AssertionError(f"{argv[:4]} was not measured (killed after {timeout} s?)")
    return Measured(
        int(fields[0]),
        out.decode(errors="replace"),
        err.decode(errors="replace"),
        float(fields[2]),
        int(fields[1]) * 1024,
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
    /metrics) every ``interval`` s and serving on loopback ``port``; ``extra`` adds to or
    overrides it."""
    from support.processes import clean_environ

    defaults = {
        "TRASHMON_MEDIAMTX_API": url,
        "TRASHMON_MEDIAMTX_METRICS": url + "/metrics",
        "TRASHMON_LISTEN": f"127.0.0.1:{port}",
        "TRASHMON_INTERVAL": f"{interval:g}",
    }
    return clean_environ(**{**defaults, **extra})


def set_mode(url: str, mode: str) -> None:
    with urlopen(Request(f"{url}/_hostile/mode/{mode}", method="POST"), timeout=10) as reply:
        reply.read()
