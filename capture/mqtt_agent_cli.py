"""The capture agent's MQTT side, wired from settings: ``trashmon capture`` builds its
:class:`~trashmonitor.capture.mqtt_agent.MqttAgent` here, and ``python -m
trashmonitor.capture.mqtt_agent`` (:func:`main`) runs one stand-alone (presence, and
controls/media when given a recorded control listing and a segment buffer) - the same
code path the capture agent uses; tests and bench/ use it as the process to kill.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from trashmonitor.capture.config import _parse_bool as parse_on_off
from trashmonitor.capture.control import MAX_RECORD_SECONDS, ControlTarget
from trashmonitor.capture.ha_discovery import DEFAULT_PREFIX
from trashmonitor.capture.media import add_media_arguments, media_capture, media_settings
from trashmonitor.capture.mqtt_agent import Interfaces, MqttAgent, StateSource, retire
from trashmonitor.capture.snapshot import state_document
from trashmonitor.capture.v4l2 import RecordedCamera, V4l2Device, parse_controls

from trashmonitor.errors import EXIT_OK, ConfigError, TrashmonError
from trashmonitor.mqtt import AGENT_SETTINGS, add_mqtt_arguments, mqtt_settings, validate_identity
from trashmonitor.runtime import stop_on_signals
from trashmonitor.settings import HostPort, flag_or_env, parse_seconds
from trashmonitor.settings import parse_setting as parse_setting_value


def add_agent_arguments(parser: argparse.ArgumentParser) -> None:
    """The agent's MQTT and capture settings (MQTT_*, CAPTURES_*, RECORD_MAX_SECONDS,
    SEED_MQTT, HA_DISCOVERY, HA_DISCOVERY_PREFIX) and ``--retire``."""
    add_mqtt_arguments(parser, AGENT_SETTINGS)
    add_media_arguments(parser)
    group = parser.add_argument_group("more MQTT interfaces (docs/mqtt.md)")
    group.add_argument(
        "--seed-mqtt", help="also serve the seed's camera/control/* topics (SEED_MQTT, off)"
    )
    group.add_argument(
        "--ha-discovery", help="publish Home Assistant MQTT discovery (HA_DISCOVERY, off)"
    )
    group.add_argument(
        "--ha-discovery-prefix",
        help=f"Home Assistant's discovery prefix (HA_DISCOVERY_PREFIX, {DEFAULT_PREFIX})",
    )
    group.add_argument(
        "--retire",
        action="store_true",
        help="remove this camera's Home Assistant device (empty retained document) and exit",
    )


_PREFIX = re.compile(r"^[A-Za-z0-9_-]{1,64}(/[A-Za-z0-9_-]{1,64}){0,3}$")


def parse_discovery_prefix(text: str) -> str:
    """A topic prefix without wildcards or empty levels (it is published to)."""
    if not _PREFIX.match(text):
        raise ValueError("expected topic levels of letters, digits, '_' or '-', e.g. homeassistant")
    return text


def interfaces_from(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> Interfaces:
    seed = flag_or_env(
        args, attribute="seed_mqtt", flag="--seed-mqtt", env_var="SEED_MQTT",
        parse=parse_on_off, default=False, environ=environ,
    )  # fmt: skip
    discovery = flag_or_env(
        args, attribute="ha_discovery", flag="--ha-discovery", env_var="HA_DISCOVERY",
        parse=parse_on_off, default=False, environ=environ,
    )  # fmt: skip
    prefix = flag_or_env(
        args, attribute="ha_discovery_prefix", flag="--ha-discovery-prefix",
        env_var="HA_DISCOVERY_PREFIX", parse=parse_discovery_prefix, default=DEFAULT_PREFIX,
        environ=environ,
    )  # fmt: skip
    return Interfaces(seed=seed, discovery=discovery, discovery_prefix=prefix)


def agent_from_args(
    args: argparse.Namespace,
    camera: str,
    *,
    state: StateSource | None,
    controls: ControlTarget | None,
    buffer_dir: Path | None,
    heartbeat: float | None = None,
    environ: Mapping[str, str] | None = None,
    metrics_addr: HostPort | None = None,
) -> MqttAgent | None:
    """The agent for ``camera`` (not started), or None when ``MQTT_URL`` is not set.

    picture/record are available when both ``buffer_dir`` (the capture's segment
    buffer) and ``CAPTURES_DIR`` are configured; otherwise they answer with an error.
    ``environ`` is where MQTT_* and CAPTURES_* are read (the capture agent's env file);
    flags still win. ``metrics_addr`` (the agent's ``METRICS_ADDR``) is announced in the
    state messages when another host can scrape it (:func:`scrape_target`).
    """
    settings = mqtt_settings(args, AGENT_SETTINGS, environ)
    if settings is None:
        return None
    media_options = media_settings(args, environ)
    media = (
        media_capture(camera, buffer_dir, media_options)
        if buffer_dir is not None and media_options is not None
        else None
    )
    return MqttAgent(
        settings,
        camera,
        interfaces=interfaces_from(args, environ),
        state=state,
        controls=controls,
        media=media,
        heartbeat=heartbeat,
        metrics_addr=metrics_addr,
        max_record_seconds=(
            media_options.max_record_seconds if media_options else MAX_RECORD_SECONDS
        ),
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
    add_agent_arguments(parser)
    return parser


def recorded_device(path: Path) -> V4l2Device:
    """A camera replayed from its recorded control listing (see ``RecordedCamera``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        problem = f"cannot read {path} ({type(error).__name__})"
        raise ConfigError("--controls-file", problem) from None
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
        agent = agent_from_args(
            args,
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
