"""The agent's own bounds: events small enough for the broker's max_packet_size, and
the rate limit applied before a message's flags or payload are looked at."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.mosquitto import client_settings, make_pki
from support.processes import free_port

from trashmonitor.capture.control import echo
from trashmonitor.capture.model import MediaResult
from trashmonitor.capture.mqtt_agent import RETAINED_REFUSAL, MqttAgent, event_payload
from trashmonitor.mqtt import MAX_MESSAGE_BYTES, MAX_PACKET_BYTES, CameraTopics

TOPICS = CameraTopics("camA")


@given(
    payload=st.binary(max_size=4096),
    ok=st.booleans(),
    message=st.text(max_size=20_000),
    file=st.none() | st.text(min_size=1, max_size=5000),
    ts=st.floats(min_value=0, max_value=4e9),
)
def test_an_event_always_fits_in_one_message(
    payload: bytes, ok: bool, message: str, file: str | None, ts: float
) -> None:
    result = MediaResult(ok, message, None if file is None else Path(file))
    encoded = event_payload(echo(payload), result, ts)
    assert len(encoded) <= MAX_MESSAGE_BYTES < MAX_PACKET_BYTES
    document = json.loads(encoded)
    assert set(document) == {"request", "ok", "message", "file", "ts"}
    assert document["ok"] is ok
    assert document["request"] == echo(payload)
    assert message.startswith(document["message"].removesuffix("…"))


@given(message=st.text(max_size=500), file=st.text(min_size=1, max_size=200))
def test_an_ordinary_event_is_not_clipped(message: str, file: str) -> None:
    document = json.loads(event_payload("record 10", MediaResult(True, message, Path(file)), 1.0))
    assert document["message"] == message
    assert document["file"] == str(Path(file))


@pytest.fixture(scope="module")
def agent_factory(tmp_path_factory: pytest.TempPathFactory) -> Callable[[], MqttAgent]:
    """Agents that are never connected: messages are handed to their callback directly."""
    layout = make_pki(tmp_path_factory.mktemp("pki"), free_port())
    settings = client_settings(layout, "camA", 1)
    return lambda: MqttAgent(settings, "camA", clock=lambda: 0.0, monotonic=lambda: 100.0)


@pytest.fixture
def agent(agent_factory: Callable[[], MqttAgent]) -> MqttAgent:
    return agent_factory()


def _message(topic: str, payload: bytes, retain: bool) -> mqtt.MQTTMessage:
    message = mqtt.MQTTMessage(topic=topic.encode())
    message.payload = payload
    message.retain = retain
    return message


def test_a_retained_flood_is_rate_limited_before_the_retain_flag_is_read(
    agent: MqttAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    answered: list[str] = []
    monkeypatch.setattr(agent, "_event", lambda _request, result: answered.append(result.message))
    for _ in range(50):  # at one instant: the bucket's burst of 10, then nothing
        agent._on_message(agent.client, None, _message(TOPICS.action, b"record 300", retain=True))
    assert answered.count(RETAINED_REFUSAL) == 10
    assert answered.count("Too many requests; slow down.") == 1
    assert len(answered) == 11  # 50 messages, 11 answers: no 1:1 amplification


@given(
    messages=st.lists(
        st.tuples(
            st.sampled_from([TOPICS.settings, TOPICS.action, f"{TOPICS.base}/control/x"]),
            st.binary(max_size=2048),
            st.booleans(),
        ),
        max_size=40,
    )
)
def test_any_message_is_answered_at_most_once_and_never_raises(
    agent_factory: Callable[[], MqttAgent], messages: list[tuple[str, bytes, bool]]
) -> None:
    agent = agent_factory()
    answered: list[str] = []
    agent._event = lambda request, result: answered.append(result.message)  # type: ignore[method-assign]
    for topic, payload, retain in messages:
        agent._on_message(agent.client, None, _message(topic, payload, retain))
    queued = agent._work.qsize()
    assert len(answered) + queued <= len(messages)
