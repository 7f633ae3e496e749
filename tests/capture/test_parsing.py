"""Parsers against real ffmpeg 5.1 output (fixtures recorded here) and hostile input."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

from trashmonitor.capture.parsing import (
    EventKind,
    ProgressBlock,
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
    frames = [block.frame for block in blocks]
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
