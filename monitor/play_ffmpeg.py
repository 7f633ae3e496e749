"""One playback pull: ffmpeg reads a stream, decodes it for a window, and we measure.

The argv, the parser of ffmpeg's ``showinfo`` frame lines and the process runner. The
``-progress`` blocks and the black/freeze events are parsed by capture/parsing.py (the
same parsers the capture agent supervises its ffmpeg with).

One ffmpeg, two outputs: the packets copied (``-c copy``) into NUT on /dev/null, so
``-progress``'s ``total_size`` counts the bytes received (the bitrate), and the decoded
pictures through ``showinfo`` (frame times, keyframes), ``blackdetect`` and
``freezedetect`` into the null muxer.
"""

from __future__ import annotations

import contextlib
import math
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO

from trashmonitor.capture.model import EventKind
from trashmonitor.capture.parsing import ProgressParser, iter_lines, parse_stderr_line
from trashmonitor.capture.redact import redact
from trashmonitor.children import start_child

RTSP = "rtsp"
HLS = "hls"
BLACK_PIXEL_THRESHOLD = 0.10
FREEZE_MIN_SECONDS = 2.0
# Only the protocols a transport needs: an HLS playlist naming file:/// or an RTSP
# redirect elsewhere must not make the probe read local files.
_PROTOCOLS = {RTSP: "rtsp,rtp,udp,tcp,tls", HLS: "http,https,tcp,tls,crypto"}
_KILL_WAIT_SECONDS = 2.0
_CANCEL_CHECK_SECONDS = 0.2


@dataclass(frozen=True)
class Frame:
    """One decoded picture as ``showinfo`` logs it."""

    number: int
    pts_time: float
    key: bool


_SHOWINFO = re.compile(
    r"\[Parsed_showinfo_\d+ @ [^\]]*\] n:\s*(\d{1,12}) pts:\s*-?\d+ "
    r"pts_time:(-?\d{1,12}(?:\.\d{1,12})?(?:e-?\d{1,3})?) .*? iskey:([01]) "
)


def parse_showinfo_line(line: str) -> Frame | None:
    """The frame a ``showinfo`` line describes, or None for every other line."""
    match = _SHOWINFO.search(line)
    if match is None:
        return None
    pts_time = float(match.group(2))
    if not math.isfinite(pts_time):  # 1e999 overflows to inf
        return None
    return Frame(int(match.group(1)), pts_time, match.group(3) == "1")


def play_argv(
    ffmpeg: str, url: str, transport: str, seconds: float, io_timeout: float
) -> list[str]:
    """ffmpeg pulling ``url`` and decoding ``seconds`` of it; I/O stalls end it after
    ``io_timeout`` (ffmpeg's own timeouts; the caller's wall-clock kill is the backstop)."""
    timeout_us = str(max(1, int(io_timeout * 1_000_000)))
    if transport == RTSP:
        # -timeout: RTSP's socket I/O timeout; without it a silent server hangs ffmpeg.
        # -fpsprobesize 0: the SDP names the codec, and ffmpeg would otherwise hold the
        # first picture back while it reads ~2 s of a live stream to guess its frame
        # rate; the first frame would time ffmpeg's guess, not the stream (we count fps).
        source = ["-rtsp_transport", "tcp", "-timeout", timeout_us, "-fpsprobesize", "0"]
    else:
        source = ["-rw_timeout", timeout_us]
    filters = ",".join(
        (
            "showinfo",
            f"blackdetect=d=0:pix_th={BLACK_PIXEL_THRESHOLD:.2f}",
            "metadata=mode=print:key=lavfi.black_start",
            "metadata=mode=print:key=lavfi.black_end",
            f"freezedetect=d={FREEZE_MIN_SECONDS:g}",
        )
    )
    return [
        ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info",
        "-progress", "pipe:1", "-stats_period", "0.5",
        "-protocol_whitelist", _PROTOCOLS[transport], *source,
        "-i", url,
        "-t", f"{seconds:g}",
        "-map", "0:v:0", "-c", "copy", "-f", "nut", "-y", "/dev/null",
        "-t", f"{seconds:g}",
        "-map", "0:v:0", "-vf", filters, "-f", "null", "-",
    ]  # fmt: skip


@dataclass
class Observation:
    """What one pull saw; times are seconds since ffmpeg started."""

    first_frame_after: float | None = None
    frames: list[Frame] = field(default_factory=list)
    last_frame_after: float | None = None
    bytes_received: int = 0
    black: bool = False
    frozen: bool = False
    opened: bool = False
    """ffmpeg read the stream's description (``Input #0``): the server answered."""
    exit_code: int | None = None
    killed: bool = False
    """Still running at the deadline: stopped by the parent."""
    error: str = ""


_MAX_FRAMES = 100_000  # 5 s at any sane rate is far below; bounds memory if not


class Observer:
    """Feeds ffmpeg's lines into an :class:`Observation` (thread-safe, bounded)."""

    def __init__(
        self, clock: Callable[[], float], started: float, secrets: Sequence[str] = ()
    ) -> None:
        self.observation = Observation()
        self._secrets = tuple(secrets)
        self._clock = clock
        self._started = started
        self._lock = threading.Lock()
        self._progress = ProgressParser()

    def feed_stderr(self, line: str) -> None:
        frame = parse_showinfo_line(line)
        with self._lock:
            seen = self.observation
            if frame is not None:
                after = self._clock() - self._started
                if seen.first_frame_after is None:
                    seen.first_frame_after = after
                seen.last_frame_after = after
                if len(seen.frames) < _MAX_FRAMES:
                    seen.frames.append(frame)
                return
            if line.startswith("Input #0"):
                seen.opened = True
                return
            event = parse_stderr_line(line)
            if event is not None and event.kind is EventKind.BLACK_START:
                seen.black = True
            elif event is not None and event.kind is EventKind.FREEZE_START:
                seen.frozen = True
            elif "rror" in line or "timed out" in line or "refused" in line:
                # ffmpeg names the URL, userinfo and all: masked before it is kept.
                seen.error = redact(line, self._secrets)[-200:]

    def feed_progress(self, line: str) -> None:
        block = self._progress.feed(line)
        if block is not None and block.total_size is not None:
            with self._lock:
                self.observation.bytes_received = block.total_size


def _feed(stream: IO[bytes], consume: Callable[[str], None]) -> None:
    for line in iter_lines(stream):
        consume(line)


def pull(
    argv: list[str],
    deadline_seconds: float,
    secrets: Sequence[str] = (),
    clock: Callable[[], float] = time.monotonic,
    cancel: threading.Event | None = None,
) -> Observation:
    """Run one pull to its end or to ``deadline_seconds``, whichever is first (or until
    ``cancel`` is set: the monitor stopping); the process (in its own session) is always
    killed and reaped before this returns. ``secrets`` (the URL's password) are masked in
    what is kept of ffmpeg's output."""
    started = clock()
    observer = Observer(clock, started, secrets)
    # start_child: the pull dies with the monitor or probe, even one killed by SIGKILL.
    proc = start_child(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        close_fds=True,
        start_new_session=True,  # a signal to the probe's terminal is the probe's to handle
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    stdout, stderr = proc.stdout, proc.stderr
    readers = [
        threading.Thread(target=_feed, args=(stdout, observer.feed_progress), daemon=True),
        threading.Thread(target=_feed, args=(stderr, observer.feed_stderr), daemon=True),
    ]
    for reader in readers:
        reader.start()
    killed = False
    try:
        while True:
            left = deadline_seconds - (clock() - started)
            try:
                # In slices only when it can be cancelled: a set ``cancel`` is seen soon.
                proc.wait(max(0.0, left if cancel is None else min(left, _CANCEL_CHECK_SECONDS)))
                break
            except subprocess.TimeoutExpired:
                if left <= _CANCEL_CHECK_SECONDS or cancel is None or cancel.is_set():
                    killed = True
                    break
    finally:
        if proc.poll() is None:
            # SIGKILL at once: a pull has nothing to flush, and a stuck RTSP ffmpeg may
            # ignore SIGTERM (GUIDE §5).
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGKILL)
            proc.wait(_KILL_WAIT_SECONDS)
    for reader in readers:
        reader.join(_KILL_WAIT_SECONDS)
    for stream in (stdout, stderr):
        with contextlib.suppress(OSError):
            stream.close()
    observation = observer.observation
    observation.killed = killed
    observation.exit_code = proc.returncode
    return observation
