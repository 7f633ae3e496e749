"""The monitor's periodic playback check (``--play-interval``): the real monitor process
pulling the real RTSP server (GStreamer's) and a server that never sends, its
``trashmon_play_*`` metrics and ``play`` fields; the scheduler's bounds with a stand-in
pull."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.fake_mediamtx import FakeMediaMTX
from support.measure import monitor_env
from support.monitor import MonitorProcess, monitor_process
from support.play_sources import RTSP_FPS, rtsp_server
from support.processes import (
    children_of,
    free_port,
    pid_alive,
    promtool_check_metrics,
    require_binary,
    run_trashmon,
    wait_until,
)
from support.sockets import silent_server

from trashmonitor.monitor.play import PlayLimits
from trashmonitor.monitor.play_ffmpeg import Observation
from trashmonitor.monitor.play_watch import PlayWatcher

PLAY_ENV = {"TRASHMON_PLAY_INTERVAL": "10", "TRASHMON_PLAY_SECONDS": "2"}
# One pull's deadline (2 s window + 2 s first-frame limit + 3 s) and a poll to publish it.
PULL_DEADLINE = 2 + 2.0 + 3
TOO_MANY = ",".join(f"cam{index}" for index in range(101))


@pytest.fixture(scope="module")
def rtsp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with rtsp_server(tmp_path_factory.mktemp("rtsp")) as template:
        yield template


def samples(monitor: MonitorProcess, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Every sample of family ``name`` on /metrics, by its sorted labels."""
    found = {}
    for family in text_string_to_metric_families(monitor.metrics()):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_the_monitor_checks_chosen_cameras_and_exports_the_figures(
    fake: FakeMediaMTX, rtsp: str, tmp_path: Path
) -> None:
    for name in ("healthy", "black", "frozen"):
        fake.set_path(name, online=True)
    settings = {**PLAY_ENV, "TRASHMON_PLAY_CAMERA": "healthy,black", "TRASHMON_PLAY_RTSP": rtsp}
    with monitor_process(fake, tmp_path, **settings) as monitor:
        playable = wait_until(
            lambda: len(found := samples(monitor, "trashmon_play_playable")) == 2 and found,
            60,
            0.2,
            "both chosen cameras checked",
        )
        assert playable == {
            (("camera", "healthy"), ("reason", "none"), ("transport", "rtsp")): 1.0,
            (("camera", "black"), ("reason", "black,frozen"), ("transport", "rtsp")): 0.0,
        }
        healthy = (("camera", "healthy"), ("transport", "rtsp"))
        assert samples(monitor, "trashmon_play_first_frame_seconds")[healthy] <= 2.0
        assert samples(monitor, "trashmon_play_fps")[healthy] == pytest.approx(RTSP_FPS, abs=1)
        keyframes = samples(monitor, "trashmon_play_keyframe_interval_seconds")[healthy]
        assert keyframes == pytest.approx(1.0, abs=0.05)
        assert samples(monitor, "trashmon_play_bitrate_bytes_per_second")[healthy] > 1000
        checked_at = samples(monitor, "trashmon_play_last_check_timestamp_seconds")[healthy]
        assert time.time() - 120 < checked_at <= time.time()
        status = {camera["name"]: camera for camera in monitor.status()["cameras"]}
        assert status["healthy"]["play"]["rtsp"]["verdict"] == "playable"
        assert status["black"]["play"]["rtsp"]["reasons"] == ["black", "frozen"]
        assert "play" not in status["frozen"]  # not chosen: never pulled
        code, complaints = promtool_check_metrics(monitor.metrics().encode())
        assert code == 0, complaints


def test_a_server_that_never_sends_shows_not_playable_within_the_deadline(
    fake: FakeMediaMTX, tmp_path: Path
) -> None:
    fake.set_path("cam", online=True)
    with silent_server() as port:
        settings = {
            **PLAY_ENV,
            "TRASHMON_PLAY_CAMERA": "cam",
            "TRASHMON_PLAY_RTSP": f"rtsp://127.0.0.1:{port}/{{name}}",
        }
        started = time.monotonic()
        with monitor_process(fake, tmp_path, **settings) as monitor:
            wait_until(lambda: monitor.camera("cam"), 60, 0.1, "the monitor serving")
            assert monitor.camera("cam") is not None
            found = wait_until(
                lambda: samples(monitor, "trashmon_play_playable"), 60, 0.1, "a check"
            )
            took = time.monotonic() - started
    assert found == {(("camera", "cam"), ("reason", "unreachable"), ("transport", "rtsp")): 0.0}
    # Monitor start-up (a loaded machine: seconds), one pull's deadline, one poll.
    assert took <= PULL_DEADLINE + 10, took


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"TRASHMON_PLAY_INTERVAL": "30"}, "TRASHMON_PLAY_CAMERA"),
        ({"TRASHMON_PLAY_INTERVAL": "5", "TRASHMON_PLAY_CAMERA": "a"}, "TRASHMON_PLAY_INTERVAL"),
        (
            {
                "TRASHMON_PLAY_INTERVAL": "30",
                "TRASHMON_PLAY_CAMERA": ",".join(map(str, range(101))),
            },
            "TRASHMON_PLAY_CAMERA",
        ),
    ],
)
def test_bad_play_settings_stop_the_monitor_with_one_line(
    fake: FakeMediaMTX, settings: dict[str, str], named: str
) -> None:
    env = monitor_env(fake.url, free_port(), 1, **settings)
    result = run_trashmon("monitor", env=env, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"trashmon monitor: error: {named}"), result.stderr
    assert "Traceback" not in result.stderr


class Gate:
    """A stand-in pull that holds each call until released, counting how many run."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: dict[str, int] = {}
        self.most_at_once = 0
        self.most_per_camera = 0
        self.calls = 0
        self.release = threading.Event()

    def __call__(self, argv: list[str], deadline: float, secrets: Sequence[str]) -> Observation:
        camera = argv[argv.index("-i") + 1].rsplit("/", 1)[1]
        with self.lock:
            self.calls += 1
            self.running[camera] = self.running.get(camera, 0) + 1
            self.most_at_once = max(self.most_at_once, sum(self.running.values()))
            self.most_per_camera = max(self.most_per_camera, self.running[camera])
        self.release.wait(30)
        with self.lock:
            self.running[camera] -= 1
        return Observation(opened=True)


def test_pulls_are_bounded_one_per_camera_and_never_wait_for_each_other() -> None:
    """Eight cameras, two workers, an interval far shorter than a pull: never more than
    two pulls at once, never two of one camera, and the checks are read while pulls hang."""
    gate = Gate()
    cameras = frozenset(f"cam{index}" for index in range(8))
    watcher = PlayWatcher(
        cameras,
        [("rtsp", "rtsp://127.0.0.1:1/{name}")],
        PlayLimits(seconds=1, first_frame_max=1, io_timeout=1),
        interval=0.01,
        ffmpeg=require_binary("ffmpeg"),
        concurrency=2,
        puller=gate,
    )
    watcher.start()
    try:
        wait_until(lambda: gate.calls >= 2, 30, 0.01, "two pulls running")
        started = time.monotonic()
        assert watcher.checks() == dict.fromkeys(cameras, ())  # read while both hang
        assert time.monotonic() - started < 1
        gate.release.set()
        wait_until(lambda: all(watcher.checks().values()), 30, 0.01, "every camera checked")
        wait_until(lambda: gate.calls >= 20, 30, 0.01, "checks repeating")
    finally:
        watcher.stop()
    assert gate.most_at_once <= 2
    assert gate.most_per_camera == 1
    (check,) = watcher.checks()["cam0"]
    assert check.result.reasons == ("no_frames",)


def _ffmpeg_children() -> list[int]:
    return [
        pid
        for pid in children_of(os.getpid())
        if Path(f"/proc/{pid}/comm").is_file()
        and Path(f"/proc/{pid}/comm").read_text() == "ffmpeg\n"
    ]


def test_a_stop_kills_the_pulls_in_flight() -> None:
    """A pull that could last a minute (silent server, long timeouts) ends with the stop:
    its ffmpeg is killed and reaped, and the cut-short pull is no verdict."""
    with silent_server() as port:
        watcher = PlayWatcher(
            frozenset({"cam"}),
            [("rtsp", f"rtsp://127.0.0.1:{port}/{{name}}")],
            PlayLimits(seconds=5, first_frame_max=50, io_timeout=60),
            interval=3600,
            ffmpeg=require_binary("ffmpeg"),
        )
        watcher.start()
        try:
            (ffmpeg,) = wait_until(_ffmpeg_children, 30, 0.05, "ffmpeg pulling")
        finally:
            started = time.monotonic()
            watcher.stop()
            took = time.monotonic() - started
    assert took < 3.0, took
    assert not pid_alive(ffmpeg)
    assert watcher.checks() == {"cam": ()}
