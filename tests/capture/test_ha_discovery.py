"""The Home Assistant discovery document (capture/ha_discovery.py) alone; published over a
real broker by the agent: tests/mqtt/test_ha_discovery.py."""

from __future__ import annotations

from trashmonitor.capture.ha_discovery import discovery_payload
from trashmonitor.mqtt import MAX_MESSAGE_BYTES


def test_documents_stay_under_the_brokers_packet_limit() -> None:
    payload = discovery_payload("c" * 64, heartbeat=1e6)
    assert len(payload) <= MAX_MESSAGE_BYTES
