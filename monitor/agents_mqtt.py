"""Observe the capture agents over MQTT: the monitor's subscriber and its collector.

:class:`AgentSubscriber` hears ``trashcam/+/status`` and ``trashcam/+/state`` (mutual
TLS, :mod:`trashmonitor.mqtt`) and folds each message into the latest
:class:`~trashmonitor.monitor.model.AgentView` per camera with the pure
:func:`~trashmonitor.monitor.agents.fold`; :class:`MqttCollector` exports the
connection's own health. Imported only when MQTT is configured (paho is not light).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from prometheus_client.core import GaugeMetricFamily, Metric

from trashmonitor.monitor.agents import fold
from trashmonitor.monitor.model import AgentMessage, AgentView
from trashmonitor.mqtt import (
    ALL_STATE,
    ALL_STATUS,
    MqttSettings,
    make_client,
    on_connection,
    start,
)

log = logging.getLogger(__name__)


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

    def __init__(
        self,
        settings: MqttSettings,
        clock: Callable[[], float] = time.time,
        *,
        tap: Callable[[str, bytes], None] | None = None,
        tap_topics: Sequence[str] = (),
    ) -> None:
        """``tap`` hears every message (status, state and ``tap_topics``) on paho's
        network thread: the control panel's store (``monitor.control``) reads the same
        connection, as the broker allows one connection per identity (the client id is
        the certificate's CN)."""
        self._settings = settings
        self._clock = clock
        self._tap = tap
        self._tap_topics = tuple(tap_topics)
        self._lock = threading.Lock()
        self._views: dict[str, AgentView] = {}
        self._connected = False
        # Host name and pid: on a broker that keeps the client's own id (not ours, which
        # uses the certificate's name), two replicas must not ask for the same one, and
        # in two containers both monitors are often pid 1.
        client_id = f"trashmon-monitor-{socket.gethostname()}-{os.getpid()}"
        self.client = make_client(settings, client_id)
        on_connection(
            self.client, "the monitor", connected=self._on_connect, lost=self._on_disconnect
        )
        self.client.on_message = self._on_message

    def start(self) -> None:
        start(self.client, self._settings)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def observe(self) -> MqttObservation:
        with self._lock:
            return MqttObservation(self._connected, dict(self._views))

    def _on_connect(self, client: mqtt.Client) -> None:
        client.subscribe([(ALL_STATUS, 1), (ALL_STATE, 1), *((t, 1) for t in self._tap_topics)])
        self._set(lambda: setattr(self, "_connected", True))

    def _on_disconnect(self, _reason: object) -> None:
        self._set(lambda: setattr(self, "_connected", False))

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        if self._tap is not None:
            self._tap(message.topic, bytes(message.payload))
            if not message.topic.endswith(("/status", "/state")):
                return
        observed = AgentMessage(message.topic, bytes(message.payload), self._clock())
        self._set(lambda: setattr(self, "_views", fold(self._views, observed)))

    def _set(self, change: Callable[[], None]) -> None:
        with self._lock:
            change()


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


def start_monitor_mqtt(
    settings: MqttSettings,
    *,
    tap: Callable[[str, bytes], None] | None = None,
    tap_topics: Sequence[str] = (),
) -> tuple[AgentSubscriber, MqttCollector]:
    """Everything the monitor daemon needs: a started subscriber and its collector
    (register the collector; call ``subscriber.observe()`` each poll; ``stop()`` at exit)."""
    from trashmonitor.pki import certificate_expiry

    expiry = certificate_expiry([settings.ca, settings.cert])
    subscriber = AgentSubscriber(settings, tap=tap, tap_topics=tap_topics)
    subscriber.start()
    return subscriber, MqttCollector(subscriber.observe, expiry)
