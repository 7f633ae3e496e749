"""The ``--play`` part of ``trashmon probe`` (``monitor/play_cli.py``): the limits and URL
templates read from the settings (the monitor's periodic check reads the same), which
cameras are pulled, and the exit code the pulls give. The pulls themselves are in
``tests/monitor/test_play.py`` and ``tests/monitor/test_play_rtsp.py``."""

from __future__ import annotations

import argparse

import pytest
from support.processes import free_port

from trashmonitor.errors import EXIT_OK, EXIT_UNHEALTHY
from trashmonitor.monitor import config
from trashmonitor.monitor.model import CameraHealth, HealthReport
from trashmonitor.monitor.play import PlayLimits, PlayResult
from trashmonitor.monitor.play_cli import (
    IO_TIMEOUT_MARGIN_SECONDS,
    play,
    play_exit,
    play_limits,
    play_templates,
)
from trashmonitor.monitor.probe_cli import configure
from trashmonitor.settings import ReadSettings


def parse(*args: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure(parser)
    return parser.parse_args(args)


def settings(*args: str) -> ReadSettings:
    return config.SETTINGS.read(parse(*args), config.PROBE, {})


def test_the_limits_are_the_window_the_first_frame_bound_and_ffmpeg_s_own_timeout() -> None:
    assert play_limits(settings()) == PlayLimits(5.0, 2.0, 2.0 + IO_TIMEOUT_MARGIN_SECONDS)
    assert play_limits(
        settings("--play-seconds", "12", "--play-first-frame-max", "0.5")
    ) == PlayLimits(12.0, 0.5, 0.5 + IO_TIMEOUT_MARGIN_SECONDS)


@pytest.mark.parametrize(
    ("args", "templates"),
    [
        ((), [("rtsp", "rtsp://127.0.0.1:8554/{name}")]),
        (("--api", "https://cams.example:9997"), [("rtsp", "rtsp://cams.example:8554/{name}")]),
        (("--api", "http://[fd7a::1]:9997"), [("rtsp", "rtsp://[fd7a::1]:8554/{name}")]),
        (
            ("--api", "http://m:9997", "--play-hls", "https://cams.example/{name}/index.m3u8"),
            [("rtsp", "rtsp://m:8554/{name}"), ("hls", "https://cams.example/{name}/index.m3u8")],
        ),
        (
            ("--play-rtsp", "off", "--play-hls", "https://cams.example/{name}/index.m3u8"),
            [("hls", "https://cams.example/{name}/index.m3u8")],
        ),
        (
            ("--play-rtsp", "rtsp://relay:8322/live/{name}"),
            [("rtsp", "rtsp://relay:8322/live/{name}")],
        ),
    ],
)
def test_rtsp_defaults_to_the_api_host_and_hls_only_when_given(
    args: tuple[str, ...], templates: list[tuple[str, str]]
) -> None:
    assert play_templates(settings(*args)) == templates


def result(camera: str, *reasons: str) -> PlayResult:
    return PlayResult(camera, "rtsp", reasons, None, None, None, None, 0, "")


def test_the_pulls_fail_the_probe_only_when_one_does_not_play() -> None:
    assert play_exit(None) == EXIT_OK  # no --play
    assert play_exit([]) == EXIT_OK  # nothing to pull
    assert play_exit([result("cam1"), result("cam2")]) == EXIT_OK
    assert play_exit([result("cam1"), result("cam2", "black")]) == EXIT_UNHEALTHY


REPORT = HealthReport(
    1_763_700_000.0,
    (
        CameraHealth("cam1", "ok", (), True),
        CameraHealth("cam2", "down", ("no_publisher",), False),
        CameraHealth("gate", "parked", (), False),
    ),
)


def test_without_play_nothing_is_pulled() -> None:
    assert play(parse(), REPORT) is None


def test_every_judged_camera_but_the_parked_ones_is_pulled_unless_cameras_are_named() -> None:
    # A port nobody listens on: ffmpeg is refused at once; which cameras were asked is
    # what this test reads.
    closed = f"rtsp://127.0.0.1:{free_port()}/{{name}}"
    pulled = play(parse("--play", "--play-rtsp", closed), REPORT)
    assert pulled is not None
    assert [(r.camera, r.transport, r.playable) for r in pulled] == [
        ("cam1", "rtsp", False), ("cam2", "rtsp", False),
    ]  # fmt: skip
    named = play(parse("--play", "--play-rtsp", closed, "--play-camera", "gate"), REPORT)
    assert named is not None
    assert [r.camera for r in named] == ["gate"]
