"""The monitor's values: what it observes, what it concludes, and the limits it judges by.

Frozen values and constants only, standard library (and the error tree of
:mod:`trashmonitor.errors`) only, no I/O: every other module of the monitor passes these
between its steps (observe -> evaluate -> export), and the probe imports them without
paying for any client library. Values are NamedTuples (built in C, and declared at a
tenth of a frozen dataclass's cost at import: the probe starts with this module, and
importing :mod:`dataclasses` alone loads inspect, ast, dis and tokenize, ~10 ms); change
one with ``value._replace(field=…)``. A mapping's default is the one shared empty
read-only mapping :data:`NO_ENTRIES`.

* observed from MediaMTX: :class:`Track`, :class:`PathObservation`, :class:`PathMetrics`,
  :class:`MediaMTXMetrics`, :class:`PathsPage`, :class:`PathsListing`,
  :class:`PathsSnapshot`, :class:`MediaMTXObservation`;
* observed from the capture agents (MQTT): :class:`AgentMessage`, :class:`AgentView`;
* concluded: :class:`CameraHealth`, :class:`HealthReport` (states and reasons);
* the limits: :class:`Thresholds`, also the source of the alert rules' thresholds;
* published by each poll cycle: :class:`MonitorState`, what every route reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple

if TYPE_CHECKING:  # computed by their own modules from the reports, kept with the state
    from trashmonitor.monitor.history import CameraAvailability
    from trashmonitor.monitor.play_watch import PlayCheck
    from trashmonitor.monitor.quality import CameraQuality

from trashmonitor.errors import TrashmonError

NO_ENTRIES: Final[Mapping[str, Any]] = MappingProxyType({})
"""The default of a mapping field: empty and read-only, so one value serves every default."""

# MediaMTX has no length limit on path names; recordings put the name in a file path
# (255 bytes a component), and the table and metrics labels must stay readable.
MAX_PATH_NAME_LENGTH = 255

VIDEO_CODECS = frozenset(
    {"AV1", "VP9", "VP8", "H265", "H264", "MPEG-4 Video", "MPEG-1/2 Video", "M-JPEG"}
)


class Track(NamedTuple):
    codec: str
    width: int | None = None
    height: int | None = None

    @property
    def is_video(self) -> bool:
        return self.codec in VIDEO_CODECS


# A NamedTuple, not a frozen dataclass: 10,000 of these per poll, a dozen polls kept.
# Built by one tuple allocation in C (a frozen dataclass's __init__ makes thirteen
# object.__setattr__ calls: five times slower, measured). Immutable and compared by
# value all the same; change one with ``path._replace(field=…)``.
class PathObservation(NamedTuple):
    """One path as MediaMTX lists it, whatever the schema generation."""

    name: str
    online: bool
    """A real source is attached (``online``; ``ready`` before v1.16)."""
    available: bool
    """Readers can connect: online, or an ``alwaysAvailable`` placeholder."""
    inbound_bytes: int
    outbound_bytes: int
    readers: int
    frames_in_error: int | None = None
    """``inboundFramesInError`` (v1.17+); None when the server does not report it."""
    online_since: float | None = None
    source_type: str | None = None
    tracks: tuple[Track, ...] = ()
    codec: str | None = None
    """The video track's codec (else the first track's): what the table shows."""
    resolution: str | None = None
    """``WIDTHxHEIGHT`` of the video track when MediaMTX reports it (v1.17+)."""
    configured: bool = False
    """MediaMTX's configuration names this path (``confName`` equals its name), rather
    than an ad-hoc publisher matching ``all_others`` or a regex entry."""

    @property
    def placeholder(self) -> bool:
        return self.available and not self.online


_new_tuple = tuple.__new__


def observed_path(
    *,
    name: str,
    online: bool,
    available: bool,
    inbound_bytes: int,
    outbound_bytes: int,
    readers: int,
    frames_in_error: int | None,
    online_since: float | None,
    source_type: str | None,
    tracks: tuple[Track, ...],
    codec: str | None,
    resolution: str | None,
    configured: bool,
) -> PathObservation:
    """A :class:`PathObservation` as both page readers build it (every field named),
    in one positional tuple allocation."""
    return _new_tuple(
        PathObservation,
        (name, online, available, inbound_bytes, outbound_bytes, readers, frames_in_error,
         online_since, source_type, tracks, codec, resolution, configured),
    )  # fmt: skip


def describe_tracks(tracks: tuple[Track, ...]) -> tuple[str | None, str | None]:
    """(codec, resolution) of the video track, computed once per poll, not per use."""
    video = next((track for track in tracks if track.is_video), None)
    if video is None:
        return (tracks[0].codec if tracks else None), None
    if video.width is None or video.height is None:
        return video.codec, None
    return video.codec, f"{video.width}x{video.height}"


class PathMetrics(NamedTuple):
    """What MediaMTX's ``/metrics`` says about one path (families summed over labels)."""

    name: str
    state: str | None = None
    inbound_bytes: int | None = None
    outbound_bytes: int | None = None
    frames_in_error: int | None = None
    readers: int | None = None


class MediaMTXMetrics(NamedTuple):
    paths: Mapping[str, PathMetrics] = NO_ENTRIES
    families: frozenset[str] = frozenset()
    rejected_paths: int = 0
    """Path samples skipped: a name outside MediaMTX's grammar or length bound."""


class PathsSnapshot(NamedTuple):
    """Every path at one moment, by name, completed with what ``/metrics`` said in the
    same poll (:func:`~trashmonitor.monitor.mediamtx_parse.with_metrics`)."""

    at: float
    paths: Mapping[str, PathObservation]
    rejected: int = 0
    """Items MediaMTX listed that were skipped: a name outside MediaMTX's path-name
    grammar or over :data:`MAX_PATH_NAME_LENGTH` (:attr:`PathsListing.rejected`)."""


class PathsPage(NamedTuple):
    items: tuple[PathObservation, ...]
    item_count: int
    page_count: int
    rejected: int = 0
    """Items skipped for a name MediaMTX itself would refuse (never shown raw)."""


class PathsListing(NamedTuple):
    """Every path MediaMTX listed, by name, and how many items were skipped for a bad
    name."""

    paths: Mapping[str, PathObservation]
    rejected: int = 0


class MediaMTXObservation(NamedTuple):
    """One poll's read of MediaMTX, finished: the snapshot, or the one error that says
    why the API could not be read; and how the read of ``/metrics`` went."""

    snapshot: PathsSnapshot | None
    """None when the API could not be read (``error`` says why)."""
    error: TrashmonError | None = None
    metrics_up: bool | None = None
    """None when no metrics URL is configured."""
    metrics_error: TrashmonError | None = None


# ----------------------------------------------------------------- agents (MQTT)


class AgentMessage(NamedTuple):
    """One message from ``trashcam/+/status`` or ``trashcam/+/state``, as observed."""

    topic: str
    payload: bytes
    received_at: float


class AgentView(NamedTuple):
    """The latest retained status and state message of one camera's agent."""

    camera: str
    online: bool
    """``trashcam/<id>/status`` is ``online`` (retained; the will sets ``offline``)."""
    status_changed_at: float
    """When ``online`` last changed (or was first heard)."""
    last_state_at: float | None = None
    """When the last ``trashcam/<id>/state`` message arrived."""
    stream_state: str | None = None
    """The agent's own state: starting, streaming, stalled, backoff, device_missing, stopped."""
    fps: float | None = None
    target_fps: float | None = None
    black: bool = False
    frozen: bool = False
    restarts: int = 0
    heartbeat: float | None = None
    """Seconds between the agent's state messages, as it announces them."""
    consecutive_failures: int | None = None
    """ffmpeg runs that failed in a row (None: not announced, an older agent)."""
    bitrate_bps: float | None = None
    """ffmpeg's output bitrate in bits/s (None where ffmpeg reports N/A)."""
    device_present: bool | None = None
    metrics_target: str | None = None
    """The agent's own ``/metrics`` as a Prometheus target (``host:port``), if it
    announced one another host can reach (:func:`trashmonitor.mqtt.parse_scrape_target`)."""


# ----------------------------------------------------------------- health

State = Literal["ok", "degraded", "down", "parked"]
STATES: Final[tuple[State, ...]] = ("ok", "degraded", "down", "parked")

# Canonical order: reasons are always reported in this order.
REASONS: Final = (
    "mediamtx_unreachable",
    "no_publisher",
    "placeholder",
    "stalled",
    "agent_without_publisher",
    "frames_in_error",
    "agent_offline",
    "agent_stale",
    "black_image",
    "frozen_image",
    "low_fps",
    "publisher_without_agent",
)
DOWN_REASONS: Final = frozenset(
    {"mediamtx_unreachable", "no_publisher", "placeholder", "stalled", "agent_without_publisher"}
)
# What the agent says about its own picture: still true when MediaMTX cannot be seen.
AGENT_REASONS: Final = frozenset(
    {"agent_offline", "agent_stale", "black_image", "frozen_image", "low_fps"}
)


class Thresholds(NamedTuple):
    """Tunable limits. Defaults fit a 1 s poll interval (docs/monitor.md)."""

    stall_after: float = 1.5
    """Seconds since inbound bytes stopped (publisher still attached) that make a stall,
    and never before one whole poll interval without growth. At a 1 s interval a stop
    is called 1.5-2.5 s after it happens (target: 3 s); see ``_inbound``."""
    frames_error_window: float = 10.0
    """Look-back for a rising ``inboundFramesInError``."""
    frames_error_min: int = 1
    """New frames in error within the window that make a camera degraded."""
    agent_stale_after: float = 90.0
    """An online agent whose last state message is older than this is stale, unless it
    announces a shorter heartbeat (then 2.5 heartbeats; see ``_stale_after``)."""
    low_fps_ratio: float = 0.5
    """Reported fps below ``target_fps`` times this is ``low_fps``."""

    @property
    def history_seconds(self) -> float:
        """How much history the model looks at: callers may drop older snapshots."""
        return max(self.stall_after, self.frames_error_window)


DEFAULT_INCIDENT_MIN_SECONDS: Final = 30.0
"""A ``down`` period shorter than this is a blip, not an incident (``--incident-min``)."""


# A NamedTuple, like PathObservation: one per camera and poll, 10,000 a second at scale.
# The health model's hot path allocates it as one tuple (health._unwalked); elsewhere
# it is built by keyword. Change one with ``health._replace(state=…)``.
class CameraHealth(NamedTuple):
    """What the health model concluded about one camera in one poll."""

    name: str
    state: State
    reasons: tuple[str, ...]
    online: bool
    codec: str | None = None
    resolution: str | None = None
    inbound_bytes: int | None = None
    inbound_bytes_per_second: float | None = None
    readers: int | None = None
    frames_in_error: int | None = None
    online_since: float | None = None
    last_inbound_at: float | None = None
    """When inbound bytes were last seen growing (None if not seen in the history)."""
    agent: AgentView | None = None


class HealthReport(NamedTuple):
    generated_at: float
    cameras: tuple[CameraHealth, ...]
    mediamtx_error: TrashmonError | None = None
    """Why MediaMTX could not be seen this poll (None: it was)."""

    @property
    def mediamtx_reachable(self) -> bool:
        return self.mediamtx_error is None

    @property
    def summary(self) -> dict[State, int]:
        counts: dict[State, int] = dict.fromkeys(STATES, 0)
        for camera in self.cameras:
            counts[camera.state] += 1
        return counts

    @property
    def healthy(self) -> bool:
        """Every camera that is not parked is ok, and MediaMTX answered."""
        return self.mediamtx_reachable and all(
            camera.state in ("ok", "parked") for camera in self.cameras
        )


# ----------------------------------------------------------------- the monitor


class MonitorState(NamedTuple):
    """What the last poll cycle concluded; replaced as a whole after every cycle."""

    report: HealthReport | None = None
    metrics_error: TrashmonError | None = None
    metrics_up: bool | None = None
    """None when no metrics URL is configured."""
    last_success_at: float | None = None
    """Wall-clock end of the last cycle whose API poll succeeded."""
    last_cycle_at: float | None = None
    """Monotonic end of the last cycle, successful or not (for /healthz)."""
    cycle_seconds: float | None = None
    dropped: int = 0
    """Paths listed by MediaMTX but not tracked in the last poll (over ``max_cameras``)."""
    rejected: int = 0
    """Paths skipped in the last poll: names outside MediaMTX's grammar or too long."""
    quality: Mapping[str, CameraQuality] = NO_ENTRIES
    """Connection quality per camera (:mod:`trashmonitor.monitor.quality`)."""
    availability: Mapping[str, CameraAvailability] = NO_ENTRIES
    """Availability per camera, as last refreshed (:mod:`trashmonitor.monitor.history`)."""
    play: Mapping[str, tuple[PlayCheck, ...]] = NO_ENTRIES
    """The periodic playback checks per chosen camera, one per transport, empty until the
    first ends (:mod:`trashmonitor.monitor.play_watch`); none without --play-interval."""
