from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from trashmonitor.errors import ConfigError
from trashmonitor.settings import (
    HostPort,
    flag_or_env,
    parse_host_port,
    parse_http_url,
    parse_name_list,
    parse_seconds,
    read_env_file,
)


def test_env_file_reads_seed_keys_quotes_and_comments(tmp_path: Path) -> None:
    env = tmp_path / "cam1.env"
    env.write_text(
        "# seed-style camera file\n"
        "CAMERA_DEV=/dev/video0\n"
        'PUSH_URL="rtsp://trashmonitor-rtsp:8554/cam1"\n'
        "export FPS=15\n"
        "\n"
        "BITRATE='1500k'\n"
    )
    assert read_env_file(env) == {
        "CAMERA_DEV": "/dev/video0",
        "PUSH_URL": "rtsp://trashmonitor-rtsp:8554/cam1",
        "FPS": "15",
        "BITRATE": "1500k",
    }


def test_env_file_errors_name_the_file_and_line(tmp_path: Path) -> None:
    env = tmp_path / "bad.env"
    env.write_text("FPS=15\nthis is not an assignment\n")
    with pytest.raises(ConfigError, match=r"bad\.env:2: expected KEY=value"):
        read_env_file(env)
    with pytest.raises(ConfigError, match="env file not found"):
        read_env_file(tmp_path / "missing.env")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9843", HostPort("127.0.0.1", 9843)),
        (":9843", HostPort("127.0.0.1", 9843)),
        ("[::1]:80", HostPort("::1", 80)),
        ("0.0.0.0:0", HostPort("0.0.0.0", 0)),
    ],
)
def test_host_port(text: str, expected: HostPort) -> None:
    assert parse_host_port(text) == expected


@pytest.mark.parametrize("text", ["9843", "host:", "host:99999", "host:http"])
def test_host_port_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"port|host:port"):
        parse_host_port(text)


@pytest.mark.parametrize(
    ("text", "seconds"), [("2", 2.0), ("0.5", 0.5), ("1.5s", 1.5), ("250ms", 0.25)]
)
def test_seconds(text: str, seconds: float) -> None:
    assert parse_seconds(text) == seconds


@pytest.mark.parametrize("text", ["fast", "0", "-1", "inf", "nan", ""])
def test_seconds_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_seconds(text)


def test_urls_and_lists() -> None:
    assert parse_http_url("http://host/api/") == "http://host/api"
    with pytest.raises(ValueError, match="http"):
        parse_http_url("ftp://host")
    with pytest.raises(ValueError, match="port"):
        parse_http_url("http://host:notaport")
    assert parse_name_list("a, b  c,,") == frozenset({"a", "b", "c"})


def _interval(flag: str | None, env: dict[str, str]) -> float:
    return flag_or_env(
        argparse.Namespace(interval=flag),
        attribute="interval",
        flag="--interval",
        env_var="TRASHMON_INTERVAL",
        parse=parse_seconds,
        default=1.0,
        environ=env,
    )


def test_flag_beats_env_beats_default() -> None:
    assert _interval(None, {}) == 1.0
    assert _interval(None, {"TRASHMON_INTERVAL": "3"}) == 3.0
    assert _interval("0.5", {"TRASHMON_INTERVAL": "3"}) == 0.5


def test_invalid_values_name_what_the_user_set() -> None:
    with pytest.raises(ConfigError, match=r"^TRASHMON_INTERVAL: expected a duration"):
        _interval(None, {"TRASHMON_INTERVAL": "fast"})
    with pytest.raises(ConfigError, match=r"^--interval: "):
        _interval("soon", {})
