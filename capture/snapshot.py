"""The agent's snapshot taken and rendered: :func:`take_snapshot` (the machine seen at
one instant, as a :class:`~trashmonitor.capture.model.AgentSnapshot`) and
:func:`state_message` / :func:`state_document`, the ``trashcam/<id>/state`` JSON of
docs/contracts.md.
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType
from typing import Any

from trashmonitor.capture.model import AgentSnapshot, DeviceInfo, Machine, Policy, State


def state_message(snapshot: AgentSnapshot) -> dict[str, Any]:
    """The ``trashcam/<id>/state`` payload of a snapshot (docs/contracts.md, MQTT topics)."""
    return state_document(
        camera=snapshot.camera,
        state=str(snapshot.state),
        ts=snapshot.ts,
        fps=snapshot.fps,
        target_fps=snapshot.target_fps,
        speed=snapshot.speed,
        restarts=snapshot.restarts,
        consecutive_failures=snapshot.consecutive_failures,
        bitrate_bps=snapshot.bitrate_bps,
        black=snapshot.black,
        frozen=snapshot.frozen,
        device=snapshot.device,
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
