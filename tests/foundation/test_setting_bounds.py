"""Every duration, interval, timeout, keepalive and size has bounds (issue 12 point 7).

Out of range or non-finite is a one-line error naming the setting, exit 2, in every
component, checked on the real ``trashmon`` process. Before the bounds, ``1e300`` was an
OverflowError traceback (or a process that never stopped), ``1e-300`` a poll loop with
no pause, and a keepalive above 65535 an MQTT client that silently never connected.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.processes import clean_environ, free_port, run_trashmon

from trashmonitor.errors import ConfigError
from trashmonitor.settings import (
    MAX_SECONDS,
    MIN_SECONDS,
    count_between,
    parse_positive_int,
    parse_seconds,
    parse_setting,
    seconds_between,
)

SEED_ENV = "CAMERA_DEV=testsrc\nPUSH_URL=rtsp://127.0.0.1:9/cam\n"
# A run that would start for real must end: a deadline far above a one-line refusal.
REFUSAL_DEADLINE = 30


@pytest.mark.parametrize("text", ["1e300", "1e-300", "1e400", "-0", "NaN", "-inf", "0.0001ms"])
def test_default_bounds_refuse_absurd_durations(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_seconds(text)


def test_a_setting_declares_its_own_range() -> None:
    keepalive = seconds_between(1, 65535)
    assert keepalive("65535") == 65535
    assert keepalive("1") == 1
    with pytest.raises(ValueError, match="1 to 65535 seconds"):
        keepalive("65536")
    with pytest.raises(ValueError, match="1 to 65535 seconds"):
        keepalive("500ms")
    segments = count_between(1, 999)
    assert segments("999") == 999
    with pytest.raises(ValueError, match="from 1 to 999"):
        segments("1000")
    with pytest.raises(ValueError, match="whole number"):
        parse_positive_int("9" * 5000)  # Python refuses >4300 digits: still a ValueError


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_any_float_text_is_a_bounded_duration_or_a_value_error(value: float) -> None:
    try:
        seconds = parse_seconds(repr(value))
    except ValueError:
        assert not MIN_SECONDS <= value <= MAX_SECONDS
    else:
        assert math.isfinite(seconds)
        assert MIN_SECONDS <= seconds <= MAX_SECONDS


@given(st.text(max_size=200))
def test_any_text_is_a_duration_or_a_value_error(text: str) -> None:
    try:
        seconds = parse_seconds(text)
    except ValueError:
        return
    assert MIN_SECONDS <= seconds <= MAX_SECONDS


def test_a_huge_value_is_shown_cut_short() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_setting("TRASHMON_INTERVAL", "1" * 1_000_000, parse_seconds)
    assert caught.value.message.startswith("TRASHMON_INTERVAL: expected a duration of ")
    assert "(1000000 characters)" in caught.value.message
    assert len(caught.value.message) < 200


def _mqtt_files(tmp_path: Path) -> dict[str, Path]:
    # Paths only need to exist: the keepalive is refused before any TLS file is loaded.
    files = {name: tmp_path / f"{name.lower()}.pem" for name in ("CA", "CERT", "KEY")}
    for path in files.values():
        path.write_text("placeholder\n")
    return files


def _monitor_env(**settings: str) -> dict[str, str]:
    return clean_environ(
        TRASHMON_MEDIAMTX_API="http://127.0.0.1:9",
        TRASHMON_LISTEN=f"127.0.0.1:{free_port()}",
        **settings,
    )


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("TRASHMON_INTERVAL", "1e300"),
        ("TRASHMON_INTERVAL", "1e-300"),
        ("TRASHMON_TIMEOUT", "1e300"),
        ("TRASHMON_FORGET_AFTER", "1e300"),
        ("TRASHMON_DNS_INTERVAL", "1e300"),
        ("TRASHMON_AGENT_STALE_AFTER", "nan"),
    ],
)
def test_monitor_refuses_out_of_range_settings(setting: str, value: str) -> None:
    done = run_trashmon("monitor", env=_monitor_env(**{setting: value}), timeout=REFUSAL_DEADLINE)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"trashmon monitor: error: {setting}: expected a duration of ")


def test_monitor_refuses_an_mqtt_keepalive_paho_cannot_send(tmp_path: Path) -> None:
    files = _mqtt_files(tmp_path)
    env = _monitor_env(
        TRASHMON_MQTT_URL="mqtts://127.0.0.1:8883",
        TRASHMON_MQTT_CA=str(files["CA"]),
        TRASHMON_MQTT_CERT=str(files["CERT"]),
        TRASHMON_MQTT_KEY=str(files["KEY"]),
        TRASHMON_MQTT_KEEPALIVE="70000",
    )
    done = run_trashmon("monitor", env=env, timeout=REFUSAL_DEADLINE)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "trashmon monitor: error: TRASHMON_MQTT_KEEPALIVE: expected a duration of 1 to 65535 "
        "seconds, got '70000'"
    ]


def test_probe_refuses_an_endless_timeout() -> None:
    done = run_trashmon(
        "probe", "--api", "http://127.0.0.1:9", "--timeout", "1e300", timeout=REFUSAL_DEADLINE
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "trashmon probe: error: --timeout: expected a duration of 0.001 to 2.592e+06 seconds, "
        "got '1e300'"
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("CONNECT_TIMEOUT=1e300", "CONNECT_TIMEOUT: expected a duration of 0.1 to 600 seconds"),
        ("STALL_SECONDS=0.01", "STALL_SECONDS: expected a duration of 0.5 to 3600 seconds"),
        ("BACKOFF_MAX=1e300", "BACKOFF_MAX: expected a duration of 0.1 to 86400 seconds"),
        ("FREEZE_SECONDS=inf", "FREEZE_SECONDS: expected a duration of 0.1 to 3600 seconds"),
        ("KEYFRAME_INTERVAL=99999999999", "KEYFRAME_INTERVAL: expected a whole number from 1"),
        ("BITRATE=99999999M", "BITRATE: expected a bitrate above 0 and up to 1000M"),
        ("BUFFER_SEGMENTS=1000", "BUFFER_SEGMENTS: expected a whole number from 1 to 999"),
    ],
)
def test_capture_agent_refuses_out_of_range_env_file_values(
    tmp_path: Path, line: str, message: str
) -> None:
    env_file = tmp_path / "cam1.env"
    env_file.write_text(f"{SEED_ENV}{line}\n")
    done = run_trashmon(
        "capture", "--env-file", str(env_file), "--print-command", timeout=REFUSAL_DEADLINE
    )
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith(f"trashmon capture: error: {message}")


def test_capture_agent_refuses_an_out_of_range_flag(tmp_path: Path) -> None:
    env_file = tmp_path / "cam1.env"
    env_file.write_text(SEED_ENV)
    done = run_trashmon(
        "capture", "--env-file", str(env_file), "--connect-timeout", "1e300", "--print-command"
    )
    assert done.returncode == 2
    assert done.stderr.startswith("trashmon capture: error: --connect-timeout: expected a duration")


def test_capture_agent_refuses_an_mqtt_keepalive_paho_cannot_send(tmp_path: Path) -> None:
    files = _mqtt_files(tmp_path)
    env_file = tmp_path / "cam1.env"
    env_file.write_text(
        f"{SEED_ENV}METRICS_ADDR=127.0.0.1:{free_port()}\nMQTT_URL=mqtts://127.0.0.1:8883\n"
        f"MQTT_CA={files['CA']}\nMQTT_CERT={files['CERT']}\nMQTT_KEY={files['KEY']}\n"
        "MQTT_KEEPALIVE=70000\n"
    )
    done = run_trashmon("capture", "--env-file", str(env_file), timeout=REFUSAL_DEADLINE)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "trashmon capture: error: MQTT_KEEPALIVE: expected a duration of 1 to 65535 seconds, "
        "got '70000'"
    ]


def test_dns_watch_refuses_an_endless_interval() -> None:
    env = clean_environ(DNS_INTERVAL="1e300")
    done = run_trashmon("dns", "--watch", env=env, timeout=REFUSAL_DEADLINE)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "trashmon dns: error: DNS_INTERVAL: expected a duration of 0.1 to 86400 seconds, "
        "got '1e300'"
    ]
