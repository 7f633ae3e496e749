"""Fixtures: a fresh PKI and a real mosquitto on a free loopback port per test."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from capture.harness import live_segment_buffer
from support.mosquitto import (
    Broker,
    ControlAgent,
    agent_argv,
    control_options,
    make_pki,
    running_agent,
    running_broker,
)
from support.processes import free_port

from trashmonitor.pki import Layout


@pytest.fixture
def broker_port() -> int:
    return free_port()


@pytest.fixture
def pki(tmp_path: Path, broker_port: int) -> Layout:
    return make_pki(tmp_path / "pki", broker_port)


@pytest.fixture
def broker(pki: Layout, broker_port: int, tmp_path: Path) -> Iterator[Broker]:
    with running_broker(pki, broker_port, tmp_path / "mosquitto.log") as running:
        yield running


@pytest.fixture
def captures(tmp_path: Path) -> Path:
    """Where an agent's pictures and recordings go (CAPTURES_DIR)."""
    return tmp_path / "captures"


@pytest.fixture(scope="module")
def buffer_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A live segment buffer (real ffmpeg, testsrc2), shared by a module's tests."""
    with live_segment_buffer(tmp_path_factory.mktemp("buffer")) as directory:
        yield directory


@pytest.fixture
def control_agent(
    pki: Layout, broker: Broker, buffer_dir: Path, captures: Path, tmp_path: Path
) -> Iterator[ControlAgent]:
    """Starts camA's agent as a process with :func:`control_options` and the options
    given; it stops when the test ends (logs in ``agent.log``)."""
    with contextlib.ExitStack() as agents:

        def start(*extra: str) -> subprocess.Popen[bytes]:
            argv = agent_argv(pki, "camA", broker.port, *control_options(buffer_dir, captures))
            return agents.enter_context(running_agent([*argv, *extra], tmp_path / "agent.log"))

        yield start
