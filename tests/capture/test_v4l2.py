"""The V4L2 boundary against v4l2-ctl output of real camera models.

Fixtures (tests/capture/fixtures/): a Logitech HD Pro Webcam C920 on kernel 6.1 (new
control names) and a generic "USB2.0 HD UVC WebCam" on kernel 5.15 (old names such as
``exposure_auto``), in the format of v4l-utils 1.22 ``v4l2-ctl --all`` and
``--list-ctrls-menus``. They were transcribed from these models' published output —
this machine has no V4L2 device to record them — so replace them with a real capture
(``v4l2-ctl -d /dev/videoN --all``) when one is at hand. :class:`RecordedCamera` stands
in for the device; the real ``v4l2-ctl`` is still run against a missing node.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.processes import require_binary

from trashmonitor.capture.v4l2 import (
    CID_EXPOSURE_AUTO,
    CID_FOCUS_ABSOLUTE,
    RecordedCamera,
    V4l2Device,
    device_present,
    find_control,
    parse_controls,
    parse_device_info,
    run_v4l2_ctl,
    synthetic_device,
)
from trashmonitor.errors import ControlError, DeviceError

FIXTURES = Path(__file__).parent / "fixtures"


def camera(name: str) -> RecordedCamera:
    return RecordedCamera(
        (FIXTURES / f"{name}-all.txt").read_text(),
        (FIXTURES / f"{name}-list-ctrls-menus.txt").read_text(),
    )


def test_c920_identity_and_format() -> None:
    info = parse_device_info("/dev/video0", camera("c920").all_text)
    assert info.driver == "uvcvideo"
    assert info.card == "HD Pro Webcam C920"
    assert info.bus == "usb-0000:00:14.0-2"
    assert (info.pixel_format, info.width, info.height, info.fps) == ("MJPG", 1280, 720, 15.0)


def test_generic_identity_and_format() -> None:
    info = parse_device_info("/dev/video2", camera("generic-uvc").all_text)
    assert info.card == "USB2.0 HD UVC WebCam: USB2.0 HD"
    assert (info.pixel_format, info.width, info.height, info.fps) == ("YUYV", 640, 480, 30.0)


def test_c920_controls_with_ranges_flags_and_menus() -> None:
    controls = {control.name: control for control in parse_controls(camera("c920").controls_text)}
    assert len(controls) == 17
    focus = controls["focus_absolute"]
    assert focus.cid == CID_FOCUS_ABSOLUTE
    assert (focus.type, focus.minimum, focus.maximum, focus.step) == ("int", 0, 250, 5)
    assert focus.inactive
    assert not focus.read_only
    pan = controls["pan_absolute"]
    assert (pan.minimum, pan.maximum, pan.step, pan.value) == (-36000, 36000, 3600, 0)
    plf = controls["power_line_frequency"]
    assert dict(plf.menu) == {0: "Disabled", 1: "50 Hz", 2: "60 Hz"}
    exposure = controls["auto_exposure"]
    assert dict(exposure.menu) == {1: "Manual Mode", 3: "Aperture Priority Mode"}
    assert controls["white_balance_automatic"].type == "bool"
    assert controls["white_balance_automatic"].default == 1


def test_generic_flags_read_only_and_old_names_share_cids() -> None:
    controls = parse_controls(camera("generic-uvc").controls_text)
    privacy = find_control(controls, "privacy")
    assert privacy.read_only
    assert privacy.flags == {"read-only", "volatile"}
    # the seed's (new) names and hex CIDs find the old-named controls of this camera
    assert find_control(controls, "auto_exposure").name == "exposure_auto"
    assert find_control(controls, "0x009a0901").cid == CID_EXPOSURE_AUTO
    assert find_control(controls, CID_EXPOSURE_AUTO).name == "exposure_auto"
    assert find_control(controls, "white_balance_automatic").name == (
        "white_balance_temperature_auto"
    )
    assert find_control(controls, "brightness").minimum == -64


REFUSED: list[tuple[str, int | str, str]] = [
    ("brightness", 300, "brightness must be between 0 and 255; got 300."),
    ("pan_absolute", 100,
     "pan_absolute moves in steps of 3600 (-36000, -32400, … 36000); got 100."),
    ("focus_absolute", 50, "focus_absolute is blocked while autofocus is on. "
     "Turn it off first: 'focus_automatic_continuous 0'."),
    ("power_line_frequency", 3,
     "power_line_frequency accepts 0 (Disabled), 1 (50 Hz), 2 (60 Hz); got 3."),
    ("warp_drive", 1, "Unknown control 'warp_drive'. This camera offers: auto_exposure, "
     "backlight_compensation, brightness, contrast, exposure_dynamic_framerate, "
     "exposure_time_absolute, focus_absolute, focus_automatic_continuous, gain, pan_absolute, "
     "power_line_frequency, saturation, sharpness, tilt_absolute, white_balance_automatic, "
     "white_balance_temperature, zoom_absolute."),
    ("focus_automatic_continuous", 2, "focus_automatic_continuous is on/off: send 1 or 0; got 2."),
    ("brightness", "; rm -rf /", "brightness needs a whole number (0-255); got '; rm -rf /'."),
]  # fmt: skip


def test_set_control_validates_before_touching_the_device() -> None:
    recorded = camera("c920")
    device = V4l2Device("/dev/video0", runner=recorded)
    for control, value, message in REFUSED:
        with pytest.raises(ControlError) as refused:
            device.set_control(control, value)
        assert refused.value.message == message
    assert recorded.set_calls == []  # nothing invalid ever reached the device

    device.set_control("focus_automatic_continuous", "off")
    device.set_control("brightness", "200")
    device.set_control(0x00980918, "50 hz")
    assert recorded.set_calls == [
        "focus_automatic_continuous=0",
        "brightness=200",
        "power_line_frequency=1",
    ]
    assert find_control(device.controls(), "brightness").value == 200


def test_read_only_control_is_refused() -> None:
    device = V4l2Device("/dev/video2", runner=camera("generic-uvc"))
    with pytest.raises(ControlError) as refused:
        device.set_control("privacy", 1)
    assert refused.value.message == "privacy is read-only on this camera."


def test_real_v4l2_ctl_on_a_missing_node_is_a_device_error() -> None:
    require_binary("v4l2-ctl")
    with pytest.raises(DeviceError, match="Cannot open device /dev/video-trashmon-absent"):
        run_v4l2_ctl(["-d", "/dev/video-trashmon-absent", "--all"])
    device = V4l2Device("/dev/video-trashmon-absent")
    assert not device.present()
    assert device.info().present is False


def test_presence_means_a_character_device(tmp_path: Path) -> None:
    plain = tmp_path / "video0"
    plain.write_text("")
    assert not device_present(str(plain))
    assert device_present("/dev/null")


def test_synthetic_device_for_testsrc() -> None:
    info = synthetic_device("testsrc", 320, 240, 10)
    assert info.synthetic
    assert info.present
    assert (info.driver, info.bus, info.width, info.height) == ("lavfi", "synthetic", 320, 240)
