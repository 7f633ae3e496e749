"""`trashmon probe`'s exit when the shell closed its stdout or stderr (``>&-``, ``2>&-``).

Python then starts with ``sys.stdout``/``sys.stderr`` set to None; the probe's quick exit
(flush both, ``os._exit``) must skip such a stream, not crash on it."""

from __future__ import annotations

import subprocess

import pytest
from support.fake_mediamtx import FakeMediaMTX
from support.processes import TRASHMON, clean_environ


@pytest.mark.parametrize("closed", [">&-", "2>&-"])
def test_a_healthy_probe_with_a_closed_stream_exits_0(fake: FakeMediaMTX, closed: str) -> None:
    """Reproduction: AttributeError on None.flush(), a traceback and exit 1."""
    fake.add_paths(3, rate=10_000)
    # The shell closes the descriptor, as a user's `trashmon probe ... >&-` does.
    result = subprocess.run(
        ["/bin/bash", "-c", f'exec "$@" {closed}', "bash", *TRASHMON, "probe", "--api", fake.url],
        capture_output=True,
        text=True,
        env=clean_environ(),
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    if closed == ">&-":
        assert result.stderr == ""
    else:  # the table still reaches the open stdout
        assert result.stdout.splitlines()[-1].startswith("3 cameras: 3 ok")
