"""MQTT settings: URL parsing, flag > env, the agent/monitor variable names, bad input."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from trashmonitor.errors import ConfigError
from trashmonitor.mqtt import (
    AGENT_SETTINGS,
    MONITOR_SETTINGS,
    BrokerAddress,
    add_mqtt_arguments,
    mqtt_settings,
    parse_mqtt_url,
    split_topic,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mqtts://broker:8883", BrokerAddress("broker", 8883)),
        ("mqtts://broker", BrokerAddress("broker", 8883)),
        ("mqtts://[::1]:9883", BrokerAddress("::1", 9883)),
    ],
)
def test_parse_mqtt_url(text: str, expected: BrokerAddress) -> None:
    assert parse_mqtt_url(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("mqtt://broker:1883", "plain mqtt:// is not supported"),
        ("broker:8883", "expected an mqtts://"),
        ("mqtts://user:pw@broker", "put no credentials in the URL"),
        ("mqtts://broker:99999", "invalid port"),
        ("mqtts://", "no host"),
    ],
)
def test_parse_mqtt_url_refuses(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_mqtt_url(text)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_mqtt_arguments(parser, AGENT_SETTINGS)
    return parser.parse_args(argv)


def test_monitor_reads_trashmon_prefixed_variables(tmp_path: Path) -> None:
    for name in ("ca", "cert", "key"):
        (tmp_path / name).write_text("x")
    env = {
        "TRASHMON_MQTT_URL": "mqtts://broker:8883",
        "TRASHMON_MQTT_CA": str(tmp_path / "ca"),
        "TRASHMON_MQTT_CERT": str(tmp_path / "cert"),
        "TRASHMON_MQTT_KEY": str(tmp_path / "key"),
        "MQTT_URL": "mqtts://agent-only:1",
    }
    settings = mqtt_settings(_parse(["--mqtt-keepalive", "5"]), MONITOR_SETTINGS, env)
    assert settings is not None
    assert settings.broker == BrokerAddress("broker", 8883)
    assert settings.keepalive == 5.0
    assert mqtt_settings(_parse([]), MONITOR_SETTINGS, {}) is None


def test_missing_files_name_the_variable(tmp_path: Path) -> None:
    env = {"MQTT_URL": "mqtts://broker", "MQTT_CA": str(tmp_path / "nope.crt")}
    with pytest.raises(ConfigError, match=r"MQTT_CA: file not found"):
        mqtt_settings(_parse([]), AGENT_SETTINGS, env)
    (tmp_path / "ca").write_text("x")
    env["MQTT_CA"] = str(tmp_path / "ca")
    with pytest.raises(ConfigError, match=r"MQTT_CERT: required with an MQTT URL"):
        mqtt_settings(_parse([]), AGENT_SETTINGS, env)
    with pytest.raises(ConfigError, match=r"--mqtt-url: expected an mqtts://"):
        mqtt_settings(_parse(["--mqtt-url", "tcp://x"]), AGENT_SETTINGS, env)


def test_a_file_under_an_unknown_users_home_is_a_config_error() -> None:
    """``~nobody-here/ca.pem``: pathlib raised RuntimeError, a traceback, not exit 2."""
    env = {"MQTT_URL": "mqtts://broker", "MQTT_CA": "~nobody-here/ca.pem"}
    with pytest.raises(ConfigError, match=r"^MQTT_CA: no such home directory"):
        mqtt_settings(_parse([]), AGENT_SETTINGS, env)


def test_split_topic() -> None:
    assert split_topic("trashcam/cam1/control/action") == ("cam1", "control/action")
    assert split_topic("trashcam/+/status") is None
    assert split_topic("trashcam/cam1") is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "MQTT_URL: required"),
        ({"MQTT_URL": "mqtt://x"}, "MQTT_URL: expected an mqtts://"),
        ({"MQTT_URL": "mqtts://x", "MQTT_CA": "/nonexistent"}, "MQTT_CA: file not found"),
    ],
)
def test_agent_entry_point_bad_config_is_one_line(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "trashmonitor.capture.mqtt_agent", "--camera", "cam1"],
        capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", **env}, cwd=tmp_path,
        timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
