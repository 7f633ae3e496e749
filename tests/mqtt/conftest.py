"""Fixtures: a fresh PKI and a real mosquitto on a free loopback port per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
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
