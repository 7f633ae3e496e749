from __future__ import annotations

import argparse
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest

from trashmonitor.errors import ConfigError
from trashmonitor.monitor.play import parse_url_template
from trashmonitor.mqtt import parse_mqtt_url
from trashmonitor.settings import (
    HostPort,
    Setting,
    SettingsTable,
    count_between,
    existing_file,
    flag_or_env,
    parse_host_port,
    parse_http_url,
    parse_name_list,
    parse_seconds,
    read_env_file,
    switch,
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


def _table() -> tuple[SettingsTable, Setting[int], Setting[bool]]:
    count = Setting(
        "--count", count_between(1, 9), 3, env="X_COUNT", metavar="N", help="how many",
        commands=("a",),
    )  # fmt: skip
    loud = switch("--loud", "shout")
    return SettingsTable("demo", (count, loud)), count, loud


def test_a_declared_table_reads_flag_over_env_over_default() -> None:
    table, count, loud = _table()
    parser = argparse.ArgumentParser()
    table.add_arguments(parser, "a")
    assert table.read(parser.parse_args([]), "a", {})[count] == 3
    from_env = table.read(parser.parse_args([]), "a", {"X_COUNT": "5"})
    assert (from_env[count], from_env.source(count)) == (5, "X_COUNT")
    from_flag = table.read(parser.parse_args(["--count", "7", "--loud"]), "a", {"X_COUNT": "x"})
    assert (from_flag[count], from_flag[loud]) == (7, True)
    with pytest.raises(ConfigError, match=r"^X_COUNT: expected a whole number from 1 to 9"):
        table.read(parser.parse_args([]), "a", {"X_COUNT": "10"})
    with pytest.raises(AttributeError, match="frozen"):
        from_env.values = {}


def test_a_declared_table_generates_help_and_docs() -> None:
    table, count, _ = _table()
    parser = argparse.ArgumentParser()
    table.add_arguments(parser, "b")  # --count is a's only
    assert "--count" not in parser.format_help()
    assert count.help_text() == "how many (env X_COUNT; default 3)"
    assert table.markdown().splitlines()[2:] == [
        "| `--count N` | `X_COUNT` | `3` | a |",
        "| `--loud` | — | off |  |",
    ]


def test_a_file_under_an_unknown_users_home_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="no such home directory"):
        existing_file("~no-such-user-here/cert.pem")


@pytest.mark.parametrize(
    ("parse", "url"),
    [
        (parse_http_url, "http://bob:s3cr#et@mediamtx:9997"),
        (parse_mqtt_url, "mqtts://bob:s3cr?et@broker:8883"),
        (parse_url_template, "rtsp://bob:s3cr/et@mediamtx:8554/{name}"),
    ],
)
def test_an_invalid_port_never_carries_the_password_along(
    parse: Callable[[str], object], url: str
) -> None:
    # An unencoded / # or ? in a password moves part of it to where urlsplit reads the
    # port, and urlsplit's own error quotes that text: it must not ride along as a cause.
    with pytest.raises(ValueError, match="invalid port") as raised:
        parse(url)
    assert "s3cr" not in "".join(traceback.format_exception(raised.value))
