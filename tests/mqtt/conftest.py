"""Fixtures: a fresh PKI and a real mosquitto on a free loopback port per test."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.mosquitto import Broker, make_pki, running_broker, segment_writer_argv
from support.processes import free_port, stop_process, wait_until

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
    directory = tmp_path_factory.mktemp("buffer")
    proc = subprocess.Popen(segment_writer_argv(directory), stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: len(list(directory.glob("*.ts"))) >= 3, 20, what="3 segments")
        yield directory
    finally:
        stop_process(proc)
