"""What the agent knows at one instant: the value metrics, MQTT and logs are made from.

:class:`AgentSnapshot` is frozen and self-contained (epoch times, plain values), so a
listener on another thread (the MQTT helper) can keep it, compare it and publish
:meth:`AgentSnapshot.state_message` — the ``trashcam/<id>/state`` JSON of
docs/contracts.md — without touching the supervisor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from trashmonitor.capture.machine import Machine, Policy, State
from trashmonitor.capture.v4l2 import DeviceInfo


@dataclass(frozen=True)
class AgentSnapshot:
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

    def state_message(self) -> dict[str, Any]:
        """The ``trashcam/<id>/state`` payload (docs/contracts.md, MQTT topics)."""
        return state_document(
            camera=self.camera,
            state=str(self.state),
            ts=self.ts,
            fps=self.fps,
            target_fps=self.target_fps,
            speed=self.speed,
            restarts=self.restarts,
            consecutive_failures=self.consecutive_failures,
            bitrate_bps=self.bitrate_bps,
            black=self.black,
            frozen=self.frozen,
            device=self.device,
        )


def state_document(
    *,
    camera: str,
    state: str,
    ts: float,
    fps: float | None = None,
    target_fps: float | None = None,
    speed: float | None = None,
    restarts: int = 0,
    consecutive_failures: int = 0,
    bitrate_bps: float | None = None,
    black: bool = False,
    frozen: bool = False,
    device: DeviceInfo | None = None,
) -> dict[str, Any]:
    """The ``trashcam/<id>/state`` document (docs/contracts.md): the one place it is
    built, for the agent's snapshot and the stand-alone MQTT agent alike."""
    return {
        "camera": camera,
        "state": state,
        "fps": fps,
        "target_fps": target_fps,
        "speed": speed,
        "restarts": restarts,
        "consecutive_failures": consecutive_failures,
        "bitrate_bps": bitrate_bps,
        "black": black,
        "frozen": frozen,
        "device": None if device is None else _device_summary(device),
        "ts": ts,
    }


def _device_summary(device: DeviceInfo) -> dict[str, Any]:
    """The device as the state document names it: where it is and what answers there."""
    return {
        "path": device.path,
        "present": device.present,
        "driver": device.driver,
        "card": device.card,
    }


def take_snapshot(
    *,
    camera: str,
    machine: Machine,
    policy: Policy,
    target_fps: float,
    device: DeviceInfo,
    ffmpeg_pid: int | None,
    now: float,
    epoch_offset: float,
    last_progress_monotonic: float | None,
    buffer_bitrate_bps: float | None = None,
) -> AgentSnapshot:
    """Pure: the machine (monotonic times) seen at ``now``, converted to epoch seconds."""
    block = machine.last_block if machine.state is State.STREAMING else None
    totals = machine.totals
    return AgentSnapshot(
        camera=camera,
        state=machine.state,
        reason=machine.reason,
        since=machine.since + epoch_offset,
        fps=block.fps if block else None,
        target_fps=target_fps,
        speed=block.speed if block else None,
        restarts=machine.restarts_total(),
        restarts_by_reason=MappingProxyType(dict(machine.restarts)),
        consecutive_failures=machine.failures,
        black=machine.black(now, policy),
        frozen=machine.frozen,
        device=replace(device, present=machine.device_present),
        frames=totals.frames,
        dropped_frames=totals.dropped,
        duplicated_frames=totals.duplicated,
        output_bytes=totals.output_bytes,
        last_progress_at=(
            last_progress_monotonic + epoch_offset if last_progress_monotonic is not None else None
        ),
        ffmpeg_pid=ffmpeg_pid,
        ts=now + epoch_offset,
        bitrate_bps=(
            None
            if block is None
            else block.bitrate_kbps * 1000
            if block.bitrate_kbps is not None
            else buffer_bitrate_bps
        ),
    )
