"""Fixtures: a fresh PKI and a real mosquitto on a free loopback port per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from capture.harness import live_segment_buffer
from support.mosquitto import Broker, make_pki, running_broker
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
