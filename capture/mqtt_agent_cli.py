"""The capture agent's MQTT side, wired from settings: ``trashmon capture`` builds its
:class:`~trashmonitor.capture.mqtt_agent.MqttAgent` here, and ``python -m
trashmonitor.capture.mqtt_agent`` (:func:`main`) runs one stand-alone (presence, and
controls/media when given a recorded control listing and a segment buffer) - the same
code path the capture agent uses; tests and bench/ use it as the process to kill.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from trashmonitor.capture import settings as declared
from trashmonitor.capture.control import ControlTarget
from trashmonitor.capture.media import MediaSettings, media_capture
from trashmonitor.capture.mqtt_agent import Interfaces, MqttAgent, StateSource, retire
from trashmonitor.capture.settings import SETTINGS, STANDALONE
from trashmonitor.capture.snapshot import state_document
from trashmonitor.capture.v4l2 import RecordedCamera, V4l2Device, parse_controls
from trashmonitor.errors import EXIT_OK, ConfigError, TrashmonError
from trashmonitor.mqtt import validate_identity
from trashmonitor.runtime import stop_on_signals
from trashmonitor.settings import HostPort, ReadSettings, parse_seconds
from trashmonitor.settings import parse_setting as parse_setting_value


def add_retire_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--retire",
        action="store_true",
        help="remove this camera's Home Assistant device (empty retained document) and exit",
    )


def interfaces_from(read: ReadSettings) -> Interfaces:
    return Interfaces(
        seed=read[declared.SEED_MQTT],
        discovery=read[declared.HA_DISCOVERY],
        discovery_prefix=read[declared.HA_DISCOVERY_PREFIX],
        snapshot_interval=read[declared.SNAPSHOT_INTERVAL],
    )


def media_settings_from(read: ReadSettings) -> MediaSettings | None:
    """None when no captures directory is configured (picture/record then answer an error)."""
    captures = read[declared.CAPTURES_DIR]
    if captures is None:
        return None
    return MediaSettings(
        captures_dir=captures,
        max_capture_bytes=read[declared.CAPTURES_MAX_BYTES],
        min_free_bytes=read[declared.CAPTURES_MIN_FREE],
        max_record_seconds=read[declared.RECORD_MAX_SECONDS],
    )


def agent_from_settings(
    read: ReadSettings,
    camera: str,
    *,
    state: StateSource | None,
    controls: ControlTarget | None,
    buffer_dir: Path | None,
    heartbeat: float | None = None,
    metrics_addr: HostPort | None = None,
) -> MqttAgent | None:
    """The agent for ``camera`` (not started), or None when ``MQTT_URL`` is not set.

    picture/record are available when both ``buffer_dir`` (the capture's segment
    buffer) and ``CAPTURES_DIR`` are configured; otherwise they answer with an error.
    ``read`` holds MQTT_* and CAPTURES_* as read with the capture's other keys (flags,
    environment, env file). ``metrics_addr`` (the agent's ``METRICS_ADDR``) is announced
    in the state messages when another host can scrape it (:func:`scrape_target`).
    """
    settings = declared.MQTT.resolve(read)
    if settings is None:
        return None
    media_options = media_settings_from(read)
    media = (
        media_capture(camera, buffer_dir, media_options)
        if buffer_dir is not None and media_options is not None
        else None
    )
    return MqttAgent(
        settings,
        camera,
        interfaces=interfaces_from(read),
        state=state,
        controls=controls,
        media=media,
        heartbeat=heartbeat,
        metrics_addr=metrics_addr,
        max_record_seconds=read[declared.RECORD_MAX_SECONDS],
        buffer_dir=buffer_dir,
    )


# --- stand-alone entry point -----------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m trashmonitor.capture.mqtt_agent",
        description="MQTT presence/control agent for one camera (the capture agent's MQTT side).",
    )
    parser.add_argument("--camera", required=True, help="camera id = certificate CN")
    parser.add_argument("--presence-only", action="store_true", help="no control, no media")
    parser.add_argument(
        "--controls-file",
        type=Path,
        help="a camera's recorded `v4l2-ctl --list-ctrls-menus` output, served without a device",
    )
    parser.add_argument("--buffer-dir", type=Path, help="the capture's segment buffer")
    parser.add_argument("--heartbeat", help="state heartbeat s (default keepalive/2)")
    SETTINGS.add_arguments(parser, STANDALONE)
    add_retire_argument(parser)
    return parser


def recorded_device(path: Path) -> V4l2Device:
    """A camera replayed from its recorded control listing (see ``RecordedCamera``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        problem = f"cannot read {path} ({type(error).__name__})"
        raise ConfigError("--controls-file", problem) from error
    if not parse_controls(text):
        raise ConfigError(
            "--controls-file", f"{path} lists no controls (expected v4l2-ctl --list-ctrls-menus)"
        )
    return V4l2Device(str(path), runner=RecordedCamera("", text))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        camera = validate_identity("--camera", args.camera)
        controls = None
        if args.controls_file and not args.presence_only:
            controls = recorded_device(args.controls_file)
        agent = agent_from_settings(
            SETTINGS.read(args, STANDALONE),
            camera,
            state=lambda: state_document(camera=camera, state="streaming", ts=time.time()),
            controls=controls,
            buffer_dir=None if args.presence_only else args.buffer_dir,
            heartbeat=(
                parse_setting_value("--heartbeat", args.heartbeat, parse_seconds)
                if args.heartbeat is not None
                else None
            ),
        )
        if agent is None:
            raise ConfigError("MQTT_URL", "required (e.g. mqtts://broker:8883)")
        if args.retire:
            retire(agent)
            return EXIT_OK
    except TrashmonError as error:
        print(f"mqtt_agent: error: {error.message}", file=sys.stderr)
        return error.exit_code
    with stop_on_signals() as done:
        agent.start()
        done.wait()
        agent.stop()
    return EXIT_OK
