"""The seed's MQTT command lines translated into the agent's requests
(capture/seed_interface.py): pure, and the payloads are outside input (hypothesis). The
same lines over a real broker against the agent: tests/mqtt/test_seed_interface.py."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from support.mosquitto import C920_CONTROLS
from support.properties import PROPERTIES, bounded

from trashmonitor.capture.control import MAX_PAYLOAD_BYTES, MAX_RECORD_SECONDS, validate_setting
from trashmonitor.capture.model import ActionRequest, SeedReply, SettingRequest
from trashmonitor.capture.seed_interface import parse_seed_action, parse_seed_setting, setting_reply
from trashmonitor.capture.v4l2 import parse_controls

# --- pure: the translation ------------------------------------------------------------


def test_parse_seed_setting_splits_like_the_seed() -> None:
    assert parse_seed_setting(b"brightness 128") == SettingRequest("brightness", "128")
    assert parse_seed_setting(b"  brightness\t128 \n") == SettingRequest("brightness", "128")
    for malformed in (b"", b"brightness", b"power_line_frequency 50 Hz", b"a b c"):
        assert parse_seed_setting(malformed) == SeedReply(
            "ERROR: Invalid setting format. Expected <control> <value>"
        )


def test_parse_seed_action_follows_the_seeds_switch() -> None:
    assert parse_seed_action(b"", 300) is None
    assert parse_seed_action(b"   ", 300) is None
    assert parse_seed_action(b"picture", 300) == ActionRequest("picture")
    assert parse_seed_action(b"picture now", 300) == ActionRequest("picture")
    assert parse_seed_action(b"record", 120) == ActionRequest("record", 120)
    assert parse_seed_action(b"record 10", 120) == ActionRequest("record", 10)
    assert parse_seed_action(b"Picture", 300) == SeedReply("ERROR: Unknown action: Picture")
    assert parse_seed_action(b"rm -rf \x00/", 300) == SeedReply("ERROR: Unknown action: rm -rf ?/")


# --- properties: seed payloads are outside input --------------------------------------

_SEED_PAYLOADS = st.one_of(
    st.binary(max_size=MAX_PAYLOAD_BYTES + 64),
    st.text(max_size=120).map(str.encode),
    st.tuples(
        st.sampled_from(
            [
                "picture",
                "record",
                "stop",
                "focus_absolute",
                "pan_absolute",
                "white_balance_automatic",
                "brightness",
                "Record",
                "{",
            ]
        ),
        st.text(max_size=20),
    ).map(lambda parts: " ".join(parts).encode()),
)
_C920_TABLE = tuple(parse_controls(C920_CONTROLS.read_text(encoding="utf-8")))


@PROPERTIES
@given(_SEED_PAYLOADS)
def test_any_seed_setting_gets_a_request_or_a_seed_line(payload: bytes) -> None:
    parsed = bounded(lambda: parse_seed_setting(payload))
    if isinstance(parsed, SeedReply):
        assert parsed.text.startswith("ERROR: ")
        assert parsed.text.isprintable()
        return
    assert isinstance(parsed, SettingRequest)
    line = setting_reply(parsed, validate_setting(parsed, _C920_TABLE), _C920_TABLE)
    assert line.startswith(("SUCCESS: ", "ERROR: "))
    assert line.isprintable()


@PROPERTIES
@given(_SEED_PAYLOADS, st.floats(min_value=1, max_value=MAX_RECORD_SECONDS))
def test_any_seed_action_is_silence_a_request_or_a_seed_line(
    payload: bytes, max_seconds: float
) -> None:
    parsed = bounded(lambda: parse_seed_action(payload, max_seconds))
    if parsed is None:
        assert not payload.decode("utf-8", errors="replace").strip()
    elif isinstance(parsed, SeedReply):
        assert parsed.text.startswith("ERROR: ")
        assert parsed.text.isprintable()
    else:
        assert isinstance(parsed, ActionRequest)
        if parsed.action == "record":
            assert parsed.seconds is not None
            assert 1 <= parsed.seconds <= max_seconds
