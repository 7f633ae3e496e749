"""The fake MediaMTX (documented API v1.20) every monitor test module talks to."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.fake_mediamtx import FakeMediaMTX


@pytest.fixture
def fake() -> Iterator[FakeMediaMTX]:
    with FakeMediaMTX("v1.20") as server:
        yield server
