"""What the monitor knows about one capture agent, as heard over MQTT.

The MQTT observer (this module, issue 4) produces :class:`AgentView` values; the health
model (``health.py``) consumes them. Times are epoch seconds so they can be exported as
``…_timestamp_seconds`` and compared with the clock passed to the health model.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import paho.mqtt.client as mqtt
from prometheus_client.core import GaugeMetricFamily, Metric

from trashmonitor.mqtt import (
    ALL_STATE,
    ALL_STATUS,
    OFFLINE,
    ONLINE,
    MqttSettings,
    make_client,
    parse_scrape_target,
    split_topic,
    start,
)

log = logging.getLogger(__name__)

MAX_STATE_BYTES = 16 * 1024
MAX_COUNT = 2**53
"""Counts above this are not counts (and would lose precision as float samples)."""


@dataclass(frozen=True)
class AgentView:
    """The latest retained status and state message of one camera's agent."""

    camera: str
    online: bool
    """``trashcam/<id>/status`` is ``online`` (retained; the will sets ``offline``)."""
    status_changed_at: float
    """When ``online`` last changed (or was first heard)."""
    last_state_at: float | None = None
    """When the last ``trashcam/<id>/state`` message arrived."""
    stream_state: str | None = None
    """The agent's own state: starting, streaming, stalled, backoff, device_missing, stopped."""
    fps: float | None = None
    target_fps: float | None = None
    black: bool = False
    frozen: bool = False
    restarts: int = 0
    heartbeat: float | None = None
    """Seconds between the agent's state messages, as it announces them."""
    consecutive_failures: int | None = None
    """ffmpeg runs that failed in a row (None: not announced, an older agent)."""
    bitrate_bps: float | None = None
    """ffmpeg's output bitrate in bits/s (None where ffmpeg reports N/A)."""
    device_present: bool | None = None
    metrics_target: str | None = None
    """The agent's own ``/metrics`` as a Prometheus target (``host:port``), if it
    announced one another host can reach (:func:`trashmonitor.mqtt.parse_scrape_target`)."""


# --- evaluate: a pure fold of MQTT messages into views -----------------------------------


@dataclass(frozen=True)
class AgentMessage:
    """One message from ``trashcam/+/status`` or ``trashcam/+/state``, as observed."""

    topic: str
    payload: bytes
    received_at: float


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
            updated[camera] = replace(current, online=online, status_changed_at=message.received_at)
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
        updated[camera] = replace(
            base,
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


def state_age(view: AgentView, now: float) -> float:
    """Seconds since the last state message (or since the status, if no state yet):
    the input of the health model's ``agent_stale``."""
    return now - (view.last_state_at if view.last_state_at is not None else view.status_changed_at)


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


# --- observe: the monitor's MQTT subscriber ----------------------------------------------


@dataclass(frozen=True)
class MqttObservation:
    connected: bool
    agents: Mapping[str, AgentView] = field(default_factory=dict)


class AgentSubscriber:
    """Subscribes over mTLS to every camera's status and state and keeps the folded views.

    paho reconnects with backoff on its own; on reconnect the broker re-delivers the
    retained status/state, so the views converge without any replay logic here.
    """

    def __init__(self, settings: MqttSettings, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._views: dict[str, AgentView] = {}
        self._connected = False
        self._listeners: list[Callable[[MqttObservation], None]] = []
        self.client = make_client(settings, f"trashmon-monitor-{os.getpid()}")
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    def start(self) -> None:
        start(self.client, self._settings)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def on_change(self, listener: Callable[[MqttObservation], None]) -> None:
        """Call ``listener`` (from the network thread, keep it quick) after each change."""
        self._listeners.append(listener)

    def observe(self) -> MqttObservation:
        with self._lock:
            return MqttObservation(self._connected, dict(self._views))

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: object, reason: Any, _p: object
    ) -> None:
        if reason.is_failure:
            log.warning("MQTT broker refused the monitor: %s", reason)
            return
        client.subscribe([(ALL_STATUS, 1), (ALL_STATE, 1)])
        self._set(lambda: setattr(self, "_connected", True))

    def _on_disconnect(self, *_: object) -> None:
        self._set(lambda: setattr(self, "_connected", False))

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        observed = AgentMessage(message.topic, bytes(message.payload), self._clock())
        self._set(lambda: setattr(self, "_views", fold(self._views, observed)))

    def _set(self, change: Callable[[], None]) -> None:
        with self._lock:
            change()
            snapshot = MqttObservation(self._connected, dict(self._views))
        for listener in self._listeners:
            listener(snapshot)


# --- export ------------------------------------------------------------------------------


class MqttCollector:
    """``trashmon_mqtt_connected`` and certificate expiry, rendered at scrape time."""

    def __init__(
        self,
        observe: Callable[[], MqttObservation],
        certificate_expiry: Mapping[str, float] | None = None,
    ) -> None:
        self._observe = observe
        self._expiry = dict(certificate_expiry or {})

    def collect(self) -> Iterator[Metric]:
        # trashmon_agent_* are rendered per camera by the monitor's own collector from the
        # AgentViews it judged, so each metric family has exactly one owner.
        observation = self._observe()
        connected = GaugeMetricFamily(
            "trashmon_mqtt_connected", "Monitor connected to the MQTT broker.",
            value=1.0 if observation.connected else 0.0,
        )  # fmt: skip
        expiry = GaugeMetricFamily(
            "trashmon_certificate_expiry_timestamp_seconds",
            "notAfter of each configured certificate.",
            labels=["certificate"],
        )
        for name, not_after in sorted(self._expiry.items()):
            expiry.add_metric([name], not_after)
        yield from (connected, expiry)


def start_monitor_mqtt(settings: MqttSettings) -> tuple[AgentSubscriber, MqttCollector]:
    """Everything the monitor daemon needs: a started subscriber and its collector
    (register the collector; call ``subscriber.observe()`` each poll; ``stop()`` at exit)."""
    from trashmonitor.pki import certificate_expiry

    expiry = certificate_expiry([settings.ca, settings.cert])
    subscriber = AgentSubscriber(settings)
    subscriber.start()
    return subscriber, MqttCollector(subscriber.observe, expiry)
