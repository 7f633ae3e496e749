"""The camera-container seed's MQTT interface, kept for its clients (``SEED_MQTT=on``).

A translation layer only: the seed's topics and plain-text payloads in, the same parsed
and validated commands the ``trashcam/<id>/control/*`` topics run (``capture.control``,
``capture.media``), and the seed's own wording out on ``camera/status``. Everything here
is pure; :class:`~trashmonitor.capture.mqtt_agent.MqttAgent` does the applying.

The seed served one camera per broker: its topics carry no camera id, so one agent per
broker (the one the broker's ACL lets read them, ``trashmon pki --seed-camera``) serves
them. docs/mqtt.md "The seed's interface" lists every reply and how to migrate.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from trashmonitor.capture.control import (
    echo,
    parse_action,
    parse_setting,
)
from trashmonitor.capture.model import (
    Accepted,
    ActionRequest,
    Rejected,
    SeedReply,
    SettingRequest,
)
from trashmonitor.capture.v4l2 import (
    AUTO_PARTNERS,
    CID_FOCUS_AUTO,
    CID_WHITE_BALANCE_AUTO,
    Control,
    by_cid,
)

SEED_SETTINGS = "camera/control/settings"
SEED_ACTION = "camera/control/action"
SEED_STATUS = "camera/status"
SEED_TOPICS = (SEED_SETTINGS, SEED_ACTION)

# The seed's replies, word for word (seed camera-container, main.go).
INVALID_SETTING_FORMAT = "ERROR: Invalid setting format. Expected <control> <value>"
UNKNOWN_ACTION = "ERROR: Unknown action: {payload}"
AUTO_FOCUS_ON = "SUCCESS: Auto Focus ENABLED. Manual slider is now ignored."
MANUAL_FOCUS_ON = "SUCCESS: Manual Focus ENABLED. Use the slider to adjust focus."
AUTO_WB_ON = "SUCCESS: Auto White Balance ENABLED. Manual slider is now ignored."
MANUAL_WB_ON = "SUCCESS: Manual WB ENABLED. Use the slider to adjust temperature."
SETTING_SET = "SUCCESS: {control} set to {value}"
AUTO_FOCUS_FAILED = "ERROR: Auto Focus toggle failed. Output: {output}"
AUTO_WB_FAILED = "ERROR: Auto WB toggle failed. Output: {output}"
FOCUS_BLOCKED = "ERROR: Focus adjustment blocked. Please click 'Manual Focus' first."
WB_BLOCKED = (
    "ERROR: White Balance adjustment blocked. Please click 'Manual WB (Disable Auto)' first."
)
PAN_BLOCKED = (
    "ERROR: Pan adjustment blocked. The feature may be unsupported or require manual "
    "focus/zoom to be disabled."
)
SETTING_FAILED = "ERROR: Setting {control} failed. Output: {output}"
PICTURE_STARTED = "Image capturing started now!"
PICTURE_SAVED = "SUCCESS: Image saved to {path}"
PICTURE_FAILED = "ERROR: Capture failed: {output}"
RECORDING_BUSY = "Recording already in progress"
RECORDING_NOT_STARTED = "ERROR: Failed to start recording: {error}"
RECORDING_STARTS = "The Recording Starts Now!"
RECORDING_STOPS = "The Recording Stops Now!"
RECORDING_STOPPED = "Recording stopped: {path}"
NOT_RECORDING = "No recording in progress"
STOPPING = "Recording stopping..."
STOP_FAILED = "ERROR stopping recording: {error}"

_TOGGLES = {
    CID_FOCUS_AUTO: (AUTO_FOCUS_ON, MANUAL_FOCUS_ON, AUTO_FOCUS_FAILED),
    CID_WHITE_BALANCE_AUTO: (AUTO_WB_ON, MANUAL_WB_ON, AUTO_WB_FAILED),
}
_TOGGLE_NAMES = {
    "focus_automatic_continuous": CID_FOCUS_AUTO,
    "focus_auto": CID_FOCUS_AUTO,
    "white_balance_automatic": CID_WHITE_BALANCE_AUTO,
    "white_balance_temperature_auto": CID_WHITE_BALANCE_AUTO,
}
_BLOCKED = {"focus_absolute": FOCUS_BLOCKED, "white_balance_temperature": WB_BLOCKED}


def error(message: str) -> str:
    """One of our own refusals (rate limit, retained, busy) in the seed's ERROR form."""
    return f"ERROR: {message}"


def parse_seed_setting(payload: bytes) -> SettingRequest | SeedReply:
    """``<control> <value>``: exactly two words, as the seed split them; the rest of the
    checks (size, UTF-8, name) are the ``trashcam`` topic's own."""
    words = payload.decode("utf-8", errors="replace").split()
    if len(words) != 2:  # the seed's "<control> <value>"
        return SeedReply(INVALID_SETTING_FORMAT)
    parsed = parse_setting(payload)
    if isinstance(parsed, Rejected):
        return SeedReply(
            SETTING_FAILED.format(control=echo(words[0].encode()), output=parsed.message)
        )
    return parsed


def parse_seed_action(payload: bytes, max_seconds: float) -> ActionRequest | SeedReply | None:
    """The seed's actions; None for an empty payload (the seed stayed silent).

    ``picture`` and ``stop`` ignore trailing words as the seed did; bare ``record`` records
    until ``stop``, at most ``max_seconds`` (the seed recorded without bound)."""
    text = payload.decode("utf-8", errors="replace").strip()
    if not text:
        return None
    words = text.split()
    name = words[0]
    if name in ("picture", "stop"):
        return ActionRequest(name)  # type: ignore[arg-type]  # narrowed by the check above
    if name != "record":  # case-sensitive, as the seed's switch
        return SeedReply(UNKNOWN_ACTION.format(payload=echo(text.encode())))
    if len(words) == 1:
        return ActionRequest("record", max_seconds)
    parsed = parse_action(f"record {words[1]}".encode(), max_seconds)
    if isinstance(parsed, Rejected):
        return SeedReply(RECORDING_NOT_STARTED.format(error=parsed.message))
    return parsed


def setting_reply(
    request: SettingRequest, verdict: Accepted | Rejected, controls: Sequence[Control]
) -> str:
    """The seed's answer to a setting, from the outcome of the shared code path."""
    if isinstance(verdict, Accepted):
        toggle = _TOGGLES.get(verdict.control.cid)
        if toggle is not None and verdict.control.type == "bool":
            return toggle[0] if verdict.value == 1 else toggle[1]
        return SETTING_SET.format(control=request.control, value=request.value)
    toggle_cid = _TOGGLE_NAMES.get(request.control)
    if toggle_cid is not None:
        return _TOGGLES[toggle_cid][2].format(output=verdict.message)
    if request.control == "pan_absolute":
        return PAN_BLOCKED
    if request.control in _BLOCKED and _blocked_by_auto(request.control, controls):
        return _BLOCKED[request.control]
    return SETTING_FAILED.format(control=request.control, output=verdict.message)


def _blocked_by_auto(name: str, controls: Sequence[Control]) -> bool:
    """The seed's "blocked" lines, only when an automatic partner really holds the control
    (other failures, e.g. out of range, get the seed's generic line with the reason)."""
    for partner in AUTO_PARTNERS:
        manual = by_cid(controls, partner.manual_cid)
        if manual is not None and manual.name == name and manual.inactive:
            return True
    return False


def picture_reply(ok: bool, message: str, file: Path | None) -> str:
    if ok and file is not None:
        return PICTURE_SAVED.format(path=file.resolve())
    return PICTURE_FAILED.format(output=message)


def recording_done_replies(ok: bool, message: str, file: Path | None) -> list[str]:
    """What the seed said when ffmpeg ended. The seed also sent "Trimmed video saved: …"
    after re-encoding the file to cut its black start; recordings here start from the live
    buffer (no black start), so nothing is trimmed and that line is not sent."""
    if ok and file is not None:
        return [RECORDING_STOPS, RECORDING_STOPPED.format(path=file.resolve())]
    return [RECORDING_STOPS, error(message)]
