"""picture / record from a live segment buffer written by real ffmpeg (testsrc2)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.processes import (
    require_binary,
    sigkill_and_wait_for_orphans,
    started_children_of,
    stop_with_children,
    wait_until,
)

from trashmonitor.capture.command import build_command
from trashmonitor.capture.config import AgentConfig
from trashmonitor.capture.media import MediaCapture, complete_segments, files_to_prune
from trashmonitor.capture.model import FileEntry, MediaResult

NAME = re.compile(r"^\d{8}T\d{6}Z(-\d+)?\.(jpg|mp4)$")


def ffprobe(path: Path, *args: str) -> dict[str, Any]:
    result = subprocess.run(
        [require_binary("ffprobe"), "-v", "error", "-of", "json", *args, str(path)],
        capture_output=True, check=True,
    )  # fmt: skip
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def video_stream(path: Path) -> dict[str, object]:
    streams = ffprobe(path, "-show_streams", "-select_streams", "v:0")["streams"]
    keys = ("codec_name", "profile", "level", "width", "height", "pix_fmt")
    return {key: streams[0][key] for key in keys}


def frame_hashes(path: Path) -> list[str]:
    """MD5 of every decoded frame: identical only if the coded pictures are identical."""
    result = subprocess.run(
        [require_binary("ffmpeg"), "-v", "error", "-i", str(path), "-map", "0:v:0",
         "-f", "framemd5", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [line.rsplit(",", 1)[1].strip() for line in result.stdout.splitlines()
            if line and not line.startswith("#")]  # fmt: skip


def complete_segment_paths(buffer_dir: Path) -> list[Path]:
    """The buffer's segments minus the newest: the live writer may have just opened it
    (empty or half a packet), and ffmpeg fails on such a file. The segment muxer writes
    one file at a time, in name order, so every other listed file is complete."""
    return sorted(buffer_dir.glob("*.ts"))[:-1]


def duration(path: Path) -> float:
    return float(ffprobe(path, "-show_entries", "format=duration")["format"]["duration"])


def _media(buffer_dir: Path, tmp_path: Path, **options: int) -> MediaCapture:
    return MediaCapture("camA", buffer_dir, tmp_path / "captures", **options)  # type: ignore[arg-type]


class Done:
    def __init__(self) -> None:
        self.event = threading.Event()
        self.result: MediaResult | None = None

    def __call__(self, result: MediaResult) -> None:
        self.result = result
        self.event.set()


def test_picture_is_the_newest_frame_as_jpeg(buffer_dir: Path, tmp_path: Path) -> None:
    result = _media(buffer_dir, tmp_path).picture()
    assert result.ok, result.message
    assert result.file is not None
    assert result.file.parent == tmp_path / "captures" / "camA"
    assert NAME.match(result.file.name)
    stream = ffprobe(result.file, "-show_streams")["streams"][0]
    assert (stream["codec_name"], stream["width"], stream["height"]) == ("mjpeg", 320, 240)
    assert [p.name for p in result.file.parent.iterdir()] == [result.file.name]


@pytest.mark.slow
def test_record_3_copies_the_stream_without_reencoding(buffer_dir: Path, tmp_path: Path) -> None:
    media = _media(buffer_dir, tmp_path)
    done = Done()
    started = media.start_recording(3, done)
    assert started.ok, started.message
    assert media.start_recording(3, Done()).message.startswith("A recording is already")
    assert done.event.wait(20), "the recording never finished"
    assert done.result is not None
    assert done.result.ok, done.result.message
    output = done.result.file
    assert output is not None
    assert NAME.match(output.name)
    assert abs(duration(output) - 3.0) <= 0.5
    source = sorted(buffer_dir.glob("*.ts"))[0]
    assert video_stream(output) == video_stream(source)
    # Stream copy: the recording decodes to exactly a run of the buffer's frames (a lossy
    # re-encode would change the pixels, hence the hashes).
    recorded = frame_hashes(output)
    buffered = [h for segment in complete_segment_paths(buffer_dir) for h in frame_hashes(segment)]
    assert len(recorded) >= 40
    assert ",".join(recorded) in ",".join(buffered)
    assert not list(output.parent.glob("*.partial.mp4"))


@pytest.mark.slow
def test_stop_ends_a_recording_early(buffer_dir: Path, tmp_path: Path) -> None:
    media = _media(buffer_dir, tmp_path)
    done = Done()
    assert media.start_recording(60, done).ok
    wait_until(lambda: list((tmp_path / "captures" / "camA").glob("*.partial.mp4")), 10)
    threading.Event().wait(2.5)
    assert media.stop_recording().ok
    assert done.event.wait(20)
    assert done.result is not None
    assert done.result.ok
    assert "stopped early" in done.result.message
    assert done.result.file is not None
    assert 0.5 < duration(done.result.file) < 10
    assert media.stop_recording().message == "No recording in progress."


def test_refuses_when_disk_space_is_low(buffer_dir: Path, tmp_path: Path) -> None:
    media = _media(buffer_dir, tmp_path, min_free_bytes=2**62)
    for result in (media.picture(), media.start_recording(3, Done())):
        assert not result.ok
        assert result.message.startswith("Not enough free disk space for captures:")
    assert not list((tmp_path / "captures" / "camA").iterdir())


def test_refuses_without_a_live_buffer(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = MediaCapture("camA", tmp_path / "empty", tmp_path / "captures").picture()
    assert result == MediaResult(False, "No video to capture: the camera stream is not running.")


def test_retention_deletes_oldest_first_and_spares_the_new_file() -> None:
    files = [
        FileEntry("a.mp4", 400, 1.0),
        FileEntry("b.jpg", 100, 2.0),
        FileEntry("c.mp4", 400, 3.0),
        FileEntry("new.mp4", 400, 0.5),  # an odd mtime must not get the new file deleted
    ]
    assert files_to_prune(files, max_bytes=900, keep="new.mp4") == ["a.mp4"]
    assert files_to_prune(files, max_bytes=800, keep="new.mp4") == ["a.mp4", "b.jpg"]
    assert files_to_prune(files, max_bytes=10_000, keep="new.mp4") == []


def _captures_in_place_of_a_file(tmp_path: Path) -> Path:
    blocker = tmp_path / "captures-file"
    blocker.write_text("not a directory\n")
    return blocker


@pytest.mark.parametrize(
    ("captures", "problem"),
    [
        (_captures_in_place_of_a_file, "Not a directory"),
        # Root may write anywhere but here: /sys refuses mkdir to everyone.
        (lambda _tmp: Path("/sys/trashcam-captures"), "Operation not permitted"),
    ],
    ids=["captures-dir-is-a-file", "captures-dir-not-writable"],
)
def test_unwritable_captures_dir_answers_with_an_error(
    buffer_dir: Path,
    tmp_path: Path,
    captures: Callable[[Path], Path],
    problem: str,
) -> None:
    """Reproduction: NotADirectoryError escaped picture()/start_recording(), so the MQTT
    request was never answered."""
    directory = captures(tmp_path)
    media = MediaCapture("camA", buffer_dir, directory)
    done = Done()
    for result in (media.picture(), media.start_recording(3, done)):
        assert result == MediaResult(
            False, f"Cannot write captures to {directory / 'camA'}: {problem}."
        )
    assert not done.event.is_set(), "a refused recording starts no recorder"


def _entries(*stamped: tuple[str, float]) -> list[FileEntry]:
    return [FileEntry(name, 1000, mtime) for name, mtime in stamped]


def test_the_segment_being_rewritten_after_a_wrap_is_never_complete() -> None:
    # Reproduction: a 3-segment wrap has just closed seg002 and truncated seg000 within
    # the same clock tick, so both carry the same mtime. Ordering by (mtime, name) took
    # seg002 for the file being written and handed the half-written seg000 to ffmpeg
    # ("seg000.ts: Invalid data found"); the playlist knows seg002 is finished.
    files = _entries(("seg001.ts", 9.0), ("seg002.ts", 10.0), ("seg000.ts", 10.0))
    playlist = ["seg000.ts", "seg001.ts", "seg002.ts"]
    assert [e.name for e in complete_segments(files, playlist)] == ["seg001.ts", "seg002.ts"]


def test_complete_segments_follow_the_playlist_not_the_names() -> None:
    # Not wrapped yet: every listed segment is done, the unlisted one is being written.
    files = _entries(("seg000.ts", 8.0), ("seg001.ts", 9.0), ("seg002.ts", 9.0))
    assert [e.name for e in complete_segments(files, ["seg000.ts", "seg001.ts"])] == [
        "seg000.ts",
        "seg001.ts",
    ]
    # Wrapped, seg000 not yet touched again: all three are done, in the playlist's order.
    files = _entries(("seg001.ts", 9.0), ("seg002.ts", 10.0), ("seg000.ts", 8.0))
    playlist = ["seg000.ts", "seg001.ts", "seg002.ts"]
    assert [e.name for e in complete_segments(files, playlist)] == playlist
    # Nothing finished yet, or a listed file rotated away meanwhile.
    assert complete_segments(_entries(("seg000.ts", 1.0)), []) == []
    assert [e.name for e in complete_segments(_entries(("seg001.ts", 2.0)), playlist)] == [
        "seg001.ts"
    ]


def _agent_writer(buffer_dir: Path) -> subprocess.Popen[bytes]:
    """The capture agent's own ffmpeg (tee: a refused RTSP branch + the segment buffer
    with its playlist), as `trashmon capture` starts it."""
    config = AgentConfig(
        camera="camA", camera_dev="testsrc", push_url="rtsp://127.0.0.1:9/camA",
        width=320, height=240, fps=10, buffer_dir=buffer_dir,
    )  # fmt: skip
    return subprocess.Popen(
        build_command(config), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def test_a_recording_goes_on_across_an_ffmpeg_restart(tmp_path: Path) -> None:
    """Reproduction: the agent restarts ffmpeg (backoff after a failed publish) and the new
    one numbers its segments from seg000 again; the recorder knew those names as already
    fed, found nothing new and ended early ("the stream stopped")."""
    buffer_dir = tmp_path / "buffer"
    buffer_dir.mkdir()
    writer = _agent_writer(buffer_dir)
    try:
        wait_until(lambda: len(list(buffer_dir.glob("seg*.ts"))) >= 4, 30, what="segments")
        media = _media(buffer_dir, tmp_path, min_free_bytes=1)
        done = Done()
        assert media.start_recording(3, done).ok
        writer.kill()
        writer.wait()
        writer = _agent_writer(buffer_dir)  # numbering starts again at seg000
        assert done.event.wait(60)
    finally:
        writer.kill()
        writer.wait()
    assert done.result is not None
    assert done.result.ok, done.result.message
    assert "saved" in done.result.message
    assert done.result.file is not None
    assert duration(done.result.file) >= 2.5


# An agent recording (the recorder runs on its own thread, as in the agent); argv: buffer
# dir, captures dir, the ffmpeg to run.
_RECORDING_PARENT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from trashmonitor.capture.media import MediaCapture
    media = MediaCapture(
        "camA", Path(sys.argv[1]), Path(sys.argv[2]), ffmpeg=sys.argv[3], min_free_bytes=1
    )
    print(media.start_recording(60, lambda result: None).message, flush=True)
    time.sleep(300)
    """
)


@pytest.mark.parametrize("recorder", ["ffmpeg", "ffmpeg-ignoring-stdin"])
def test_a_recording_ffmpeg_ends_when_the_agent_is_killed_with_sigkill(
    recorder: str, buffer_dir: Path, tmp_path: Path
) -> None:
    """The recorder's ffmpeg never outlives the agent: the real one ends on its stdin's
    EOF anyway; one that does not read stdin (stuck, e.g. on a hung disk) needs the
    kernel's PDEATHSIG (trashmonitor/children.py)."""
    ffmpeg = require_binary("ffmpeg")
    if recorder == "ffmpeg-ignoring-stdin":
        ffmpeg = str(tmp_path / "stuck-ffmpeg")
        Path(ffmpeg).write_text("#!/bin/sh\nexec sleep 300\n", encoding="utf-8")
        Path(ffmpeg).chmod(0o755)
    captures = tmp_path / "captures"
    parent = subprocess.Popen(
        [sys.executable, "-P", "-c", _RECORDING_PARENT, str(buffer_dir), str(captures), ffmpeg],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    children: list[int] = []
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline().startswith(b"Recording started")
        children = wait_until(lambda: started_children_of(parent.pid), 30, what="the recorder")
        if recorder == "ffmpeg":  # mid-recording: ffmpeg has written part of the file
            wait_until(lambda: list((captures / "camA").glob("*.partial.mp4")), 30)
        sigkill_and_wait_for_orphans(parent, children)
    finally:
        stop_with_children(parent, children)
    if recorder == "ffmpeg":  # ended gracefully: what was recorded is a playable file
        (partial,) = (captures / "camA").glob("*.partial.mp4")
        assert duration(partial) > 0
