"""``trashmon capture``: run the capture agent for one camera."""

from __future__ import annotations

import argparse
import logging
import shlex
import shutil
import threading

from trashmonitor.capture.command import build_command
from trashmonitor.capture.config import AgentConfig, add_arguments, load_agent
from trashmonitor.capture.metrics import agent_registry
from trashmonitor.capture.mqtt_agent import MqttAgent, retire
from trashmonitor.capture.mqtt_agent_cli import add_retire_argument, agent_from_settings
from trashmonitor.capture.redact import redact
from trashmonitor.capture.snapshot import state_message
from trashmonitor.capture.supervisor import Agent
from trashmonitor.errors import EXIT_OK, ConfigError
from trashmonitor.runtime import run_until_signal
from trashmonitor.serving import HTTPService, Response, json_response, metrics_route
from trashmonitor.settings import ReadSettings

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "Settings: flag > environment > /etc/trashcam/<id>.env (or --env-file) > default. "
        "CAMERA_DEV=testsrc publishes ffmpeg's synthetic testsrc2 picture."
    )
    add_arguments(parser)  # the whole table, MQTT_* and CAPTURES_* too (docs/capture.md)
    add_retire_argument(parser)
    parser.add_argument(
        "--print-command",
        action="store_true",
        help="print the ffmpeg command line the settings produce and exit",
    )


def redact_argv(argv: list[str], secrets: tuple[str, ...] = ()) -> list[str]:
    return [redact(arg, secrets) for arg in argv]


def serve(agent: Agent, config: AgentConfig) -> HTTPService:
    def healthz() -> Response:
        snap = agent.snapshot()
        healthy = agent.loop_healthy()
        return json_response(
            {
                "loop": "ok" if healthy else "stuck",
                "state": str(snap.state),
                "reason": snap.reason,
                "image": list(snap.image_reasons),
            },
            200 if healthy else 503,
        )

    routes = {"/metrics": metrics_route(agent_registry(agent.snapshot)), "/healthz": healthz}
    return HTTPService(config.metrics_addr, routes, "METRICS_ADDR")


def run(args: argparse.Namespace) -> int:
    config, read = load_agent(args)
    if args.print_command:
        print(shlex.join(redact_argv(build_command(config), config.secrets)))
        return EXIT_OK
    if shutil.which(config.ffmpeg) is None:
        raise ConfigError("FFMPEG", f"{config.ffmpeg!r} not found (install Debian's ffmpeg)")
    if config.buffer_dir is not None:
        try:
            config.buffer_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            problem = f"cannot create {config.buffer_dir}: {error.strerror}"
            raise ConfigError("BUFFER_DIR", problem) from error
    agent = Agent(config)
    mqtt = _mqtt_side(read, agent, config)
    if args.retire:  # the camera is gone for good: tidy its traces on the broker, no capture
        if mqtt is None:
            raise ConfigError("--retire", "needs MQTT_URL (there is no broker to tidy)")
        retire(mqtt)
        return EXIT_OK
    service = serve(agent, config)

    def supervise(stop: threading.Event) -> None:
        service.start()
        if mqtt is not None:
            mqtt.start()
        log.info("capture agent for %s (%s -> push)", config.camera, config.camera_dev)
        try:
            agent.run(stop)
        finally:
            if mqtt is not None:
                mqtt.stop()  # publishes the retained "offline" itself: a clean stop fires no will
            service.stop()

    run_until_signal(supervise)
    return EXIT_OK


def _mqtt_side(read: ReadSettings, agent: Agent, config: AgentConfig) -> MqttAgent | None:
    """Presence, state, controls and picture/record over MQTT, when MQTT_URL is set."""
    return agent_from_settings(
        read,
        config.camera,
        state=lambda: state_message(agent.snapshot()),
        controls=agent.device,
        buffer_dir=config.buffer_dir,
        metrics_addr=config.metrics_addr,
    )
