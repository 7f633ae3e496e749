"""Fixtures for the provisioning tests; the helpers live in provision/playbooks.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from provision.playbooks import FakeHost


@pytest.fixture
def fake_host(tmp_path: Path) -> FakeHost:
    host = FakeHost(tmp_path)
    host.make_system_dirs()
    return host
