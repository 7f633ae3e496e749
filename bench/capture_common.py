"""Shared by the capture benches: the tests' real-process harness and /proc readers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The harness lives with the tests (tests/capture/harness.py); reuse it, don't copy it.
sys.path.insert(0, str(REPO / "tests"))

from capture.harness import (  # noqa: E402
    SMALL,
    AgentProcess,
    Peer,
    start_agent_process,
    stop_agent_process,
)
from support.processes import children_of, free_port, wait_until  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

__all__ = [
    "SMALL",
    "AgentProcess",
    "Peer",
    "children_of",
    "cpu_seconds",
    "free_port",
    "rss_bytes",
    "start_agent_process",
    "stop_agent_process",
    "wait_until",
]


def cpu_seconds(pid: int) -> float:
    """CPU time of a process so far, summed over its live threads.

    /proc/<pid>/task/*/schedstat counts nanoseconds; /proc/<pid>/stat counts 10 ms
    ticks, too coarse for an agent that uses ~30 ms in 30 s.
    """
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, IndexError, ValueError):
            continue
    if total:
        return total / 1e9
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0
