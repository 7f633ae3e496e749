"""Control requests: parsing, validation against a real camera's table, friendly refusals."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from trashmonitor.capture.control import (
    Accepted,
    ActionRequest,
    ControlInfo,
    Rejected,
    SettingRequest,
    TableControlTarget,
    TokenBucket,
    load_control_table,
    parse_action,
    parse_setting,
    success_message,
    validate_setting,
)

C920 = Path(__file__).parent / "fixtures" / "c920_controls.json"


@pytest.fixture
def camera() -> TableControlTarget:
    return TableControlTarget(load_control_table(C920))


def _apply(camera: TableControlTarget, payload: str) -> Accepted | Rejected:
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


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("brightness", "expected '<control> <value>'"),
        ("Bright-ness 1", "Unknown control"),
        ('{"control": "brightness"}', 'expected {"control"'),
        ("{not json", "not valid JSON"),
        ("", "empty"),
    ],
)
def test_setting_format_errors(payload: str, message: str) -> None:
    verdict = parse_setting(payload.encode())
    assert isinstance(verdict, Rejected)
    assert message in verdict.message


def test_in_range_value_is_applied(camera: TableControlTarget) -> None:
    verdict = _apply(camera, "brightness 200")
    assert isinstance(verdict, Accepted)
    assert camera.applied == [("brightness", 200)]
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
    camera: TableControlTarget, payload: str, message: str
) -> None:
    verdict = _apply(camera, payload)
    assert isinstance(verdict, Rejected)
    assert message in verdict.message
    assert camera.applied == []


def test_manual_focus_after_turning_autofocus_off(camera: TableControlTarget) -> None:
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


def test_menu_by_label_and_read_only() -> None:
    table = [
        ControlInfo("power_line_frequency", "menu", 0, 2, menu=((0, "Disabled"), (1, "50 Hz"))),
        ControlInfo("sensor_temperature", "int", 0, 100, read_only=True),
    ]
    request = parse_setting(b"power_line_frequency 50 hz")
    assert request == SettingRequest("power_line_frequency", "50 hz")
    verdict = validate_setting(request, table)
    assert isinstance(verdict, Accepted)
    assert verdict.value == 1
    assert success_message(verdict, table) == "power_line_frequency set to 1 (50 Hz)."
    read_only = validate_setting(SettingRequest("sensor_temperature", "5"), table)
    assert read_only == Rejected("sensor_temperature is read-only on this camera.")


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
    ("payload", "message"),
    [
        ("dance", "Unknown action 'dance'. Use picture, record <seconds> or stop."),
        ("record", "Say how long to record"),
        ("record -5", "Recording length must be between 1 and 300 seconds; got -5."),
        ("record 0", "between 1 and 300"),
        ("record 1e12", "between 1 and 300"),
        ("record nan", "between 1 and 300"),
        ("record inf", "between 1 and 300"),
        ("record ten", "between 1 and 300"),
        ("picture now", "'picture' takes no argument"),
        ('{"action": 5}', 'expected {"action"'),
    ],
)
def test_action_refusals(payload: str, message: str) -> None:
    verdict = parse_action(payload.encode())
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
