"""Start real processes on loopback for tests, and always stop them by PID."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Literal, TypeVar

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[2]
# -P: do not put the current directory on sys.path. From the repo root, ./trashmonitor
# would otherwise shadow the installed package and hide monitor/, capture/, dns/ ...
TRASHMON = [sys.executable, "-P", "-m", "trashmonitor"]
# MediaMTX's hook command, the console script scripts/setup installs beside this Python.
TRASHMON_HOOK = str(Path(sys.executable).parent / "trashmon-hook")
# Where processes started by the tests run: never the checkout, whatever they import.
OUTSIDE_REPO = Path(tempfile.gettempdir())


def clean_environ(**extra: str) -> dict[str, str]:
    """Our environment without a developer's own TRASHMON_*/OTEL_* settings, plus ``extra``."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("TRASHMON_", "OTEL_"))}
    return {**kept, **extra}


def run_trashmon(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdin: str | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """``python -m trashmonitor *args`` run to its end as a user runs it, output captured as
    text. ``env`` is the whole environment (default :func:`clean_environ`)."""
    return subprocess.run(
        [*TRASHMON, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=dict(env) if env is not None else clean_environ(),
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


# `trashmon` itself (cli.main, as the console script runs it), telling at exit every module
# the process imported.
_MODULES_AT_EXIT = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('modules:', *sorted(sys.modules), file=sys.stderr))\n"
    "from trashmonitor.cli import main\n"
    "raise SystemExit(main(sys.argv[1:]))\n"
)


def trashmon_modules(
    *args: str, env: Mapping[str, str] | None = None, stdin: bytes | None = None
) -> tuple[set[str], subprocess.CompletedProcess[bytes]]:
    """Every module a real ``trashmon *args`` process imported (listed at its exit), and
    the finished process. ``env`` is the whole environment (default :func:`clean_environ`)."""
    result = subprocess.run(
        [TRASHMON[0], "-P", "-c", _MODULES_AT_EXIT, *args],
        input=stdin,
        capture_output=True,
        env=dict(env) if env is not None else clean_environ(),
        cwd=OUTSIDE_REPO,
        timeout=120,
        check=False,
    )
    return set(result.stderr.decode().rpartition("modules:")[2].split()), result


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def host_address() -> str:
    """An IPv4 address of this machine other than loopback (``ip -j addr``, global
    scope, interface up): where a process binds to be reachable as another host would
    reach it. Fails (never skips) on a machine with no such address."""
    import json

    done = subprocess.run(
        [require_binary("ip"), "-j", "-4", "addr", "show", "scope", "global", "up"],
        capture_output=True, text=True, timeout=10, check=True,
    )  # fmt: skip
    for interface in json.loads(done.stdout or "[]"):
        for address in interface.get("addr_info", []):
            if address.get("family") == "inet" and address.get("local"):
                return str(address["local"])
    raise AssertionError("this machine has no non-loopback IPv4 address to bind a test agent to")


def wait_until(
    predicate: Callable[[], T | Literal[False] | None],
    timeout: float,
    interval: float = 0.05,
    what: str = "",
) -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception as error:  # the thing may not be up yet
            last_error = error
        else:
            if value:
                return value
        time.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout}s waiting for {what or predicate}: {last_error}"
    )


def stop_process(proc: subprocess.Popen[bytes] | subprocess.Popen[str], grace: float = 5.0) -> int:
    """SIGTERM, wait, then SIGKILL; always reaped. Returns the exit code."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(5)
    return int(proc.returncode)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); look at its state.
    with contextlib.suppress(FileNotFoundError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return False


@contextlib.contextmanager
def running(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    log_path: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv`` for the duration of the block; output goes to ``log_path``."""
    full_env = {**os.environ, **(env or {})}
    log_file = open(log_path, "wb") if log_path else None  # noqa: SIM115
    stdout = log_file if log_file is not None else subprocess.DEVNULL
    proc = subprocess.Popen(
        list(argv), env=full_env, cwd=cwd, stdout=stdout, stderr=subprocess.STDOUT
    )
    try:
        yield proc
    finally:
        stop_process(proc)
        if log_file is not None:
            log_file.close()


@contextlib.contextmanager
def serving(
    argv: Sequence[str], log_path: Path, ready: Callable[[], object], what: str
) -> Iterator[None]:
    """A server process for the block: entered once ``ready()`` answers; still running
    when the block ends, or its log is the failure."""
    with running(argv, log_path=log_path) as proc:
        try:
            wait_until(ready, 60, 0.2, what)
            yield
        finally:
            assert proc.poll() is None, log_path.read_text()


def children_of(pid: int) -> list[int]:
    """Child processes of any thread of ``pid`` (a worker thread may spawn ffmpeg)."""
    pids: list[int] = []
    with contextlib.suppress(FileNotFoundError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError):
                pids += [int(child) for child in (task / "children").read_text().split()]
    return pids


def promtool_check_metrics(exposition: bytes) -> tuple[int, str]:
    """``promtool check metrics`` on an exposition: its exit code and what it said."""
    done = subprocess.run(
        [require_binary("promtool"), "check", "metrics"],
        input=exposition,
        capture_output=True,
        timeout=30,
        check=False,
    )
    return done.returncode, (done.stdout + done.stderr).decode(errors="replace")


def require_binary(name: str) -> str:
    """The path of a Debian tool the test needs; scripts/setup installs all of them."""
    import pytest

    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run scripts/setup (it apt-get installs it)")
    return path
