"""The capture agent's MQTT side: presence, state, control and media requests.

- ``trashcam/<id>/status``: retained ``online`` on every (re)connect; the Last Will
  (QoS 1, retained) says ``offline`` when the connection is lost uncleanly (kill -9,
  hang: after 1.5 x keepalive). A clean stop publishes the retained ``offline`` itself,
  because a clean DISCONNECT discards the will.
- ``trashcam/<id>/state``: retained JSON, published when it changes (checked every
  second) and at least every ``heartbeat`` seconds, and again after each reconnect.
- ``trashcam/<id>/control/settings`` and ``control/action``: parsed and validated in
  paho's network thread (cheap, pure), then applied by one worker thread so a slow
  device or ffmpeg never stalls keepalives; answers go to ``trashcam/<id>/events``.
- With ``SEED_MQTT=on`` also the seed's ``camera/control/settings`` and ``action``,
  answered in the seed's words on ``camera/status`` (``capture.seed_interface``: the same
  commands, another wording).
- With ``HA_DISCOVERY=on`` a retained Home Assistant discovery document
  (``capture.ha_discovery``).
- For control panels (``capture.panel``): the retained ``trashcam/<id>/controls`` table at
  connect and after each successful setting, and a small retained JPEG on
  ``trashcam/<id>/camera`` after each picture and every ``SNAPSHOT_INTERVAL`` seconds
  while the camera's buffer is live (also while publishing fails).

Collaborators are small protocols so the capture agent wires its own pieces in: a
state callable (its snapshot as the contract's state JSON), a :class:`ControlTarget`
(the V4L2 boundary) and a :class:`MediaActions` (``media.MediaCapture``).

Settings and the stand-alone ``python -m trashmonitor.capture.mqtt_agent`` live in
:mod:`~trashmonitor.capture.mqtt_agent_cli`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import paho.mqtt.client as mqtt

from trashmonitor.capture import ha_discovery, seed_interface
from trashmonitor.capture.control import (
    MAX_RECORD_SECONDS,
    ControlTarget,
    TokenBucket,
    echo,
    parse_action,
    parse_setting,
    success_message,
    validate_setting,
)
from trashmonitor.capture.media import newest_live_segment
from trashmonitor.capture.model import (
    Accepted,
    ActionRequest,
    MediaResult,
    Rejected,
    SeedReply,
    SettingOutcome,
    SettingRequest,
)
from trashmonitor.capture.panel import DEFAULT_SNAPSHOT_INTERVAL, SnapshotLoop, controls_payload
from trashmonitor.errors import ConfigError, TrashmonError
from trashmonitor.mqtt import (
    MAX_MESSAGE_BYTES,
    OFFLINE,
    ONLINE,
    CameraTopics,
    MqttSettings,
    make_client,
    on_connection,
    scrape_target,
    start,
)
from trashmonitor.settings import HostPort

log = logging.getLogger(__name__)

HEARTBEAT_PER_KEEPALIVE = 0.5
"""State is re-sent every keepalive/2 seconds (announced as ``heartbeat`` in the state
JSON), so the monitor can call a hung agent stale after ~1.25 x keepalive, before the
broker's own keepalive scan fires the will (mosquitto 2.0 scans only every 5 s)."""
QUEUE_LIMIT = 8
RETAINED_REFUSAL = "Ignored a retained command: publish control messages without retain (-r)."

StateSource = Callable[[], Mapping[str, Any]]


class MediaActions(Protocol):
    @property
    def recording(self) -> bool: ...

    def picture(self) -> MediaResult: ...

    def start_recording(
        self, seconds: float, on_done: Callable[[MediaResult], None]
    ) -> MediaResult: ...

    def stop_recording(self) -> MediaResult: ...

    def close(self, timeout: float) -> None:
        """End a recording in progress so its file is finalised and renamed."""
        ...


@dataclass(frozen=True)
class Interfaces:
    """The optional MQTT interfaces of an agent (env keys SEED_MQTT, HA_DISCOVERY*)."""

    seed: bool = False
    discovery: bool = False
    discovery_prefix: str = ha_discovery.DEFAULT_PREFIX
    snapshot_interval: float = DEFAULT_SNAPSHOT_INTERVAL


def event_payload(request: str, result: MediaResult, ts: float) -> bytes:
    """The ``events`` JSON, at most MAX_MESSAGE_BYTES: the broker disconnects a client
    that sends more (``max_packet_size``), so an overlong sentence is clipped and, in the
    worst case, the file name dropped rather than the agent losing its connection."""
    document: dict[str, Any] = {
        "request": request,
        "ok": result.ok,
        "message": result.message,
        "file": None if result.file is None else str(result.file),
        "ts": ts,
    }
    encoded = json.dumps(document).encode()
    for limit in (1024, 256, 0):
        if len(encoded) <= MAX_MESSAGE_BYTES:
            break
        if limit == 0:
            document["file"] = None
        document["message"] = result.message[:limit] + "…"
        encoded = json.dumps(document).encode()
    return encoded


def should_publish_state(
    last: Mapping[str, Any] | None,
    last_at: float,
    current: Mapping[str, Any],
    now: float,
    heartbeat: float,
) -> bool:
    """On change (ignoring the timestamp) or when the heartbeat is due."""
    if last is None or now - last_at >= heartbeat:
        return True
    return _without_ts(last) != _without_ts(current)


def _without_ts(document: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != "ts"}


class MqttAgent:
    def __init__(
        self,
        settings: MqttSettings,
        camera: str,
        *,
        state: StateSource | None = None,
        controls: ControlTarget | None = None,
        media: MediaActions | None = None,
        heartbeat: float | None = None,
        metrics_addr: HostPort | None = None,
        max_record_seconds: float = MAX_RECORD_SECONDS,
        interfaces: Interfaces | None = None,
        buffer_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.camera = camera
        self.interfaces = interfaces or Interfaces()
        self.retiring = False
        self.topics = CameraTopics(camera)
        self._settings = settings
        self._state = state
        self._controls = controls
        self._media = media
        self._heartbeat = (
            heartbeat if heartbeat is not None else settings.keepalive * HEARTBEAT_PER_KEEPALIVE
        )
        # Announced with every state message so the monitor can serve it to Prometheus
        # (HTTP service discovery); None when bound where no other host can reach it.
        self.metrics_target = (
            scrape_target(metrics_addr.host, metrics_addr.port) if metrics_addr else None
        )
        self._max_record = max_record_seconds
        self._clock = clock
        self._monotonic = monotonic
        self._limiter = TokenBucket()
        self._last_limited_event = -1e9
        self._last_discovery = -1e9
        self._work: queue.Queue[Callable[[], None] | None] = queue.Queue(QUEUE_LIMIT)
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._state_lock = threading.Lock()
        self._last_state: Mapping[str, Any] | None = None
        self._last_state_at = 0.0
        self.client = self._make_client()
        self._threads = [
            threading.Thread(target=self._worker, name="mqtt-control", daemon=True),
            threading.Thread(target=self._state_loop, name="mqtt-state", daemon=True),
        ]
        self._snapshots = self._snapshot_loop(buffer_dir)

    def _make_client(self) -> mqtt.Client:
        """The agent's client, its will ``offline`` on the status topic, callbacks wired."""
        client = make_client(
            self._settings, f"{self.camera}-agent", will=(self.topics.status, OFFLINE)
        )
        on_connection(client, "the agent", connected=self._on_connect, lost=self._on_disconnect)
        client.on_message = self._on_message
        return client

    def _snapshot_loop(self, buffer_dir: Path | None) -> SnapshotLoop | None:
        """Thumbnails for the control panel (capture.panel), taken from the segment buffer:
        none without one."""
        if buffer_dir is None:
            return None
        return SnapshotLoop(
            self.interfaces.snapshot_interval,
            lambda: newest_live_segment(buffer_dir, self._clock()),
            self._connected_now,
            self._publish_thumbnail,
        )

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()
        if self._snapshots is not None:
            self._snapshots.start()
        start(self.client, self._settings)

    def stop(self, timeout: float = 3.0, *, retire: bool = False) -> None:
        """Say ``offline`` ourselves (a clean disconnect discards the will), then leave.

        ``retire``: the camera is gone for good, so its Home Assistant device is removed
        (an empty retained discovery document) before leaving."""
        self._stopping.set()
        if self._snapshots is not None:
            self._snapshots.stop()
        if self._media is not None:
            self._media.close(timeout)
        if retire and self.interfaces.discovery and self._connected.is_set():
            info = self.client.publish(self._discovery_topic, b"", qos=1, retain=True)
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError):
                log.warning("could not remove the Home Assistant device before leaving")
        if self._connected.is_set():
            info = self.client.publish(self.topics.status, OFFLINE, qos=1, retain=True)
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError):
                log.warning("could not publish offline before leaving")
        self.client.disconnect()
        self.client.loop_stop()
        with contextlib.suppress(queue.Full):
            self._work.put_nowait(None)

    # --- paho callbacks (network thread: never block here) ---------------------------

    def _on_connect(self, client: mqtt.Client) -> None:
        log.info("MQTT connected to %s as %s", self._settings.broker, self.camera)
        # Exactly the two control topics: anything else under control/ is not ours to read.
        subscriptions = [(self.topics.settings, 1), (self.topics.action, 1)]
        if self.interfaces.seed:
            subscriptions += [(topic, 1) for topic in seed_interface.SEED_TOPICS]
        if self.interfaces.discovery:
            subscriptions.append((ha_discovery.birth_topic(self.interfaces.discovery_prefix), 1))
        client.subscribe(subscriptions)
        client.publish(self.topics.status, ONLINE, qos=1, retain=True)
        if not self.retiring:
            self._publish_discovery()
            with contextlib.suppress(queue.Full):  # v4l2-ctl runs in the worker, not here
                self._work.put_nowait(self._publish_controls)
        self._connected.set()  # last: what --retire publishes then comes after all this
        with self._state_lock:
            self._last_state = None  # republish the current state after every reconnect

    def _on_disconnect(self, reason: object) -> None:
        self._connected.clear()
        if not self._stopping.is_set():
            log.warning("MQTT connection lost (%s); reconnecting with backoff", reason)

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        # The rate limit comes first: a flood costs one token check per message, whatever
        # its flags or size (the broker's max_packet_size bounds the size itself).
        now = self._monotonic()
        if message.topic == self._birth_topic:
            # Home Assistant (re)started and forgot devices whose document is not retained
            # on its broker; at most once a second, whoever floods this topic.
            if bytes(message.payload) == ONLINE.encode() and now - self._last_discovery >= 1.0:
                self._last_discovery = now
                self._publish_discovery()
            return
        seed = message.topic in seed_interface.SEED_TOPICS
        answer = self._seed_answer if seed else self._event
        if not self._limiter.allow(now):
            # Answer a flood once a second, not once per message: no 1:1 amplification.
            if now - self._last_limited_event >= 1.0:
                self._last_limited_event = now
                request = echo(bytes(message.payload))
                answer(request, MediaResult(False, "Too many requests; slow down."))
            return
        payload = bytes(message.payload)
        request = echo(payload)
        if message.retain:
            # A retained command would run again on every reconnect ("record 300" forever).
            answer(request, MediaResult(False, RETAINED_REFUSAL))
            return
        if message.topic == self.topics.settings:
            job = self._setting_job(payload, request)
        elif message.topic == self.topics.action:
            job = self._action_job(payload, request)
        elif message.topic == seed_interface.SEED_SETTINGS:
            job = self._seed_setting_job(payload)
        elif message.topic == seed_interface.SEED_ACTION:
            job = self._seed_action_job(payload)
        else:
            job = lambda: self._event(request, MediaResult(False, "Unknown control topic."))  # noqa: E731
        try:
            self._work.put_nowait(job)
        except queue.Full:
            answer(request, MediaResult(False, "Busy with earlier requests; try again."))

    # --- control ---------------------------------------------------------------------

    def _apply_setting(self, parsed: SettingRequest) -> SettingOutcome:
        """The one code path of a parsed setting, whichever topic it came from."""
        if self._controls is None:
            return SettingOutcome(MediaResult(False, "This agent has no camera controls."))
        # Validated against the table read now, so e.g. autofocus state is current.
        try:
            controls = tuple(self._controls.controls())
        except TrashmonError as error:
            message = f"Cannot read the camera's controls: {error.message}"
            return SettingOutcome(MediaResult(False, message))
        verdict = validate_setting(parsed, controls)
        if isinstance(verdict, Accepted):
            try:
                self._controls.set_control(verdict.control.name, verdict.value)
            except TrashmonError as error:
                verdict = Rejected(f"The camera refused {parsed.control}: {error.message}")
            else:
                message = success_message(verdict, controls)
                self._publish_controls()
                return SettingOutcome(MediaResult(True, message), verdict, controls)
        return SettingOutcome(MediaResult(False, verdict.message), verdict, controls)

    def _setting_job(self, payload: bytes, request: str) -> Callable[[], None]:
        parsed = parse_setting(payload)

        def job() -> None:
            if isinstance(parsed, Rejected):
                self._event(request, MediaResult(False, parsed.message))
                return
            self._event(request, self._apply_setting(parsed).result)

        return job

    def _action_job(self, payload: bytes, request: str) -> Callable[[], None]:
        parsed = parse_action(payload, self._max_record)

        def job() -> None:
            if isinstance(parsed, Rejected):
                self._event(request, MediaResult(False, parsed.message))
            elif self._media is None:
                self._event(request, MediaResult(False, "This agent cannot capture media."))
            else:
                on_done = lambda result: self._event(request, result)  # noqa: E731
                self._event(request, self._run_action(parsed, on_done))

        return job

    def _run_action(
        self, action: ActionRequest, on_done: Callable[[MediaResult], None]
    ) -> MediaResult:
        assert self._media is not None
        if action.action == "picture":
            result = self._media.picture()
            if result.ok and result.file is not None:
                self._publish_snapshot(result.file)
            return result
        if action.action == "stop":
            return self._media.stop_recording()
        assert action.seconds is not None
        return self._media.start_recording(action.seconds, on_done)

    def _event(self, request: str, result: MediaResult) -> None:
        (log.info if result.ok else log.warning)("%s -> %s", request, result.message)
        payload = event_payload(request, result, self._clock())
        self.client.publish(self.topics.events, payload, qos=1)

    # --- the seed's interface (translation only: the same jobs, the seed's words) ------

    def _seed_setting_job(self, payload: bytes) -> Callable[[], None]:
        parsed = seed_interface.parse_seed_setting(payload)

        def job() -> None:
            if isinstance(parsed, SeedReply):
                self._seed_status(parsed.text)
                return
            outcome = self._apply_setting(parsed)
            if outcome.verdict is None:  # no controls, or the table could not be read
                reply = seed_interface.SETTING_FAILED.format(
                    control=parsed.control, output=outcome.result.message
                )
            else:
                reply = seed_interface.setting_reply(parsed, outcome.verdict, outcome.controls)
            self._seed_status(reply)

        return job

    def _seed_action_job(self, payload: bytes) -> Callable[[], None]:
        parsed = seed_interface.parse_seed_action(payload, self._max_record)

        def job() -> None:
            if parsed is None:
                return  # the seed ignored an empty action
            if isinstance(parsed, SeedReply):
                self._seed_status(parsed.text)
            elif parsed.action == "picture":
                self._seed_picture(parsed)
            elif parsed.action == "stop":
                self._seed_stop(parsed)
            else:
                self._seed_record(parsed)

        return job

    def _seed_picture(self, action: ActionRequest) -> None:
        self._seed_status(seed_interface.PICTURE_STARTED)
        if self._media is None:
            result = MediaResult(False, "This agent cannot capture media.")
        else:
            result = self._run_action(action, lambda _result: None)
        self._seed_status(seed_interface.picture_reply(result.ok, result.message, result.file))

    def _seed_record(self, action: ActionRequest) -> None:
        if self._media is None:
            self._seed_status(
                seed_interface.RECORDING_NOT_STARTED.format(
                    error="This agent cannot capture media."
                )
            )
            return
        if self._media.recording:
            self._seed_status(seed_interface.RECORDING_BUSY)
            return

        def on_done(result: MediaResult) -> None:
            for line in seed_interface.recording_done_replies(
                result.ok, result.message, result.file
            ):
                self._seed_status(line)

        started = self._run_action(action, on_done)
        if started.ok:
            self._seed_status(seed_interface.RECORDING_STARTS)
        else:
            self._seed_status(seed_interface.RECORDING_NOT_STARTED.format(error=started.message))

    def _seed_stop(self, action: ActionRequest) -> None:
        if self._media is None or not self._media.recording:
            self._seed_status(seed_interface.NOT_RECORDING)
            return
        result = self._run_action(action, lambda _result: None)
        if result.ok:
            self._seed_status(seed_interface.STOPPING)
        else:
            self._seed_status(seed_interface.STOP_FAILED.format(error=result.message))

    def _seed_answer(self, request: str, result: MediaResult) -> None:
        """Our own refusals (rate limit, retained, busy) on the seed's topic."""
        log.warning("%s -> %s", request, result.message)
        self._seed_status(seed_interface.error(result.message))

    def _seed_status(self, text: str) -> None:
        log.info("camera/status: %s", text)
        encoded = text.encode()[:MAX_MESSAGE_BYTES]  # the broker's packet limit
        self.client.publish(seed_interface.SEED_STATUS, encoded, qos=1)

    # --- Home Assistant discovery ------------------------------------------------------

    @property
    def _discovery_topic(self) -> str:
        return ha_discovery.discovery_topic(self.camera, self.interfaces.discovery_prefix)

    @property
    def _birth_topic(self) -> str | None:
        if not self.interfaces.discovery:
            return None
        return ha_discovery.birth_topic(self.interfaces.discovery_prefix)

    def _publish_discovery(self) -> None:
        if self.interfaces.discovery:
            payload = ha_discovery.discovery_payload(self.camera, self._heartbeat)
            self.client.publish(self._discovery_topic, payload, qos=1, retain=True)

    def _publish_snapshot(self, picture: Path) -> None:
        """The picture, small enough for one message, on the camera topic (Home Assistant's
        camera entity and the viewer's thumbnail)."""
        jpeg = ha_discovery.snapshot_jpeg(picture)
        if jpeg is None:
            log.warning("no snapshot: %s does not shrink to one message", picture.name)
            return
        self._publish_thumbnail(jpeg)

    # --- control panel (capture.panel) ---------------------------------------------------

    def _publish_thumbnail(self, jpeg: bytes) -> None:
        self.client.publish(ha_discovery.camera_topic(self.camera), jpeg, qos=1, retain=True)

    def _connected_now(self) -> bool:
        # Thumbnails need no "streaming" state: they show what the camera sees whenever
        # its ffmpeg writes the buffer (newest_live_segment is fresh), also while the
        # publish fails and the state truthfully says so (backoff, publish_failed).
        return self._connected.is_set()

    def _publish_controls(self) -> None:
        """The retained control table, read now (so values and inactive flags are current)."""
        if self._controls is None:
            return
        try:
            controls = tuple(self._controls.controls())
        except TrashmonError as error:
            log.warning("control table not published: %s", error.message)
            return
        payload = controls_payload(self.camera, controls, self._clock())
        self.client.publish(self.topics.controls, payload, qos=1, retain=True)

    def _worker(self) -> None:
        while True:
            job = self._work.get()
            if job is None:
                return
            try:
                job()
            except Exception:  # one bad request must not end control handling
                log.exception("control request failed")

    # --- state -----------------------------------------------------------------------

    def _state_loop(self) -> None:
        while not self._stopping.wait(1.0 if self._state else 3600):
            if self._state is None or not self._connected.is_set():
                continue
            try:
                current = dict(self._state())
            except Exception:
                log.exception("state source failed")
                continue
            now = self._clock()
            with self._state_lock:
                due = should_publish_state(
                    self._last_state, self._last_state_at, current, now, self._heartbeat
                )
                if due:
                    self._last_state, self._last_state_at = current, now
            if due:
                document = {
                    **current,
                    "heartbeat": self._heartbeat,
                    "metrics_addr": self.metrics_target,
                }
                self.client.publish(self.topics.state, json.dumps(document), qos=1, retain=True)


def retire(agent: MqttAgent, timeout: float = 15.0) -> None:
    """Connect, remove the Home Assistant device, say ``offline`` and leave (``--retire``)."""
    if not agent.interfaces.discovery:
        raise ConfigError("--retire", "needs HA_DISCOVERY=on (there is nothing else to remove)")
    agent.retiring = True  # connect without announcing the device it is about to remove
    agent.start()
    if not agent.wait_connected(timeout):
        agent.stop()
        raise ConfigError("MQTT_URL", f"could not reach the broker within {timeout:g} s to retire")
    agent.stop(retire=True)


if __name__ == "__main__":  # the documented ``python -m trashmonitor.capture.mqtt_agent``
    from trashmonitor.capture.mqtt_agent_cli import main

    sys.exit(main())
