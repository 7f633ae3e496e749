"""The ffmpeg command line, built from the config (pure: no I/O, easy to assert on).

Shape (one ffmpeg per camera)::

    input  (v4l2 mjpeg | lavfi testsrc2 | lavfi GRAPH, -re for synthetic sources)
    -> image health filters (blackdetect + metadata print, freezedetect), pass-through
    -> libx264 ultrafast/zerolatency yuv420p, keyframe every second
    -> RTSP/TCP publish with a connect timeout
       or, with BUFFER_DIR, a tee: the same RTSP branch + a rolling 1 s MPEG-TS segment
       buffer, both ``onfail=ignore`` so the buffer keeps recording while the media
       server is unreachable (the agent restarts ffmpeg later to retry the publish).
    -progress pipe:1 every 0.5 s (the stall watchdog's heartbeat).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from pathlib import Path

from trashmonitor.capture.config import LAVFI_PREFIX, AgentConfig

PROGRESS_PERIOD_SECONDS = 0.5
SEGMENT_SECONDS = 1
SEGMENT_PATTERN = "seg%03d.ts"
SEGMENT_PLAYLIST = "buffer.m3u8"
# Pixel luminance under which a pixel counts as black (blackdetect pix_th, 0-1).
BLACK_PIXEL_THRESHOLD = 0.10


def source_args(config: AgentConfig) -> list[str]:
    size = f"{config.width}x{config.height}"
    if config.source_kind == "testsrc":
        return ["-re", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={config.fps}"]
    if config.source_kind == "lavfi":
        return ["-re", "-f", "lavfi", "-i", config.camera_dev[len(LAVFI_PREFIX) :]]
    return [
        "-f", "v4l2",
        "-input_format", config.input_format,
        "-framerate", str(config.fps),
        "-video_size", size,
        "-i", config.camera_dev,
    ]  # fmt: skip


def image_health_filter(config: AgentConfig) -> str:
    """Filters that only annotate frames; their log lines are parsed from stderr.

    blackdetect logs a black section only when it *ends*, so the live signal is the
    ``lavfi.black_start``/``lavfi.black_end`` frame metadata printed by ``metadata``;
    the agent applies BLACK_SECONDS itself. freezedetect logs ``freeze_start`` live once
    FREEZE_SECONDS have passed.
    """
    return ",".join(
        (
            f"blackdetect=d=0:pix_th={BLACK_PIXEL_THRESHOLD:.2f}",
            "metadata=mode=print:key=lavfi.black_start",
            "metadata=mode=print:key=lavfi.black_end",
            f"freezedetect=d={config.freeze_seconds:g}",
        )
    )


def encoder_args(config: AgentConfig) -> list[str]:
    bufsize = _double_bitrate(config.bitrate)
    return [
        "-an",
        "-c:v", "libx264",
        "-preset", "ultrafast",
        "-tune", "zerolatency",
        "-pix_fmt", "yuv420p",
        "-g", str(config.gop),
        "-keyint_min", str(config.gop),
        "-sc_threshold", "0",
        "-b:v", config.bitrate,
        "-maxrate", config.bitrate,
        "-bufsize", bufsize,
    ]  # fmt: skip


def _double_bitrate(bitrate: str) -> str:
    suffix = bitrate[-1] if bitrate[-1] in "kKmM" else ""
    number = float(bitrate[: len(bitrate) - len(suffix)])
    return f"{number * 2:g}{suffix}"


def timeout_microseconds(config: AgentConfig) -> int:
    return int(config.connect_timeout * 1_000_000)


def output_args(config: AgentConfig) -> list[str]:
    timeout = str(timeout_microseconds(config))
    if config.buffer_dir is None:
        return ["-f", "rtsp", "-rtsp_transport", "tcp", "-timeout", timeout, config.publish_url]
    directory = config.buffer_dir
    rtsp = f"[f=rtsp:rtsp_transport=tcp:timeout={timeout}:onfail=ignore]{config.publish_url}"
    segments = (
        f"[f=segment:segment_time={SEGMENT_SECONDS}:segment_wrap={config.buffer_segments}"
        f":segment_format=mpegts:segment_list={directory / SEGMENT_PLAYLIST}"
        f":segment_list_size={config.buffer_segments}:segment_list_flags=live"
        f":onfail=ignore]{directory / SEGMENT_PATTERN}"
    )
    return ["-map", "0:v", "-f", "tee", f"{rtsp}|{segments}"]


def build_command(config: AgentConfig) -> list[str]:
    """The full argv (no shell is ever involved)."""
    argv = [config.ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info"]
    argv += source_args(config)
    if config.image_health:
        argv += ["-vf", image_health_filter(config)]
    argv += encoder_args(config)
    argv += ["-progress", "pipe:1", "-stats_period", f"{PROGRESS_PERIOD_SECONDS:g}"]
    argv += output_args(config)
    return argv


def buffer_segments(directory: Path) -> list[Path]:
    """The buffer's segments, oldest first (names wrap, so order by modification time)."""
    stamped: list[tuple[int, Path]] = []
    for path in directory.glob("seg*.ts"):
        try:  # ffmpeg may be replacing the file right now
            stamped.append((path.stat().st_mtime_ns, path))
        except OSError:
            continue
    return [path for _, path in sorted(stamped)]


# Bitrate ------------------------------------------------------------------------------
# ffmpeg's progress says bitrate=N/A and total_size=N/A for RTSP and tee outputs (checked
# with Debian's ffmpeg 5.1, docs/capture.md), so the capture-side bitrate is measured
# on the tee's other branch: the segment playlist lists each finished segment with its
# duration, and the segment files' sizes give the bytes.
BITRATE_SEGMENTS = 5
"""Newest finished segments averaged (~5 s)."""
_EXTINF = re.compile(r"^#EXTINF:\s*([0-9]+(?:\.[0-9]+)?)\s*,")
_SEGMENT_NAME = re.compile(r"^seg[0-9]{3}\.ts$")


def playlist_segments(text: str) -> list[tuple[str, float]]:
    """(segment name, seconds) of each finished segment in ``buffer.m3u8``, oldest first.
    Lines that do not fit the segment muxer's own format are ignored, never trusted."""
    entries: list[tuple[str, float]] = []
    duration: float | None = None
    for line in text.splitlines():
        match = _EXTINF.match(line)
        if match is not None:
            duration = float(match.group(1))
        elif duration is not None and _SEGMENT_NAME.match(line.strip()):
            entries.append((line.strip(), duration))
            duration = None
        elif line.strip() and not line.startswith("#"):
            duration = None
    return entries


def buffer_bitrate(
    playlist: str, sizes: Mapping[str, int], newest: int = BITRATE_SEGMENTS
) -> float | None:
    """Bits per second of the newest finished segments (MPEG-TS as buffered: the H.264
    stream plus a few percent of container overhead); None without enough data.

    The oldest listed entry is left out: with the list as long as the wrap, its file
    name is the one ffmpeg is writing again.
    """
    entries = playlist_segments(playlist)[1:][-newest:]
    measured = [(sizes[name], seconds) for name, seconds in entries if name in sizes]
    total_seconds = sum(seconds for _, seconds in measured)
    if not measured or total_seconds <= 0:
        return None
    return sum(size for size, _ in measured) * 8 / total_seconds


def measure_buffer_bitrate(directory: Path) -> float | None:
    """:func:`buffer_bitrate` of the buffer directory as it is now (None when unreadable)."""
    try:
        playlist = (directory / SEGMENT_PLAYLIST).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    sizes: dict[str, int] = {}
    for name, _ in playlist_segments(playlist)[-BITRATE_SEGMENTS - 1 :]:
        with contextlib.suppress(OSError):  # rotated away meanwhile
            sizes[name] = (directory / name).stat().st_size
    return buffer_bitrate(playlist, sizes)
