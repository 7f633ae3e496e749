"""Pure parts of the playback probe: ffmpeg's showinfo lines, URL templates, camera
names in URLs, the verdict. Property tests: these read outside input."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from urllib.parse import unquote, urlsplit

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from support.processes import wait_until
from support.properties import PROPERTIES, bounded

from trashmonitor.monitor.play import (
    PlayLimits,
    PlayResult,
    judge,
    parse_url_template,
    play_all,
    play_document,
    play_table,
    stream_url,
)
from trashmonitor.monitor.play_ffmpeg import Frame, Observation, parse_showinfo_line

REAL_LINE = (
    "[Parsed_showinfo_0 @ 0x55f109006880] n:  12 pts:  12 pts_time:0.8       pos:   -1 "
    "fmt:yuv420p sar:1/1 s:160x120 i:P iskey:1 type:I checksum:1548B9DD "
    "plane_checksum:[5CAF8E30 66FFA637 D31E8567] mean:[111 132 130] stdev:[56.3 69.0 77.9]"
)
LIMITS = PlayLimits(seconds=5, first_frame_max=2.0, io_timeout=3.0)


def test_a_real_showinfo_line_is_a_frame() -> None:
    assert parse_showinfo_line(REAL_LINE) == Frame(12, 0.8, True)
    assert parse_showinfo_line(REAL_LINE.replace("iskey:1", "iskey:0")) == Frame(12, 0.8, False)
    config_line = "[Parsed_showinfo_0 @ 0x55] config in time_base: 1/15, frame_rate: 15/1"
    assert parse_showinfo_line(config_line) is None
    huge = REAL_LINE.replace("pts_time:0.8", "pts_time:1e999")
    assert parse_showinfo_line(huge) is None


@PROPERTIES
@given(st.text(max_size=600))
def test_any_line_is_a_frame_or_none_quickly(line: str) -> None:
    frame = bounded(lambda: parse_showinfo_line(line))
    assert frame is None or (frame.number >= 0 and frame.pts_time == frame.pts_time)


@PROPERTIES
@given(
    st.integers(0, 10**12 - 1),
    st.floats(0, 1e9, allow_nan=False),
    st.booleans(),
    st.text(alphabet=st.characters(blacklist_characters="\n\r["), max_size=40),
)
def test_generated_showinfo_lines_round_trip(
    number: int, pts_time: float, key: bool, noise: str
) -> None:
    line = (
        f"{noise}[Parsed_showinfo_3 @ 0x55f1] n:{number:4d} pts: 7 "
        f"pts_time:{pts_time:.6f} pos: -1 fmt:yuv420p iskey:{int(key)} type:I"
    )
    frame = parse_showinfo_line(line)
    assert frame == Frame(number, float(f"{pts_time:.6f}"), key)


@PROPERTIES
@given(st.text(min_size=1, max_size=80))
@example("..")  # a dot-segment: URL normalisation (RFC 3986 §5.2.4) would go up a level
@example(".")
@example("a/../../etc?x#y")
def test_any_name_is_exactly_one_path_segment(name: str) -> None:
    for template in ("rtsp://cams:8554/{name}", "https://cams.example/live/{name}/index.m3u8"):
        url = stream_url(template, name)
        parts = urlsplit(url)
        prefix, suffix = template.split("{name}")
        assert url.startswith(prefix)
        assert url.endswith(suffix)
        segment = url[len(prefix) : len(url) - len(suffix)]
        assert "/" not in segment
        assert segment not in (".", "..")
        assert all(c.isascii() and c.isprintable() and c not in " ?#" for c in segment)
        assert unquote(segment) == name
        assert not parts.query
        assert not parts.fragment


@pytest.mark.parametrize(
    "text",
    [
        "http://cams/index.m3u8",  # no {name}
        "http://cams/{name}/{name}.m3u8",  # twice
        "http://cams/x.m3u8?cam={name}",  # not in the path
        "file:///tmp/{name}",
        "rtsp:///{name}",
        "http://cams:99999/{name}",
        "ftp://cams/{name}",
    ],
)
def test_bad_url_templates_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"expected|invalid"):
        parse_url_template(text)


def test_good_url_templates_and_off() -> None:
    assert parse_url_template(" rtsp://[::1]:8554/{name} ") == "rtsp://[::1]:8554/{name}"
    assert parse_url_template("https://cams.example/{name}/index.m3u8")
    assert parse_url_template("OFF") == ""


@PROPERTIES
@given(st.text(max_size=300))
def test_any_template_text_is_accepted_or_refused_with_a_value_error(text: str) -> None:
    try:
        template = bounded(lambda: parse_url_template(text))
    except ValueError:
        return
    assert template == "" or template.count("{name}") == 1


def frames(count: int, fps: float = 15.0, gop: int = 15) -> list[Frame]:
    return [Frame(n, n / fps, n % gop == 0) for n in range(count)]


def test_a_healthy_pull_is_playable_with_its_figures() -> None:
    seen = Observation(first_frame_after=0.4, frames=frames(76), bytes_received=62_500)
    result = judge("cam", "rtsp", seen, LIMITS)
    assert result.playable
    assert result.verdict == "playable"
    assert result.fps == pytest.approx(15.0)
    assert result.keyframe_interval_seconds == pytest.approx(1.0)
    assert result.bitrate_kbps == pytest.approx(100.0)  # 500,000 bits over 5 s


@pytest.mark.parametrize(
    ("seen", "reasons"),
    [
        (Observation(), ("unreachable",)),
        (Observation(opened=True), ("no_frames",)),
        (Observation(first_frame_after=2.5, frames=frames(10)), ("slow_first_frame",)),
        (
            Observation(first_frame_after=0.1, frames=frames(10), black=True, frozen=True),
            ("black", "frozen"),
        ),
        (Observation(first_frame_after=0.1, frames=frames(1)), ()),
    ],
)
def test_reasons(seen: Observation, reasons: tuple[str, ...]) -> None:
    result = judge("cam", "hls", seen, LIMITS)
    assert result.reasons == reasons
    assert result.verdict == (",".join(reasons) or "playable")


def test_table_and_document_escape_names_and_count() -> None:
    hostile = judge("evil\x1b[2J\nname", "rtsp", Observation(), LIMITS)
    fine = judge("cam", "rtsp", Observation(first_frame_after=0.2, frames=frames(20)), LIMITS)
    table = play_table([hostile, fine])
    assert "\x1b" not in table
    assert len(table.splitlines()) == 3
    document = play_document([hostile, fine])
    assert document["summary"] == {"pulls": 2, "playable": 1, "not_playable": 1}
    assert document["cameras"][0]["reasons"] == ["unreachable"]


def test_pulls_run_concurrently_at_most_four_at_once() -> None:
    active, most, lock = [0], [0], threading.Lock()
    release = threading.Event()

    def puller(argv: list[str], deadline: float, secrets: Sequence[str]) -> Observation:
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        release.wait(30)
        with lock:
            active[0] -= 1
        return Observation()

    results: list[PlayResult] = []
    names = [f"cam{i}" for i in range(10)]
    templates = [("rtsp", "rtsp://h/{name}")]
    runner = threading.Thread(
        target=lambda: results.extend(play_all(names, templates, LIMITS, puller))
    )
    runner.start()
    wait_until(lambda: active[0] == 4 or None, 30, what="four pulls at once")
    release.set()
    runner.join(30)
    assert most[0] == 4
    assert [result.camera for result in results] == sorted(names)
