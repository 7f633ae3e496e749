"""Evaluate what the capture agents said: a pure fold of MQTT messages into views.

:func:`fold` turns one ``trashcam/<id>/status`` or ``…/state`` message into the next
:class:`~trashmonitor.monitor.model.AgentView` of that camera (bounded, hostile-proof
parsing, no I/O); the MQTT observer (:mod:`trashmonitor.monitor.agents_mqtt`) feeds it
and the health model consumes the views. :func:`service_discovery` renders them as
Prometheus HTTP service discovery. Times are epoch seconds so they can be exported as
``…_timestamp_seconds`` and compared with the clock passed to the health model.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from typing import Any

from trashmonitor.monitor.model import AgentMessage, AgentView
from trashmonitor.mqtt import (
    OFFLINE,
    ONLINE,
    parse_scrape_target,
    split_topic,
)

log = logging.getLogger(__name__)

MAX_STATE_BYTES = 16 * 1024
MAX_COUNT = 2**53
"""Counts above this are not counts (and would lose precision as float samples)."""


# --- evaluate: a pure fold of MQTT messages into views -----------------------------------


def fold(views: Mapping[str, AgentView], message: AgentMessage) -> dict[str, AgentView]:
    """The views after ``message`` (pure: the clock is ``message.received_at``).

    Malformed messages change nothing. An empty retained ``status`` (an operator clearing
    a decommissioned camera) forgets the camera. ``last_state_at`` is the agent's own
    ``ts`` when it is plausible (not in the future), so a retained state delivered on
    subscribe does not look fresh; otherwise the arrival time.
    """
    where = split_topic(message.topic)
    if where is None:
        return dict(views)
    camera, leaf = where
    current = views.get(camera)
    updated = dict(views)
    if leaf == "status":
        if message.payload == b"":
            updated.pop(camera, None)
            return updated
        if message.payload not in (ONLINE.encode(), OFFLINE.encode()):
            return updated
        online = message.payload == ONLINE.encode()
        if current is None:
            updated[camera] = AgentView(camera, online, message.received_at)
        elif current.online != online:
            updated[camera] = current._replace(online=online, status_changed_at=message.received_at)
        return updated
    if leaf == "state":
        state = _parse_state(message.payload)
        if state is None:
            return updated
        ts = state.get("ts")
        at = message.received_at
        if isinstance(ts, int | float) and not isinstance(ts, bool) and 0 < ts <= at:
            at = float(ts)
        base = current or AgentView(camera, online=False, status_changed_at=message.received_at)
        updated[camera] = base._replace(
            last_state_at=at,
            stream_state=_typed(state, "state", str),
            fps=_number(state, "fps"),
            target_fps=_number(state, "target_fps"),
            black=state.get("black") is True,
            frozen=state.get("frozen") is True,
            restarts=_count(state, "restarts") or 0,
            heartbeat=_number(state, "heartbeat"),
            consecutive_failures=_count(state, "consecutive_failures"),
            bitrate_bps=_non_negative(_number(state, "bitrate_bps")),
            device_present=_device_present(state.get("device")),
            metrics_target=parse_scrape_target(state.get("metrics_addr")),
        )
    return updated


def _parse_state(payload: bytes) -> dict[str, Any] | None:
    if len(payload) > MAX_STATE_BYTES:
        return None
    try:
        document = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        # RecursionError: thousands of nested arrays fit in MAX_STATE_BYTES; escaping
        # here it would end paho's network thread, and with it the monitor's MQTT.
        return None
    return document if isinstance(document, dict) else None


def _typed(document: Mapping[str, Any], key: str, kind: type[str]) -> str | None:
    value = document.get(key)
    return value if isinstance(value, kind) else None


def _number(document: Mapping[str, Any], key: str) -> float | None:
    value = document.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _count(document: Mapping[str, Any], key: str) -> int | None:
    value = document.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT:
        return value
    return None


def _non_negative(value: float | None) -> float | None:
    return value if value is not None and value >= 0 else None


def _device_present(device: object) -> bool | None:
    if not isinstance(device, dict):
        return None
    present = device.get("present")
    return present if isinstance(present, bool) else None


SD_PATH = "/api/sd/agents"
"""Where the monitor serves the agents' own /metrics for Prometheus ``http_sd_configs``."""


def service_discovery(views: Mapping[str, AgentView]) -> list[dict[str, Any]]:
    """Prometheus HTTP service discovery: one target group per online agent that announced
    a reachable ``/metrics`` address, labelled with its camera (pure; sorted by camera).

    An agent that says ``offline`` (or whose will fired) has no ``/metrics`` to scrape and
    TrashmonAgentOffline already reports it, so it leaves the list rather than turn into a
    second alert through a failing scrape.
    """
    return [
        {"targets": [view.metrics_target], "labels": {"camera": camera}}
        for camera, view in sorted(views.items())
        if view.online and view.metrics_target is not None
    ]
