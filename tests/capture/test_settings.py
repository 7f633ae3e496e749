"""The capture agent's declared settings: one table for both commands and docs/capture.md."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.properties import PROPERTIES

from trashmonitor.capture import settings as declared
from trashmonitor.capture.media import MediaSettings
from trashmonitor.capture.mqtt_agent_cli import interfaces_from, media_settings_from
from trashmonitor.capture.settings import CAPTURE, SETTINGS, STANDALONE, parse_bytes
from trashmonitor.errors import ConfigError
from trashmonitor.settings import Setting

DOCS = Path(__file__).resolve().parents[2] / "docs" / "capture.md"
BEGIN = "<!-- settings table: generated from SETTINGS"
END = "<!-- end of generated settings table -->"
SEED_KEYS = {"CAMERA_DEV", "PUSH_URL", "FPS", "WIDTH", "HEIGHT", "BITRATE", "METRICS_ADDR"}
MQTT_SIDE_KEYS = {
    "MQTT_URL", "MQTT_CA", "MQTT_CERT", "MQTT_KEY", "MQTT_KEEPALIVE", "CAPTURES_DIR",
    "CAPTURES_MAX_BYTES", "CAPTURES_MIN_FREE", "RECORD_MAX_SECONDS", "SEED_MQTT",
    "HA_DISCOVERY", "HA_DISCOVERY_PREFIX", "SNAPSHOT_INTERVAL",
}  # fmt: skip


def _parser(command: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    SETTINGS.add_arguments(parser, command)
    return parser


def test_the_docs_table_is_the_declared_table() -> None:
    text = DOCS.read_text(encoding="utf-8")
    begin = text.index(BEGIN)
    generated = text[text.index("\n", begin) + 1 : text.index(END)]
    assert generated == SETTINGS.markdown(meaning=True), (
        "docs/capture.md is out of date: paste `python -m trashmonitor.capture.settings`"
    )


def test_the_seed_keys_and_the_mqtt_side_are_in_the_one_table() -> None:
    names = {setting.env for setting in SETTINGS.settings}
    assert names >= SEED_KEYS | MQTT_SIDE_KEYS
    standalone = {setting.env for setting in SETTINGS.of(STANDALONE)}
    assert standalone == MQTT_SIDE_KEYS  # the stand-alone agent takes no capture key


def test_mqtt_side_settings_flag_over_environment_and_errors_name_the_setting() -> None:
    parser = _parser(STANDALONE)
    assert media_settings_from(SETTINGS.read(parser.parse_args([]), STANDALONE, {})) is None
    environ = {"CAPTURES_DIR": "/srv/captures", "CAPTURES_MAX_BYTES": "1G", "SEED_MQTT": "on"}
    read = SETTINGS.read(parser.parse_args(["--captures-max-bytes", "2G"]), STANDALONE, environ)
    assert media_settings_from(read) == MediaSettings(
        Path("/srv/captures"), max_capture_bytes=2 * 2**30
    )
    assert interfaces_from(read).seed is True
    with pytest.raises(ConfigError, match=r"^RECORD_MAX_SECONDS: expected a duration"):
        SETTINGS.read(parser.parse_args([]), STANDALONE, {"RECORD_MAX_SECONDS": "forever"})


def test_an_empty_captures_dir_turns_pictures_off() -> None:
    read = SETTINGS.read(_parser(CAPTURE).parse_args([]), CAPTURE, {"CAPTURES_DIR": ""})
    assert media_settings_from(read) is None


def test_a_bad_push_url_is_quoted_without_its_password() -> None:
    environ = {"PUSH_URL": "rtsp://cam:hunter2secret@host:8554/x|y"}
    with pytest.raises(ConfigError) as caught:
        SETTINGS.read(_parser(CAPTURE).parse_args([]), CAPTURE, environ)
    assert caught.value.setting == "PUSH_URL"
    assert "hunter2secret" not in caught.value.message


NO_DISK_SIZE = None  # parse_bytes refuses it: "expected a size"
NO_DISK_SIZES = ("1025T", "99999999999999999999999T", "", "-1", "1e9", "nan")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1048576", 1048576),
        ("500M", 500 * 2**20),
        ("4G", 4 * 2**30),
        ("1.5k", 1536),
        ("2GiB", 2**31),
        ("1024T", 2**50),
        *((text, NO_DISK_SIZE) for text in NO_DISK_SIZES),
    ],
)
def test_parse_bytes_reads_disk_sizes_and_refuses_the_rest(text: str, expected: int | None) -> None:
    if expected is NO_DISK_SIZE:
        with pytest.raises(ValueError, match="expected a size"):
            parse_bytes(text)
    else:
        assert parse_bytes(text) == expected


@PROPERTIES
@given(st.text(max_size=40))
def test_any_size_text_is_a_bounded_size_or_a_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        assert 0 <= parse_bytes(text) <= declared.MAX_BYTES


@PROPERTIES
@given(st.sampled_from(SETTINGS.settings), st.text(max_size=60))
def test_any_value_of_any_setting_is_read_or_refused_naming_it(
    setting: Setting[object], raw: str
) -> None:
    assert setting.env is not None
    parser = _parser(CAPTURE)
    try:
        SETTINGS.read(parser.parse_args([]), CAPTURE, {setting.env: raw})
    except ConfigError as error:
        refused: ConfigError | None = error
    else:
        refused = None
    assert refused is None or refused.setting == setting.env


def test_a_tls_file_under_an_unknown_users_home_is_a_config_error() -> None:
    """Found by the property above: ``~nobody-here/ca.pem`` made pathlib raise
    RuntimeError, a traceback instead of a one-line error."""
    parser = _parser(STANDALONE)
    with pytest.raises(ConfigError, match=r"^MQTT_CA: no such home directory"):
        SETTINGS.read(parser.parse_args([]), STANDALONE, {"MQTT_CA": "~nobody-here/ca.pem"})
