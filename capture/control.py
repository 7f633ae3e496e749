"""Camera control requests over MQTT: parse, validate against the device, explain.

Everything here is pure. A request travels: payload bytes -> :func:`parse_setting` /
:func:`parse_action` -> (settings only) :func:`validate_setting` against the controls the
device advertises (the one control model and validation of ``capture.v4l2``) -> applied
by the agent through the V4L2 boundary. Every refusal is a :class:`Rejected` carrying a
sentence a person understands, which the agent publishes on ``trashcam/<id>/events``.
Nothing from a payload is ever passed to a shell or used in a file name.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from trashmonitor.capture.model import Accepted, ActionRequest, Rejected, SettingRequest
from trashmonitor.capture.v4l2 import (
    AUTO_PARTNERS,
    CID_FOCUS_AUTO,
    CID_WHITE_BALANCE_AUTO,
    Control,
    by_cid,
    validate,
)
from trashmonitor.errors import ControlError

MAX_PAYLOAD_BYTES = 512
MAX_RECORD_SECONDS = 300.0
MIN_RECORD_SECONDS = 1.0
_ECHO_CHARS = 80


class ControlTarget(Protocol):
    """The V4L2 boundary as the control handler needs it: ``V4l2Device`` (over the real
    ``v4l2-ctl`` or a :class:`~trashmonitor.capture.v4l2.RecordedCamera`)."""

    def controls(self) -> Sequence[Control]: ...

    def set_control(self, control: str | int, value: int | str) -> Control:
        """Validate again against the device's current table and apply; raise a
        ``TrashmonError`` (ControlError, DeviceError) when that fails."""
        ...


# What the person reads after switching an automatic control (the seed's friendly
# SUCCESS lines); keyed by CID so old kernels' names get them too. {manual} is the
# manual partner's name on this camera, {range} its range.
_TOGGLE_MESSAGES: Mapping[tuple[int, int], str] = {
    (CID_FOCUS_AUTO, 1): "Autofocus on. Manual focus ({manual}) is ignored.",
    (CID_FOCUS_AUTO, 0): "Manual focus on. Adjust it with {manual} {range}.",
    (CID_WHITE_BALANCE_AUTO, 1): "Automatic white balance on. The manual temperature is ignored.",
    (CID_WHITE_BALANCE_AUTO, 0): "Manual white balance on. Adjust it with {manual} {range}.",
}


def echo(payload: bytes) -> str:
    """The request as it may be repeated in an event: short, printable, never raw bytes."""
    text = payload[:_ECHO_CHARS].decode("utf-8", errors="replace")
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in text)
    return cleaned + ("…" if len(payload) > _ECHO_CHARS else "")


def _text(payload: bytes, what: str) -> str | Rejected:
    if len(payload) > MAX_PAYLOAD_BYTES:
        return Rejected(
            f"{what} ignored: the message is {len(payload)} bytes; "
            f"at most {MAX_PAYLOAD_BYTES} are accepted."
        )
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        return Rejected(f"{what} ignored: the message is not UTF-8 text.")
    if not text:
        return Rejected(f"{what} ignored: the message is empty.")
    if not text.replace("\t", " ").isprintable():
        return Rejected(f"{what} ignored: the message contains control characters.")
    return text


def _message(payload: bytes, what: str) -> str | dict[str, Any] | Rejected:
    """The payload as the seed's plain text, or as a JSON object when it starts with '{'."""
    text = _text(payload, what)
    if isinstance(text, Rejected) or not text.startswith("{"):
        return text
    try:
        document = json.loads(text)
    except ValueError:
        return Rejected(f"{what} ignored: the message starts with '{{' but is not valid JSON.")
    if not isinstance(document, dict):
        return Rejected(f"{what} ignored: expected a JSON object.")
    return document


_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

SETTING_FORMAT = "expected '<control> <value>', e.g. 'brightness 128'"


def parse_setting(payload: bytes) -> SettingRequest | Rejected:
    """``<control> <value>`` (as in the seed) or ``{"control": ..., "value": ...}``."""
    message = _message(payload, "Setting")
    if isinstance(message, Rejected):
        return message
    if isinstance(message, dict):
        control, value = message.get("control"), message.get("value")
        if not isinstance(control, str) or isinstance(value, dict | list) or value is None:
            return Rejected('Setting ignored: expected {"control": "<name>", "value": <value>}.')
        parts = [control, json.dumps(value) if not isinstance(value, str) else value]
    else:
        parts = message.split(None, 1)  # the value may contain spaces: a menu label "50 Hz"
    if len(parts) != 2:
        return Rejected(f"Setting ignored: {SETTING_FORMAT}.")
    control, value = parts
    if not _NAME.match(control):
        return Rejected(f"Unknown control {echo(control.encode())!r}.")
    return SettingRequest(control, value.strip())


def parse_action(  # noqa: PLR0911  (one early return per refusal reads best)
    payload: bytes, max_seconds: float = MAX_RECORD_SECONDS
) -> ActionRequest | Rejected:
    """``picture``, ``record <seconds>``, ``stop`` or the same as JSON ``{"action": ...}``."""
    message = _message(payload, "Action")
    if isinstance(message, Rejected):
        return message
    if isinstance(message, dict):
        name, seconds_value = message.get("action"), message.get("seconds")
        if not isinstance(name, str):
            return Rejected('Action ignored: expected {"action": "picture|record|stop"}.')
        parts = [name] if seconds_value is None else [name, str(seconds_value)]
    else:
        parts = message.split()
    name = parts[0].lower()
    usage = "Use picture, record <seconds> or stop."
    if name in ("picture", "stop"):
        if len(parts) != 1:
            return Rejected(f"'{name}' takes no argument. {usage}")
        return ActionRequest(name)  # type: ignore[arg-type]  # narrowed by the check above
    if name != "record":
        return Rejected(f"Unknown action {echo(parts[0].encode())!r}. {usage}")
    if len(parts) != 2:
        return Rejected(f"Say how long to record, e.g. 'record 10' (seconds). {usage}")
    try:
        seconds = float(parts[1])
    except ValueError:
        seconds = math.nan
    if not MIN_RECORD_SECONDS <= seconds <= max_seconds:  # also false for NaN
        return Rejected(
            f"Recording length must be between {MIN_RECORD_SECONDS:g} and {max_seconds:g} "
            f"seconds; got {echo(parts[1].encode())}."
        )
    return ActionRequest("record", seconds)


def validate_setting(request: SettingRequest, controls: Sequence[Control]) -> Accepted | Rejected:
    """Check a request against what the device advertises, before anything is applied."""
    try:
        control, value = validate(controls, request.control, request.value)
    except ControlError as error:
        return Rejected(error.message)
    return Accepted(control, value)


def success_message(accepted: Accepted, controls: Sequence[Control]) -> str:
    """What the person sees after a change (the seed's SUCCESS lines, minus the shouting)."""
    control, value = accepted.control, accepted.value
    template = _TOGGLE_MESSAGES.get((control.cid, int(bool(value))))
    if template is not None and control.type == "bool":
        partner = next(p for p in AUTO_PARTNERS if p.auto_cid == control.cid)
        manual = by_cid(controls, partner.manual_cid)
        text = template.format(
            manual=manual.name if manual else "", range=manual.range_text() if manual else ""
        )
        return " ".join(text.replace(" ()", "").split()).replace(" .", ".")
    label = control.menu.get(value) if control.type in ("menu", "intmenu") else None
    if label:
        return f"{control.name} set to {value} ({label})."
    return f"{control.name} set to {value}."


# --- rate limiting ---------------------------------------------------------------------


@dataclass
class TokenBucket:
    """At most ``burst`` requests at once, refilled at ``rate`` per second (``now`` passed in)."""

    rate: float = 5.0
    burst: float = 10.0
    _tokens: float = field(default=-1.0, repr=False)
    _updated: float = field(default=0.0, repr=False)

    def allow(self, now: float) -> bool:
        if self._tokens < 0:
            self._tokens, self._updated = self.burst, now
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        self._updated = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False
