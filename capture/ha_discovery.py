"""Home Assistant MQTT discovery for one camera (``HA_DISCOVERY=on``).

One device-based document, retained on ``<prefix>/device/<camera>/config``, describes
the camera's entities; they read the topics the agent publishes anyway
(``trashcam/<id>/status``, ``state``) plus ``trashcam/<id>/camera`` (a small JPEG of each
picture taken) and press buttons by publishing to ``control/action``. The document is
re-sent whenever Home Assistant announces ``<prefix>/status`` = ``online`` and removed
(an empty retained payload) when the agent is retired (``--retire``, docs/mqtt.md).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from trashmonitor import __version__
from trashmonitor.mqtt import MAX_MESSAGE_BYTES, OFFLINE, ONLINE, CameraTopics

DEFAULT_PREFIX = "homeassistant"
RECORD_BUTTON_SECONDS = 30
FPS_EXPIRE_FACTOR = 3
"""The fps sensor turns unavailable after this many state heartbeats without news."""

SNAPSHOT_ATTEMPTS = ((640, 8), (480, 12), (320, 18), (240, 25), (160, 31))
"""(width, JPEG quality scale) tried in turn until the snapshot fits MAX_MESSAGE_BYTES: the
broker's max_packet_size stays as the MQTT hardening set it (docs/mqtt.md "Message
sizes"); Home Assistant shows a thumbnail, the full picture stays in CAPTURES_DIR."""


def camera_topic(camera: str) -> str:
    return CameraTopics(camera).camera_image


def discovery_topic(camera: str, prefix: str = DEFAULT_PREFIX) -> str:
    return f"{prefix}/device/{camera}/config"


def birth_topic(prefix: str = DEFAULT_PREFIX) -> str:
    return f"{prefix}/status"


def _availability(topics: CameraTopics) -> dict[str, Any]:
    return {
        "availability": [
            {"topic": topics.status, "payload_available": ONLINE, "payload_not_available": OFFLINE}
        ],
        "availability_mode": "all",
    }


def _problem(topics: CameraTopics, key: str, name: str) -> dict[str, Any]:
    """A binary sensor ON while the state document's boolean ``key`` is true."""
    return {
        "p": "binary_sensor",
        "name": name,
        "device_class": "problem",
        "state_topic": topics.state,
        "value_template": f"{{{{ 'ON' if value_json.{key} else 'OFF' }}}}",
        "payload_on": "ON",
        "payload_off": "OFF",
        **_availability(topics),
    }


def _sensors(topics: CameraTopics, heartbeat: float) -> dict[str, dict[str, Any]]:
    """What Home Assistant reads: presence, state, frame rate, picture problems."""
    return {
        "connectivity": {
            "p": "binary_sensor",
            "name": "Agent",
            "device_class": "connectivity",
            "state_topic": topics.status,
            "payload_on": ONLINE,
            "payload_off": OFFLINE,
        },
        "state": {
            "p": "sensor",
            "name": "Stream state",
            "state_topic": topics.state,
            "value_template": "{{ value_json.state }}",
            **_availability(topics),
        },
        "fps": {
            "p": "sensor",
            "name": "Frame rate",
            "state_topic": topics.state,
            "value_template": "{{ value_json.fps }}",
            "unit_of_measurement": "fps",
            "state_class": "measurement",
            "expire_after": max(1, round(heartbeat * FPS_EXPIRE_FACTOR)),
            **_availability(topics),
        },
        "black": _problem(topics, "black", "Black picture"),
        "frozen": _problem(topics, "frozen", "Frozen picture"),
    }


def _pictures(camera: str, topics: CameraTopics) -> dict[str, dict[str, Any]]:
    """The snapshot camera and the buttons that ask the agent for media."""
    return {
        "snapshot": {
            "p": "camera",
            "name": "Snapshot",
            "topic": camera_topic(camera),
            **_availability(topics),
        },
        "picture": {
            "p": "button",
            "name": "Take picture",
            "command_topic": topics.action,
            "payload_press": "picture",
            **_availability(topics),
        },
        "record": {
            "p": "button",
            "name": f"Record {RECORD_BUTTON_SECONDS} s",
            "command_topic": topics.action,
            "payload_press": f"record {RECORD_BUTTON_SECONDS}",
            **_availability(topics),
        },
    }


def discovery_document(camera: str, heartbeat: float) -> dict[str, Any]:
    """The device document: ``dev``, ``o``, ``cmps`` (GUIDE §7; HA's device discovery)."""
    topics = CameraTopics(camera)
    components = {**_sensors(topics, heartbeat), **_pictures(camera, topics)}
    for key, component in components.items():
        component["unique_id"] = f"trashcam_{camera}_{key}"
        component["default_entity_id"] = f"{component['p']}.trashcam_{camera}_{key}"
    return {
        "dev": {
            "identifiers": [f"trashcam_{camera}"],
            "name": camera,
            "manufacturer": "trashmonitor",
            "model": "capture agent",
            "sw_version": __version__,
        },
        "o": {
            "name": "trashmonitor",
            "sw": __version__,
            "url": "https://github.com/trashmonitor/trashmonitor",
        },
        "cmps": components,
        "qos": 1,
    }


def discovery_payload(camera: str, heartbeat: float) -> bytes:
    return json.dumps(discovery_document(camera, heartbeat), sort_keys=True).encode()


def snapshot_jpeg(
    picture: Path, ffmpeg: str = "ffmpeg", limit: int = MAX_MESSAGE_BYTES
) -> bytes | None:
    """The picture re-encoded small enough for one MQTT message, or None (logged by the
    caller) when even the smallest attempt does not fit or ffmpeg fails."""
    for width, quality in SNAPSHOT_ATTEMPTS:
        argv = [
            ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(picture),
            "-vf", f"scale='min({width},iw)':-2", "-q:v", str(quality), "-frames:v", "1",
            "-f", "image2pipe", "-c:v", "mjpeg", "-",
        ]  # fmt: skip
        try:
            result = subprocess.run(argv, capture_output=True, timeout=20, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if result.returncode != 0:
            return None
        if 0 < len(result.stdout) <= limit:
            return result.stdout
    return None
