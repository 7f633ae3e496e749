"""``trashmon probe --play`` against real ffmpeg pulls: HLS written by ffmpeg and served
through the real Caddy, RTSP/HLS servers that accept and never send."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from support.fake_mediamtx import FakeMediaMTX
from support.play_sources import (
    BLACK,
    FROZEN,
    HEALTHY,
    Origin,
    assert_plays_healthy,
    hls_behind_caddy,
    write_hls,
)
from support.processes import free_port, require_binary, run_trashmon
from support.sockets import silent_server

from trashmonitor.monitor.play import PlayLimits, PlayResult, play_all
from trashmonitor.monitor.play_ffmpeg import play_argv, pull

LIMITS = PlayLimits(seconds=3, first_frame_max=2.0, io_timeout=3.0)
HLS_TEMPLATE = "{base}/{{name}}/index.m3u8"


@pytest.fixture(scope="module")
def hls_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hls")
    write_hls(root / "healthy", HEALTHY)
    write_hls(root / "slow", HEALTHY)
    write_hls(root / "frozen", FROZEN)
    write_hls(root / "black", BLACK)
    return root


@pytest.fixture
def origin(hls_root: Path) -> Origin:
    return Origin(hls_root, delays={"slow": 2.6})


@pytest.fixture
def caddy(origin: Origin, tmp_path: Path) -> Iterator[str]:
    with hls_behind_caddy(origin, tmp_path) as base:
        yield base


def pull_hls(caddy: str, *names: str) -> dict[str, PlayResult]:
    template = HLS_TEMPLATE.format(base=caddy)
    return {result.camera: result for result in play_all(names, [("hls", template)], LIMITS)}


def test_healthy_stream_plays_with_first_frame_within_2_s(caddy: str) -> None:
    # testsrc2 at 15 fps, -g 15: a keyframe a second
    assert_plays_healthy(pull_hls(caddy, "healthy")["healthy"], fps=15)


def test_frozen_black_and_slow_streams_get_their_reasons(caddy: str) -> None:
    results = pull_hls(caddy, "frozen", "black", "slow")
    assert "frozen" in results["frozen"].reasons
    assert "black" not in results["frozen"].reasons
    assert "black" in results["black"].reasons
    assert results["slow"].reasons == ("slow_first_frame",)
    first = results["slow"].first_frame_seconds
    assert first is not None
    assert first >= 2.6


@pytest.mark.parametrize("transport", ["rtsp", "hls"])
def test_server_that_accepts_and_never_sends_is_reported_within_the_deadline(
    transport: str,
) -> None:
    with silent_server() as port:
        template = (
            f"rtsp://127.0.0.1:{port}/{{name}}"
            if transport == "rtsp"
            else f"http://127.0.0.1:{port}/{{name}}/index.m3u8"
        )
        started = time.monotonic()
        (result,) = play_all(["cam"], [(transport, template)], LIMITS)
        took = time.monotonic() - started
    assert result.reasons == ("unreachable",)
    assert result.frames == 0
    assert took <= LIMITS.deadline + 1.0  # the parent's kill plus reaping


def test_nothing_listening_is_unreachable_at_once() -> None:
    started = time.monotonic()
    (result,) = play_all(["cam"], [("rtsp", f"rtsp://127.0.0.1:{free_port()}/{{name}}")], LIMITS)
    assert result.reasons == ("unreachable",)
    assert time.monotonic() - started < LIMITS.io_timeout


HOSTILE_NAMES = ["..", "a/../../etc", "x?y=1#z", "-i", "name with space", "%2e%2e", "ünï"]


def test_hostile_names_reach_the_server_as_one_path_segment(caddy: str, origin: Origin) -> None:
    results = pull_hls(caddy, *HOSTILE_NAMES)
    assert {name: result.reasons for name, result in results.items()} == {
        name: ("unreachable",)
        for name in HOSTILE_NAMES  # the origin has none of them
    }
    first_segments = {unquote(path.split("?", 1)[0].split("/")[1]) for path in origin.seen}
    assert first_segments == set(HOSTILE_NAMES)
    assert all(path.count("/") == 2 for path in origin.seen), origin.seen


def test_probe_play_cli_json_and_exit_code(fake: FakeMediaMTX, caddy: str) -> None:
    fake.add_paths(0)
    for name in ("healthy", "frozen"):
        fake.set_path(name, online=True)
    template = HLS_TEMPLATE.format(base=caddy)
    args = ["probe", "--api", fake.url, "--play", "--play-rtsp", "off", "--play-hls", template]
    result = run_trashmon(*args, "--play-seconds", "2", "--json")
    assert result.returncode == 1, result.stderr
    playback = json.loads(result.stdout)["playback"]
    verdicts = {c["name"]: (c["verdict"], c["reasons"]) for c in playback["cameras"]}
    assert verdicts["healthy"] == ("playable", [])
    assert verdicts["frozen"][0] == "not_playable"
    assert "frozen" in verdicts["frozen"][1]
    only_healthy = run_trashmon(*args, "--play-seconds", "2", "--play-camera", "healthy")
    assert only_healthy.returncode == 0, only_healthy.stdout + only_healthy.stderr
    assert "healthy  hls" in only_healthy.stdout


def test_bad_play_settings_are_one_line_exit_2(fake: FakeMediaMTX) -> None:
    result = run_trashmon("probe", "--api", fake.url, "--play", "--play-hls", "http://x/a.m3u8")
    assert result.returncode == 2
    assert "--play-hls" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_parent_kills_a_pull_whose_ffmpeg_would_wait_longer() -> None:
    """ffmpeg's own timeout set far past the deadline: the wall-clock kill still ends it."""
    ffmpeg = require_binary("ffmpeg")
    with silent_server() as port:
        argv = play_argv(ffmpeg, f"rtsp://127.0.0.1:{port}/cam", "rtsp", 5, io_timeout=60)
        started = time.monotonic()
        seen = pull(argv, deadline_seconds=1.5)
        took = time.monotonic() - started
    assert seen.killed
    assert seen.frames == []
    assert 1.5 <= took <= 4.0


def test_a_playlist_naming_a_local_file_plays_nothing(caddy: str, hls_root: Path) -> None:
    """A hostile HLS server must not make the probe read (and time, and report on) files
    of the probe's own machine: ffmpeg may use only the transport's protocols."""
    local = next((hls_root / "healthy").glob("*.ts"))
    (hls_root / "evil").mkdir(exist_ok=True)
    (hls_root / "evil" / "index.m3u8").write_text(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n"
        f"#EXTINF:1.0,\nfile://{local}\n#EXT-X-ENDLIST\n"
    )
    result = pull_hls(caddy, "evil")["evil"]
    assert result.frames == 0
    assert not result.playable


def test_credentials_in_a_template_never_reach_the_output(fake: FakeMediaMTX) -> None:
    fake.set_path("cam", online=True)
    template = f"rtsp://viewer:s3cret-Play-Pass@127.0.0.1:{free_port()}/{{name}}"
    result = run_trashmon(
        "probe", "--api", fake.url, "--play", "--play-rtsp", template, "--json"
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    (pulled,) = json.loads(result.stdout)["playback"]["cameras"]
    assert pulled["reasons"] == ["unreachable"]
    assert "Connection refused" in pulled["error"]  # ffmpeg's line, userinfo masked
    assert "s3cret-Play-Pass" not in result.stdout + result.stderr


def test_a_refused_template_is_not_echoed(fake: FakeMediaMTX) -> None:
    for flag in ("--play-rtsp", "--play-hls"):
        args = ["probe", "--api", fake.url, "--play", flag, "rtsp://u:s3cret-Typo@h:8554/cam"]
        result = run_trashmon(*args)
        assert result.returncode == 2
        assert result.stderr.startswith(f"trashmon probe: error: {flag}: expected"), result.stderr
        assert "s3cret-Typo" not in result.stderr + result.stdout
