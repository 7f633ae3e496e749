"""`trashmon probe` with several sites (issue 17 §1; docs/monitor.md, "Several sites"):
the real probe process against MediaMTX stand-ins, one of them hanging, down or sick.

What test_sites_e2e.py leaves open: that the sites are polled at once (a refused port
fails as fast sequentially as concurrently, a hanging site does not), which exit wins
when one site cannot be read and another is unhealthy, and the refusals of sites with
stdin and with --play.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.fake_mediamtx import FakeMediaMTX
from support.processes import clean_environ, free_port, run_trashmon


@pytest.fixture
def garage() -> Iterator[FakeMediaMTX]:
    with FakeMediaMTX("v1.20") as server:
        yield server


@pytest.fixture
def shed() -> Iterator[FakeMediaMTX]:
    with FakeMediaMTX("v1.20") as server:
        yield server


def probe(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    result = run_trashmon("probe", *args, env=clean_environ(**env), stdin=stdin, timeout=120)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def rows(stdout: str) -> set[tuple[str, str, str]]:
    """(state, site, name) of every camera row of the sites' table."""
    lines = stdout.splitlines()
    assert lines[0].split()[:3] == ["STATE", "SITE", "NAME"], stdout
    return {(line.split()[0], line.split()[1], line.split()[2]) for line in lines[1:-1]}


# Each hanging site holds its poll for the whole budget: polled one after the other, two
# of them take at least twice this; polled at once, this plus the process's start.
TIMEOUT = 6.0


def test_hanging_sites_cost_one_timeout_together_and_the_good_site_is_reported(
    fake: FakeMediaMTX, garage: FakeMediaMTX, shed: FakeMediaMTX
) -> None:
    fake.add_paths(2, rate=10_000)
    garage.fault = shed.fault = "hang"  # accept, never answer
    sites = ["--site", f"garage={garage.url}", "--site", f"home={fake.url}"]
    sites += ["--site", f"shed={shed.url}"]
    started = time.monotonic()
    result = probe(*sites, "--timeout", str(TIMEOUT))
    took = time.monotonic() - started
    print(f"two hanging sites at --timeout {TIMEOUT:g}: the probe took {took:.2f} s")
    assert TIMEOUT <= took < 2 * TIMEOUT, took
    assert result.returncode == 2, result.stderr
    assert rows(result.stdout) == {("ok", "home", "cam0"), ("ok", "home", "cam1")}
    errors = result.stderr.strip().splitlines()
    assert sorted(line.split(":")[1].strip() for line in errors) == ["site garage", "site shed"]

    started = time.monotonic()
    document = probe(*sites, "--timeout", str(TIMEOUT), "--json")
    assert time.monotonic() - started < 2 * TIMEOUT
    assert document.returncode == 2
    status = json.loads(document.stdout)
    assert {(c["site"], c["name"]) for c in status["cameras"]} == {
        ("home", "cam0"), ("home", "cam1"),
    }  # fmt: skip
    assert {site: status["sites"][site]["reachable"] for site in status["sites"]} == {
        "garage": False, "home": True, "shed": False,
    }  # fmt: skip


@pytest.mark.parametrize("unreachable_first", [True, False])
def test_an_unreachable_site_exit_2_beats_an_unhealthy_site_exit_1(
    fake: FakeMediaMTX, unreachable_first: bool
) -> None:
    fake.add_paths(2, rate=10_000)
    fake.set_path("cam1", online=False)
    sick = ["--site", f"home={fake.url}"]
    gone = ["--site", f"gone=http://127.0.0.1:{free_port()}"]
    alone = probe(*sick)
    assert alone.returncode == 1, alone.stderr  # the sick site on its own: unhealthy
    result = probe(*(gone + sick if unreachable_first else sick + gone), "--timeout", "5")
    assert result.returncode == 2, result.stderr
    assert ("down", "home", "cam1") in rows(result.stdout)
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("trashmon probe: site gone: error: ")


SITE = "home=http://127.0.0.1:1"
SITES_FILE = "{sites_file}"  # replaced by a file declaring SITE


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["-", "--site", SITE], {}, "--site: cannot read stdin for sites"),
        (["-"], {"TRASHMON_SITES": SITE}, "TRASHMON_SITES: cannot read stdin for sites"),
        (["-", "--sites-file", SITES_FILE], {}, "--sites-file: cannot read stdin for sites"),
        (
            ["-"],
            {"TRASHMON_SITES_FILE": SITES_FILE},
            "TRASHMON_SITES_FILE: cannot read stdin for sites",
        ),
        (["--site", SITE, "--play"], {}, "--play: not with sites yet"),
        (["--play"], {"TRASHMON_SITES": SITE}, "--play: not with sites yet"),
    ],
)
def test_sites_with_stdin_or_play_are_refused_in_one_line(
    args: list[str], env: dict[str, str], message: str, tmp_path: Path
) -> None:
    sites_file = tmp_path / "sites"
    sites_file.write_text(f"{SITE}\n")
    args = [str(sites_file) if arg == SITES_FILE else arg for arg in args]
    env = {name: str(sites_file) if value == SITES_FILE else value for name, value in env.items()}
    # stdin holds a valid listing: the refusal must not depend on it being unreadable.
    listing = json.dumps({"itemCount": 0, "pageCount": 0, "items": []})
    result = probe(*args, stdin=listing, **env)
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"trashmon probe: error: {message}"), line
