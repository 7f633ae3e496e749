"""``picture`` and ``record N`` from the agent's rolling segment buffer.

The capture agent's own ffmpeg writes ~1 s MPEG-TS segments (each starting on a
keyframe) into a buffer directory, so pictures and recordings work even when the media
server is unreachable, and a recording never re-encodes:

- ``picture`` decodes the newest *complete* segment and keeps its last frame as JPEG;
- ``record N`` feeds complete segments, as they appear, into ``ffmpeg -c copy`` writing a
  *fragmented* MP4 (``<ts>.partial.mp4``): a recorder killed at any moment leaves a
  playable file; on completion it is renamed atomically to ``<ts>.mp4``.

Files are ``<captures>/<camera>/<UTC timestamp>.{jpg,mp4}`` - names come from the clock,
never from a request. Disk use is bounded: a request is refused when free space is low,
and the oldest captures are deleted beyond a byte budget. ffmpeg runs from an argument
list, never through a shell.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from trashmonitor.capture.command import SEGMENT_PLAYLIST, playlist_segments
from trashmonitor.capture.control import MAX_RECORD_SECONDS
from trashmonitor.capture.model import FileEntry, MediaResult, SegmentKey
from trashmonitor.capture.settings import DEFAULT_MAX_CAPTURE_BYTES, DEFAULT_MIN_FREE_BYTES
from trashmonitor.children import start_child

log = logging.getLogger(__name__)

SEGMENT_SUFFIX = ".ts"
PARTIAL_SUFFIX = ".partial.mp4"
SEGMENT_MAX_AGE = 5.0  # seconds: an older newest segment means the stream is not running
STALL_SECONDS = 5.0  # no new segment for this long ends a recording early


def files_to_prune(files: Sequence[FileEntry], max_bytes: int, keep: str) -> list[str]:
    """The oldest captures to delete so the rest fit in ``max_bytes`` (``keep`` is spared)."""
    total = sum(entry.size for entry in files)
    doomed: list[str] = []
    for entry in sorted(files, key=lambda e: (e.mtime, e.name)):
        if total <= max_bytes:
            break
        if entry.name == keep:
            continue
        doomed.append(entry.name)
        total -= entry.size
    return doomed


def complete_segments(
    entries: Sequence[FileEntry], playlist: Sequence[str] | None = None
) -> list[FileEntry]:
    """The buffered segments ffmpeg has finished, oldest first.

    ``playlist`` is the segment muxer's list of finished segments (``buffer.m3u8``, read
    BEFORE ``entries`` were listed), the authority: a name enters it only once its file
    is closed. With the list as long as the wrap, its first name may be the file ffmpeg
    is writing again; that file was touched after the newest listed one closed, while a
    really finished one is at least a segment older. Without a playlist: all but the
    newest by modification time (coarse: a file closed and the next one opened often
    share a clock tick, which is why the playlist decides when there is one).
    """
    if playlist is None:
        return sorted(entries, key=lambda e: (e.mtime, e.name))[:-1]
    by_name = {entry.name: entry for entry in entries}
    listed = [by_name[name] for name in playlist if name in by_name]
    if not listed:
        return []
    newest = listed[-1]
    return [entry for entry in listed[:-1] if entry.mtime < newest.mtime] + [newest]


def buffered_segments(buffer_dir: Path) -> list[FileEntry]:
    entries = []
    with contextlib.suppress(FileNotFoundError):
        for path in buffer_dir.iterdir():
            if path.suffix == SEGMENT_SUFFIX:
                with contextlib.suppress(FileNotFoundError):
                    info = path.stat()
                    entries.append(FileEntry(path.name, info.st_size, info.st_mtime))
    return entries


def finished_segments(buffer_dir: Path) -> list[FileEntry]:
    """:func:`complete_segments` of a buffer directory, oldest first."""
    # The playlist first: a segment listed there was closed before the files are seen.
    try:
        text = (buffer_dir / SEGMENT_PLAYLIST).read_text(encoding="utf-8", errors="replace")
    except OSError:
        playlist = None
    else:
        playlist = [name for name, _ in playlist_segments(text)]
    return complete_segments(buffered_segments(buffer_dir), playlist)


def newest_live_segment(buffer_dir: Path, now: float) -> Path | None:
    """The newest finished segment while the stream runs (its buffer is fresh), else None."""
    finished = finished_segments(buffer_dir)
    if not finished or now - finished[-1].mtime > SEGMENT_MAX_AGE:
        return None
    return buffer_dir / finished[-1].name


def capture_stem(now: float) -> str:
    return dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def _human_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GB"


class MediaCapture:
    """Pictures and recordings for one camera; at most one recording at a time."""

    def __init__(
        self,
        camera: str,
        buffer_dir: Path,
        captures_dir: Path,
        *,
        ffmpeg: str = "ffmpeg",
        min_free_bytes: int = DEFAULT_MIN_FREE_BYTES,
        max_capture_bytes: int = DEFAULT_MAX_CAPTURE_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.buffer_dir = buffer_dir
        self.directory = captures_dir / camera
        self._ffmpeg = ffmpeg
        self._min_free = min_free_bytes
        self._max_bytes = max_capture_bytes
        self._clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._recording: threading.Thread | None = None

    # --- observing -------------------------------------------------------------------

    def _segments(self) -> list[FileEntry]:
        return buffered_segments(self.buffer_dir)

    def _complete_segments(self) -> list[FileEntry]:
        return finished_segments(self.buffer_dir)

    def _captures(self) -> list[FileEntry]:
        entries = []
        for path in self.directory.iterdir():
            if path.is_file() and not path.name.startswith("."):
                info = path.stat()
                entries.append(FileEntry(path.name, info.st_size, info.st_mtime))
        return entries

    @property
    def recording(self) -> bool:
        thread = self._recording
        return thread is not None and thread.is_alive()

    # --- shared checks ---------------------------------------------------------------

    def _refusal(self) -> MediaResult | None:
        """Why nothing can be captured now (no live buffer, low disk), or None."""
        segments = self._segments()
        if len(segments) < 2:
            return MediaResult(False, "No video to capture: the camera stream is not running.")
        newest = max(entry.mtime for entry in segments)
        age = self._clock() - newest
        if age > SEGMENT_MAX_AGE:
            return MediaResult(False, f"No live video: the camera stream stopped {age:.0f} s ago.")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            free = shutil.disk_usage(self.directory).free
        except OSError as error:
            return self._unwritable(error)
        if free < self._min_free:
            return MediaResult(
                False,
                f"Not enough free disk space for captures: {_human_bytes(free)} free, "
                f"at least {_human_bytes(self._min_free)} needed.",
            )
        return None

    def _unwritable(self, error: OSError) -> MediaResult:
        """The answer when the captures directory cannot be used (a file in its place,
        no permission, a read-only or full file system): said, never raised, so the
        request that hit it is answered."""
        problem = error.strerror or type(error).__name__
        return MediaResult(False, f"Cannot write captures to {self.directory}: {problem}.")

    def _target(self, suffix: str) -> Path:
        stem = capture_stem(self._clock())
        path = self.directory / f"{stem}{suffix}"
        counter = 1
        while path.exists() or path.with_name(f"{path.stem}{PARTIAL_SUFFIX}").exists():
            path = self.directory / f"{stem}-{counter}{suffix}"
            counter += 1
        return path

    def _prune(self, keep: Path) -> None:
        for name in files_to_prune(self._captures(), self._max_bytes, keep.name):
            with contextlib.suppress(FileNotFoundError):
                (self.directory / name).unlink()
                log.info("retention: deleted %s", name)

    # --- picture ---------------------------------------------------------------------

    def picture(self) -> MediaResult:
        try:
            return self._picture()
        except OSError as error:
            return self._unwritable(error)

    def _picture(self) -> MediaResult:
        refusal = self._refusal()
        if refusal is not None:
            return refusal
        complete = self._complete_segments()
        if not complete:
            return MediaResult(False, "No video to capture yet: the first segment is not done.")
        newest = complete[-1]
        target = self._target(".jpg")
        temporary = target.with_name(f".{target.name}.tmp")
        # -update 1 keeps overwriting one image: what remains is the segment's last frame.
        argv = [
            self._ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error",
            "-i", str(self.buffer_dir / newest.name),
            "-an", "-update", "1", "-q:v", "2", "-f", "image2", "-y", str(temporary),
        ]  # fmt: skip
        try:
            result = subprocess.run(argv, capture_output=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            temporary.unlink(missing_ok=True)
            return MediaResult(False, f"Picture failed: ffmpeg did not run ({error}).")
        if result.returncode != 0 or not temporary.exists():
            temporary.unlink(missing_ok=True)
            detail = result.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
            return MediaResult(False, f"Picture failed: {detail[0]}")
        os.replace(temporary, target)
        self._prune(target)
        return MediaResult(True, f"Picture saved: {target.name}", target)

    # --- recording -------------------------------------------------------------------

    def start_recording(
        self, seconds: float, on_done: Callable[[MediaResult], None]
    ) -> MediaResult:
        with self._lock:
            if self.recording:
                return MediaResult(False, "A recording is already in progress; send 'stop' first.")
            refusal = self._refusal()
            if refusal is not None:
                return refusal
            try:
                target = self._target(".mp4")
            except OSError as error:
                return self._unwritable(error)
            partial = target.with_name(f"{target.stem}{PARTIAL_SUFFIX}")
            # The segment being written now is the first one recorded: it began < 1 s ago.
            fed = {entry.key for entry in self._complete_segments()}
            self._stop.clear()
            self._recording = threading.Thread(
                target=self._answering_write_errors,
                args=(
                    on_done,
                    functools.partial(self._record, seconds, fed, partial, target, on_done),
                ),
                name="recorder",
                daemon=True,
            )
            self._recording.start()
        return MediaResult(True, f"Recording started: {seconds:g} s to {target.name}", target)

    def stop_recording(self) -> MediaResult:
        if not self.recording:
            return MediaResult(False, "No recording in progress.")
        self._stop.set()
        return MediaResult(True, "Recording stopping…")

    def close(self, timeout: float) -> None:
        """Stop a recording in progress and wait for its file (shutdown)."""
        self._stop.set()
        thread = self._recording
        if thread is not None:
            thread.join(timeout)

    def _record_argv(self, seconds: float, partial: Path) -> list[str]:
        return [
            self._ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error",
            "-f", "mpegts", "-i", "pipe:0",
            "-map", "0:v:0", "-map", "0:a?", "-c", "copy", "-t", f"{seconds:.3f}",
            "-movflags", "+frag_keyframe+empty_moov+default_base_moof",
            "-f", "mp4", "-y", str(partial),
        ]  # fmt: skip

    def _answering_write_errors(
        self, on_done: Callable[[MediaResult], None], work: Callable[[], None]
    ) -> None:
        try:
            work()
        except OSError as error:  # e.g. the directory vanished or filled up meanwhile
            on_done(self._unwritable(error))

    def _record(
        self,
        seconds: float,
        already_fed: set[SegmentKey],
        partial: Path,
        target: Path,
        on_done: Callable[[MediaResult], None],
    ) -> None:
        started = time.monotonic()
        # Started on the recorder thread, which lives as long as ffmpeg (PDEATHSIG). If the
        # agent dies, SIGTERM: ffmpeg then finishes the file as on EOF, so it is kept.
        try:
            proc = start_child(
                self._record_argv(seconds, partial),
                die_signal=signal.SIGTERM,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        except OSError as error:
            on_done(MediaResult(False, f"Recording failed: ffmpeg did not start ({error})."))
            return
        assert proc.stdin is not None
        ended_early = self._feed(proc, already_fed, seconds)
        try:  # communicate() closes stdin: ffmpeg sees EOF and finalises the file
            _, stderr = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, stderr = proc.communicate()
        elapsed = time.monotonic() - started
        if proc.returncode != 0 or not partial.exists() or partial.stat().st_size == 0:
            detail = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no data"]
            on_done(MediaResult(False, f"Recording failed: {detail[0]}", partial))
            return
        os.replace(partial, target)
        self._prune(target)
        if ended_early == "stopped":
            message = f"Recording stopped early: {target.name}"
        elif ended_early == "stalled":
            message = f"Recording ended early (the stream stopped): {target.name}"
        else:
            message = f"Recording saved: {seconds:g} s in {target.name}"
        log.info("%s (%.1f s wall)", message, elapsed)
        on_done(MediaResult(True, message, target))

    def _feed(self, proc: subprocess.Popen[bytes], fed: set[SegmentKey], seconds: float) -> str:
        """Pipe complete segments into the recorder until it has enough; why it ended."""
        assert proc.stdin is not None
        deadline = time.monotonic() + seconds + STALL_SECONDS * 2
        last_new = time.monotonic()
        while proc.poll() is None:
            if self._stop.is_set():
                return "stopped"
            now = time.monotonic()
            if now - last_new > STALL_SECONDS or now > deadline:
                return "stalled"
            fresh = [e for e in self._complete_segments() if e.key not in fed]
            for entry in fresh:
                fed.add(entry.key)
                last_new = now
                try:
                    proc.stdin.write((self.buffer_dir / entry.name).read_bytes())
                    proc.stdin.flush()
                except FileNotFoundError:
                    continue  # rotated away by the buffer's own retention
                except (BrokenPipeError, ValueError):
                    return "done"  # the recorder reached -t and exited
            if not fresh:
                self._stop.wait(0.1)
        return "done"


@dataclass(frozen=True)
class MediaSettings:
    captures_dir: Path
    min_free_bytes: int = DEFAULT_MIN_FREE_BYTES
    max_capture_bytes: int = DEFAULT_MAX_CAPTURE_BYTES
    max_record_seconds: float = MAX_RECORD_SECONDS


def media_capture(camera: str, buffer_dir: Path, settings: MediaSettings) -> MediaCapture:
    return MediaCapture(
        camera,
        buffer_dir,
        settings.captures_dir,
        min_free_bytes=settings.min_free_bytes,
        max_capture_bytes=settings.max_capture_bytes,
    )
