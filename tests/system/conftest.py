"""The tailnet-in-a-box fixture: skipped, with ip's own error, only where namespaces fail."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# Helpers are imported by name (tests/system is not a package, like tests/server), and
# the viewer's Chromium driver is tests/server's.
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).parents[1] / "server"))

from box import Box, running_box
from support.netns import NamespacesUnavailable, Tailnet, probe_namespaces


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    tailnet = Tailnet()
    try:
        probe_namespaces(tailnet.token)
    except NamespacesUnavailable as error:
        pytest.skip(f"network namespaces cannot be created here: {error}")
    directory = tmp_path_factory.mktemp("tailnet")
    try:
        tailnet.up()
        with running_box(directory, tailnet) as running:
            yield running
    finally:
        tailnet.close()
