"""The monitor's pure fold of MQTT messages into AgentViews, and its /metrics export."""

from __future__ import annotations

import json

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from support.processes import promtool_check_metrics
from trashmonitor.capture.mqtt_agent import should_publish_state
from trashmonitor.monitor.agents import (
    AgentMessage,
    AgentView,
    MqttCollector,
    MqttObservation,
    fold,
    state_age,
)
from trashmonitor.monitor.status import agent_document


def _fold(*messages: tuple[str, bytes | str, float]) -> dict[str, AgentView]:
    views: dict[str, AgentView] = {}
    for topic, payload, at in messages:
        raw = payload.encode() if isinstance(payload, str) else payload
        views = fold(views, AgentMessage(topic, raw, at))
    return views


STATE = {"camera": "cam1", "state": "streaming", "fps": 14.9, "target_fps": 15,
         "restarts": 2, "black": False, "frozen": True, "ts": 95.0, "heartbeat": 5}  # fmt: skip


def test_status_then_state() -> None:
    views = _fold(
        ("trashcam/cam1/status", "online", 90.0),
        ("trashcam/cam1/state", json.dumps(STATE), 100.0),
    )
    assert views["cam1"] == AgentView(
        camera="cam1", online=True, status_changed_at=90.0, last_state_at=95.0,
        stream_state="streaming", fps=14.9, target_fps=15.0, black=False, frozen=True,
        restarts=2, heartbeat=5.0,
    )  # fmt: skip


def test_offline_keeps_last_state_and_records_the_change_time() -> None:
    views = _fold(
        ("trashcam/cam1/status", "online", 90.0),
        ("trashcam/cam1/state", json.dumps(STATE), 100.0),
        ("trashcam/cam1/status", "offline", 120.0),
        ("trashcam/cam1/status", "offline", 130.0),
    )
    assert not views["cam1"].online
    assert views["cam1"].status_changed_at == 120.0
    assert views["cam1"].stream_state == "streaming"


def test_state_timestamp_in_the_future_is_clamped_to_arrival() -> None:
    views = _fold(("trashcam/cam1/state", json.dumps({**STATE, "ts": 10_000.0}), 100.0))
    assert views["cam1"].last_state_at == 100.0
    assert not views["cam1"].online  # no status heard yet: not assumed online
    assert state_age(views["cam1"], 130.0) == 30.0


def test_empty_retained_status_forgets_the_camera() -> None:
    views = _fold(("trashcam/cam1/status", "online", 1.0), ("trashcam/cam1/status", b"", 2.0))
    assert views == {}


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("trashcam/cam1/status", "maybe"),
        ("trashcam/cam1/state", "not json"),
        ("trashcam/cam1/state", b"\xff\xfe"),
        ("trashcam/cam1/state", "[1, 2]"),
        ("trashcam/cam1/state", "{" + " " * 20_000 + "}"),
        ("trashcam/+/status", "online"),
        ("other/cam1/status", "online"),
        ("trashcam/cam1", "online"),
    ],
)
def test_malformed_messages_change_nothing(topic: str, payload: str | bytes) -> None:
    before = _fold(("trashcam/cam1/status", "online", 1.0))
    raw = payload.encode() if isinstance(payload, str) else payload
    assert fold(before, AgentMessage(topic, raw, 2.0)) == before


def test_wrongly_typed_state_fields_are_ignored() -> None:
    odd = {"state": 3, "fps": "fast", "target_fps": True, "restarts": -1, "black": "yes",
           "ts": "now"}  # fmt: skip
    view = _fold(("trashcam/cam1/state", json.dumps(odd), 50.0))["cam1"]
    assert (view.stream_state, view.fps, view.target_fps, view.restarts, view.black) == (
        None, None, None, 0, False,
    )  # fmt: skip
    assert view.last_state_at == 50.0


def test_collector_exports_contract_names_and_passes_promtool() -> None:
    views = _fold(
        ("trashcam/cam1/status", "online", 90.0),
        ("trashcam/cam1/state", json.dumps(STATE), 100.0),
        ("trashcam/cam2/status", "offline", 91.0),
    )
    registry = CollectorRegistry()
    registry.register(
        MqttCollector(lambda: MqttObservation(True, views), {"cam1.crt": 1_900_000_000.0})
    )
    get = registry.get_sample_value
    # Per-camera agent series belong to the monitor's collector (one owner per family).
    assert get("trashmon_agent_online", {"camera": "cam1"}) is None
    assert get("trashmon_mqtt_connected") == 1.0
    assert (
        get("trashmon_certificate_expiry_timestamp_seconds", {"certificate": "cam1.crt"})
        == 1_900_000_000.0
    )
    code, complaints = promtool_check_metrics(generate_latest(registry))
    assert code == 0, complaints


def test_collector_disconnected_and_empty() -> None:
    registry = CollectorRegistry()
    registry.register(MqttCollector(lambda: MqttObservation(False, {})))
    assert registry.get_sample_value("trashmon_mqtt_connected") == 0.0
    assert (
        registry.get_sample_value(
            "trashmon_certificate_expiry_timestamp_seconds", {"certificate": "cam1.crt"}
        )
        is None
    )


def test_agent_document_matches_the_contract() -> None:
    views = _fold(
        ("trashcam/cam1/status", "online", 90.0),
        ("trashcam/cam1/state", json.dumps(STATE), 100.0),
    )
    assert agent_document(views["cam1"]) == {
        "online": True, "stream_state": "streaming", "fps": 14.9, "target_fps": 15,
        "black": False, "frozen": True, "restarts": 2, "last_state_at": 95.0,
    }  # fmt: skip
    assert agent_document(None) is None


def test_agent_publishes_state_on_change_or_heartbeat_only() -> None:
    first = {"camera": "cam1", "state": "streaming", "fps": 15.0, "ts": 100.0}
    same_later = {**first, "ts": 110.0}
    changed = {**first, "fps": 9.0, "ts": 111.0}
    assert should_publish_state(None, 0.0, first, 100.0, heartbeat=30)
    assert not should_publish_state(first, 100.0, same_later, 110.0, heartbeat=30)
    assert should_publish_state(first, 100.0, changed, 111.0, heartbeat=30)
    assert should_publish_state(first, 100.0, same_later, 130.0, heartbeat=30)
