"""What each agent announces over MQTT, re-exported by the monitor as trashmon_agent_*.

A real :class:`Monitor` polls the fake MediaMTX with agent views handed in as the MQTT
observer would (time is a parameter: nothing sleeps); the series are read back from its
registry and its /metrics text is linted by promtool.
"""

from __future__ import annotations

import json

from prometheus_client.parser import text_string_to_metric_families
from support.fake_mediamtx import FakeMediaMTX
from support.processes import promtool_check_metrics

from trashmonitor.monitor.daemon import Monitor
from trashmonitor.monitor.daemon_cli import _agents_sd
from trashmonitor.monitor.export import AGENT_STREAM_STATES
from trashmonitor.monitor.mediamtx import MediaMTXClient
from trashmonitor.monitor.model import AgentView

NOW = 1_763_700_000.0
ANNOUNCED = AgentView(
    "cam1", True, NOW - 60, last_state_at=NOW - 2, stream_state="backoff", fps=12.5,
    target_fps=15.0, black=True, frozen=False, restarts=7, heartbeat=5.0,
    consecutive_failures=3, bitrate_bps=800_000.0, device_present=False,
    metrics_target="192.0.2.10:9844",
)  # fmt: skip


def _monitor(fake: FakeMediaMTX, views: dict[str, AgentView]) -> Monitor:
    return Monitor(
        MediaMTXClient(fake.url, fake.metrics_url, timeout=2),
        clock=lambda: NOW,
        agent_views=lambda: views,
    )


def _agent_series(monitor: Monitor) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    text = monitor.exposition().decode()
    return {
        family.name: {tuple(sorted(s.labels.items())): s.value for s in family.samples}
        for family in text_string_to_metric_families(text)
        if family.name.startswith("trashmon_agent_")
    }


def test_every_announced_value_is_a_per_camera_series(fake: FakeMediaMTX) -> None:
    fake.set_path("cam1", online=True, rate=40_000.0)
    monitor = _monitor(fake, {"cam1": ANNOUNCED})
    monitor.poll_once()
    cam = (("camera", "cam1"),)
    series = _agent_series(monitor)
    assert series["trashmon_agent_state"] == {
        (("camera", "cam1"), ("state", state)): 1.0 if state == "backoff" else 0.0
        for state in AGENT_STREAM_STATES
    }
    assert {name: values[cam] for name, values in series.items() if cam in values} == {
        "trashmon_agent_online": 1.0,
        "trashmon_agent_last_state_timestamp_seconds": NOW - 2,
        "trashmon_agent_fps": 12.5,
        "trashmon_agent_target_fps": 15.0,
        "trashmon_agent_restarts": 7.0,
        "trashmon_agent_consecutive_failures": 3.0,
        "trashmon_agent_black_image": 1.0,
        "trashmon_agent_frozen_image": 0.0,
        "trashmon_agent_device_present": 0.0,
        "trashmon_agent_bitrate_bytes_per_second": 100_000.0,
    }
    assert promtool_check_metrics(monitor.exposition()) == (0, "")


def test_what_was_not_announced_is_absent_not_zero(fake: FakeMediaMTX) -> None:
    """An agent heard only on its status topic has no stream values yet; an older agent
    (or ffmpeg saying N/A) leaves out what it does not know."""
    fake.set_path("cam1", online=True, rate=40_000.0)
    fake.set_path("cam2", online=True, rate=40_000.0)
    views = {
        "cam1": AgentView("cam1", True, NOW - 5),
        "cam2": AgentView("cam2", False, NOW - 5, last_state_at=NOW - 5, stream_state="new"),
    }
    monitor = _monitor(fake, views)
    monitor.poll_once()
    series = _agent_series(monitor)
    assert series["trashmon_agent_online"] == {
        (("camera", "cam1"),): 1.0, (("camera", "cam2"),): 0.0,
    }  # fmt: skip
    for name in ("fps", "consecutive_failures", "device_present", "bitrate_bytes_per_second"):
        assert series[f"trashmon_agent_{name}"] == {}
    # A state this monitor does not know (a newer agent): no state is 1, none invented.
    assert set(series["trashmon_agent_state"].values()) == {0.0}
    assert {labels[0] for labels in series["trashmon_agent_state"]} == {("camera", "cam2")}
    assert series["trashmon_agent_black_image"] == {(("camera", "cam2"),): 0.0}


def test_series_of_a_forgotten_agent_vanish(fake: FakeMediaMTX) -> None:
    fake.set_path("cam1", online=True, rate=40_000.0)
    views = {"cam1": ANNOUNCED}
    monitor = _monitor(fake, views)
    monitor.poll_once()
    assert _agent_series(monitor)["trashmon_agent_fps"] == {(("camera", "cam1"),): 12.5}
    views.clear()  # an operator cleared the retained status: the observer forgot it
    monitor.poll_once()
    assert all(values == {} for values in _agent_series(monitor).values())


def test_discovery_without_mqtt_is_an_empty_list() -> None:
    """`trashmon monitor` without MQTT still answers /api/sd/agents, with no targets."""
    response = _agents_sd(None)
    assert (response.status, json.loads(response.body)) == (200, [])
    views = {"cam1": ANNOUNCED}
    listed = json.loads(_agents_sd(lambda: views).body)
    assert listed == [{"targets": ["192.0.2.10:9844"], "labels": {"camera": "cam1"}}]
