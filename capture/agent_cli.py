"""``trashmon capture``: run the capture agent for one camera."""

from __future__ import annotations

import argparse
import logging
import shlex
import shutil
import signal
from types import FrameType

from trashmonitor.capture.command import build_command
from trashmonitor.capture.config import AgentConfig, add_arguments, load_config
from trashmonitor.capture.metrics import agent_registry
from trashmonitor.capture.supervisor import Agent, redact

from trashmonitor.errors import EXIT_OK, ConfigError
from trashmonitor.serving import HTTPService, Response, json_response, metrics_route

HELP = "publish one camera with supervised ffmpeg; serve its health on /metrics"

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "Settings come from /etc/trashcam/<id>.env (or --env-file); flags override it. "
        "CAMERA_DEV=testsrc publishes ffmpeg's synthetic testsrc2 picture."
    )
    add_arguments(parser)
    parser.add_argument(
        "--print-command",
        action="store_true",
        help="print the ffmpeg command line the settings produce and exit",
    )


def redact_argv(argv: list[str]) -> list[str]:
    return [redact(arg) for arg in argv]


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
    config = load_config(args)
    if args.print_command:
        print(shlex.join(redact_argv(build_command(config))))
        return EXIT_OK
    if shutil.which(config.ffmpeg) is None:
        raise ConfigError("FFMPEG", f"{config.ffmpeg!r} not found (install Debian's ffmpeg)")
    if config.buffer_dir is not None:
        try:
            config.buffer_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            problem = f"cannot create {config.buffer_dir}: {error.strerror}"
            raise ConfigError("BUFFER_DIR", problem) from None
    agent = Agent(config)
    service = serve(agent, config)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        agent.request_stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    service.start()
    log.info("capture agent for %s (%s -> push)", config.camera, config.camera_dev)
    try:
        agent.run()
    finally:
        service.stop()
    return EXIT_OK
