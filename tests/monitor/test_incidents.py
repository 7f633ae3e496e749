"""/api/incidents and the history across restarts: the query parser (outside input, with
hypothesis), and the real ``trashmon monitor`` process killed with SIGKILL."""

from __future__ import annotations

import json
import math
import signal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.fake_mediamtx import FakeMediaMTX
from support.http import get_json, http_get
from support.monitor import monitor_process
from support.processes import (
    clean_environ,
    free_port,
    promtool_check_metrics,
    run_trashmon,
    wait_until,
)

from trashmonitor.monitor.daemon import Monitor
from trashmonitor.monitor.history import MAX_INCIDENTS, HistoryStore
from trashmonitor.monitor.incidents_api import (
    DEFAULT_LIMIT,
    DEFAULT_LOOKBACK_SECONDS,
    MAX_TIMESTAMP,
    parse_query,
)
from trashmonitor.monitor.mediamtx import MediaMTXClient

NOW = 1_763_700_000.0


def test_defaults_are_the_last_30_days_bounded() -> None:
    wanted = parse_query({}, NOW)
    assert (wanted["camera"], wanted["since"], wanted["until"], wanted["limit"]) == (
        None, NOW - DEFAULT_LOOKBACK_SECONDS, NOW, DEFAULT_LIMIT,
    )  # fmt: skip
    wanted = parse_query({"camera": ("cam1",), "since": ("10",), "until": ("20.5",)}, NOW)
    assert (wanted["camera"], wanted["since"], wanted["until"]) == ("cam1", 10.0, 20.5)


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({"since": ("nan",)}, "since"),
        ({"since": ("inf",)}, "since"),
        ({"until": ("1e300",)}, "until"),
        ({"since": ("-1",)}, "since"),
        ({"since": ("yesterday",)}, "since"),
        ({"since": ("20",), "until": ("10",)}, "since"),
        ({"camera": ("a", "b")}, "camera"),
        ({"camera": ("x" * 256,)}, "camera"),
        ({"limit": ("0",)}, "limit"),
        ({"limit": (str(MAX_INCIDENTS + 1),)}, "limit"),
        ({"limit": ("١٢",)}, "limit"),  # Arabic-Indic digits: int() would take them
        ({"limit": ("9" * 5000,)}, "limit"),
        ({"sort": ("x",)}, "sort"),
    ],
)  # fmt: skip
def test_bad_parameters_are_named(query: dict[str, tuple[str, ...]], named: str) -> None:
    with pytest.raises(ValueError, match=named) as raised:
        parse_query(query, NOW)
    assert "\n" not in str(raised.value)
    assert len(str(raised.value)) < 200


@given(
    st.dictionaries(
        st.sampled_from(["camera", "since", "until", "limit"]) | st.text(max_size=20),
        st.lists(st.text(max_size=40) | st.floats().map(str) | st.integers().map(str),
                 min_size=1, max_size=3).map(tuple),
        max_size=5,
    )
)  # fmt: skip
def test_any_query_is_a_bounded_filter_or_a_one_line_error(
    query: dict[str, tuple[str, ...]],
) -> None:
    try:
        wanted = parse_query(query, NOW)
    except ValueError as error:
        message = str(error)
    else:
        assert 0 <= wanted["since"] <= wanted["until"] <= max(NOW, MAX_TIMESTAMP)
        assert math.isfinite(wanted["since"])
        assert 1 <= wanted["limit"] <= MAX_INCIDENTS
        return
    assert "\n" not in message
    assert len(message) < 200


def incidents(base: str, **query: str) -> dict[str, Any]:
    suffix = "&".join(f"{name}={value}" for name, value in query.items())
    document: dict[str, Any] = get_json(f"{base}/api/incidents?{suffix}")
    return document


@pytest.mark.slow
def test_history_survives_kill_9_of_the_monitor(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    for run in ("one", "two"):  # each monitor's log directory
        (tmp_path / run).mkdir()
    settings = {"TRASHMON_STATE_DIR": str(state), "TRASHMON_INCIDENT_MIN": "0.5"}
    with FakeMediaMTX("v1.20") as fake:
        fake.set_path("cam1", rate=10_000, configured=True)
        fake.set_path("cam2", rate=10_000, configured=True)
        with monitor_process(fake, tmp_path / "one", **settings) as first:
            wait_until(lambda: first.camera("cam1"), 30, what="cam1 judged")
            fake.set_path("cam1", online=False)
            found = wait_until(
                lambda: incidents(first.base, camera="cam1")["incidents"], 30,
                what="the incident listed",
            )  # fmt: skip
            assert found[0]["ongoing"]
            assert found[0]["reasons"] == ["no_publisher"]
            health = get_json(first.base + "/healthz")
            assert health["history"] == f"sqlite:{state / 'history.sqlite3'}"
            first.proc.send_signal(signal.SIGKILL)
            assert first.proc.wait(10) == -signal.SIGKILL
        fake.set_path("cam1", online=True)
        with monitor_process(fake, tmp_path / "two", **settings) as second:
            kept = wait_until(
                lambda: incidents(second.base, camera="cam1")["incidents"], 30,
                what="the incident listed after the restart",
            )  # fmt: skip
            assert [(i["start"], i["reasons"]) for i in kept] == [
                (found[0]["start"], ["no_publisher"])
            ]
            ended = wait_until(
                lambda: [i for i in incidents(second.base)["incidents"] if not i["ongoing"]],
                30, what="the incident ended after the restart",
            )  # fmt: skip
            assert ended[0]["camera"] == "cam1"
            assert ended[0]["end"] > ended[0]["start"]
            # cam2 never went down; both have an availability, cam1's below cam2's.
            status = wait_until(
                lambda: {c["name"]: c for c in second.status()["cameras"]
                         if c["availability"] is not None},
                30, what="availability",
            )  # fmt: skip
            assert status["cam2"]["availability"]["1h"] == 1.0
            assert status["cam2"]["quality"]["grade"] == "excellent"


@pytest.mark.slow
def test_incidents_route_refuses_bad_queries_with_400(tmp_path: Path) -> None:
    with FakeMediaMTX("v1.20") as fake, monitor_process(fake, tmp_path) as monitor:
        wait_until(lambda: http_get(monitor.base + "/healthz")[0] == 200, 30, what="up")
        code, body = http_get(monitor.base + "/api/incidents?since=nan")
        assert code == 400
        assert json.loads(body) == {"error": "since: expected epoch seconds between 0 and 1e+11"}
        document = incidents(monitor.base)
        assert document["incidents"] == []
        assert document["persistent"] is False
        assert get_json(monitor.base + "/healthz")["history"] == "memory (no --state-dir)"


@pytest.mark.parametrize("kind", ["missing", "file", "not-a-database"])
def test_an_unusable_state_dir_exits_2_naming_it(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "state"
    if kind == "file":
        target.write_text("x")
    elif kind == "not-a-database":
        target.mkdir()
        (target / "history.sqlite3").write_bytes(b"not a database at all, " * 100)
    env = clean_environ(
        TRASHMON_STATE_DIR=str(target),
        TRASHMON_LISTEN=f"127.0.0.1:{free_port()}",
        TRASHMON_MEDIAMTX_API="http://127.0.0.1:9",
    )
    result = run_trashmon("monitor", env=env, timeout=30)
    assert result.returncode == 2, result.stderr
    assert "TRASHMON_STATE_DIR" in result.stderr
    assert "Traceback" not in result.stderr


def test_metrics_and_status_carry_quality_and_availability(tmp_path: Path) -> None:
    """In-process: the poll feeds quality and history; /metrics passes promtool's lint."""
    now = [NOW]
    history = HistoryStore(tmp_path)
    with FakeMediaMTX("v1.20") as fake:
        fake.set_path("cam1", rate=10_000)
        fake.set_path("cam2", rate=10_000)
        fake.set_path("spare", rate=10_000)
        client = MediaMTXClient(fake.url, fake.metrics_url, timeout=5)
        monitor = Monitor(
            client, clock=lambda: now[0], history=history, parked=frozenset({"spare"})
        )
        try:
            for _ in range(3):
                monitor.poll_once()
                now[0] += 1
            fake.set_path("cam2", online=False)
            for _ in range(3):
                monitor.poll_once()
                now[0] += 1
            assert history.flush()
            history.refresh(now[0], history.follower.pending())
            monitor.poll_once()
            exposition = monitor.exposition()
            status = json.loads(monitor.status().body)
        finally:
            monitor.close()
            history.close()
    code, output = promtool_check_metrics(exposition)
    assert code == 0, output
    text = exposition.decode()
    assert 'trashmon_camera_quality{camera="cam1",grade="excellent"} 1.0' in text
    assert 'trashmon_camera_quality{camera="cam2",grade="unusable"} 1.0' in text
    assert 'trashmon_camera_quality_level{camera="cam1"} 4.0' in text
    assert 'trashmon_camera_available{camera="cam1"} 1.0' in text
    assert 'trashmon_camera_available{camera="cam2"} 0.0' in text
    assert 'trashmon_camera_available{camera="spare"}' not in text  # parked: neither
    assert 'trashmon_camera_availability_ratio{camera="cam1",window="1h"} 1.0' in text
    assert 'trashmon_camera_availability_ratio{camera="cam2",window="30d"} 0.6' in text
    cameras = {camera["name"]: camera for camera in status["cameras"]}
    assert cameras["cam1"]["quality"] == {
        "grade": "excellent", "reconnects_last_hour": 0, "stalls_last_hour": 0,
        "fps_ratio": None,
    }  # fmt: skip
    assert cameras["cam2"]["availability"]["1h"] == pytest.approx(0.6)
    assert cameras["spare"]["availability"] is None
