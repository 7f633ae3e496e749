"""The tailnet-in-a-box fixture: skipped, with ip's own error, only where namespaces fail."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.netns import NamespacesUnavailable, Tailnet, probe_namespaces
from system.box import Box, running_box


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
