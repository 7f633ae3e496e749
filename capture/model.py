"""The capture agent's values: what it observes, the state it decides in, what it publishes.

Frozen values and constants only, standard library (and the shared :class:`Backoff`
value of :mod:`trashmonitor.backoff`) only, no I/O: every other module of the agent
passes these between its steps (observe -> evaluate -> act/export). The logic that
makes and reads them stays in its step's module: the parsers in ``parsing.py`` and
``v4l2.py``, ``step`` in ``machine.py``, the state document in ``snapshot.py``,
requests parsed and judged in ``control.py``.

* observed from ffmpeg: :class:`ProgressBlock`, :class:`StderrEvent` (:class:`EventKind`);
* observed from the device and the segment buffer: :class:`DeviceInfo`, :class:`FileEntry`;
* the state machine's: :class:`State`, :class:`Policy`, :class:`Totals`, :class:`Machine`,
  its events (:data:`Event`) and :class:`Action`;
* published: :class:`AgentSnapshot` (metrics, the MQTT ``state`` document, logs);
* requests and verdicts: :class:`SettingRequest`, :class:`ActionRequest`,
  :class:`Accepted`, :class:`Rejected`, :class:`SeedReply`, :class:`MediaResult`,
  :class:`SettingOutcome`.

The settings objects (``AgentConfig``, ``MediaSettings``, ``Interfaces``) stay beside
the declared table their defaults are read from, and ``Control`` stays in ``v4l2.py``:
its methods are the one V4L2 validation.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

from trashmonitor.backoff import Backoff

if TYPE_CHECKING:  # the V4L2 control model and its validation live at the boundary
    from trashmonitor.capture.v4l2 import Control

# Observed from ffmpeg ------------------------------------------------------------------


@dataclass(frozen=True)
class ProgressBlock:
    """One ``-progress`` block; None where ffmpeg said N/A or sent nonsense."""

    frame: int | None = None
    fps: float | None = None
    speed: float | None = None
    total_size: int | None = None
    out_time_us: int | None = None
    dup_frames: int | None = None
    drop_frames: int | None = None
    bitrate_kbps: float | None = None
    ended: bool = False


class EventKind(enum.Enum):
    BLACK_START = "black_start"
    """The picture went black (``lavfi.black_start`` metadata, printed live)."""
    BLACK_END = "black_end"
    FREEZE_START = "freeze_start"
    """The picture has not changed for FREEZE_SECONDS (freezedetect)."""
    FREEZE_END = "freeze_end"
    PUBLISH_FAILED = "publish_failed"
    """A tee slave (the RTSP branch) failed; ffmpeg keeps the buffer branch running."""
    BUFFER_FAILED = "buffer_failed"
    """The local segment buffer branch failed (disk full, directory gone): logged."""
    DEVICE_ERROR = "device_error"
    """The V4L2 input reported the device gone or busy: logged; the device check decides."""


@dataclass(frozen=True)
class StderrEvent:
    """The one thing a stderr line said (``parsing.parse_stderr_line``); ``detail`` is
    ffmpeg's own words where they help the log, bounded, redacted before logging."""

    kind: EventKind
    detail: str = ""


# Observed from the device and the segment buffer ---------------------------------------


@dataclass(frozen=True)
class DeviceInfo:
    """What the device says about itself; everything but ``path`` may be unknown."""

    path: str
    present: bool
    driver: str = ""
    card: str = ""
    bus: str = ""
    pixel_format: str = ""
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    synthetic: bool = False


SegmentKey = tuple[str, float]


@dataclass(frozen=True)
class FileEntry:
    """One file of the segment buffer as listed."""

    name: str
    size: int
    mtime: float

    @property
    def key(self) -> SegmentKey:
        """A segment by name AND modification time: names come back when the buffer wraps
        or ffmpeg restarts (numbering starts again at seg000), the file then is new."""
        return (self.name, self.mtime)


# The state machine's values (``machine.step``) ----------------------------------------


class State(enum.StrEnum):
    STARTING = "starting"
    STREAMING = "streaming"
    STALLED = "stalled"
    BACKOFF = "backoff"
    DEVICE_MISSING = "device_missing"
    STOPPED = "stopped"


RESTART_REASONS = ("exited", "stalled", "device_missing", "publish_failed")


@dataclass(frozen=True)
class Policy:
    stall_seconds: float = 3.0
    start_seconds: float = 8.0
    """Time a new ffmpeg gets to connect and produce its first progress block."""
    backoff: Backoff = field(default_factory=Backoff)
    """The delay before restarting ffmpeg after consecutive failed runs."""
    healthy_seconds: float = 30.0
    """A run that streamed this long resets the backoff."""
    black_seconds: float = 2.0


@dataclass(frozen=True)
class Totals:
    """Counters summed over ffmpeg runs (each run's own counters start at 0)."""

    frames: int = 0
    dropped: int = 0
    duplicated: int = 0
    output_bytes: int = 0

    def plus(self, block: ProgressBlock | None) -> Totals:
        if block is None:
            return self
        return Totals(
            self.frames + (block.frame or 0),
            self.dropped + (block.drop_frames or 0),
            self.duplicated + (block.dup_frames or 0),
            self.output_bytes + (block.total_size or 0),
        )


@dataclass(frozen=True)
class Machine:
    state: State = State.STARTING
    reason: str = "initial"
    since: float = 0.0
    process_running: bool = False
    started_at: float | None = None
    last_progress_at: float | None = None
    streaming_since: float | None = None
    last_block: ProgressBlock | None = None
    finished_runs: Totals = field(default_factory=Totals)
    failures: int = 0
    """Consecutive failed runs: the backoff exponent and the crash-loop signal."""
    retry_at: float | None = None
    restarts: Mapping[str, int] = field(
        default_factory=lambda: MappingProxyType(dict.fromkeys(RESTART_REASONS, 0))
    )
    black_since: float | None = None
    frozen: bool = False
    device_present: bool = True

    @property
    def totals(self) -> Totals:
        return self.finished_runs.plus(self.last_block)

    def black(self, now: float, policy: Policy) -> bool:
        return self.black_since is not None and now - self.black_since >= policy.black_seconds

    def restarts_total(self) -> int:
        return sum(self.restarts.values())


@dataclass(frozen=True)
class Tick:
    """The supervisor's regular wake-up: time-based judgements (connect and stall
    timeouts, the end of a backoff) and whether the device node is there now."""

    now: float
    device_present: bool = True
    rand: float = 0.5


@dataclass(frozen=True)
class Started:
    """The supervisor has spawned ffmpeg (answering :attr:`Action.START`)."""

    now: float


@dataclass(frozen=True)
class Progress:
    """ffmpeg reported one ``-progress`` block: the stream is moving."""

    now: float
    block: ProgressBlock


@dataclass(frozen=True)
class Exited:
    """ffmpeg is gone: it exited, was stopped, or could not be spawned (``returncode``
    None)."""

    now: float
    returncode: int | None = None
    rand: float = 0.5


@dataclass(frozen=True)
class Image:
    """ffmpeg's stderr said something about the picture or the publish: black, frozen,
    the RTSP branch failed (a :class:`StderrEvent`)."""

    now: float
    event: StderrEvent
    rand: float = 0.5


@dataclass(frozen=True)
class StopRequested:
    """The agent is shutting down: stop ffmpeg and stay stopped."""

    now: float


Event = Tick | Started | Progress | Exited | Image | StopRequested


class Action(enum.Enum):
    START = "start"
    """Start ffmpeg (stopping a leftover one first, e.g. a buffer-only ffmpeg)."""
    STOP = "stop"
    """Stop ffmpeg with escalation (SIGTERM, SIGTERM, SIGKILL) and reap it."""


Actions = tuple[Action, ...]


# Published ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentSnapshot:
    """What the agent knows at one instant: the value metrics, MQTT and logs are made
    from. Self-contained (epoch times, plain values), so a listener on another thread
    (the MQTT helper) can keep it, compare it and publish it (``snapshot.state_message``)
    without touching the supervisor."""

    camera: str
    state: State
    reason: str
    since: float
    """Epoch seconds when ``state`` was entered."""
    fps: float | None
    target_fps: float
    speed: float | None
    restarts: int
    restarts_by_reason: Mapping[str, int]
    consecutive_failures: int
    black: bool
    frozen: bool
    device: DeviceInfo
    frames: int
    dropped_frames: int
    duplicated_frames: int
    output_bytes: int
    last_progress_at: float | None
    """Epoch seconds of the last ``-progress`` block of any run (None before the first)."""
    ffmpeg_pid: int | None
    ts: float
    """Epoch seconds when the snapshot was taken."""
    bitrate_bps: float | None = None
    """Output bitrate in bits/s while streaming: ffmpeg's ``bitrate`` where it reports
    one, else measured on the segment buffer (ffmpeg says N/A for RTSP and tee output);
    None without either, and while not streaming."""

    @property
    def image_reasons(self) -> tuple[str, ...]:
        """The picture problems now, named as the monitor's reasons (docs/contracts.md)."""
        return tuple(
            name
            for name, active in (("black_image", self.black), ("frozen_image", self.frozen))
            if active
        )

    @property
    def change_key(self) -> tuple[State, str, bool, bool, bool]:
        """What makes a snapshot worth announcing (logs, listeners, MQTT on change)."""
        return (self.state, self.reason, self.black, self.frozen, self.device.present)


# Requests and verdicts ----------------------------------------------------------------

ActionName = Literal["picture", "record", "stop"]


@dataclass(frozen=True)
class SettingRequest:
    """A well-formed ``…/set`` request from ``control.parse_setting``, not yet checked
    against the device: the value is still the text the person sent."""

    control: str
    value: str


@dataclass(frozen=True)
class ActionRequest:
    """A valid ``…/action`` request from ``control.parse_action``; ``seconds`` only for
    ``record``, already within bounds."""

    action: ActionName
    seconds: float | None = None


@dataclass(frozen=True)
class Accepted:
    """``control.validate_setting``'s yes: the device's control and the value to apply,
    as the device's integer."""

    control: Control
    value: int


@dataclass(frozen=True)
class Rejected:
    """Any refusal, by any step of a request: the one sentence the agent publishes as
    the event, for the person who sent the request."""

    message: str


@dataclass(frozen=True)
class SeedReply:
    """A reply to publish on ``camera/status`` without running anything."""

    text: str


@dataclass(frozen=True)
class MediaResult:
    """What a picture, recording or setting request came to: the ``events`` document's
    ``ok``, ``message`` and ``file``."""

    ok: bool
    message: str
    file: Path | None = None


@dataclass(frozen=True)
class SettingOutcome:
    """A setting request after the shared code path: the verdict (None when it never got
    as far as validation), the sentence for ``events`` and the table it was checked against."""

    result: MediaResult
    verdict: Accepted | Rejected | None = None
    controls: tuple[Control, ...] = ()
