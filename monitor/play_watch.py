"""The monitor's periodic playback check (issue 16 §5): the cameras ``--play-camera``
names are pulled with ffmpeg every ``--play-interval`` (the probe's pull and verdict,
monitor/play.py), and the latest verdict and figures of each are exported.

Off the poll loop: a scheduler thread hands due cameras to a few worker threads (at
most ``MAX_CONCURRENT_PULLS`` ffmpeg at once); a camera is never pulled twice at a time,
and its next check is due an interval after its last one started (a pull slower than
the interval is followed at once, never overlapped). Each poll copies the latest checks
into its :class:`~trashmonitor.monitor.model.MonitorState`, so /metrics and /api/status
show them like every other field: ``trashmon_play_*`` families and a ``play`` object per
chosen camera.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import Metric
from prometheus_client.samples import Sample

from trashmonitor.errors import ConfigError
from trashmonitor.monitor import config
from trashmonitor.monitor.families import gauge_family
from trashmonitor.monitor.model import MonitorState
from trashmonitor.monitor.play import (
    MAX_CONCURRENT_PULLS,
    PlayLimits,
    PlayResult,
    Puller,
    find_ffmpeg,
    pull_camera,
    result_document,
)
from trashmonitor.monitor.play_cli import play_limits, play_templates
from trashmonitor.settings import ReadSettings

log = logging.getLogger(__name__)

# The scheduler looks at least this often whether a camera is due (and at a stop).
_TICK_SECONDS = 0.5


@dataclass(frozen=True)
class PlayCheck:
    """The latest pull of one camera over one transport, and when it ended (wall clock)."""

    result: PlayResult
    checked_at: float


class PlayWatcher:
    """Pulls each of ``cameras`` over each of ``templates`` every ``interval`` seconds."""

    def __init__(
        self,
        cameras: frozenset[str],
        templates: Sequence[tuple[str, str]],
        limits: PlayLimits,
        interval: float,
        *,
        ffmpeg: str,
        concurrency: int = MAX_CONCURRENT_PULLS,
        puller: Puller | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cameras = cameras
        self.templates = tuple(templates)
        self.limits = limits
        self.interval = interval
        self._ffmpeg = ffmpeg
        self._concurrency = max(1, min(concurrency, len(cameras)))
        self._puller = puller
        self._clock = clock
        self._lock = threading.Lock()
        # Every chosen camera, with no check until its first pull ends.
        self._checks: dict[str, tuple[PlayCheck, ...]] = dict.fromkeys(cameras, ())
        self._due: queue.Queue[str | None] = queue.Queue()
        self._finished: queue.Queue[str] = queue.Queue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def checks(self) -> Mapping[str, tuple[PlayCheck, ...]]:
        """The latest checks per camera (a copy: the poll keeps it in its state)."""
        with self._lock:
            return dict(self._checks)

    def start(self) -> None:
        scheduler = threading.Thread(target=self._schedule, name="play-schedule", daemon=True)
        workers = [
            threading.Thread(target=self._work, name=f"play-{index}", daemon=True)
            for index in range(self._concurrency)
        ]
        self._threads = [scheduler, *workers]
        for thread in self._threads:
            thread.start()

    def stop(self, grace: float = 5.0) -> None:
        """Stop scheduling and kill the pulls in flight (each ffmpeg is reaped)."""
        self._stop.set()
        for _ in range(self._concurrency):
            self._due.put(None)
        deadline = time.monotonic() + grace
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _schedule(self) -> None:
        next_due = dict.fromkeys(sorted(self.cameras), time.monotonic())
        in_flight: set[str] = set()
        while not self._stop.is_set():
            while True:
                try:
                    in_flight.discard(self._finished.get_nowait())
                except queue.Empty:
                    break
            now = time.monotonic()
            for name, due in next_due.items():
                if due <= now and name not in in_flight:
                    in_flight.add(name)
                    next_due[name] = now + self.interval  # start to start
                    self._due.put(name)
            upcoming = min(next_due.values()) - time.monotonic()
            self._stop.wait(min(max(upcoming, 0.0), _TICK_SECONDS))

    def _work(self) -> None:
        while not self._stop.is_set():
            name = self._due.get()
            if name is None or self._stop.is_set():
                return
            try:
                self._check(name)
            except Exception:  # a bug in one pull must not end the checks
                log.exception("playback check failed")
            finally:
                self._finished.put(name)

    def _check(self, name: str) -> None:
        # One transport after the other: one ffmpeg per camera at a time.
        checks = []
        for transport, template in self.templates:
            result = pull_camera(
                self._ffmpeg,
                name,
                transport,
                template,
                self.limits,
                puller=self._puller,
                cancel=self._stop,
            )
            if self._stop.is_set():
                return  # cut short by the stop: not a verdict on the stream
            checks.append(PlayCheck(result, self._clock()))
        with self._lock:
            self._checks[name] = tuple(checks)


def build_watcher(settings: ReadSettings) -> PlayWatcher | None:
    """The monitor's watcher from its settings; None while ``--play-interval`` is off."""
    interval = settings[config.PLAY_INTERVAL]
    if interval is None:
        return None
    cameras = settings[config.PLAY_CAMERA]
    if not cameras:
        raise ConfigError(
            config.PLAY_CAMERA.env or config.PLAY_CAMERA.flag,
            f"required with {settings.source(config.PLAY_INTERVAL)}: the cameras to pull",
        )
    if len(cameras) > config.MAX_PLAY_CAMERAS:
        raise ConfigError(
            settings.source(config.PLAY_CAMERA),
            f"at most {config.MAX_PLAY_CAMERAS} cameras, got {len(cameras)}",
        )
    ffmpeg = find_ffmpeg(settings.source(config.PLAY_INTERVAL))
    return PlayWatcher(
        cameras, play_templates(settings), play_limits(settings), interval, ffmpeg=ffmpeg
    )


# ------------------------------------------------------------------ export

NO_REASON = "none"


def play_families(state: MonitorState) -> list[Metric]:
    """The ``trashmon_play_*`` families of the checks the state holds (none without
    ``--play-interval``)."""
    checks = [
        ({"camera": name, "transport": check.result.transport}, check)
        for name, per_transport in sorted(state.play.items())
        for check in per_transport
    ]

    def figure(
        name: str, documentation: str, value: Callable[[PlayResult], float | None]
    ) -> Metric:
        return gauge_family(name, documentation, [
            Sample(name, labels, number)
            for labels, check in checks if (number := value(check.result)) is not None
        ])  # fmt: skip

    # Names stand beside their help text; the two used twice are bound once (as in export.py).
    playable = "trashmon_play_playable"
    last_check = "trashmon_play_last_check_timestamp_seconds"
    return [
        gauge_family(playable,
               "1 if the last playback check (ffmpeg pulling and decoding the "
               "stream) found it playable, else 0; reason: none, or the reasons joined by "
               "commas (unreachable, no_frames, slow_first_frame, black, frozen).", [
            Sample(playable, {**labels, "reason": ",".join(check.result.reasons)
                              or NO_REASON}, 1 if check.result.playable else 0)
            for labels, check in checks
        ]),
        figure("trashmon_play_first_frame_seconds",
               "Last playback check: seconds from ffmpeg's start to its first "
               "decoded picture (absent when none was decoded).",
               lambda result: result.first_frame_seconds),
        figure("trashmon_play_fps",
               "Last playback check: decoded pictures per second over their timestamp "
               "span (absent with fewer than two pictures).", lambda result: result.fps),
        figure("trashmon_play_bitrate_bytes_per_second",
               "Last playback check: bytes of the stream received per second over "
               "the decoded span (its bitrate / 8; absent with fewer than two pictures).",
               lambda result: None if result.bitrate_kbps is None
               else result.bitrate_kbps * 1000 / 8),
        figure("trashmon_play_keyframe_interval_seconds",
               "Last playback check: mean seconds between key pictures "
               "(absent with fewer than two).", lambda result: result.keyframe_interval_seconds),
        gauge_family(last_check, "When the last playback check of the camera over the transport "
               "ended (Unix time).", [
            Sample(last_check, labels, check.checked_at) for labels, check in checks
        ]),
    ]  # fmt: skip


def play_extras(state: MonitorState) -> dict[str, dict[str, Any]]:
    """Per chosen camera, the ``play`` object of /api/status (:func:`play_extra`)."""
    return {name: play_extra(per_transport) for name, per_transport in state.play.items()}


def play_extra(per_transport: Sequence[PlayCheck]) -> dict[str, Any]:
    """One chosen camera's ``play`` object of /api/status: per transport the last
    check's verdict and figures (``--json``'s entries) and ``checked_at``; null until
    the first check ends."""
    return {
        "play": {
            check.result.transport: {
                **result_document(check.result),
                "checked_at": round(check.checked_at, 3),
            }
            for check in per_transport
        }
        or None
    }
