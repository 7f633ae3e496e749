"""What the monitor knows about one capture agent, as heard over MQTT.

The MQTT observer (this module, issue 4) produces :class:`AgentView` values; the health
model (``health.py``) consumes them. Times are epoch seconds so they can be exported as
``…_timestamp_seconds`` and compared with the clock passed to the health model.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AgentView:
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
