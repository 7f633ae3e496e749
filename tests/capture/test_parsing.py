"""Parsers against real ffmpeg 5.1 output (fixtures recorded here) and hostile input."""

from __future__ import annotations

import io
import math
import os
import threading
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from support.properties import PROPERTIES, bounded

from trashmonitor.capture.model import EventKind, ProgressBlock, StderrEvent
from trashmonitor.capture.parsing import (
    INT64_MAX,
    MAX_LINE_BYTES,
    ProgressParser,
    iter_lines,
    parse_stderr_line,
)

FIXTURES = Path(__file__).parent / "fixtures"


def _blocks(lines: list[str]) -> list[ProgressBlock]:
    parser = ProgressParser()
    return [block for line in lines if (block := parser.feed(line)) is not None]


def test_recorded_progress_blocks_parse_with_na_as_none() -> None:
    blocks = _blocks((FIXTURES / "ffmpeg-progress.txt").read_text().splitlines())
    assert len(blocks) >= 5
    first = blocks[0]
    assert first.frame == 1
    assert first.fps == 0.0
    assert first.speed is None  # speed=N/A
    assert first.total_size is None  # total_size=N/A for RTSP/tee output
    assert first.bitrate_kbps is None
    assert first.out_time_us == 100_000
    frames = [block.frame for block in blocks if block.frame is not None]
    assert len(frames) == len(blocks)
    assert frames == sorted(frames)
    assert blocks[2].fps is not None
    assert 9 < blocks[2].fps < 12
    assert blocks[1].speed == 1.18
    assert blocks[-1].ended
    assert not blocks[0].ended


def test_garbage_progress_lines_are_ignored() -> None:
    lines = [
        "frame=abc",
        "no equals sign here",
        "=novalue",
        "\ufffd\ufffd=\ufffd",
        "fps=-3",
        "speed=   2.5x",
        "out_time_ms=123",
        "drop_frames=7",
        "progress=continue",
    ]
    (block,) = _blocks(lines)
    assert block.frame is None
    assert block.fps is None
    assert block.speed == 2.5
    assert block.out_time_us == 123  # out_time_ms is microseconds too
    assert block.drop_frames == 7


def test_a_block_that_never_ends_stays_bounded() -> None:
    parser = ProgressParser()
    for number in range(10_000):
        assert parser.feed(f"key{number}=1") is None
    block = parser.feed("progress=continue")
    assert block is not None
    assert block.frame is None


def test_recorded_stderr_events() -> None:
    lines = (FIXTURES / "ffmpeg-stderr-tee.txt").read_text().splitlines()
    events = [event for line in lines if (event := parse_stderr_line(line)) is not None]
    kinds = [event.kind for event in events]
    assert kinds == [
        EventKind.PUBLISH_FAILED,
        EventKind.BLACK_START,
        EventKind.FREEZE_START,
        EventKind.BLACK_END,
        EventKind.FREEZE_END,
        EventKind.FREEZE_START,
        EventKind.FREEZE_END,
    ]
    assert events[0].detail == "Connection refused"


def test_unrelated_and_hostile_stderr_lines_give_nothing() -> None:
    for line in [
        "",
        "[blackdetect @ 0x1] black_start:0 black_end:2 black_duration:2",  # ends only
        "[freezedetect @ 0x1] lavfi.freezedetect.freeze_duration: 2",
        "\ufffd" * 5000,
        "lavfi." * 1000,
    ]:
        assert parse_stderr_line(line) is None
    buffer = parse_stderr_line(
        "[tee @ 0x1] Slave muxer #1 failed: No space left on device, continuing with 1/2 slaves."
    )
    assert buffer is not None
    assert buffer.kind is EventKind.BUFFER_FAILED
    assert buffer.detail == "No space left on device"
    device = parse_stderr_line("[video4linux2,v4l2 @ 0x55] ioctl(VIDIOC_DQBUF): No such device")
    assert device is not None
    assert device.kind is EventKind.DEVICE_ERROR


def test_iter_lines_bounds_huge_lines_and_survives_invalid_utf8() -> None:
    huge = b"x" * 1_000_000
    data = b"ok one\n" + huge + b"\n\xff\xfe\xc3 bad bytes\nframe=5\r\nprogress=continue\n"
    lines = list(iter_lines(io.BytesIO(data), limit=4096))
    assert lines[0] == "ok one"
    assert lines[1] == "x" * 4096  # the head of the huge line, the rest dropped
    assert lines[2].endswith(" bad bytes")
    assert "\ufffd" in lines[2]
    assert lines[3:] == ["frame=5", "progress=continue"]


def test_iter_lines_reads_a_real_pipe_written_concurrently() -> None:
    read_fd, write_fd = os.pipe()

    def writer() -> None:
        with os.fdopen(write_fd, "wb") as out:
            for number in range(200):
                out.write(b"\x80" * 10_000 + b"\n" if number % 50 == 0 else b"frame=%d\n" % number)

    thread = threading.Thread(target=writer)
    thread.start()
    with os.fdopen(read_fd, "rb") as stream:
        lines = list(iter_lines(stream, limit=1024))
    thread.join()
    assert len(lines) == 200
    assert all(len(line) <= 1024 for line in lines)
    assert lines[1] == "frame=1"


# --- properties: arbitrary ffmpeg output is a value or nothing, in bounded time -----------

# Fragments of real ffmpeg lines, so generated text reaches the regexes' slow paths.
_STDERR_WORDS = st.sampled_from(
    [
        "lavfi.black_start=", "lavfi.black_end=", "lavfi.freezedetect.freeze_start:",
        "lavfi.", "Slave muxer #0 failed: ", "Slave muxer #1 failed: ", ", continuing",
        "[video4linux2,v4l2 @ 0x55] ", "No such device", "Input/output error", "[", "]",
        " ", "#", "\r", "\x1b[2J",
    ]
)  # fmt: skip
_PROGRESS_KEYS = st.sampled_from(
    ["frame", "fps", "speed", "total_size", "out_time_us", "out_time_ms", "dup_frames",
     "drop_frames", "bitrate", "progress", ""]
)  # fmt: skip
_PROGRESS_VALUES = st.one_of(
    st.text(max_size=40),
    st.integers().map(str),
    st.floats().map(str),
    st.sampled_from(["N/A", "continue", "end", " 1.01x", "9" * 4000, "1e309", "-0", "nan"]),
)


def test_a_counter_beyond_int64_is_garbage_not_a_4000_digit_number() -> None:
    # Such a frame count reached the agent's counters, and float() of it overflows.
    block = _blocks(["frame=" + "9" * 4000, "total_size=" + "9" * 30, "progress=continue"])[0]
    assert (block.frame, block.total_size) == (None, None)


def _check_block(block: ProgressBlock) -> None:
    for name in ("frame", "total_size", "out_time_us", "dup_frames", "drop_frames"):
        value = getattr(block, name)
        assert value is None or (isinstance(value, int) and 0 <= value <= INT64_MAX), name
    for name in ("fps", "speed", "bitrate_kbps"):
        value = getattr(block, name)
        assert value is None or (math.isfinite(value) and value >= 0), name


@PROPERTIES
@given(
    st.lists(
        st.one_of(st.text(max_size=200), st.tuples(_PROGRESS_KEYS, _PROGRESS_VALUES).map("=".join)),
        max_size=80,
    )
)
def test_any_progress_lines_give_sane_blocks_or_nothing(lines: list[str]) -> None:
    parser = ProgressParser()
    for line in lines:
        block = bounded(lambda line=line: parser.feed(line))  # type: ignore[misc]
        if block is not None:
            _check_block(block)


@PROPERTIES
@given(
    st.one_of(st.text(max_size=MAX_LINE_BYTES), st.lists(_STDERR_WORDS, max_size=400).map("".join))
)
def test_any_stderr_line_gives_one_event_or_none(line: str) -> None:
    event = bounded(lambda: parse_stderr_line(line))
    assert event is None or (isinstance(event, StderrEvent) and len(event.detail) <= 200)


def test_the_stderr_parser_stays_linear_on_a_line_of_repeated_prefixes() -> None:
    # Each "Slave muxer #0 failed: " start scans to the end of the line: bounded by the
    # line limit iter_lines enforces.
    line = ("Slave muxer #0 failed: " * 10_000)[:MAX_LINE_BYTES]
    assert bounded(lambda: parse_stderr_line(line)) is not None


@PROPERTIES
@given(st.binary(max_size=20_000), st.integers(min_value=1, max_value=512))
def test_iter_lines_gives_bounded_lines_for_any_bytes(data: bytes, limit: int) -> None:
    lines = bounded(lambda: list(iter_lines(io.BytesIO(data), limit)))
    for line in lines:
        assert line
        assert len(line) <= limit
        assert "\n" not in line
        assert "\r" not in line
