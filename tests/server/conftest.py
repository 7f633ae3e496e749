"""Fixtures for the server bundle tests; helpers live in server_harness.py."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# The helpers are imported by name from the test modules (tests/server is not a package,
# so that its tests never shadow the repository's server/ folder).
sys.path.insert(0, str(Path(__file__).parent))

from server_harness import StandIn, serve_standin


@pytest.fixture
def standins() -> Iterator[Callable[[str], StandIn]]:
    """Factory: ``standins("api")`` starts a stand-in; all stop when the test ends."""
    with contextlib.ExitStack() as stack:
        yield lambda name: stack.enter_context(serve_standin(StandIn(name)))
