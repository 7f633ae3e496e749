"""Camera control requests over MQTT: parse, validate against the device, explain.

Everything here is pure except :class:`TableControlTarget` (an in-memory control table
that behaves like a UVC camera, for tests and for running without a device). A request
travels: payload bytes -> :func:`parse_setting` / :func:`parse_action` -> (settings only)
:func:`validate_setting` against the controls the device advertises -> applied by the
agent. Every refusal is a :class:`Rejected` carrying a sentence a person understands,
which the agent publishes on ``trashcam/<id>/events``. Nothing from a payload is ever
passed to a shell or used in a file name.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Protocol

from trashmonitor.capture.v4l2 import V4l2Device

from trashmonitor.errors import ConfigError, TrashmonError

MAX_PAYLOAD_BYTES = 512
MAX_RECORD_SECONDS = 300.0
MIN_RECORD_SECONDS = 1.0
_ECHO_CHARS = 80

ControlKind = Literal["int", "bool", "menu", "button"]
ActionName = Literal["picture", "record", "stop"]


@dataclass(frozen=True)
class ControlInfo:
    """One V4L2 control as the device advertises it (``VIDIOC_QUERY_EXT_CTRL``)."""

    name: str
    kind: ControlKind
    minimum: int = 0
    maximum: int = 1
    step: int = 1
    default: int = 0
    value: int = 0
    read_only: bool = False
    inactive: bool = False
    menu: tuple[tuple[int, str], ...] = ()
    cid: int = 0


class ControlTarget(Protocol):
    """The V4L2 boundary as the control handler needs it (the capture agent adapts its own)."""

    def controls(self) -> Sequence[ControlInfo]: ...

    def set_control(self, name: str, value: int) -> None:
        """Apply one already validated value; raise :class:`ControlFailed` on a device error."""
        ...


class ControlFailed(TrashmonError):
    """The device refused a value that passed validation (unplugged, driver error)."""


# Which automatic control makes a manual one inactive, and how to turn it off. From the
# UVC driver's behaviour (and the seed's friendly messages): these pairs are universal
# across UVC webcams such as the Logitech C920.
@dataclass(frozen=True)
class AutoControl:
    control: str
    manual_value: int
    what: str  # "autofocus", "automatic white balance", ...


AUTO_CONTROLS: Mapping[str, AutoControl] = {
    "focus_absolute": AutoControl("focus_automatic_continuous", 0, "autofocus"),
    "white_balance_temperature": AutoControl(
        "white_balance_automatic", 0, "automatic white balance"
    ),
    "exposure_time_absolute": AutoControl("auto_exposure", 1, "automatic exposure"),
}

_MANUAL_OF = {auto.control: manual for manual, auto in AUTO_CONTROLS.items()}

_TOGGLE_MESSAGES: Mapping[tuple[str, int], str] = {
    ("focus_automatic_continuous", 1): "Autofocus on. Manual focus (focus_absolute) is ignored.",
    ("focus_automatic_continuous", 0): ("Manual focus on. Adjust it with focus_absolute {range}."),
    ("white_balance_automatic", 1): (
        "Automatic white balance on. The manual temperature is ignored."
    ),
    ("white_balance_automatic", 0): (
        "Manual white balance on. Adjust it with white_balance_temperature {range}."
    ),
}


@dataclass(frozen=True)
class SettingRequest:
    control: str
    value: str


@dataclass(frozen=True)
class ActionRequest:
    action: ActionName
    seconds: float | None = None


@dataclass(frozen=True)
class Accepted:
    control: ControlInfo
    value: int


@dataclass(frozen=True)
class Rejected:
    message: str


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


def _json_object(text: str, what: str) -> dict[str, Any] | Rejected | None:
    if not text.startswith("{"):
        return None
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
    text = _text(payload, "Setting")
    if isinstance(text, Rejected):
        return text
    document = _json_object(text, "Setting")
    if isinstance(document, Rejected):
        return document
    if document is not None:
        control, value = document.get("control"), document.get("value")
        if not isinstance(control, str) or isinstance(value, dict | list) or value is None:
            return Rejected('Setting ignored: expected {"control": "<name>", "value": <value>}.')
        parts = [control, json.dumps(value) if not isinstance(value, str) else value]
    else:
        parts = text.split(None, 1)  # the value may contain spaces: a menu label "50 Hz"
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
    text = _text(payload, "Action")
    if isinstance(text, Rejected):
        return text
    document = _json_object(text, "Action")
    if isinstance(document, Rejected):
        return document
    if document is not None:
        name, seconds_value = document.get("action"), document.get("seconds")
        if not isinstance(name, str):
            return Rejected('Action ignored: expected {"action": "picture|record|stop"}.')
        parts = [name] if seconds_value is None else [name, str(seconds_value)]
    else:
        parts = text.split()
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


def _range_text(control: ControlInfo) -> str:
    step = f" in steps of {control.step}" if control.step > 1 else ""
    return f"({control.minimum}-{control.maximum}{step})"


def _parse_value(control: ControlInfo, raw: str) -> int | Rejected:
    lowered = raw.lower()
    if control.kind == "bool" and lowered in ("true", "on", "yes", "false", "off", "no"):
        return int(lowered in ("true", "on", "yes"))
    if control.kind == "menu":
        by_label = {label.lower(): index for index, label in control.menu}
        if lowered in by_label:
            return by_label[lowered]
    try:
        return int(raw, 10)
    except ValueError:
        if control.kind == "bool":
            return Rejected(f"{control.name} is on/off: send 1 or 0; got {echo(raw.encode())!r}.")
        return Rejected(
            f"{control.name} needs a whole number {_range_text(control)}; "
            f"got {echo(raw.encode())!r}."
        )


def validate_setting(  # noqa: PLR0911  (one early return per refusal reads best)
    request: SettingRequest, controls: Sequence[ControlInfo]
) -> Accepted | Rejected:
    """Check a request against what the device advertises, before anything is applied."""
    by_name = {control.name: control for control in controls}
    control = by_name.get(request.control)
    if control is None:
        offered = ", ".join(sorted(name for name, c in by_name.items() if not c.read_only))
        return Rejected(f"Unknown control '{request.control}'. This camera offers: {offered}.")
    if control.read_only or control.kind == "button":
        return Rejected(f"{control.name} is read-only on this camera.")
    value = _parse_value(control, request.value)
    if isinstance(value, Rejected):
        return value
    if control.inactive:
        auto = AUTO_CONTROLS.get(control.name)
        if auto is not None and auto.control in by_name:
            return Rejected(
                f"{control.name} is blocked while {auto.what} is on. "
                f"Turn it off first: '{auto.control} {auto.manual_value}'."
            )
        return Rejected(f"{control.name} is inactive right now: another setting controls it.")
    if control.kind == "menu" and control.menu:
        allowed = dict(control.menu)
        if value not in allowed:
            choices = ", ".join(f"{index} ({label})" for index, label in control.menu)
            return Rejected(f"{control.name} accepts {choices}; got {value}.")
        return Accepted(control, value)
    if not control.minimum <= value <= control.maximum:
        return Rejected(
            f"{control.name} must be between {control.minimum} and {control.maximum}; got {value}."
        )
    if control.step > 1 and (value - control.minimum) % control.step:
        return Rejected(
            f"{control.name} moves in steps of {control.step} "
            f"({control.minimum}, {control.minimum + control.step}, … {control.maximum}); "
            f"got {value}."
        )
    return Accepted(control, value)


def success_message(accepted: Accepted, controls: Sequence[ControlInfo]) -> str:
    """What the person sees after a change (the seed's SUCCESS lines, minus the shouting)."""
    name, value = accepted.control.name, accepted.value
    template = _TOGGLE_MESSAGES.get((name, int(bool(value))))
    if template is not None and accepted.control.kind == "bool":
        manual = next((c for c in controls if c.name == _MANUAL_OF.get(name)), None)
        return template.format(range=_range_text(manual) if manual else "").replace(" .", ".")
    if accepted.control.kind == "menu":
        label = dict(accepted.control.menu).get(value)
        if label:
            return f"{name} set to {value} ({label})."
    return f"{name} set to {value}."


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


# --- an in-memory control table --------------------------------------------------------


class TableControlTarget:
    """A control table that behaves like a UVC webcam: switching an automatic control on
    marks its manual partner inactive (as the uvcvideo driver reports it). Used by tests
    with a real camera's table, and by the agent when run without a device."""

    def __init__(self, controls: Sequence[ControlInfo]) -> None:
        self._controls = {control.name: control for control in controls}
        self._lock = threading.Lock()
        self.applied: list[tuple[str, int]] = []
        self._refresh_inactive()

    def controls(self) -> Sequence[ControlInfo]:
        with self._lock:
            return list(self._controls.values())

    def set_control(self, name: str, value: int) -> None:
        with self._lock:
            control = self._controls.get(name)
            if control is None or control.inactive or control.read_only:
                raise ControlFailed("the device refused the value")
            self._controls[name] = replace(control, value=value)
            self.applied.append((name, value))
            self._refresh_inactive()

    def _refresh_inactive(self) -> None:
        for manual, auto in AUTO_CONTROLS.items():
            if manual in self._controls and auto.control in self._controls:
                is_auto = self._controls[auto.control].value != auto.manual_value
                self._controls[manual] = replace(self._controls[manual], inactive=is_auto)


def load_control_table(path: Path) -> list[ControlInfo]:
    """A JSON list of controls (the fields of :class:`ControlInfo`)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        return [
            ControlInfo(
                **{**item, "menu": tuple((int(i), str(s)) for i, s in item.get("menu", []))}
            )
            for item in document
        ]
    except (OSError, ValueError, TypeError) as error:
        raise ConfigError(str(path), f"not a control table ({error.__class__.__name__})") from None


# --- the capture agent's device as a ControlTarget ------------------------------------

_KINDS: dict[str, ControlKind] = {"int": "int", "bool": "bool", "menu": "menu", "intmenu": "menu"}
_KINDS["button"] = "button"


class DeviceControls:
    """Adapts the V4L2 boundary (``capture.v4l2``) to :class:`ControlTarget`.

    Controls of types the handler cannot set safely (int64, bitmask, string) are left
    out, so asking for one is "unknown control" rather than a half-understood write.
    """

    def __init__(self, device: V4l2Device) -> None:
        self._device = device

    def controls(self) -> Sequence[ControlInfo]:
        try:
            advertised = self._device.controls()
        except TrashmonError as error:
            raise ControlFailed(f"cannot read the camera's controls: {error.message}") from None
        return [
            ControlInfo(
                name=control.name,
                kind=_KINDS[control.type],
                minimum=control.minimum or 0,
                maximum=control.maximum if control.maximum is not None else 1,
                step=control.step or 1,
                default=control.default or 0,
                value=control.value or 0,
                read_only=control.read_only,
                inactive=control.inactive,
                menu=tuple(sorted(control.menu.items())),
                cid=control.cid,
            )
            for control in advertised
            if control.type in _KINDS
        ]

    def set_control(self, name: str, value: int) -> None:
        try:
            self._device.set_control(name, value)
        except TrashmonError as error:
            raise ControlFailed(f"the camera refused {name}={value}: {error.message}") from None
