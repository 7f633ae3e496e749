"""Shared by the capture benches: the tests' real-process harness, re-exported once the
scaffold has put tests/ on sys.path."""

from __future__ import annotations

import scaffold  # noqa: F401  # puts tests/ on sys.path for capture.harness

# isort: split
from capture.harness import (
    SMALL,
    AgentProcess,
    Peer,
    start_agent_process,
    stop_agent_process,
)

__all__ = ["SMALL", "AgentProcess", "Peer", "start_agent_process", "stop_agent_process"]
