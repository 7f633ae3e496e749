"""Camera control through the monitor: the viewer's panel API (docs/monitor.md).

Observe: :class:`PanelStore` keeps, per camera, what the agents publish for a panel
(``trashcam/<id>/controls``, ``camera``, ``events``, ``status``), heard on the monitor's
read-only MQTT connection, bounded (a document <= 64 KiB, a JPEG <= 8 KiB, the last 20
events, at most ``--max-cameras`` cameras).

Act: commands go out through :class:`Commander`, a separate MQTT connection with a
*controller* identity (``--control-cert/--control-key``); without it every POST is 403.
:class:`ControlApi` serves ``/api/cameras/<id>/{controls,snapshot,settings,actions}``:
a POST must carry ``X-Trashmon-Control: 1`` and come from the same origin (a cross-site
page can send neither), is rate limited per camera, bounded in size, checked for shape
(the agent checks it against the device) and refused with 409 while the agent is
offline. Every command and its outcome is logged with the client's address.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from trashmonitor.capture.control import TokenBucket
from trashmonitor.errors import ConfigError
from trashmonitor.mqtt import (
    ALL_CAMERA_IMAGES,
    ALL_CONTROLS,
    ALL_EVENTS,
    OFFLINE,
    ONLINE,
    CameraTopics,
    MqttSettings,
    is_identity,
    make_client,
    split_topic,
    start,
)
from trashmonitor.serving import Endpoint, Request, Response, json_response

log = logging.getLogger(__name__)

PANEL_TOPICS = (ALL_CONTROLS, ALL_CAMERA_IMAGES, ALL_EVENTS)
PREFIX = "/api/cameras/"
MAX_CONTROLS_BYTES = 64 * 1024
MAX_SNAPSHOT_BYTES = 8 * 1024
MAX_EVENTS = 20
MAX_CONTROLS = 128
MAX_COMMAND_BYTES = 1024
"""A command body: ``{"control": <64 chars>, "value": <64 chars>}`` is far smaller."""
RATE_PER_SECOND = 2.0
RATE_BURST = 5.0
MAX_VALUE_CHARS = 64
MAX_COMMAND_SECONDS = 86_400.0
"""Shape only: the agent refuses more than its own RECORD_MAX_SECONDS with an event."""
CONTROL_HEADER = "x-trashmon-control"
PUBLISH_TIMEOUT = 3.0
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_TEXT_LIMIT = 1000
JPEG_START = b"\xff\xd8"


# --- the store: what the agents published ------------------------------------------------


@dataclass
class CameraPanel:
    online: bool = False
    controls: tuple[dict[str, Any], ...] = ()
    snapshot: bytes | None = None
    events: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MAX_EVENTS))


def _number(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _text(value: object, limit: int = _TEXT_LIMIT) -> str | None:
    if not isinstance(value, str):
        return None
    return value[:limit]


def clean_control(entry: object) -> dict[str, Any] | None:
    """One control of an agent's table with exactly the documented keys and types, or
    None (the table is outside input, and it is served to a browser)."""
    if not isinstance(entry, dict):
        return None
    name, kind = entry.get("name"), entry.get("type")
    if not isinstance(name, str) or not _NAME.match(name):
        return None
    if kind not in ("int", "bool", "menu", "button"):
        return None
    menu = entry.get("menu")
    items = []
    for item in menu[:64] if isinstance(menu, list) else ():
        if isinstance(item, dict) and _number(item.get("index")) is not None:
            label = _text(item.get("label"), 64)
            if label is not None:
                items.append({"index": item["index"], "label": label})
    pair = entry.get("auto_pair")
    return {
        "name": name,
        "type": kind,
        **{key: _number(entry.get(key)) for key in ("min", "max", "step", "default", "value")},
        "menu": items,
        "inactive": entry.get("inactive") is True,
        "auto_pair": pair if isinstance(pair, str) and _NAME.match(pair) else None,
    }


def _json_object(payload: bytes) -> dict[str, Any] | None:
    """An agent's message as a JSON object; None when it is not JSON (or nests deeper than
    the parser's recursion limit) or not an object."""
    try:
        document = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None


def parse_controls_document(payload: bytes) -> tuple[dict[str, Any], ...] | None:
    """The cleaned controls of a ``controls`` message, or None when it is not one."""
    if len(payload) > MAX_CONTROLS_BYTES:
        return None
    document = _json_object(payload)
    if document is None or not isinstance(document.get("controls"), list):
        return None
    cleaned = (clean_control(entry) for entry in document["controls"][:MAX_CONTROLS])
    return tuple(entry for entry in cleaned if entry is not None)


def parse_event(payload: bytes) -> dict[str, Any] | None:
    """An agent's answer with exactly ``request, ok, message, ts, file``, or None."""
    document = _json_object(payload)
    if document is None or not isinstance(document.get("ok"), bool):
        return None
    ts = document.get("ts")
    file = document.get("file")
    return {
        "request": _text(document.get("request"), 200) or "",
        "ok": document["ok"],
        "message": _text(document.get("message")) or "",
        "ts": ts if isinstance(ts, int | float) and not isinstance(ts, bool)
        and math.isfinite(ts) else None,
        "file": _text(file, 500),
    }  # fmt: skip


class PanelStore:
    """The latest panel data per camera (thread-safe: paho writes, HTTP threads read)."""

    def __init__(self, max_cameras: int) -> None:
        self.max_cameras = max_cameras
        self._lock = threading.Lock()
        self._cameras: dict[str, CameraPanel] = {}
        self.dropped = 0
        """Messages of cameras over the limit, not kept."""

    def hear(self, topic: str, payload: bytes) -> None:
        where = split_topic(topic)
        if where is None:
            return
        camera, leaf = where
        if leaf == "events":
            event = parse_event(payload) if len(payload) <= MAX_CONTROLS_BYTES else None
            if event is not None:
                level = logging.INFO if event["ok"] else logging.WARNING
                log.log(level, "camera %s answered %r: %s", camera, event["request"],
                        event["message"])  # fmt: skip
        with self._lock:
            panel = self._cameras.get(camera)
            if panel is None:
                if leaf == "status" and payload != ONLINE.encode():
                    return  # an offline or cleared camera is no reason to take a slot
                if len(self._cameras) >= self.max_cameras:
                    self.dropped += 1
                    return
                panel = self._cameras[camera] = CameraPanel()
            self._update(panel, camera, leaf, payload)

    def _update(self, panel: CameraPanel, camera: str, leaf: str, payload: bytes) -> None:
        if leaf == "status":
            if payload == b"":  # a retired camera (retained status cleared)
                del self._cameras[camera]
            elif payload in (ONLINE.encode(), OFFLINE.encode()):
                panel.online = payload == ONLINE.encode()
        elif leaf == "controls":
            controls = parse_controls_document(payload)
            if controls is not None:
                panel.controls = controls
        elif leaf == "camera":
            if payload.startswith(JPEG_START) and len(payload) <= MAX_SNAPSHOT_BYTES:
                panel.snapshot = payload
        elif leaf == "events":
            event = parse_event(payload) if len(payload) <= MAX_CONTROLS_BYTES else None
            if event is not None:
                panel.events.append(event)

    def panel(self, camera: str) -> CameraPanel | None:
        """A copy of the camera's panel data, None for a camera never heard of."""
        with self._lock:
            panel = self._cameras.get(camera)
            if panel is None:
                return None
            return CameraPanel(
                panel.online, panel.controls, panel.snapshot, deque(panel.events, MAX_EVENTS)
            )


# --- the requests: shape checks (the agent checks against the device) -------------------


@dataclass(frozen=True)
class Command:
    """A request that passed the shape check: where it goes and what is sent."""

    leaf: Literal["settings", "action"]
    """The agent's control topic."""
    payload: bytes
    """The canonical JSON the agent receives (rebuilt, never the caller's bytes)."""
    summary: str
    """The request in a few words for the audit log line, e.g. ``brightness=128``."""


@dataclass(frozen=True)
class BadBody:
    """A body that failed the shape check: the one-line reason for the 400 answer."""

    message: str


def _json_body(body: bytes) -> dict[str, Any] | BadBody:
    if len(body) > MAX_COMMAND_BYTES:
        return BadBody(f"the body is over {MAX_COMMAND_BYTES} bytes")
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return BadBody("the body is not JSON")
    if not isinstance(document, dict):
        return BadBody("the body is not a JSON object")
    return document


def parse_setting_body(body: bytes) -> Command | BadBody:
    """``{"control": "<name>", "value": <int | bool | short text>}``."""
    document = _json_body(body)
    if isinstance(document, BadBody):
        return document
    if set(document) != {"control", "value"}:
        return BadBody('expected exactly {"control": ..., "value": ...}')
    control, value = document["control"], document["value"]
    if not isinstance(control, str) or not _NAME.match(control):
        return BadBody("control: expected a V4L2 control name (a-z, 0-9, _)")
    if isinstance(value, str):
        if not 0 < len(value) <= MAX_VALUE_CHARS or not value.isprintable():
            return BadBody(f"value: expected 1 to {MAX_VALUE_CHARS} printable characters")
    elif isinstance(value, bool):
        value = int(value)
    elif not isinstance(value, int) or abs(value) > 2**63:
        return BadBody("value: expected a whole number, true/false or a menu label")
    payload = json.dumps({"control": control, "value": value}).encode()
    return Command("settings", payload, f"{control}={value!r}")


def parse_action_body(body: bytes) -> Command | BadBody:
    """``{"action": "picture" | "stop"}`` or ``{"action": "record", "seconds": n}``."""
    document = _json_body(body)
    if isinstance(document, BadBody):
        return document
    action = document.get("action")
    seconds = document.get("seconds")
    if not set(document) <= {"action", "seconds"} or action not in ("picture", "record", "stop"):
        return BadBody('expected {"action": "picture" | "record" | "stop", "seconds": n}')
    if action != "record":
        if seconds is not None:
            return BadBody(f"seconds: {action} takes none")
        return Command("action", json.dumps({"action": action}).encode(), action)
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not math.isfinite(seconds)
        or not 1 <= seconds <= MAX_COMMAND_SECONDS
    ):
        return BadBody(f"seconds: expected a number from 1 to {MAX_COMMAND_SECONDS:g}")
    payload = json.dumps({"action": "record", "seconds": seconds}).encode()
    return Command("action", payload, f"record {seconds:g}")


# --- cross-site request forgery -----------------------------------------------------------

_DEFAULT_PORTS = {"http": 80, "https": 443}


def cross_site_reason(headers: Mapping[str, str]) -> str | None:
    """Why this request may come from another site's page, or None.

    A page on another origin cannot set a custom header without a CORS preflight (which
    nobody here answers), and browsers say where a request comes from in
    ``Sec-Fetch-Site`` and ``Origin``: both must name this site when present. Tools such
    as curl send neither and only need the header.
    """
    if headers.get(CONTROL_HEADER) != "1":
        return f"the {CONTROL_HEADER} header is missing"
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return f"Sec-Fetch-Site is {site[:20]!r}"
    origin = headers.get("origin")
    if origin is None:
        return None
    host = headers.get("host", "")
    if not _same_origin(origin, host):
        return f"Origin {origin[:80]!r} is not this site"
    return None


def _same_origin(origin: str, host: str) -> bool:
    try:
        parts = urlsplit(origin)
        origin_port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
        served = urlsplit(f"{parts.scheme}://{host}")
        host_port = served.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return False
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        return False
    return (parts.hostname, origin_port) == (served.hostname, host_port)


# --- act: the controller's connection -----------------------------------------------------


def control_identity(
    files: tuple[Path, Path] | None, mqtt: MqttSettings | None, setting: str
) -> MqttSettings | None:
    """The controller's MQTT settings: the monitor's broker and CA with the control
    certificate and key (``files``); None when camera control is off."""
    if files is None:
        return None
    if mqtt is None:
        raise ConfigError(setting, "camera control needs the MQTT settings (TRASHMON_MQTT_*)")
    return MqttSettings(mqtt.broker, mqtt.ca, files[0], files[1], mqtt.keepalive)


class Commander:
    """Publishes commands with the controller identity, on its own connection."""

    def __init__(self, settings: MqttSettings) -> None:
        self._settings = settings
        self._connected = threading.Event()
        self.client = make_client(settings, f"trashmon-control-{os.getpid()}")
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *_: self._connected.clear()

    def _on_connect(self, _c: object, _u: object, _f: object, reason: Any, _p: object) -> None:
        if reason.is_failure:
            log.warning("MQTT broker refused the control identity: %s", reason)
            return
        self._connected.set()

    def start(self) -> None:
        start(self.client, self._settings)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def send(self, topic: str, payload: bytes) -> bool:
        """True once the broker has the message (QoS 1), False when it could not get it."""
        if not self._connected.is_set():
            return False
        info = self.client.publish(topic, payload, qos=1)
        try:
            info.wait_for_publish(PUBLISH_TIMEOUT)
        except (RuntimeError, ValueError):
            return False
        return info.is_published()


Send = Callable[[str, bytes], bool]


# --- the HTTP routes ----------------------------------------------------------------------


def _error(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


class ControlApi:
    """``/api/cameras/<id>/controls|snapshot`` (GET) and ``settings|actions`` (POST)."""

    def __init__(
        self,
        store: PanelStore,
        send: Send | None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._send = send
        self._monotonic = monotonic
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def endpoint(self) -> Endpoint:
        return Endpoint(frozenset({"GET", "POST"}), self.handle, max_body=MAX_COMMAND_BYTES)

    def handle(self, request: Request) -> Response:
        camera, _, leaf = request.path.removeprefix(PREFIX).partition("/")
        routes = {"controls": "GET", "snapshot": "GET", "settings": "POST", "actions": "POST"}
        if not is_identity(camera) or leaf not in routes:
            return _error(404, "no such route")
        if request.method != routes[leaf]:
            return Response(405, b"method not allowed\n", headers=(("Allow", routes[leaf]),))
        if leaf == "controls":
            return self._controls(camera)
        if leaf == "snapshot":
            return self._snapshot(camera)
        return self._command(camera, leaf, request)

    def _controls(self, camera: str) -> Response:
        panel = self._store.panel(camera)
        if panel is None:
            return _error(404, f"unknown camera {camera}")
        return json_response(
            {
                "camera": camera,
                "online": panel.online,
                "control_enabled": self._send is not None,
                "controls": list(panel.controls),
                "events": list(panel.events),
            }
        )

    def _snapshot(self, camera: str) -> Response:
        panel = self._store.panel(camera)
        if panel is None or panel.snapshot is None:
            return _error(404, f"no snapshot of {camera} yet")
        return Response(200, panel.snapshot, "image/jpeg")

    def _command(self, camera: str, leaf: str, request: Request) -> Response:
        client = _client(request)
        response, summary = self._judge_command(camera, leaf, request)
        outcome = json.loads(response.body).get("error", "sent")
        (log.info if response.status == 202 else log.warning)(
            "control %s %s from %s: %s -> %d %s",
            camera, leaf, client, summary, response.status, outcome,
        )  # fmt: skip
        return response

    def _judge_command(  # noqa: PLR0911  (one early return per refusal reads best)
        self, camera: str, leaf: str, request: Request
    ) -> tuple[Response, str]:
        if self._send is None:
            return _error(403, "camera control is off on this monitor"), "-"
        reason = cross_site_reason(request.headers)
        if reason is not None:
            return _error(403, f"refused as cross-site: {reason}"), "-"
        panel = self._store.panel(camera)
        if panel is None:
            return _error(404, f"unknown camera {camera}"), "-"
        if not self._allow(camera):
            return _error(429, "too many commands; slow down"), "-"
        parsed = (parse_setting_body if leaf == "settings" else parse_action_body)(request.body)
        if isinstance(parsed, BadBody):
            return _error(400, parsed.message), "-"
        if not panel.online:
            return _error(409, "agent offline"), parsed.summary
        topics = CameraTopics(camera)
        topic = topics.settings if parsed.leaf == "settings" else topics.action
        if not self._send(topic, parsed.payload):
            return _error(503, "the control connection to the broker is down"), parsed.summary
        return json_response({"sent": True}, 202), parsed.summary

    def _allow(self, camera: str) -> bool:
        with self._lock:
            bucket = self._buckets.get(camera)
            if bucket is None:
                if len(self._buckets) >= self._store.max_cameras:
                    self._buckets.clear()  # bounded like the store; a refill is harmless
                bucket = self._buckets[camera] = TokenBucket(RATE_PER_SECOND, RATE_BURST)
            return bucket.allow(self._monotonic())


def _client(request: Request) -> str:
    """The peer, and whom Caddy says it forwards for (the peer is then loopback)."""
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded:
        return f"{request.client} (for {forwarded[:100]})"
    return request.client
