"""The monitor's declared settings: the table is the contract of docs/monitor.md."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.properties import PROPERTIES, bounded

from trashmonitor.alerts.config import DEFAULT_CONFIG
from trashmonitor.errors import ConfigError
from trashmonitor.monitor import config
from trashmonitor.monitor.model import Thresholds
from trashmonitor.settings import ReadSettings, Setting, parse_host_port

DOCS = Path(__file__).resolve().parents[2] / "docs" / "monitor.md"
BEGIN = "<!-- settings table: generated from SETTINGS"
END = "<!-- end of generated settings table -->"

# The contract as docs/monitor.md stated it before the table was declared: flag,
# environment variable, commands, a value to set, what it reads as, and the default.
CONTRACT: list[tuple[str, str | None, tuple[str, ...], str, object, object]] = [
    ("--api", "TRASHMON_MEDIAMTX_API", config.BOTH, "http://h:1/", "http://h:1",
     "http://127.0.0.1:9997"),
    ("--parked", "TRASHMON_PARKED", config.BOTH, "a,b", frozenset({"a", "b"}), frozenset()),
    ("--expect", "TRASHMON_EXPECT", config.BOTH, "a b", frozenset({"a", "b"}), frozenset()),
    ("--metrics-url", "TRASHMON_MEDIAMTX_METRICS", ("monitor",), "http://m:9998",
     "http://m:9998/metrics", None),
    ("--listen", "TRASHMON_LISTEN", ("monitor",), ":0", parse_host_port("127.0.0.1:0"),
     parse_host_port("127.0.0.1:9843")),
    ("--interval", "TRASHMON_INTERVAL", ("monitor",), "250ms", 0.25, 1.0),
    ("--timeout", "TRASHMON_TIMEOUT", ("monitor",), "3", 3.0, 2.0),
    ("--timeout", None, ("probe",), "4", 4.0, 10.0),
    ("--stall-window", None, ("probe",), "2", 2.0, None),
    ("--forget-after", "TRASHMON_FORGET_AFTER", ("monitor",), "60", 60.0, 86400.0),
    ("--stale-after", "TRASHMON_STALE_AFTER", ("monitor",), "5", 5.0, None),
    ("--max-cameras", "TRASHMON_MAX_CAMERAS", ("monitor",), "7", 7, 20_000),
    ("--mediamtx-max-body", "TRASHMON_MEDIAMTX_MAX_BODY", config.BOTH, "65536", 65536,
     16 * 1024 * 1024),
    ("--stall-after", "TRASHMON_STALL_AFTER", ("monitor",), "3", 3.0, 1.5),
    ("--frames-error-window", "TRASHMON_FRAMES_ERROR_WINDOW", config.BOTH, "20", 20.0, 10.0),
    ("--frames-error-min", "TRASHMON_FRAMES_ERROR_MIN", config.BOTH, "4", 4, 1),
    ("--agent-stale-after", "TRASHMON_AGENT_STALE_AFTER", config.BOTH, "30", 30.0, 90.0),
    ("--low-fps-ratio", "TRASHMON_LOW_FPS_RATIO", config.BOTH, "0.7", 0.7, 0.5),
    ("--dns-interval", "TRASHMON_DNS_INTERVAL", ("monitor",), "30", 30.0, None),
]  # fmt: skip


def _parser(command: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    config.SETTINGS.add_arguments(parser, command)
    return parser


def _setting(flag: str, command: str) -> Setting[object]:
    (found,) = [s for s in config.SETTINGS.of(command) if s.flag == flag]
    return found


@pytest.mark.parametrize("row", CONTRACT, ids=[f"{row[0]}-{row[2][0]}" for row in CONTRACT])
def test_every_documented_flag_and_variable_keeps_its_name_and_default(
    row: tuple[str, str | None, tuple[str, ...], str, object, object],
) -> None:
    flag, env, commands, raw, value, default = row
    for command in commands:
        setting = _setting(flag, command)
        parser = _parser(command)
        assert config.SETTINGS.read(parser.parse_args([]), command, {})[setting] == default
        assert config.SETTINGS.read(parser.parse_args([flag, raw]), command, {})[setting] == value
        if env is None:
            assert setting.env is None
            continue
        from_env = config.SETTINGS.read(parser.parse_args([]), command, {env: raw})
        assert (from_env[setting], from_env.source(setting)) == (value, env)
        # A flag beats the environment, whatever the environment holds.
        both = config.SETTINGS.read(parser.parse_args([flag, raw]), command, {env: "bad!"})
        assert (both[setting], both.source(setting)) == (value, flag)


def test_the_docs_table_is_the_declared_table() -> None:
    text = DOCS.read_text(encoding="utf-8")
    begin = text.index(BEGIN)
    generated = text[text.index("\n", begin) + 1 : text.index(END)]
    assert generated == config.SETTINGS.markdown(), (
        "docs/monitor.md is out of date: paste `python -m trashmonitor.monitor.config`"
    )


def test_a_bad_value_names_what_the_user_set_and_no_more() -> None:
    parser = _parser("monitor")
    with pytest.raises(ConfigError, match=r"^TRASHMON_INTERVAL: expected a duration"):
        config.SETTINGS.read(parser.parse_args([]), "monitor", {"TRASHMON_INTERVAL": "fast"})
    with pytest.raises(ConfigError, match=r"^--max-cameras: expected a whole number from 1"):
        config.SETTINGS.read(parser.parse_args(["--max-cameras", "0"]), "monitor", {})


def test_stale_after_is_bounded_by_the_interval_and_named_as_set() -> None:
    parser = _parser("monitor")
    settings = config.SETTINGS.read(
        parser.parse_args(["--interval", "2"]), "monitor", {"TRASHMON_STALE_AFTER": "1"}
    )
    with pytest.raises(ConfigError, match=r"^TRASHMON_STALE_AFTER: expected between one interval"):
        config.stale_after(settings, 2.0)
    default = config.SETTINGS.read(parser.parse_args(["--interval", "2"]), "monitor", {})
    assert config.stale_after(default, 2.0) == 6.0


def test_metrics_off_and_default_follow_the_api() -> None:
    parser = _parser("monitor")
    api = ["--api", "http://cams.example/api"]
    derived = config.SETTINGS.read(parser.parse_args(api), "monitor", {})
    assert config.metrics_target(derived) == "http://cams.example:9998/metrics"
    for off in ("off", "none", ""):
        read = config.SETTINGS.read(parser.parse_args(api), "monitor", {
            "TRASHMON_MEDIAMTX_METRICS": off
        })  # fmt: skip
        assert config.metrics_target(read) is None


def test_one_source_for_the_thresholds_the_alerts_share() -> None:
    # The health model's default is the source; the alert rules derive theirs from it.
    assert DEFAULT_CONFIG.low_fps_ratio == Thresholds().low_fps_ratio == 0.5
    assert _setting("--low-fps-ratio", "probe").default == Thresholds().low_fps_ratio


ENV_SETTINGS = [s for s in config.SETTINGS.settings if s.env is not None]


@PROPERTIES
@given(index=st.integers(0, len(ENV_SETTINGS) - 1), raw=st.text(max_size=200))
def test_any_environment_value_reads_or_is_one_line_naming_the_variable(
    index: int, raw: str
) -> None:
    setting = ENV_SETTINGS[index]
    assert setting.env is not None
    command = setting.commands[0]
    args = _parser(command).parse_args([])
    outcome = bounded(lambda: _read_or_error(args, command, {setting.env or "": raw}))
    if isinstance(outcome, ConfigError):
        assert outcome.message.startswith(f"{setting.env}: ")
        assert "\n" not in outcome.message
        assert len(outcome.message) < 400  # a long value is cut, never echoed whole
    else:
        assert setting in outcome.values


def _read_or_error(
    args: argparse.Namespace, command: str, environ: dict[str, str]
) -> ReadSettings | ConfigError:
    try:
        return config.SETTINGS.read(args, command, environ)
    except ConfigError as error:
        return error
