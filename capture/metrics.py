"""``trashcam_*`` metrics rendered from the latest snapshot at scrape time.

A custom collector (not module-level Gauges) keeps the exporter a pure view of
:class:`AgentSnapshot`: names and labels are exactly docs/contracts.md, and a scrape
never sees half-updated values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from trashmonitor import __version__
from trashmonitor.capture.model import RESTART_REASONS, AgentSnapshot, State


def _gauge(snap: AgentSnapshot, name: str, doc: str, value: float | None) -> Metric:
    """A per-camera gauge; without a value (not streaming) the family has no sample."""
    family = GaugeMetricFamily(name, doc, labels=["camera"])
    if value is not None:
        family.add_metric([snap.camera], value)
    return family


def _counter(snap: AgentSnapshot, name: str, doc: str, value: float) -> Metric:
    family = CounterMetricFamily(name, doc, labels=["camera"])
    family.add_metric([snap.camera], value)
    return family


def _identity(snap: AgentSnapshot) -> Iterator[Metric]:
    """Build and state: what the agent is and where it stands."""
    info = GaugeMetricFamily("trashcam_build_info", "Agent build, always 1", labels=["version"])
    info.add_metric([__version__], 1)
    yield info
    state = GaugeMetricFamily(
        "trashcam_state", "1 for the agent's current state", labels=["camera", "state"]
    )
    for candidate in State:
        state.add_metric([snap.camera, str(candidate)], int(candidate is snap.state))
    yield state


def _stream(snap: AgentSnapshot) -> Iterator[Metric]:
    """What ffmpeg's progress reports say about the stream."""
    yield _gauge(snap, "trashcam_fps", "ffmpeg's reported output frames per second", snap.fps)
    yield _gauge(snap, "trashcam_target_fps", "Configured frames per second", snap.target_fps)
    yield _gauge(snap, "trashcam_speed_ratio", "ffmpeg speed, 1.0 is real time", snap.speed)
    yield _counter(snap, "trashcam_frames", "Frames encoded, summed over ffmpeg runs", snap.frames)
    yield _counter(snap, "trashcam_dropped_frames", "Frames ffmpeg dropped", snap.dropped_frames)
    yield _counter(
        snap, "trashcam_duplicated_frames", "Frames ffmpeg duplicated", snap.duplicated_frames
    )
    yield _counter(
        snap,
        "trashcam_output_bytes",
        "Bytes ffmpeg's progress reports written (total_size), summed over runs; "
        "ffmpeg reports none for RTSP or tee output, so 0 there "
        "(see trashcam_bitrate_bytes_per_second)",
        snap.output_bytes,
    )
    yield _gauge(
        snap,
        "trashcam_bitrate_bytes_per_second",
        "Output bitrate while streaming: ffmpeg's own where it reports one, else "
        "measured on the segment buffer (newest 5 s, MPEG-TS); absent without BUFFER_DIR",
        snap.bitrate_bps / 8 if snap.bitrate_bps is not None else None,
    )
    yield _gauge(
        snap,
        "trashcam_last_progress_timestamp_seconds",
        "Time of the last ffmpeg progress block",
        snap.last_progress_at,
    )


def _health(snap: AgentSnapshot) -> Iterator[Metric]:
    """Restarts, failures and the picture's problems."""
    restarts = CounterMetricFamily(
        "trashcam_restarts", "ffmpeg restarts by reason", labels=["camera", "reason"]
    )
    for reason in RESTART_REASONS:
        restarts.add_metric([snap.camera, reason], snap.restarts_by_reason.get(reason, 0))
    yield restarts
    yield _gauge(
        snap,
        "trashcam_consecutive_failures",
        "ffmpeg runs that failed in a row (the backoff exponent; 0 when healthy)",
        snap.consecutive_failures,
    )
    yield _gauge(snap, "trashcam_black_image", "1 while the picture is black", int(snap.black))
    yield _gauge(snap, "trashcam_frozen_image", "1 while the picture is frozen", int(snap.frozen))


def _device(snap: AgentSnapshot) -> Iterator[Metric]:
    yield _gauge(
        snap, "trashcam_device_present", "1 if the camera device exists", int(snap.device.present)
    )
    device = GaugeMetricFamily(
        "trashcam_device_info",
        "Camera device identity, always 1",
        labels=["camera", "device", "driver", "card", "bus"],
    )
    device.add_metric(
        [snap.camera, snap.device.path, snap.device.driver, snap.device.card, snap.device.bus], 1
    )
    yield device


class AgentCollector(Collector):
    def __init__(self, source: Callable[[], AgentSnapshot]) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        snap = self._source()  # one snapshot per scrape: no half-updated values
        yield from _identity(snap)
        yield from _stream(snap)
        yield from _health(snap)
        yield from _device(snap)


def agent_registry(source: Callable[[], AgentSnapshot]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AgentCollector(source))
    return registry
