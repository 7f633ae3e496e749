"""Home Assistant MQTT discovery (HA_DISCOVERY=on) against a real mosquitto with mTLS and
the agent as a process: the retained device document, the topics it points at, the
picture button, re-announcement, removal on --retire, and the ACL. The document alone:
tests/capture/test_ha_discovery.py."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.mosquitto import (
    Broker,
    ControlAgent,
    Received,
    Recorder,
    agent_argv,
    client_settings,
    online_recorder,
    recorder,
    running_agent,
)
from support.processes import TRASHMON, free_port, running

from trashmonitor.mqtt import MAX_MESSAGE_BYTES, CameraTopics
from trashmonitor.pki import Layout

TOPICS = CameraTopics("camA")
CONFIG = "homeassistant/device/camA/config"
CAMERA = "trashcam/camA/camera"
AVAILABILITY = {"availability", "availability_mode"}
# docs/mqtt.md "Home Assistant discovery": every component's keys, exactly.
EXPECTED_KEYS = {
    "connectivity": {"p", "unique_id", "default_entity_id", "name", "device_class",
                     "state_topic", "payload_on", "payload_off"},
    "state": {"p", "unique_id", "default_entity_id", "name", "state_topic", "value_template",
              *AVAILABILITY},
    "fps": {"p", "unique_id", "default_entity_id", "name", "state_topic", "value_template",
            "unit_of_measurement", "state_class", "expire_after", *AVAILABILITY},
    "black": {"p", "unique_id", "default_entity_id", "name", "device_class", "state_topic",
              "value_template", "payload_on", "payload_off", *AVAILABILITY},
    "frozen": {"p", "unique_id", "default_entity_id", "name", "device_class", "state_topic",
               "value_template", "payload_on", "payload_off", *AVAILABILITY},
    "snapshot": {"p", "unique_id", "default_entity_id", "name", "topic", *AVAILABILITY},
    "picture": {"p", "unique_id", "default_entity_id", "name", "command_topic",
                "payload_press", *AVAILABILITY},
    "record": {"p", "unique_id", "default_entity_id", "name", "command_topic",
               "payload_press", *AVAILABILITY},
}  # fmt: skip


def discovery_argv(pki: Layout, broker: Broker, *extra: str) -> list[str]:
    return agent_argv(pki, "camA", broker.port, "--ha-discovery", "on", *extra)


@pytest.fixture
def agent(control_agent: ControlAgent) -> subprocess.Popen[bytes]:
    return control_agent("--ha-discovery", "on")


@pytest.fixture
def home_assistant(
    pki: Layout, broker: Broker, agent: subprocess.Popen[bytes]
) -> Iterator[Recorder]:
    """Home Assistant's side: a controller identity subscribed as HA would be."""
    topics = ("homeassistant/device/+/config", "trashcam/#")
    with online_recorder(
        pki,
        broker.port,
        "home-assistant",
        topics,
        ready=lambda m: m.topic == CONFIG and bool(m.payload),
    ) as rec:
        yield rec


def document(message: Received) -> dict[str, Any]:
    parsed = json.loads(message.payload)
    assert isinstance(parsed, dict)
    return parsed


def test_the_retained_document_has_exactly_the_documented_keys(home_assistant: Recorder) -> None:
    config = home_assistant.wait_for(lambda m: m.topic == CONFIG, 5)
    assert config is not None
    doc = document(config)
    assert set(doc) == {"dev", "o", "cmps", "qos"}
    assert set(doc["dev"]) == {"identifiers", "name", "manufacturer", "model", "sw_version"}
    assert set(doc["o"]) == {"name", "sw", "url"}
    assert {key: set(value) for key, value in doc["cmps"].items()} == EXPECTED_KEYS
    components = doc["cmps"]
    assert components["connectivity"]["p"] == "binary_sensor"
    assert components["connectivity"]["device_class"] == "connectivity"
    assert components["fps"]["state_class"] == "measurement"
    assert components["fps"]["expire_after"] > 0
    assert components["black"]["device_class"] == "problem"
    assert components["snapshot"]["p"] == "camera"
    assert {components[key]["p"] for key in ("picture", "record")} == {"button"}
    for key, component in components.items():
        assert "object_id" not in component  # deprecated: default_entity_id replaces it
        assert component["default_entity_id"] == f"{component['p']}.trashcam_camA_{key}"
        if "availability" in component:
            assert component["availability_mode"] == "all"
            assert component["availability"] == [
                {"topic": TOPICS.status, "payload_available": "online",
                 "payload_not_available": "offline"}
            ]  # fmt: skip


def test_the_topics_it_names_carry_the_described_payloads(home_assistant: Recorder) -> None:
    config = home_assistant.wait_for(lambda m: m.topic == CONFIG, 5)
    assert config is not None
    components = document(config)["cmps"]
    status_topic = components["connectivity"]["state_topic"]
    assert status_topic == TOPICS.status
    status = home_assistant.wait_for(lambda m: m.topic == status_topic, 10)
    assert status is not None
    assert status.payload in (
        components["connectivity"]["payload_on"].encode(),
        components["connectivity"]["payload_off"].encode(),
    )
    for key in ("state", "fps", "black", "frozen"):
        assert components[key]["state_topic"] == TOPICS.state
    state = home_assistant.wait_for(lambda m: m.topic == TOPICS.state, 15)
    assert state is not None
    fields = json.loads(state.payload)
    # The templates read value_json.<field>: every field exists with the described type.
    assert isinstance(fields["state"], str)
    assert "value_json.state" in components["state"]["value_template"]
    assert "value_json.fps" in components["fps"]["value_template"]
    assert fields["fps"] is None or isinstance(fields["fps"], float | int)
    for flag in ("black", "frozen"):
        assert isinstance(fields[flag], bool)
        assert f"value_json.{flag}" in components[flag]["value_template"]
    assert components["snapshot"]["topic"] == CAMERA
    assert components["picture"]["command_topic"] == TOPICS.action


def test_pressing_the_picture_button_publishes_a_jpeg(home_assistant: Recorder) -> None:
    config = home_assistant.wait_for(lambda m: m.topic == CONFIG, 5)
    assert config is not None
    button = document(config)["cmps"]["picture"]
    sent = time.monotonic()
    home_assistant.publish(button["command_topic"], button["payload_press"])
    snapshot = home_assistant.wait_for(lambda m: m.topic == CAMERA, 40, after=sent)
    assert snapshot is not None
    assert snapshot.payload[:2] == b"\xff\xd8"  # JPEG start of image
    assert snapshot.payload[-2:] == b"\xff\xd9"  # and end of image
    assert len(snapshot.payload) <= MAX_MESSAGE_BYTES


def test_republished_when_home_assistant_comes_online(home_assistant: Recorder) -> None:
    sent = time.monotonic()
    home_assistant.publish("homeassistant/status", "online")
    again = home_assistant.wait_for(lambda m: m.topic == CONFIG and not m.retain, 10, after=sent)
    assert again is not None
    assert set(document(again)["cmps"]) == set(EXPECTED_KEYS)


def test_retire_removes_the_device(
    pki: Layout, broker: Broker, home_assistant: Recorder, agent: subprocess.Popen[bytes]
) -> None:
    agent.terminate()
    agent.wait(15)
    sent = time.monotonic()
    retired = subprocess.run(
        [*discovery_argv(pki, broker), "--retire"],
        capture_output=True,
        timeout=60,
        check=False,
        cwd=pki.root,
    )
    assert retired.returncode == 0, retired.stderr
    removal = home_assistant.wait_for(lambda m: m.topic == CONFIG and not m.payload, 10, after=sent)
    assert removal is not None
    # A newcomer (Home Assistant starting later) finds no retained document any more.
    settings = client_settings(pki, "operator", broker.port)
    with recorder(settings, "newcomer", (CONFIG, TOPICS.status)) as newcomer:
        assert newcomer.wait_for(lambda m: m.topic == TOPICS.status, 10) is not None
        assert [m for m in newcomer.messages if m.topic == CONFIG] == []


def test_retire_without_discovery_is_a_config_error(pki: Layout, broker: Broker) -> None:
    argv = [*agent_argv(pki, "camA", broker.port), "--retire"]
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=60, check=False, cwd=pki.root
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "mqtt_agent: error: --retire: needs HA_DISCOVERY=on (there is nothing else to remove)"
    ]


def test_a_bad_prefix_is_a_one_line_config_error(pki: Layout, broker: Broker) -> None:
    argv = [*discovery_argv(pki, broker), "--ha-discovery-prefix", "home/#"]
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=60, check=False, cwd=pki.root
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("mqtt_agent: error: --ha-discovery-prefix")


def test_only_the_cameras_own_identity_may_publish_its_discovery_and_snapshot(
    pki: Layout, broker: Broker
) -> None:
    settings = client_settings(pki, "controller", broker.port)
    watched = (CONFIG, CAMERA, "trashcam/camB/status")
    with (
        recorder(settings, "home-assistant", watched) as home_assistant,
        recorder(client_settings(pki, "camB", broker.port), "camB", ()) as cam_b,
        recorder(client_settings(pki, "camA", broker.port), "camA", ()) as cam_a,
    ):
        cam_b.publish(CONFIG, '{"dev": {"name": "forged"}}')
        cam_b.publish(CAMERA, b"\xff\xd8forged")
        cam_b.publish("trashcam/camB/status", "marker")  # same connection: delivered after
        assert home_assistant.wait_for(lambda m: m.payload == b"marker", 10) is not None
        assert [m.topic for m in home_assistant.messages if b"forged" in m.payload] == []
        # camA's own identity may (the positive control of the same ACL)
        cam_a.publish(CAMERA, b"\xff\xd8own")
        cam_a.publish(CONFIG, "")
        assert home_assistant.wait_for(lambda m: m.payload == b"\xff\xd8own", 10) is not None


def test_an_agent_without_discovery_publishes_no_document(
    pki: Layout, broker: Broker, tmp_path: Path
) -> None:
    settings = client_settings(pki, "controller", broker.port)
    argv = agent_argv(pki, "camA", broker.port)
    with (
        recorder(settings, "ha", (CONFIG, TOPICS.status, TOPICS.events)) as home_assistant,
        running_agent(argv, tmp_path / "agent.log"),
    ):
        assert home_assistant.wait_for(lambda m: m.payload == b"online", 15) is not None
        home_assistant.publish("homeassistant/status", "online")
        # Answered after the birth message was handled (one connection, in order).
        home_assistant.publish(TOPICS.settings, "brightness 1")
        assert home_assistant.wait_for(lambda m: m.topic == TOPICS.events, 10) is not None
        assert [m for m in home_assistant.messages if m.topic == CONFIG] == []


def test_trashmon_capture_reads_the_keys_from_its_env_file_and_retires(
    pki: Layout, broker: Broker, tmp_path: Path
) -> None:
    env_file = tmp_path / "camA.env"
    env_file.write_text(
        "CAMERA_DEV=testsrc\n"
        f"PUSH_URL=rtsp://127.0.0.1:{free_port()}/camA\n"  # nobody listens: backoff
        "FPS=5\nWIDTH=320\nHEIGHT=240\nBITRATE=200k\n"
        f"METRICS_ADDR=127.0.0.1:{free_port()}\n"
        f"MQTT_URL=mqtts://127.0.0.1:{broker.port}\n"
        f"MQTT_CA={pki.chain}\nMQTT_CERT={pki.client_cert('camA')}\n"
        f"MQTT_KEY={pki.client_key('camA')}\n"
        "HA_DISCOVERY=on\n"
    )
    argv = [*TRASHMON, "capture", "--id", "camA", "--env-file", str(env_file)]
    settings = client_settings(pki, "controller", broker.port)
    with recorder(settings, "home-assistant", (CONFIG,)) as home_assistant:
        with running(argv, cwd=tmp_path, log_path=tmp_path / "capture.log") as agent:
            config = home_assistant.wait_for(lambda m: m.topic == CONFIG and bool(m.payload), 20)
            assert config is not None
            assert document(config)["dev"]["name"] == "camA"
            agent.send_signal(signal.SIGTERM)
            assert agent.wait(20) == 0
        sent = time.monotonic()
        retired = subprocess.run(
            [*argv, "--retire"], capture_output=True, text=True, timeout=60, check=False,
            cwd=tmp_path,
        )  # fmt: skip
        assert retired.returncode == 0, retired.stderr
        removed = home_assistant.wait_for(
            lambda m: m.topic == CONFIG and not m.payload, 10, after=sent
        )
        assert removed is not None
