"""Fixtures for the capture agent's real-process tests (see harness.py)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.processes import free_port

from .harness import (
    AgentProcess,
    Peer,
    live_segment_buffer,
    start_agent_process,
    stop_agent_process,
)

StartAgent = Callable[..., AgentProcess]


@pytest.fixture
def peer(tmp_path: Path) -> Iterator[Peer]:
    created = Peer(free_port(), tmp_path / "peer.log")
    try:
        yield created
    finally:
        created.stop()


@pytest.fixture
def start_agent(tmp_path: Path) -> Iterator[StartAgent]:
    started: list[subprocess.Popen[bytes]] = []

    def start(*argv: str, env: dict[str, str] | None = None) -> AgentProcess:
        agent = start_agent_process(tmp_path, *argv, env=env, name=f"agent-{len(started)}")
        started.append(agent.proc)
        return agent

    yield start
    for proc in started:
        stop_agent_process(proc)


@pytest.fixture(scope="module")
def buffer_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A live segment buffer (real ffmpeg, testsrc2), shared by a module's tests."""
    with live_segment_buffer(tmp_path_factory.mktemp("buffer")) as directory:
        yield directory
