"""What the agent tells a control panel: its controls and a recent thumbnail.

- ``trashcam/<id>/controls``: retained JSON, the camera's V4L2 control table as the
  viewer builds its panel from it (names, types, ranges, menus, current values, and for
  a manual control the automatic one that blocks it: focus, white balance, exposure).
  Published at connect and after every successful setting.
- ``trashcam/<id>/camera``: retained JPEG thumbnail (at most one MQTT message, the same
  downscale as the Home Assistant snapshot), every ``SNAPSHOT_INTERVAL`` seconds while
  the camera's segment buffer is live (also while the publish to the media server
  fails: the camera still captures), and after each picture.

Everything here but :class:`SnapshotLoop` is pure; the agent (``capture.mqtt_agent``)
publishes what these functions return.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from trashmonitor.capture.ha_discovery import snapshot_jpeg
from trashmonitor.capture.v4l2 import AUTO_PARTNERS, Control, by_cid
from trashmonitor.mqtt import MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)

DEFAULT_SNAPSHOT_INTERVAL = 60.0
MAX_SNAPSHOT_INTERVAL = 86_400.0

PANEL_TYPES = {"int": "int", "int64": "int", "bool": "bool", "menu": "menu",
               "intmenu": "menu", "button": "button"}  # fmt: skip
"""V4L2 types a panel can show, by the panel's name for them; bitmasks, strings and
class headers are left out (nothing can set them from here)."""


def panel_control(control: Control, controls: Sequence[Control]) -> dict[str, Any] | None:
    """One control as the panel shows it, or None when a panel has nothing to offer."""
    kind = PANEL_TYPES.get(control.type)
    if kind is None or control.read_only:
        return None
    auto_pair = None
    for partner in AUTO_PARTNERS:
        if partner.manual_cid == control.cid:
            auto = by_cid(controls, partner.auto_cid)
            auto_pair = auto.name if auto is not None else None
    return {
        "name": control.name,
        "type": kind,
        "min": control.minimum,
        "max": control.maximum,
        "step": control.step,
        "default": control.default,
        "value": control.value,
        "menu": [{"index": index, "label": label} for index, label in control.menu.items()],
        "inactive": control.inactive,
        "auto_pair": auto_pair,
    }


def controls_document(camera: str, controls: Sequence[Control], ts: float) -> dict[str, Any]:
    entries = [panel_control(control, controls) for control in controls]
    return {"camera": camera, "controls": [e for e in entries if e is not None], "ts": ts}


def controls_payload(camera: str, controls: Sequence[Control], ts: float) -> bytes:
    """The retained document, at most MAX_MESSAGE_BYTES (the broker disconnects a client
    that sends more): a table too long for it keeps its first controls, and says so in
    ``truncated``."""
    document = controls_document(camera, controls, ts)
    encoded = json.dumps(document, separators=(",", ":")).encode()
    while len(encoded) > MAX_MESSAGE_BYTES and document["controls"]:
        document["controls"].pop()
        document["truncated"] = True
        encoded = json.dumps(document, separators=(",", ":")).encode()
    return encoded


def parse_snapshot_interval(text: str) -> float:
    """Seconds between thumbnails; 0 turns them off."""
    try:
        value: float | None = float(text.strip())
    except ValueError:
        value = None
    # Raised after the except block: float()'s error echoing the text (it comes over
    # MQTT) is no __context__ (``from None`` would only hide it from the printout).
    if value is None:
        raise ValueError("expected seconds, e.g. 60 (0 = off)")
    if not (value == 0 or 1 <= value <= MAX_SNAPSHOT_INTERVAL):
        raise ValueError(f"expected 0 (off) or 1 to {MAX_SNAPSHOT_INTERVAL:g} seconds")
    return value


class SnapshotLoop:
    """Every ``interval`` seconds, while ``connected()`` and the buffer is live
    (``newest_segment`` answers None otherwise), a thumbnail of the newest complete
    segment handed to ``publish`` (ffmpeg runs in this thread, never in paho's)."""

    def __init__(
        self,
        interval: float,
        newest_segment: Callable[[], Path | None],
        connected: Callable[[], bool],
        publish: Callable[[bytes], None],
    ) -> None:
        self._interval = interval
        self._newest_segment = newest_segment
        self._connected = connected
        self._publish = publish
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mqtt-snapshot", daemon=True)

    def start(self) -> None:
        if self._interval > 0:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        # The first thumbnail soon after start (a panel opened now has something to show).
        wait = min(self._interval, 2.0)
        while not self._stop.wait(wait):
            wait = self._interval
            try:
                self.take()
            except Exception:  # a failed thumbnail must not end the loop
                log.exception("snapshot failed")

    def take(self) -> bool:
        """One thumbnail now, if the buffer is live and one can be made; True when published."""
        if not self._connected():
            return False
        segment = self._newest_segment()
        if segment is None:
            return False
        jpeg = snapshot_jpeg(segment)
        if jpeg is None:
            log.warning("no thumbnail: %s does not shrink to one message", segment.name)
            return False
        self._publish(jpeg)
        return True
