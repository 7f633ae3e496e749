"""The capture agent: supervised ffmpeg, V4L2 boundary, image and device health.

What other components build on (the MQTT side in particular):

* :class:`Agent` — ``run()`` blocks; ``snapshot()`` returns the current
  :class:`AgentSnapshot` from any thread; ``add_listener(callback)`` is called with a
  snapshot on every change of state, reason, black/frozen or device presence;
  ``request_stop()`` (or the ``stop`` event given to ``run``) ends it.
* :func:`state_message` (``capture.snapshot``) — a snapshot's ``trashcam/<id>/state`` JSON.
* :class:`AgentConfig` (``buffer_dir``: rolling 1 s MPEG-TS segments of the published
  stream, listed oldest first by :func:`buffer_segments`, plus ``buffer.m3u8``).
* :class:`V4l2Device`, :class:`Control`, :func:`find_control`, :class:`ControlError`,
  :class:`RecordedCamera` (the test double replaying a real camera's v4l2-ctl output).
"""

from trashmonitor.capture.command import SEGMENT_PLAYLIST, buffer_segments, build_command
from trashmonitor.capture.config import AgentConfig, config_from, load_config
from trashmonitor.capture.model import AgentSnapshot, DeviceInfo, State
from trashmonitor.capture.supervisor import Agent
from trashmonitor.capture.v4l2 import (
    Control,
    RecordedCamera,
    V4l2Device,
    find_control,
    synthetic_device,
)
from trashmonitor.errors import ControlError, DeviceError

__all__ = [
    "SEGMENT_PLAYLIST",
    "Agent",
    "AgentConfig",
    "AgentSnapshot",
    "Control",
    "ControlError",
    "DeviceError",
    "DeviceInfo",
    "RecordedCamera",
    "State",
    "V4l2Device",
    "buffer_segments",
    "build_command",
    "config_from",
    "find_control",
    "load_config",
    "synthetic_device",
]
