"""The ``--play`` part of ``trashmon probe``: which cameras, which URLs, which limits."""

from __future__ import annotations

import argparse

from trashmonitor.errors import EXIT_OK, EXIT_UNHEALTHY
from trashmonitor.monitor import config
from trashmonitor.monitor.model import HealthReport
from trashmonitor.monitor.play import (
    PlayLimits,
    PlayResult,
    default_rtsp_template,
    play_all,
)
from trashmonitor.settings import ReadSettings

# ffmpeg's own I/O timeout, past the first-frame limit: a silent server is then reported
# by ffmpeg itself, well before the parent's wall-clock kill.
IO_TIMEOUT_MARGIN_SECONDS = 1.0


def play_limits(settings: ReadSettings) -> PlayLimits:
    """The window, first-frame limit and ffmpeg I/O timeout of every pull (the probe's
    and the monitor's periodic check read the same settings)."""
    first_frame_max = settings[config.PLAY_FIRST_FRAME_MAX]
    return PlayLimits(
        seconds=settings[config.PLAY_SECONDS],
        first_frame_max=first_frame_max,
        io_timeout=first_frame_max + IO_TIMEOUT_MARGIN_SECONDS,
    )


def play_templates(settings: ReadSettings) -> list[tuple[str, str]]:
    """(transport, URL template) pairs: RTSP (MediaMTX's port on the API host unless
    set; ``off`` for none), and HLS when a template is given."""
    rtsp = settings[config.PLAY_RTSP]
    if rtsp is None:
        rtsp = default_rtsp_template(settings[config.API])
    hls = settings[config.PLAY_HLS]
    return [(transport, url) for transport, url in (("rtsp", rtsp), ("hls", hls)) if url]


def play(args: argparse.Namespace, report: HealthReport) -> list[PlayResult] | None:
    """The pulls ``--play`` asks for, or None without ``--play``."""
    settings = config.SETTINGS.read(args, config.PROBE)
    if not settings[config.PLAY]:
        return None
    cameras = settings[config.PLAY_CAMERA] or {
        camera.name for camera in report.cameras if camera.state != "parked"
    }
    return play_all(cameras, play_templates(settings), play_limits(settings))


def play_exit(results: list[PlayResult] | None) -> int:
    if results is None or all(result.playable for result in results):
        return EXIT_OK
    return EXIT_UNHEALTHY
