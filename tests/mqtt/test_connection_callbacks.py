"""trashmonitor.mqtt.on_connection: the connect/disconnect wiring both clients share."""

from __future__ import annotations

import logging
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from trashmonitor.mqtt import on_connection


def _callbacks(seen: list[str]) -> tuple[Any, Any]:
    """(on_connect, on_disconnect) as paho would call them, for a client wired here."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test")
    on_connection(
        client,
        "the tester",
        connected=lambda _client: seen.append("connected"),
        lost=lambda reason: seen.append(f"lost {reason}"),
    )
    return client.on_connect, client.on_disconnect


def test_an_accepted_connection_calls_connected_and_a_lost_one_lost() -> None:
    seen: list[str] = []
    on_connect, on_disconnect = _callbacks(seen)
    accepted = ReasonCode(PacketTypes.CONNACK, "Success")
    on_connect(None, None, None, accepted, None)
    lost = ReasonCode(PacketTypes.DISCONNECT, "Keep alive timeout")
    on_disconnect(None, None, None, lost, None)
    assert seen == ["connected", "lost Keep alive timeout"]


def test_a_refused_connection_is_logged_naming_who_and_nothing_more(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[str] = []
    on_connect, _ = _callbacks(seen)
    refused = ReasonCode(PacketTypes.CONNACK, "Not authorized")
    with caplog.at_level(logging.WARNING, logger="trashmonitor.mqtt"):
        on_connect(None, None, None, refused, None)
    assert seen == []
    assert caplog.messages == ["MQTT broker refused the tester: Not authorized"]
