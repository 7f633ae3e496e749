"""The V4L2 boundary: device presence, identity, current format and controls.

Access is through Debian's ``v4l2-ctl`` (v4l-utils), run without a shell, and its text
output is parsed here. Why not the alternatives:

* linuxpy is GPL-3.0-or-later; importing it would make the MIT agent a GPL derivative.
  Running the ``v4l2-ctl`` program is not linking, so the licence question disappears.
* raw ioctls via ctypes mean hand-maintained struct layouts per architecture (the
  capture hosts include arm64 boards); a mistake there corrupts memory silently.
* ``v4l2-ctl`` output is exactly what a user can record and attach to a bug report, so
  fixtures of real cameras are easy to collect. Control *names* changed across kernels
  (``exposure_auto`` → ``auto_exposure``), so controls are keyed by their CID, which
  ``--list-ctrls-menus`` prints next to each name; old names resolve via the CID.

Controls are queried rarely (at start, on a settings request), so one short-lived
process per query is cheap. Out-of-range values are rejected, never clipped.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from trashmonitor.capture.model import DeviceInfo
from trashmonitor.errors import ControlError, DeviceError

V4L2_CTL = "v4l2-ctl"
Runner = Callable[[Sequence[str]], str]
"""Runs an argv and returns stdout; raises DeviceError on failure. Tests inject fixtures."""


SETTABLE_TYPES = frozenset({"int", "bool", "menu", "intmenu", "int64"})
"""What may be set from outside; buttons, bitmasks and strings are left alone rather than
half-understood."""


@dataclass(frozen=True)
class Control:
    """One V4L2 control as the device advertises it (VIDIOC_QUERY_EXT_CTRL).

    The one control model of the project: :meth:`parse_value` and :meth:`check` are the
    one validation path, for ``V4l2Device.set_control`` and for requests over MQTT alike.
    """

    cid: int
    name: str
    type: str
    """int, bool, menu, intmenu, button, int64, bitmask, string…"""
    minimum: int | None = None
    maximum: int | None = None
    step: int | None = None
    default: int | None = None
    value: int | None = None
    flags: frozenset[str] = frozenset()
    menu: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def inactive(self) -> bool:
        return "inactive" in self.flags

    @property
    def read_only(self) -> bool:
        return "read-only" in self.flags or "disabled" in self.flags

    @property
    def settable(self) -> bool:
        return not self.read_only and self.type in SETTABLE_TYPES

    def range_text(self) -> str:
        """``(0-250 in steps of 5)``; empty when the device gives no range."""
        if self.minimum is None or self.maximum is None:
            return ""
        step = f" in steps of {self.step}" if self.step and self.step > 1 else ""
        return f"({self.minimum}-{self.maximum}{step})"

    def check_settable(self) -> None:
        """ControlError unless a value may be written to this control at all."""
        if self.read_only:
            raise ControlError(self.name, f"{self.name} is read-only on this camera.")
        if self.type not in SETTABLE_TYPES:
            raise ControlError(
                self.name, f"{self.name} cannot be set from here (a {self.type} control)."
            )

    def check(self, value: int, controls: Sequence[Control] = ()) -> int:
        """``value`` if this control accepts it now; ControlError with the reason otherwise.

        ``controls`` (the device's whole table) lets an inactive control name the
        automatic control that blocks it, with the name this camera's kernel uses.
        """
        self.check_settable()
        if self.inactive:
            raise ControlError(self.name, _inactive_message(self, controls))
        if self.type == "bool":
            if value not in (0, 1):
                raise ControlError(self.name, f"{self.name} is on/off: send 1 or 0; got {value}.")
            return value
        if self.type in ("menu", "intmenu") and self.menu:
            if value not in self.menu:
                choices = ", ".join(f"{key} ({label})" for key, label in self.menu.items())
                raise ControlError(self.name, f"{self.name} accepts {choices}; got {value}.")
            return value
        low, high = self.minimum, self.maximum
        if low is not None and high is not None and not low <= value <= high:
            raise ControlError(
                self.name, f"{self.name} must be between {low} and {high}; got {value}."
            )
        if self.step and self.step > 1 and low is not None and (value - low) % self.step:
            raise ControlError(
                self.name,
                f"{self.name} moves in steps of {self.step} "
                f"({low}, {low + self.step}, … {high}); got {value}.",
            )
        return value

    def parse_value(self, text: str) -> int:
        """An integer, on/off for booleans, or a menu label (case-insensitive)."""
        cleaned = text.strip()
        lowered = cleaned.lower()
        if self.type == "bool" and lowered in _BOOL_WORDS:
            return _BOOL_WORDS[lowered]
        for key, label in self.menu.items():
            if label.lower() == lowered:
                return key
        try:
            return int(cleaned, 10)
        except ValueError:
            pass
        # Raised after the except block: int()'s error echoing the whole value sent over
        # MQTT is no __context__ (``from None`` would only hide it from the printout);
        # the message shows at most 40 characters of it.
        shown = repr(cleaned[:40] + ("…" if len(cleaned) > 40 else ""))
        if self.type == "bool":
            problem = f"{self.name} is on/off: send 1 or 0; got {shown}."
        else:
            wanted = f"a whole number {self.range_text()}".rstrip()
            problem = f"{self.name} needs {wanted}; got {shown}."
        raise ControlError(self.name, problem)


_BOOL_WORDS = {"on": 1, "off": 0, "true": 1, "false": 0, "yes": 1, "no": 0}

# Control IDs from linux/v4l2-controls.h, for hints and names that changed across kernels.
CID_WHITE_BALANCE_AUTO = 0x0098090C
CID_WHITE_BALANCE_TEMPERATURE = 0x0098091A
CID_EXPOSURE_AUTO = 0x009A0901
CID_EXPOSURE_ABSOLUTE = 0x009A0902
CID_FOCUS_ABSOLUTE = 0x009A090A
CID_FOCUS_AUTO = 0x009A090C


@dataclass(frozen=True)
class AutoPartner:
    """An automatic control that makes a manual one inactive while it is on (as the
    uvcvideo driver reports it); universal across UVC webcams such as the C920."""

    manual_cid: int
    auto_cid: int
    manual_value: int
    """The automatic control's value that hands over to the manual one."""
    what: str


AUTO_PARTNERS = (
    AutoPartner(CID_FOCUS_ABSOLUTE, CID_FOCUS_AUTO, 0, "autofocus"),
    AutoPartner(
        CID_WHITE_BALANCE_TEMPERATURE, CID_WHITE_BALANCE_AUTO, 0, "automatic white balance"
    ),
    AutoPartner(CID_EXPOSURE_ABSOLUTE, CID_EXPOSURE_AUTO, 1, "automatic exposure"),
)


def by_cid(controls: Sequence[Control], cid: int) -> Control | None:
    return next((control for control in controls if control.cid == cid), None)


def _inactive_message(control: Control, controls: Sequence[Control]) -> str:
    for partner in AUTO_PARTNERS:
        auto = by_cid(controls, partner.auto_cid) if partner.manual_cid == control.cid else None
        if auto is not None:
            return (
                f"{control.name} is blocked while {partner.what} is on. "
                f"Turn it off first: '{auto.name} {partner.manual_value}'."
            )
    return f"{control.name} is inactive right now: another setting controls it."


# Both spellings resolve to the same CID, whichever kernel the camera host runs.
LEGACY_NAMES: Mapping[str, int] = MappingProxyType(
    {
        "white_balance_temperature_auto": CID_WHITE_BALANCE_AUTO,
        "white_balance_automatic": CID_WHITE_BALANCE_AUTO,
        "exposure_auto": CID_EXPOSURE_AUTO,
        "auto_exposure": CID_EXPOSURE_AUTO,
        "exposure_absolute": CID_EXPOSURE_ABSOLUTE,
        "exposure_time_absolute": CID_EXPOSURE_ABSOLUTE,
        "focus_auto": CID_FOCUS_AUTO,
        "focus_automatic_continuous": CID_FOCUS_AUTO,
    }
)

_CONTROL_LINE = re.compile(
    r"^\s*(?P<name>[a-z0-9_]+)\s+(?P<cid>0x[0-9a-fA-F]{8})\s+\((?P<type>[a-z0-9]+)\)\s*:\s*(?P<rest>.*)$"
)
_MENU_LINE = re.compile(r"^\s+(?P<key>-?\d+):\s*(?P<label>.*?)\s*(?:\(\d+\))?\s*$")
_NUMBER_FIELD = re.compile(r"(min|max|step|default|value)=(-?\d+)")
_FLAGS_FIELD = re.compile(r"flags=(?P<flags>[a-z\-, ]+)")


def parse_controls(text: str) -> list[Control]:
    """Controls from ``v4l2-ctl --list-ctrls-menus`` (or ``--list-ctrls``, ``--all``)."""
    controls: list[Control] = []
    current: dict[str, object] | None = None
    menu: dict[int, str] = {}

    def flush() -> None:
        if current is not None:
            controls.append(Control(**current, menu=MappingProxyType(dict(menu))))  # type: ignore[arg-type]

    for line in text.splitlines():
        match = _CONTROL_LINE.match(line)
        if match:
            flush()
            menu = {}
            rest = match.group("rest")
            numbers = {key: int(value) for key, value in _NUMBER_FIELD.findall(rest)}
            flags_match = _FLAGS_FIELD.search(rest)
            flags = (
                frozenset(flag.strip() for flag in flags_match.group("flags").split(",") if flag)
                if flags_match
                else frozenset()
            )
            current = {
                "cid": int(match.group("cid"), 16),
                "name": match.group("name"),
                "type": match.group("type"),
                "minimum": numbers.get("min"),
                "maximum": numbers.get("max"),
                "step": numbers.get("step"),
                "default": numbers.get("default"),
                "value": numbers.get("value"),
                "flags": frozenset(flag for flag in flags if flag),
            }
            continue
        menu_match = _MENU_LINE.match(line) if current is not None else None
        if menu_match and line.startswith("\t"):
            menu[int(menu_match.group("key"))] = menu_match.group("label")
        elif line.strip() and not line.startswith((" ", "\t")):
            flush()  # a section header ("User Controls") ends the previous control
            current, menu = None, {}
    flush()
    return controls


def _field(text: str, section: str, name: str) -> str:
    """``name : value`` inside the indented block under ``section:``."""
    in_section = False
    for line in text.splitlines():
        if not line.startswith(("\t", " ")):
            in_section = line.strip().rstrip(":") == section
            continue
        if in_section:
            key, sep, value = line.strip().partition(":")
            if sep and key.strip() == name:
                return value.strip()
    return ""


def parse_device_info(path: str, text: str) -> DeviceInfo:
    """Identity and current format from ``v4l2-ctl --all``."""
    size = _field(text, "Format Video Capture", "Width/Height")
    width = height = None
    if re.fullmatch(r"\d+/\d+", size):
        width, height = (int(part) for part in size.split("/"))
    pixel = re.match(r"'(\w+)'", _field(text, "Format Video Capture", "Pixel Format"))
    fps_text = _field(text, "Streaming Parameters Video Capture", "Frames per second")
    fps_match = re.match(r"([\d.]+)", fps_text)
    return DeviceInfo(
        path=path,
        present=True,
        driver=_field(text, "Driver Info", "Driver name"),
        card=_field(text, "Driver Info", "Card type"),
        bus=_field(text, "Driver Info", "Bus info"),
        pixel_format=pixel.group(1) if pixel else "",
        width=width,
        height=height,
        fps=float(fps_match.group(1)) if fps_match else None,
    )


def run_v4l2_ctl(argv: Sequence[str]) -> str:
    """The real runner: v4l2-ctl with a timeout, failures mapped to DeviceError."""
    try:
        done = subprocess.run(
            [V4L2_CTL, *argv], capture_output=True, timeout=5, check=False, stdin=subprocess.DEVNULL
        )
    except FileNotFoundError as error:
        raise DeviceError(f"{V4L2_CTL} is not installed (Debian package v4l-utils)") from error
    except subprocess.TimeoutExpired as error:
        raise DeviceError(f"{V4L2_CTL} {' '.join(argv[:3])}: no answer within 5 s") from error
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).decode("utf-8", "replace").strip().splitlines()
        raise DeviceError(f"{V4L2_CTL}: {detail[0][:200] if detail else f'exit {done.returncode}'}")
    return done.stdout.decode("utf-8", "replace")


def device_present(path: str) -> bool:
    """True if ``path`` exists and is a character device (what V4L2 nodes are)."""
    try:
        return stat.S_ISCHR(os.stat(path).st_mode)
    except OSError:
        return False


class V4l2Device:
    """One camera node. ``runner`` defaults to the real v4l2-ctl."""

    def __init__(self, path: str, runner: Runner = run_v4l2_ctl) -> None:
        self.path = path
        self._run = runner

    def present(self) -> bool:
        return device_present(self.path)

    def info(self) -> DeviceInfo:
        """Identity and format; a device that is gone is reported, not raised."""
        try:
            return parse_device_info(self.path, self._run(["-d", self.path, "--all"]))
        except DeviceError:
            return DeviceInfo(path=self.path, present=False)

    def controls(self) -> list[Control]:
        return parse_controls(self._run(["-d", self.path, "--list-ctrls-menus"]))

    def set_control(self, control: str | int, value: int | str) -> Control:
        """Validate against what the device advertises now, then set; returns the control."""
        controls = self.controls()
        target, number = validate(controls, control, value)
        self._run(["-d", self.path, "-c", f"{target.name}={number}"])
        return target


def find_control(controls: Sequence[Control], wanted: str | int) -> Control:
    """By CID (int or ``0x…`` text), current name, or a legacy name of the same CID."""
    cid: int | None = wanted if isinstance(wanted, int) else None
    if isinstance(wanted, str):
        text = wanted.strip()
        for control in controls:
            if control.name == text:
                return control
        numeric = re.fullmatch(r"0x[0-9a-fA-F]+|\d+", text)
        cid = int(text, 0) if numeric else LEGACY_NAMES.get(text)
    found = by_cid(controls, cid) if cid is not None else None
    if found is None:
        offered = ", ".join(sorted(control.name for control in controls if control.settable))
        shown = str(wanted)[:60]
        raise ControlError(shown, f"Unknown control '{shown}'. This camera offers: {offered}.")
    return found


def validate(
    controls: Sequence[Control], wanted: str | int, value: int | str
) -> tuple[Control, int]:
    """The control ``wanted`` names and the value it would take; ControlError otherwise.

    Pure: checked against ``controls`` (the device's table read just before), in the
    order a person fixes things: which control, may it be set, the value's form, then
    whether the device accepts it now.
    """
    control = find_control(controls, wanted)
    control.check_settable()
    number = control.parse_value(value) if isinstance(value, str) else value
    return control, control.check(number, controls)


def synthetic_device(path: str, width: int, height: int, fps: float) -> DeviceInfo:
    """What ``CAMERA_DEV=testsrc`` (or ``lavfi:``) reports: ffmpeg's own generator."""
    return DeviceInfo(
        path=path,
        present=True,
        driver="lavfi",
        card="ffmpeg testsrc2" if path == "testsrc" else "ffmpeg lavfi graph",
        bus="synthetic",
        pixel_format="YU12",
        width=width,
        height=height,
        fps=fps,
        synthetic=True,
    )


class RecordedCamera:
    """A :data:`Runner` that replays recorded ``v4l2-ctl`` output of a real camera.

    The test double for hosts without V4L2 (the whole CI), and the stand-alone MQTT
    agent's camera when it runs without a device: it answers ``--all`` and
    ``--list-ctrls-menus`` from the recordings and records ``-c name=value`` calls,
    applying them as the uvcvideo driver does: a later listing shows the new value, and
    switching an automatic control on or off marks its manual partner (in)active.
    """

    def __init__(self, all_text: str, controls_text: str) -> None:
        self.all_text = all_text
        self.controls_text = controls_text
        self.set_calls: list[str] = []

    def __call__(self, argv: Sequence[str]) -> str:
        if "--all" in argv:
            return self.all_text
        if "--list-ctrls-menus" in argv or "--list-ctrls" in argv:
            return self.controls_text
        if "-c" in argv:
            assignment = argv[argv.index("-c") + 1]
            self.set_calls.append(assignment)
            name, _, value = assignment.partition("=")
            self.controls_text = re.sub(
                rf"(^\s*{re.escape(name)} .*?\bvalue=)-?\d+",
                rf"\g<1>{value}",
                self.controls_text,
                flags=re.MULTILINE,
            )
            self._follow_automatic_controls()
            return ""
        raise DeviceError(f"recorded camera cannot answer {' '.join(argv)}")

    def _follow_automatic_controls(self) -> None:
        controls = parse_controls(self.controls_text)
        for partner in AUTO_PARTNERS:
            manual = by_cid(controls, partner.manual_cid)
            auto = by_cid(controls, partner.auto_cid)
            if manual is None or auto is None:
                continue
            flags = set(manual.flags) - {"inactive"}
            if auto.value != partner.manual_value:
                flags.add("inactive")
            rendered = f" flags={', '.join(sorted(flags))}" if flags else ""
            self.controls_text = re.sub(
                rf"^(\s*{re.escape(manual.name)} 0x.*?)(?: flags=[a-z\-, ]+)?$",
                rf"\g<1>{rendered}",  # flag names are letters, dashes, commas: no escapes
                self.controls_text,
                count=1,
                flags=re.MULTILINE,
            )
