"""Control requests: parsing, validation against a real camera's table, friendly refusals.

The cameras are the recorded ``v4l2-ctl`` listings of tests/capture/fixtures (a C920 on
kernel 6.1, a generic UVC camera with the old control names), replayed through the real
V4L2 boundary (``V4l2Device`` over ``RecordedCamera``), so these tests exercise the same
control model and validation the capture agent uses on a real device.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType

import pytest

from trashmonitor.capture import mqtt_agent_cli
from trashmonitor.capture.control import (
    TokenBucket,
    parse_action,
    parse_setting,
    success_message,
    validate_setting,
)
from trashmonitor.capture.model import Accepted, ActionRequest, Rejected, SettingRequest
from trashmonitor.capture.v4l2 import Control, RecordedCamera, V4l2Device
from trashmonitor.errors import EXIT_UNDECIDED

FIXTURES = Path(__file__).parents[1] / "capture" / "fixtures"


def recorded(name: str) -> RecordedCamera:
    return RecordedCamera("", (FIXTURES / f"{name}-list-ctrls-menus.txt").read_text())


@pytest.fixture
def c920() -> RecordedCamera:
    return recorded("c920")


@pytest.fixture
def camera(c920: RecordedCamera) -> V4l2Device:
    return V4l2Device("/dev/video0", runner=c920)


def _apply(camera: V4l2Device, payload: str) -> Accepted | Rejected:
    request = parse_setting(payload.encode())
    assert isinstance(request, SettingRequest), request
    verdict = validate_setting(request, camera.controls())
    if isinstance(verdict, Accepted):
        camera.set_control(verdict.control.name, verdict.value)
    return verdict


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("brightness 128", SettingRequest("brightness", "128")),
        ("  brightness\t 128 ", SettingRequest("brightness", "128")),
        ('{"control": "brightness", "value": 128}', SettingRequest("brightness", "128")),
        ('{"control": "focus_automatic_continuous", "value": false}',
         SettingRequest("focus_automatic_continuous", "false")),
    ],
)  # fmt: skip
def test_setting_formats(payload: str, expected: SettingRequest) -> None:
    assert parse_setting(payload.encode()) == expected


def test_in_range_value_is_applied(camera: V4l2Device, c920: RecordedCamera) -> None:
    verdict = _apply(camera, "brightness 200")
    assert isinstance(verdict, Accepted)
    assert c920.set_calls == ["brightness=200"]
    assert success_message(verdict, camera.controls()) == "brightness set to 200."


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("zoom_continuous 3", "Unknown control 'zoom_continuous'. This camera offers: "
         "auto_exposure, backlight_compensation, brightness"),
        ("brightness 256", "brightness must be between 0 and 255; got 256."),
        ("brightness -1", "brightness must be between 0 and 255; got -1."),
        ("brightness bright", "brightness needs a whole number (0-255); got 'bright'."),
        ("brightness 1e3", "brightness needs a whole number (0-255); got '1e3'."),
        ("brightness 1 2", "brightness needs a whole number (0-255); got '1 2'."),
        ("pan_absolute 100", "pan_absolute moves in steps of 3600 (-36000, -32400, … 36000)"),
        ("auto_exposure 2", "auto_exposure accepts 1 (Manual Mode), 3 (Aperture Priority Mode); "
         "got 2."),
        ("focus_automatic_continuous maybe", "focus_automatic_continuous is on/off: send 1 or 0"),
        ("focus_absolute 100", "focus_absolute is blocked while autofocus is on. "
         "Turn it off first: 'focus_automatic_continuous 0'."),
        ("white_balance_temperature 4500", "white_balance_temperature is blocked while automatic "
         "white balance is on. Turn it off first: 'white_balance_automatic 0'."),
        ("exposure_time_absolute 100", "blocked while automatic exposure is on. "
         "Turn it off first: 'auto_exposure 1'."),
    ],
)  # fmt: skip
def test_refusals_explain_themselves(
    camera: V4l2Device, c920: RecordedCamera, payload: str, message: str
) -> None:
    verdict = _apply(camera, payload)
    assert isinstance(verdict, Rejected)
    assert message in verdict.message
    assert c920.set_calls == []


def test_manual_focus_after_turning_autofocus_off(camera: V4l2Device) -> None:
    off = _apply(camera, "focus_automatic_continuous 0")
    assert isinstance(off, Accepted)
    assert success_message(off, camera.controls()) == (
        "Manual focus on. Adjust it with focus_absolute (0-250 in steps of 5)."
    )
    assert isinstance(_apply(camera, "focus_absolute 7"), Rejected)  # off the 5-step grid
    assert isinstance(_apply(camera, "focus_absolute 120"), Accepted)
    on = _apply(camera, "focus_automatic_continuous on")
    assert isinstance(on, Accepted)
    assert success_message(on, camera.controls()).startswith("Autofocus on.")
    assert isinstance(_apply(camera, "focus_absolute 125"), Rejected)


def test_old_kernel_names_get_the_same_friendly_answers() -> None:
    camera = V4l2Device("/dev/video2", runner=recorded("generic-uvc"))
    blocked = _apply(camera, "exposure_absolute 100")
    assert blocked == Rejected(
        "exposure_absolute is blocked while automatic exposure is on. "
        "Turn it off first: 'exposure_auto 1'."
    )
    manual = _apply(camera, "white_balance_automatic off")  # the seed's (new) name
    assert isinstance(manual, Accepted)
    assert manual.control.name == "white_balance_temperature_auto"
    assert success_message(manual, camera.controls()) == (
        "Manual white balance on. Adjust it with white_balance_temperature "
        "(2800-6500 in steps of 10)."
    )
    assert _apply(camera, "privacy 1") == Rejected("privacy is read-only on this camera.")


def test_menu_by_label_and_read_only() -> None:
    plf = MappingProxyType({0: "Disabled", 1: "50 Hz"})
    table = [
        Control(0x00980918, "power_line_frequency", "menu", 0, 2, menu=plf),
        Control(0x009A0999, "sensor_temperature", "int", 0, 100, flags=frozenset({"read-only"})),
    ]
    request = parse_setting(b"power_line_frequency 50 hz")
    assert request == SettingRequest("power_line_frequency", "50 hz")
    verdict = validate_setting(request, table)
    assert isinstance(verdict, Accepted)
    assert verdict.value == 1
    assert success_message(verdict, table) == "power_line_frequency set to 1 (50 Hz)."
    read_only = validate_setting(SettingRequest("sensor_temperature", "5"), table)
    assert read_only == Rejected("sensor_temperature is read-only on this camera.")
    trigger = Control(0x009A0998, "focus_trigger", "button")
    assert validate_setting(SettingRequest("focus_trigger", "1"), [*table, trigger]) == Rejected(
        "focus_trigger cannot be set from here (a button control)."
    )


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("picture", ActionRequest("picture")),
        ("PICTURE", ActionRequest("picture")),
        ("stop", ActionRequest("stop")),
        ("record 3", ActionRequest("record", 3.0)),
        ("record 2.5", ActionRequest("record", 2.5)),
        ('{"action": "record", "seconds": 10}', ActionRequest("record", 10.0)),
        ('{"action": "picture"}', ActionRequest("picture")),
    ],
)
def test_actions(payload: str, expected: ActionRequest) -> None:
    assert parse_action(payload.encode()) == expected


@pytest.mark.parametrize(
    ("parse", "payload", "message"),
    [
        (parse_setting, "brightness", "expected '<control> <value>'"),
        (parse_setting, "Bright-ness 1", "Unknown control"),
        (parse_setting, '{"control": "brightness"}', 'expected {"control"'),
        (parse_setting, "{not json", "not valid JSON"),
        (parse_setting, "", "empty"),
        (parse_action, "dance", "Unknown action 'dance'. Use picture, record <seconds> or stop."),
        (parse_action, "record", "Say how long to record"),
        (parse_action, "record -5", "Recording length must be between 1 and 300 seconds; got -5."),
        (parse_action, "record 0", "between 1 and 300"),
        (parse_action, "record 1e12", "between 1 and 300"),
        (parse_action, "record nan", "between 1 and 300"),
        (parse_action, "record inf", "between 1 and 300"),
        (parse_action, "record ten", "between 1 and 300"),
        (parse_action, "picture now", "'picture' takes no argument"),
        (parse_action, '{"action": 5}', 'expected {"action"'),
    ],
)
def test_setting_and_action_refusals_say_why(
    parse: Callable[[bytes], object], payload: str, message: str
) -> None:
    verdict = parse(payload.encode())
    assert isinstance(verdict, Rejected)
    assert message in verdict.message


def test_record_bound_is_configurable() -> None:
    assert isinstance(parse_action(b"record 30", max_seconds=10), Rejected)
    assert parse_action(b"record 10", max_seconds=10) == ActionRequest("record", 10.0)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\xff\xfe\x00binary", "not UTF-8 text"),
        (b"x" * 1_000_000, "the message is 1000000 bytes; at most 512 are accepted."),
        (b"brightness\x00 1", "control characters"),
        (b"brightness 1\nreboot", "control characters"),
    ],
)
def test_unreadable_payloads_are_refused_by_both_parsers(payload: bytes, message: str) -> None:
    for parser in (parse_setting, parse_action):
        verdict = parser(payload)
        assert isinstance(verdict, Rejected)
        assert message in verdict.message


def test_token_bucket_bounds_the_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=3.0)
    assert [bucket.allow(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.allow(0.25) is False  # half a token refilled
    assert bucket.allow(0.5) is True
    assert sum(bucket.allow(10.0) for _ in range(10)) == 3  # refills only up to the burst
    assert not math.isnan(bucket.rate)


def test_controls_file_must_be_a_recorded_listing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listing = tmp_path / "c920.json"
    listing.write_text('[{"name": "brightness"}]')  # the old JSON table format
    argv = ["--camera", "camA", "--controls-file", str(listing)]
    assert mqtt_agent_cli.main(argv) == EXIT_UNDECIDED
    error = capsys.readouterr().err
    assert error == (
        f"mqtt_agent: error: --controls-file: {listing} lists no controls "
        "(expected v4l2-ctl --list-ctrls-menus)\n"
    )
    device = mqtt_agent_cli.recorded_device(FIXTURES / "c920-list-ctrls-menus.txt")
    assert len(device.controls()) == 17
