"""Several sites end to end: the real `trashmon monitor` and `trashmon probe` processes
against two MediaMTX stand-ins, one of them made slow or stopped."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.fake_mediamtx import FakeMediaMTX
from support.monitor import MonitorProcess, monitor_process, sites_spec
from support.processes import clean_environ, free_port, run_trashmon, stop_process, wait_until


@pytest.fixture
def garage() -> Iterator[FakeMediaMTX]:
    with FakeMediaMTX("v1.20") as server:
        yield server


def states(monitor: MonitorProcess) -> dict[tuple[str, str], tuple[str, list[str]]]:
    return {
        (camera["site"], camera["name"]): (camera["state"], camera["reasons"])
        for camera in monitor.status()["cameras"]
    }


def all_ok(monitor: MonitorProcess, expected: set[tuple[str, str]]) -> bool:
    seen = states(monitor)
    return set(seen) == expected and all(state == ("ok", []) for state in seen.values())


CAMERAS = {("home", "cam0"), ("home", "cam1"), ("garage", "cam0"), ("garage", "yard")}


@pytest.mark.slow
def test_a_slow_site_and_a_stopped_site_affect_only_their_own_cameras(
    fake: FakeMediaMTX, garage: FakeMediaMTX, tmp_path: Path
) -> None:
    fake.add_paths(2, rate=20_000, configured=True)
    garage.add_paths(1, rate=20_000, configured=True)  # cam0 again: another camera
    garage.set_path("yard", rate=20_000, configured=True)
    # A request may hang 30 s: only the staleness clock (3 intervals, 1.5 s) can tell.
    settings = {"TRASHMON_TIMEOUT": "30"}
    sites = {"home": fake, "garage": garage}
    with monitor_process(sites, tmp_path, **settings) as monitor:
        wait_until(lambda: all_ok(monitor, CAMERAS), 20, what="both sites ok")
        metrics = monitor.metrics()
        assert 'trashmon_camera_state{camera="cam0",site="home",state="ok"} 1.0' in metrics
        assert 'trashmon_camera_state{camera="cam0",site="garage",state="ok"} 1.0' in metrics
        assert 'trashmon_mediamtx_up{site="garage"} 1.0' in metrics
        assert metrics.count("trashmon_build_info{") == 1

        garage.fault = "hang"  # the slow site: accepts, never answers
        hung_at = time.monotonic()
        wait_until(
            lambda: states(monitor)[("garage", "yard")][1] == ["mediamtx_unreachable"],
            15,
            what="the slow site's cameras unreachable",
        )
        took = time.monotonic() - hung_at
        print(f"slow site -> its cameras mediamtx_unreachable in {took:.2f} s")
        seen = states(monitor)
        assert seen[("garage", "cam0")] == ("down", ["mediamtx_unreachable"])
        assert seen[("home", "cam0")] == seen[("home", "cam1")] == ("ok", [])
        status = monitor.status()
        assert status["sites"]["home"]["reachable"] is True
        assert status["sites"]["garage"]["reachable"] is False
        metrics = monitor.metrics()
        assert 'trashmon_mediamtx_up{site="garage"} 0.0' in metrics
        assert 'trashmon_mediamtx_up{site="home"} 1.0' in metrics
        # Home keeps being polled while garage's request hangs.
        polled = status["sites"]["home"]
        before = monitor.status()["generated_at"]
        wait_until(lambda: monitor.status()["generated_at"] > before, 10, what="home polls on")
        assert polled["summary"]["ok"] == 2

        garage.fault = None
        wait_until(lambda: all_ok(monitor, CAMERAS), 45, what="garage back")
        stopped_at = time.monotonic()
        fake.stop()  # the stopped site
        wait_until(
            lambda: states(monitor)[("home", "cam1")][1] == ["mediamtx_unreachable"],
            15,
            what="the stopped site's cameras unreachable",
        )
        print(f"stopped site -> its cameras unreachable in {time.monotonic() - stopped_at:.2f} s")
        seen = states(monitor)
        assert seen[("garage", "yard")] == seen[("garage", "cam0")] == ("ok", [])
        assert 'trashmon_mediamtx_up{site="home"} 0.0' in monitor.metrics()
        assert stop_process(monitor.proc) == 0


def probe(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    result = run_trashmon("probe", *args, env=clean_environ(**env), timeout=60)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_the_probe_judges_every_site_and_exits_by_the_worst(
    fake: FakeMediaMTX, garage: FakeMediaMTX
) -> None:
    fake.add_paths(2, rate=10_000)
    garage.add_paths(1, rate=10_000)
    both = ["--site", f"home={fake.url}", "--site", f"garage={garage.url}"]
    healthy = probe(*both)
    assert healthy.returncode == 0, healthy.stderr
    lines = healthy.stdout.splitlines()
    assert lines[0].split()[:3] == ["STATE", "SITE", "NAME"]
    rows = sorted(line.split()[:3] for line in lines[1:-1])
    assert rows == [["ok", "garage", "cam0"], ["ok", "home", "cam0"], ["ok", "home", "cam1"]]
    assert lines[-1].startswith("3 cameras: 3 ok")
    # The same sites from the environment, and as JSON.
    document = probe("--json", TRASHMON_SITES=sites_spec({"home": fake, "garage": garage}))
    assert document.returncode == 0
    import json

    status = json.loads(document.stdout)
    assert {(c["site"], c["name"]) for c in status["cameras"]} == {
        ("home", "cam0"), ("home", "cam1"), ("garage", "cam0"),
    }  # fmt: skip
    assert status["sites"]["garage"]["reachable"] is True

    garage.set_path("cam0", online=False)
    unhealthy = probe(*both)
    assert unhealthy.returncode == 1
    assert any(
        line.split()[:3] == ["down", "garage", "cam0"] for line in unhealthy.stdout.splitlines()
    )

    nowhere = f"http://127.0.0.1:{free_port()}"
    unreachable = probe("--site", f"home={fake.url}", "--site", f"gone={nowhere}", "--timeout", "5")
    assert unreachable.returncode == 2
    assert "site gone:" in unreachable.stderr
    assert len(unreachable.stderr.strip().splitlines()) == 1
    assert any(
        line.split()[:3] == ["ok", "home", "cam0"] for line in unreachable.stdout.splitlines()
    )


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["--site", "home=http://a:9997", "--api", "http://b:9997"], {}, "--api"),
        (
            ["--site", "home=http://a:9997"],
            {"TRASHMON_MEDIAMTX_API": "http://b"},
            "TRASHMON_MEDIAMTX_API",
        ),
        (["--site", "bad name=http://a:9997"], {}, "--site"),
        (["--site", "home=ftp://a"], {}, "--site"),
        (["--site", "home=http://user:pw@a:9997"], {}, "--site"),
        (["--site", "home=http://a", "--site", "home=http://b"], {}, "--site"),
        ([], {"TRASHMON_SITES": "home"}, "TRASHMON_SITES"),
        ([], {"TRASHMON_SITES_FILE": "/nonexistent/sites"}, "TRASHMON_SITES_FILE"),
    ],
)
def test_bad_sites_exit_2_naming_the_setting(
    args: list[str], env: dict[str, str], named: str
) -> None:
    for command in ("probe", "monitor"):
        result = run_trashmon(command, *args, env=clean_environ(**env), timeout=30)
        assert result.returncode == 2, (command, result.stderr)
        assert result.stderr.startswith(f"trashmon {command}: error: {named}")
        assert len(result.stderr.strip().splitlines()) == 1
        assert "pw" not in result.stderr


def test_the_periodic_playback_check_is_refused_with_sites() -> None:
    args = ["--site", "home=http://127.0.0.1:1", "--play-interval", "60", "--play-camera", "cam1"]
    result = run_trashmon("monitor", *args, env=clean_environ(), timeout=30)
    assert result.returncode == 2
    assert result.stderr.startswith("trashmon monitor: error: --play-interval: not with sites")
    assert len(result.stderr.strip().splitlines()) == 1
