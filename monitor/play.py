"""``trashmon probe --play``: prove each camera's stream plays, as a viewer would pull it.

For each camera and transport (RTSP from MediaMTX; HLS through Caddy when a template is
given) one ffmpeg pulls and decodes a short window (monitor/play_ffmpeg.py). The verdict
is ``playable`` or the reasons it is not. Pulls run concurrently, a bounded number at
once, each with a hard deadline.
"""

from __future__ import annotations

import functools
import itertools
import shutil
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

from trashmonitor.errors import ConfigError
from trashmonitor.monitor.status import printable

if TYPE_CHECKING:  # imported when a pull runs: it loads the capture package
    from trashmonitor.monitor.play_ffmpeg import Observation

NAME_PLACEHOLDER = "{name}"
DEFAULT_RTSP_PORT = 8554
MAX_CONCURRENT_PULLS = 4
# Time ffmpeg gets past the window (opening, probing the stream) before the parent kills it.
OPEN_ALLOWANCE_SECONDS = 3.0

PLAYABLE = "playable"
NO_FRAMES = "no_frames"
FROZEN = "frozen"
BLACK = "black"
SLOW_FIRST_FRAME = "slow_first_frame"
UNREACHABLE = "unreachable"
REASONS = (UNREACHABLE, NO_FRAMES, SLOW_FIRST_FRAME, BLACK, FROZEN)


def parse_url_template(text: str) -> str:
    """A stream URL with ``{name}`` once, in the path (rtsp://, http:// or https://);
    ``off`` gives "" (no pull over that transport)."""
    template = text.strip()
    if template.lower() == "off":
        return ""
    parts = urlsplit(template.replace(NAME_PLACEHOLDER, "x"))
    if parts.scheme not in ("rtsp", "rtsps", "http", "https") or not parts.hostname:
        raise ValueError("expected an rtsp:// or http(s):// URL")
    if template.count(NAME_PLACEHOLDER) != 1 or NAME_PLACEHOLDER not in urlsplit(template).path:
        raise ValueError("expected {name} once, in the URL's path")
    try:
        _ = parts.port
        valid_port = True
    except ValueError:
        valid_port = False
    # Raised after the except block: a password with an unencoded / # or ? puts part of
    # it where urlsplit looks for the port, and urlsplit's error quoting that text is no
    # __context__ (``from None`` only hides it).
    if not valid_port:
        raise ValueError("URL has an invalid port")
    return template


def default_rtsp_template(api_url: str) -> str:
    """MediaMTX's RTSP port on the host of its API."""
    host = urlsplit(api_url).hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"rtsp://{host}:{DEFAULT_RTSP_PORT}/{NAME_PLACEHOLDER}"


def stream_url(template: str, name: str) -> str:
    """``template`` with ``name`` as exactly one path segment: every character outside
    the unreserved set is percent-encoded, so ``/``, ``?``, ``#``, ``..``-tricks, spaces
    or controls cannot change which resource ffmpeg asks for, nor add options."""
    # quote() leaves "." alone: a camera named ".." would be a dot-segment that URL
    # normalisation resolves to the parent; %2E is the same character, not a step up.
    return template.replace(NAME_PLACEHOLDER, quote(name, safe="").replace(".", "%2E"))


@dataclass(frozen=True)
class PlayLimits:
    seconds: float
    first_frame_max: float
    io_timeout: float

    @property
    def deadline(self) -> float:
        return self.seconds + self.first_frame_max + OPEN_ALLOWANCE_SECONDS


@dataclass(frozen=True)
class PlayResult:
    camera: str
    transport: str
    reasons: tuple[str, ...]
    first_frame_seconds: float | None
    fps: float | None
    bitrate_kbps: float | None
    keyframe_interval_seconds: float | None
    frames: int
    error: str

    @property
    def playable(self) -> bool:
        return not self.reasons

    @property
    def verdict(self) -> str:
        return PLAYABLE if self.playable else ",".join(self.reasons)


def judge(camera: str, transport: str, seen: Observation, limits: PlayLimits) -> PlayResult:
    """The verdict and figures of one pull (pure: everything measured is in ``seen``)."""
    frames = seen.frames
    reasons: list[str] = []
    if not frames:
        reasons.append(NO_FRAMES if seen.opened else UNREACHABLE)
    elif seen.first_frame_after is not None and seen.first_frame_after > limits.first_frame_max:
        reasons.append(SLOW_FIRST_FRAME)
    if seen.black:
        reasons.append(BLACK)
    if seen.frozen:
        reasons.append(FROZEN)
    span = frames[-1].pts_time - frames[0].pts_time if len(frames) > 1 else 0.0
    fps = (len(frames) - 1) / span if span > 0 else None
    bitrate = seen.bytes_received * 8 / 1000 / span if span > 0 else None
    keys = [frame.pts_time for frame in frames if frame.key]
    gaps = [later - earlier for earlier, later in itertools.pairwise(keys)]
    keyframe_interval = sum(gaps) / len(gaps) if gaps else None
    return PlayResult(
        camera=camera,
        transport=transport,
        reasons=tuple(reasons),
        first_frame_seconds=seen.first_frame_after,
        fps=fps,
        bitrate_kbps=bitrate,
        keyframe_interval_seconds=keyframe_interval,
        frames=len(frames),
        error="" if frames else seen.error,
    )


Puller = Callable[[list[str], float, Sequence[str]], "Observation"]


def find_ffmpeg(setting: str = "--play") -> str:
    """ffmpeg's path, or a ConfigError naming ``setting`` (what asked for pulls)."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise ConfigError(setting, "needs ffmpeg on PATH (Debian package ffmpeg)")
    return ffmpeg


def pull_camera(
    ffmpeg: str,
    name: str,
    transport: str,
    template: str,
    limits: PlayLimits,
    *,
    puller: Puller | None = None,
    cancel: threading.Event | None = None,
) -> PlayResult:
    """One camera pulled over one transport and judged (blocks up to the deadline, or
    until ``cancel`` is set: then ffmpeg is killed and what it saw so far judged)."""
    from trashmonitor.monitor.play_ffmpeg import play_argv, pull

    run_pull = functools.partial(pull, cancel=cancel) if puller is None else puller
    url = stream_url(template, name)
    argv = play_argv(ffmpeg, url, transport, limits.seconds, limits.io_timeout)
    password = urlsplit(url).password
    secrets = (password, unquote(password)) if password else ()
    return judge(name, transport, run_pull(argv, limits.deadline, secrets), limits)


def play_all(
    cameras: Iterable[str],
    templates: Sequence[tuple[str, str]],
    limits: PlayLimits,
    puller: Puller | None = None,
    concurrency: int = MAX_CONCURRENT_PULLS,
) -> list[PlayResult]:
    """Every (camera, transport) pulled, at most ``concurrency`` at once; in the order of
    the cameras (sorted) then the transports."""
    ffmpeg = find_ffmpeg()
    jobs = [
        (name, transport, template) for name in sorted(cameras) for transport, template in templates
    ]

    def one(job: tuple[str, str, str]) -> PlayResult:
        return pull_camera(ffmpeg, *job, limits, puller=puller)

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        return list(pool.map(one, jobs))


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def result_document(result: PlayResult) -> dict[str, Any]:
    """One pull's verdict and figures, as ``--json`` and /api/status show them."""
    return {
        "transport": result.transport,
        "verdict": PLAYABLE if result.playable else "not_playable",
        "reasons": list(result.reasons),
        "first_frame_seconds": _rounded(result.first_frame_seconds, 3),
        "fps": _rounded(result.fps, 2),
        "bitrate_kbps": _rounded(result.bitrate_kbps, 1),
        "keyframe_interval_seconds": _rounded(result.keyframe_interval_seconds, 3),
        "frames": result.frames,
        "error": result.error,
    }


def play_document(results: Sequence[PlayResult]) -> dict[str, Any]:
    """The ``playback`` part of ``--json``: a summary and one entry per camera and
    transport, in the style of /api/status's cameras."""
    return {
        "summary": {
            "pulls": len(results),
            "playable": sum(result.playable for result in results),
            "not_playable": sum(not result.playable for result in results),
        },
        "cameras": [{"name": result.camera, **result_document(result)} for result in results],
    }


def _cell(value: float | None, unit: str, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def play_table(results: Sequence[PlayResult]) -> str:
    rows = [("CAMERA", "TRANSPORT", "VERDICT", "FIRST FRAME", "FPS", "KBIT/S", "KEYFRAMES")]
    rows += [
        (
            printable(result.camera),
            result.transport,
            result.verdict,
            _cell(result.first_frame_seconds, " s", 2),
            _cell(result.fps, "", 1),
            _cell(result.bitrate_kbps, "", 0),
            _cell(result.keyframe_interval_seconds, " s", 2),
        )
        for result in results
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
