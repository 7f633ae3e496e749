"""Fixtures for the server bundle tests; helpers live in server_harness.py."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest
from server.server_harness import StandIn, serve_standin


@pytest.fixture
def standins() -> Iterator[Callable[[str], StandIn]]:
    """Factory: ``standins("api")`` starts a stand-in; all stop when the test ends."""
    with contextlib.ExitStack() as stack:
        yield lambda name: stack.enter_context(serve_standin(StandIn(name)))
