"""The capture agent's settings, declared once: :data:`SETTINGS`.

The one table generates ``trashmon capture``'s options (and the stand-alone MQTT
agent's), their ``--help``, the lookup in the layered environment (flag > process
environment > env file > unit directories > default, :func:`config.agent_environment`),
every bound, and the settings table of docs/capture.md (``tests/capture/test_settings.py``
checks the page matches; ``python -m trashmonitor.capture.settings`` prints it).

Env names are the seed's (``CAMERA_DEV PUSH_URL FPS WIDTH HEIGHT BITRATE``) plus the
agent's own; an error quotes a bad value redacted, since ``PUSH_URL`` may carry a
password.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from trashmonitor.capture.control import MAX_RECORD_SECONDS
from trashmonitor.capture.ha_discovery import DEFAULT_PREFIX
from trashmonitor.capture.panel import DEFAULT_SNAPSHOT_INTERVAL, parse_snapshot_interval
from trashmonitor.capture.redact import redact
from trashmonitor.mqtt import AGENT_SETTINGS, mqtt_declarations
from trashmonitor.settings import (
    HostPort,
    Setting,
    SettingsTable,
    count_between,
    option,
    parse_host_port,
    parse_seconds,
    seconds_between,
)

T = TypeVar("T")

CAPTURE = "capture"
"""``trashmon capture``: every setting."""
STANDALONE = "mqtt_agent"
"""``python -m trashmonitor.capture.mqtt_agent``: the MQTT side's settings only."""
MQTT_SIDE = (CAPTURE, STANDALONE)

TESTSRC = "testsrc"
LAVFI_PREFIX = "lavfi:"
DEFAULT_METRICS_ADDR = HostPort("127.0.0.1", 9844)
DEFAULT_MIN_FREE_BYTES = 512 * 1024 * 1024
DEFAULT_MAX_CAPTURE_BYTES = 4 * 1024 * 1024 * 1024
MAX_BYTES = 1024**5  # 1 PiB: any disk budget, far from an int that overflows a stat
MAX_BITRATE = 1e9  # bits/s: far above any webcam, below what x264 would choke on
# What ffmpeg reads as meant: bit/s as a whole number, or k/K (1e3) and M (1e6) with an
# optional fraction. ffmpeg reads a lowercase m as milli ("2m" = 0.002 bit/s: no cap).
_BITRATE = re.compile(r"^(?:\d+|\d+(?:\.\d+)?[kKM])$")
_BITRATE_SCALE = {"k": 1e3, "m": 1e6}
# Characters the tee muxer treats as syntax in its output list.
_TEE_SPECIAL = set("|[]")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_PREFIX = re.compile(r"^[A-Za-z0-9_-]{1,64}(/[A-Za-z0-9_-]{1,64}){0,3}$")


# --- parsers (each raises ValueError; the table names the setting) --------------------


def parse_camera_dev(text: str) -> str:
    value = text.strip()
    if not value:
        raise ValueError("must not be empty")
    if value.startswith(LAVFI_PREFIX) and not value[len(LAVFI_PREFIX) :].strip():
        raise ValueError("lavfi: needs a filter graph")
    if value not in (TESTSRC,) and not value.startswith((LAVFI_PREFIX, "/")):
        raise ValueError("expected a device path (/dev/...), 'testsrc' or 'lavfi:GRAPH'")
    return value


def parse_push_url(text: str) -> str:
    value = text.strip()
    if not re.match(r"^rtsps?://[^/\s]+(/\S*)?$", value):
        raise ValueError("expected an rtsp:// or rtsps:// URL")
    if _TEE_SPECIAL & set(value):
        raise ValueError("must not contain | [ or ]")
    return value


def parse_stream_user(text: str) -> str:
    value = text.strip()
    if not value or any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError("expected a user name without spaces")
    return value


def parse_file_path(text: str) -> Path:
    value = text.strip()
    if not value:
        raise ValueError("expected a file path")
    return Path(value)


def parse_bitrate(text: str) -> str:
    value = text.strip()
    if not _BITRATE.match(value):
        raise ValueError("expected a bitrate in bit/s such as 2M, 800k or 500000")
    bits = float(value.rstrip("kKM")) * _BITRATE_SCALE.get(value[-1].lower(), 1.0)
    if not 0 < bits <= MAX_BITRATE:
        raise ValueError("expected a bitrate above 0 and up to 1000M")
    return value


def parse_on_off(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "on", "yes", "true"):
        return True
    if value in ("0", "off", "no", "false"):
        return False
    raise ValueError("expected on or off")


def parse_format_name(text: str) -> str:
    value = text.strip()
    if not re.match(r"^[A-Za-z0-9_]+$", value):
        raise ValueError("expected a format name such as mjpeg or yuyv422")
    return value


def parse_buffer_dir(text: str) -> Path:
    value = text.strip()
    if not value or _TEE_SPECIAL & set(value) or ":" in value:
        raise ValueError("expected a directory path without : | [ ]")
    return Path(value)


def parse_captures_dir(text: str) -> Path | None:
    """A directory, or None for an empty value (no pictures or recordings)."""
    value = text.strip()
    return Path(value) if value else None


def parse_size(text: str) -> int:
    value = count_between(1, 8192)(text)
    if value % 2:
        raise ValueError("expected an even number of pixels up to 8192")
    return value


def parse_ffmpeg(text: str) -> str:
    return text.strip() or "ffmpeg"


def parse_bytes(text: str) -> int:
    """``500M``, ``4G``, ``1048576`` (binary units), up to 1 PiB."""
    match = _SIZE.match(text)
    if match is None:
        raise ValueError("expected a size such as 500M or 4G")
    number, unit = match.groups()
    value = int(float(number) * 1024 ** "_kmgt".index(unit.lower() or "_"))
    if value > MAX_BYTES:
        raise ValueError("expected a size up to 1024T")
    return value


def parse_discovery_prefix(text: str) -> str:
    """A topic prefix without wildcards or empty levels (it is published to)."""
    if not _PREFIX.match(text):
        raise ValueError("expected topic levels of letters, digits, '_' or '-', e.g. homeassistant")
    return text


# --- the table --------------------------------------------------------------------------


def _agent(  # the core keys: `trashmon capture` only, errors redacted
    usage: str,
    env: str,
    parse: Callable[[str], T],
    default: T,
    meaning: str,
    *,
    shown_default: str | None = None,
) -> Setting[T]:
    return option(
        usage, env, parse, default, meaning, shown_default=shown_default, commands=(CAPTURE,),
        hide=redact,
    )  # fmt: skip


# One row a key (trashmonitor.settings.option): usage, env, parser, default, meaning.
CAMERA_DEV: Setting[str | None] = _agent(
    "--camera-dev DEV", "CAMERA_DEV", parse_camera_dev, None,
    "`/dev/video0` (or `/dev/v4l/by-id/…`), `testsrc`, or `lavfi:GRAPH`", shown_default="required",
)  # fmt: skip
PUSH_URL: Setting[str | None] = _agent(
    "--push-url URL", "PUSH_URL", parse_push_url, None,
    "`rtsp://host:8554/<id>` (`rtsps://` too); may carry `user:password@` as in the seed, "
    "but prefer STREAM_USER and STREAM_PASSWORD_FILE", shown_default="required",
)  # fmt: skip
STREAM_USER: Setting[str | None] = _agent(
    "--stream-user USER", "STREAM_USER", parse_stream_user, None,
    "MediaMTX publish user of this camera; needs STREAM_PASSWORD_FILE", shown_default="unset",
)  # fmt: skip
STREAM_PASSWORD_FILE: Setting[Path | None] = _agent(
    "--stream-password-file PATH", "STREAM_PASSWORD_FILE", parse_file_path, None,
    "file holding its password on one line (never the password itself); "
    "`${CREDENTIALS_DIRECTORY}/stream.password` under the unit", shown_default="unset",
)  # fmt: skip
FPS = _agent("--fps N", "FPS", count_between(1, 240), 15, "frames per second (1–240)")
WIDTH = _agent("--width PX", "WIDTH", parse_size, 1280, "even pixel count")
HEIGHT = _agent("--height PX", "HEIGHT", parse_size, 720, "even pixel count")
BITRATE = _agent(
    "--bitrate RATE", "BITRATE", parse_bitrate, "2M",
    "H.264 target and max rate in bit/s: `2M`, `1.5M`, `800k` (or `K`), or a whole number "
    "(`500000`); ffmpeg's rate-control buffer is twice it. Anything ffmpeg would read "
    "otherwise is refused: `2m` (ffmpeg: milli, i.e. no cap), `2 M`, `1e9`, `-1`",
)  # fmt: skip
INPUT_FORMAT = _agent(
    "--input-format NAME", "INPUT_FORMAT", parse_format_name, "mjpeg",
    "V4L2 input format (`mjpeg`, `yuyv422`, …)",
)  # fmt: skip
KEYFRAME_INTERVAL: Setting[int | None] = _agent(
    "--keyframe-interval N", "KEYFRAME_INTERVAL", count_between(1, 3600), None,
    "frames between keyframes (1 s)", shown_default="FPS",
)  # fmt: skip
METRICS_ADDR = _agent(
    "--metrics-addr ADDR", "METRICS_ADDR", parse_host_port, DEFAULT_METRICS_ADDR,
    "where `/metrics` and `/healthz` listen",
)  # fmt: skip
STALL_SECONDS: Setting[float | None] = _agent(
    # Progress comes every 0.5 s: a shorter stall bound would flap.
    "--stall-seconds S", "STALL_SECONDS", seconds_between(0.5, 3600), None,
    "no progress block this long → `stalled`", shown_default="`2` (`3` below 2 fps)",
)  # fmt: skip
CONNECT_TIMEOUT = _agent(
    "--connect-timeout S", "CONNECT_TIMEOUT", seconds_between(0.1, 600), 5.0,
    "RTSP connect/handshake timeout (ffmpeg `-timeout`)",
)  # fmt: skip
BLACK_SECONDS = _agent(
    "--black-seconds S", "BLACK_SECONDS", seconds_between(0.1, 3600), 2.0,
    "black this long → `trashcam_black_image 1`",
)  # fmt: skip
FREEZE_SECONDS = _agent(
    "--freeze-seconds S", "FREEZE_SECONDS", seconds_between(0.1, 3600), 2.0,
    "unchanged this long → `trashcam_frozen_image 1`",
)  # fmt: skip
IMAGE_HEALTH = _agent(
    "--image-health on|off", "IMAGE_HEALTH", parse_on_off, True,
    "`off` drops the black/freeze filters", shown_default="on",
)  # fmt: skip
BUFFER_DIR: Setting[Path | None] = _agent(
    "--buffer-dir DIR", "BUFFER_DIR", parse_buffer_dir, None,
    "rolling local segment buffer; created if missing",
    shown_default="unset (`$RUNTIME_DIRECTORY/buffer` under the unit)",
)  # fmt: skip
# seg%03d.ts: more than 999 segments would reuse names out of order.
BUFFER_SEGMENTS = _agent(
    "--buffer-segments N", "BUFFER_SEGMENTS", count_between(1, 999), 30,
    "1 s segments kept in the buffer (1–999)",
)  # fmt: skip
BACKOFF_INITIAL = _agent(
    "--backoff-initial S", "BACKOFF_INITIAL", seconds_between(0.1, 3600), 1.0,
    "first restart delay (s)",
)  # fmt: skip
BACKOFF_MAX = _agent(
    "--backoff-max S", "BACKOFF_MAX", seconds_between(0.1, 86400), 30.0,
    "restart delay cap (s), not below BACKOFF_INITIAL",
)  # fmt: skip
FFMPEG = _agent("--ffmpeg PATH", "FFMPEG", parse_ffmpeg, "ffmpeg", "ffmpeg executable")

KEYS: tuple[Setting[Any], ...] = (
    CAMERA_DEV, PUSH_URL, STREAM_USER, STREAM_PASSWORD_FILE, FPS, WIDTH, HEIGHT, BITRATE,
    INPUT_FORMAT, KEYFRAME_INTERVAL, METRICS_ADDR, STALL_SECONDS, CONNECT_TIMEOUT,
    BLACK_SECONDS, FREEZE_SECONDS, IMAGE_HEALTH, BUFFER_DIR, BUFFER_SEGMENTS,
    BACKOFF_INITIAL, BACKOFF_MAX, FFMPEG,
)  # fmt: skip
"""The keys that configure the capture itself (the MQTT side's follow in SETTINGS)."""

MQTT = mqtt_declarations(AGENT_SETTINGS, MQTT_SIDE)
CAPTURES_DIR: Setting[Path | None] = option(
    "--captures-dir DIR", "CAPTURES_DIR", parse_captures_dir, None,
    "where `<camera>/<UTC>.{jpg,mp4}` go; empty: no pictures or recordings", commands=MQTT_SIDE,
    shown_default="unset (`$STATE_DIRECTORY/captures` under the unit)",
)  # fmt: skip
CAPTURES_MAX_BYTES = option(
    "--captures-max-bytes SIZE", "CAPTURES_MAX_BYTES", parse_bytes, DEFAULT_MAX_CAPTURE_BYTES,
    "delete the oldest captures beyond this", shown_default="`4G`", commands=MQTT_SIDE,
)  # fmt: skip
CAPTURES_MIN_FREE = option(
    "--captures-min-free SIZE", "CAPTURES_MIN_FREE", parse_bytes, DEFAULT_MIN_FREE_BYTES,
    "refuse a picture or recording below this free space", shown_default="`512M`",
    commands=MQTT_SIDE,
)  # fmt: skip
RECORD_MAX_SECONDS = option(
    "--record-max-seconds S", "RECORD_MAX_SECONDS", parse_seconds, MAX_RECORD_SECONDS,
    "longest `record N` accepted", commands=MQTT_SIDE,
)  # fmt: skip
SEED_MQTT = option(
    "--seed-mqtt on|off", "SEED_MQTT", parse_on_off, False,
    "also serve the seed's `camera/control/*` topics, seed wording on `camera/status` "
    "(docs/mqtt.md \"The seed's interface\")", shown_default="off", commands=MQTT_SIDE,
)  # fmt: skip
HA_DISCOVERY = option(
    "--ha-discovery on|off", "HA_DISCOVERY", parse_on_off, False,
    "Home Assistant MQTT discovery and snapshots (docs/mqtt.md \"Home Assistant "
    "discovery\"); `--retire` removes the device", shown_default="off", commands=MQTT_SIDE,
)  # fmt: skip
HA_DISCOVERY_PREFIX = option(
    "--ha-discovery-prefix PREFIX", "HA_DISCOVERY_PREFIX", parse_discovery_prefix,
    DEFAULT_PREFIX, "Home Assistant's discovery prefix", commands=MQTT_SIDE,
)  # fmt: skip
SNAPSHOT_INTERVAL = option(
    "--snapshot-interval S", "SNAPSHOT_INTERVAL", parse_snapshot_interval,
    DEFAULT_SNAPSHOT_INTERVAL,
    "seconds between thumbnails on `trashcam/<id>/camera` while capturing, `0` = off "
    "(the viewer's tiles, docs/mqtt.md)", commands=MQTT_SIDE,
)  # fmt: skip

SETTINGS = SettingsTable(
    "capture",
    (
        *KEYS, *MQTT.all, CAPTURES_DIR, CAPTURES_MAX_BYTES, CAPTURES_MIN_FREE,
        RECORD_MAX_SECONDS, SEED_MQTT, HA_DISCOVERY, HA_DISCOVERY_PREFIX, SNAPSHOT_INTERVAL,
    ),
)  # fmt: skip
ENV_NAMES = frozenset(setting.env for setting in SETTINGS.settings if setting.env)
"""Every environment variable the agent reads; anything else is not a setting."""

if __name__ == "__main__":  # the table of docs/capture.md
    print(SETTINGS.markdown(meaning=True), end="")
