"""monitor/agents_mqtt.py's collector: the broker connection and the certificates'
expiry as Prometheus series, rendered by the real registry. The subscriber itself is MQTT
glue, tested against a real mosquitto in tests/mqtt/."""

from __future__ import annotations

import json

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from support.processes import promtool_check_metrics

from trashmonitor.monitor.agents import fold
from trashmonitor.monitor.agents_mqtt import MqttCollector, MqttObservation
from trashmonitor.monitor.model import AgentMessage, AgentView

STATE = {"camera": "cam1", "state": "streaming", "fps": 14.9, "restarts": 2, "ts": 95.0}


def _views() -> dict[str, AgentView]:
    views: dict[str, AgentView] = {}
    for topic, payload, at in (
        ("trashcam/cam1/status", b"online", 90.0),
        ("trashcam/cam1/state", json.dumps(STATE).encode(), 100.0),
        ("trashcam/cam2/status", b"offline", 91.0),
    ):
        views = fold(views, AgentMessage(topic, payload, at))
    return views


def test_collector_exports_contract_names_and_passes_promtool() -> None:
    views = _views()
    assert set(views) == {"cam1", "cam2"}  # the agents are heard: their series are not ours
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
