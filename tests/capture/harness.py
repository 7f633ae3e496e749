"""Real processes for the capture agent's tests and benches: an RTSP peer and the agent.

The peer is Debian's ffmpeg in RTSP listen mode (it accepts one publisher and exits
when it leaves); the agent is ``python -m trashmonitor capture`` as a subprocess,
observed only through what users see: /metrics, /healthz, its log and /proc.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType

from prometheus_client.parser import text_string_to_metric_families
from support.http import get_text
from support.mosquitto import segment_writer_argv
from support.processes import (
    TRASHMON,
    children_of,
    free_port,
    pid_alive,
    require_binary,
    stop_process,
    wait_until,
)

from trashmonitor.capture.model import AgentSnapshot, DeviceInfo, State

SMALL = ["--width", "320", "--height", "240", "--fps", "10"]


class Peer:
    """``ffmpeg -rtsp_flags listen`` on a loopback port: our stand-in media server."""

    def __init__(self, port: int, log_path: Path) -> None:
        self.port = port
        self.url = f"rtsp://127.0.0.1:{port}/cam"
        self._log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Peer:
        ffmpeg = require_binary("ffmpeg")
        log = open(self._log_path, "ab")  # noqa: SIM115  # closed with the process
        self.proc = subprocess.Popen(
            [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error",
             "-rtsp_flags", "listen", "-i", self.url, "-f", "null", "-"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
        )  # fmt: skip
        log.close()
        wait_until(self._listening, 10, what=f"RTSP peer on {self.port}")
        return self

    def _listening(self) -> bool:
        """A LISTEN socket on the port, or already a connection on it: the listen-mode
        peer closes its listening socket once it accepted the publisher, which can
        happen before this first looks (the agent retries on its own)."""
        port_hex = f":{self.port:04X}"
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with contextlib.suppress(OSError), open(table) as handle:
                for line in handle:
                    fields = line.split()
                    if (
                        len(fields) > 3
                        and fields[1].endswith(port_hex)
                        and fields[3] in ("0A", "01")
                    ):
                        return True
        return False

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
        self.proc.wait(10)
        self.proc = None


class AgentProcess:
    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        metrics_port: int,
        log_path: Path,
        metrics_host: str = "127.0.0.1",
    ) -> None:
        self.proc = proc
        self.metrics_port = metrics_port
        self.metrics_host = metrics_host
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def scrape(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        text = get_text(f"http://{self.metrics_host}:{self.metrics_port}/metrics")
        samples = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "camera"))
                samples[(sample.name, labels)] = sample.value
        return samples

    def value(self, name: str, **labels: str) -> float | None:
        return self.scrape().get((name, tuple(sorted(labels.items()))))

    def state(self) -> str | None:
        for (name, labels), value in self.scrape().items():
            if name == "trashcam_state" and value == 1:
                return dict(labels)["state"]
        return None

    def wait_state(self, wanted: str, timeout: float, interval: float = 0.1) -> float:
        """Seconds it took to reach ``wanted`` (as precise as ``interval``)."""
        start = time.monotonic()
        wait_until(
            lambda: self.state() == wanted, timeout, interval, f"state {wanted}\n{self.log()}"
        )
        return time.monotonic() - start

    def ffmpeg_pid(self) -> int:
        return wait_until(lambda: next(iter(children_of(self.proc.pid)), 0), 15, what="ffmpeg")


def proc_state(pid: int) -> str | None:
    """The /proc state letter (R, S, T, Z…), None once the pid is gone and reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def start_agent_process(
    directory: Path,
    *argv: str,
    env: dict[str, str] | None = None,
    name: str = "agent",
    metrics_host: str = "127.0.0.1",
) -> AgentProcess:
    """``trashmon capture --id cam1`` with fast test timings; waits for /metrics (bound to
    ``metrics_host``: loopback unless a test needs it reachable from "another host")."""
    metrics_port = free_port(metrics_host)
    log_path = directory / f"{name}.log"
    log = open(log_path, "wb")  # noqa: SIM115  # handed to the child
    proc = subprocess.Popen(
        [*TRASHMON, "capture", "--id", "cam1", "--metrics-addr", f"{metrics_host}:{metrics_port}",
         "--connect-timeout", "2", "--backoff-max", "2", *argv],
        stdout=log, stderr=log, cwd=directory, env={**os.environ, **(env or {})},
    )  # fmt: skip
    log.close()
    agent = AgentProcess(proc, metrics_port, log_path, metrics_host)
    wait_until(agent.scrape, 30, what="agent /metrics")
    return agent


def stop_agent_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (the agent stops its ffmpeg), then make sure no child survives."""
    children = children_of(proc.pid)
    stop_process(proc, grace=20)
    for pid in children:  # never leave an ffmpeg behind, even if a test failed
        if pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def python_script(path: Path, body: str) -> Path:
    """An executable stand-in (used as FFMPEG) written in Python."""
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(0o755)
    return path


@contextlib.contextmanager
def live_segment_buffer(directory: Path) -> Iterator[Path]:
    """A live segment buffer in ``directory`` (real ffmpeg, testsrc2) while inside."""
    proc = subprocess.Popen(segment_writer_argv(directory), stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: len(list(directory.glob("*.ts"))) >= 3, 20, what="3 segments")
        yield directory
    finally:
        stop_process(proc)


# A streaming agent's snapshot as the metrics and the state message read it.
def snapshot(**changes: object) -> AgentSnapshot:
    values: dict[str, object] = {
        "camera": "cam1",
        "state": State.STREAMING,
        "reason": "progress",
        "since": 1.0,
        "fps": 14.9,
        "target_fps": 15.0,
        "speed": 1.01,
        "restarts": 3,
        "restarts_by_reason": MappingProxyType({"exited": 2, "stalled": 1}),
        "consecutive_failures": 0,
        "black": True,
        "frozen": False,
        "device": DeviceInfo("/dev/video0", True, "uvcvideo", 'Cam "A"', "usb-1"),
        "frames": 1234,
        "dropped_frames": 1,
        "duplicated_frames": 2,
        "output_bytes": 0,
        "last_progress_at": 1763700000.5,
        "ffmpeg_pid": 42,
        "ts": 1763700001.0,
        "bitrate_bps": 1_600_000.0,
    }
    values.update(changes)
    return AgentSnapshot(**values)  # type: ignore[arg-type]
