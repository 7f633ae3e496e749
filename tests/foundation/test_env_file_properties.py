"""Env files are outside input: arbitrary bytes give settings or a ConfigError naming the
file and line, in bounded time (issue 12 point 9). Covers the shared reader
(``read_env_file``) and the capture agent's loader on top of it, down to the ffmpeg argv
it builds, which must be something a process can be given."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.properties import PROPERTIES, bounded

from trashmonitor.capture.command import build_command
from trashmonitor.capture.config import AgentConfig, config_from
from trashmonitor.capture.settings import KEYS
from trashmonitor.errors import ConfigError
from trashmonitor.settings import MAX_ENV_FILE_BYTES, read_env_file

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KEY_NAMES = [key.env for key in KEYS if key.env is not None] + ["MQTT_URL", "export FPS", "#", ""]
# Values that reach parsers' edges: numbers in every notation, control characters, quotes.
_VALUES = st.one_of(
    st.text(max_size=60),
    st.floats().map(repr),
    st.integers().map(str),
    st.sampled_from(
        ["testsrc", "lavfi:testsrc2", "/dev/video0", "rtsp://h:8554/cam", "1e300", "nan",
         "'quoted'", '"', "2M", "0", "-1", "99999999999999999999", "on", "/tmp/b|x"]
    ),
)  # fmt: skip
_LINES = st.one_of(
    st.tuples(st.sampled_from(_KEY_NAMES), st.sampled_from(["=", " = ", "=="]), _VALUES).map(
        "".join
    ),
    st.text(max_size=80),
)


def _read(data: bytes) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "cam1.env"
        path.write_bytes(data)
        return bounded(lambda: read_env_file(path))


@PROPERTIES
@given(
    st.one_of(
        st.binary(max_size=4000), st.lists(_LINES, max_size=30).map("\n".join).map(str.encode)
    )
)
def test_any_bytes_are_settings_or_a_config_error(data: bytes) -> None:
    try:
        values = _read(data)
    except ConfigError:
        return
    for key, value in values.items():
        assert IDENTIFIER.match(key)
        assert "\x00" not in value
        assert "\n" not in value


@PROPERTIES
@given(st.lists(_LINES, max_size=30))
def test_the_capture_loader_gives_a_runnable_command_or_a_config_error(lines: list[str]) -> None:
    text = "CAMERA_DEV=testsrc\nPUSH_URL=rtsp://127.0.0.1:8554/cam1\n" + "\n".join(lines)
    try:
        config = bounded(lambda: config_from("cam1", _read(text.encode())))
    except ConfigError:
        return
    assert isinstance(config, AgentConfig)
    argv = build_command(config)
    assert all(isinstance(arg, str) and "\x00" not in arg for arg in argv)


def test_a_nul_byte_is_refused_naming_the_line(tmp_path: Path) -> None:
    # Before: accepted, and ffmpeg's Popen then raised "embedded null byte" (a traceback).
    env = tmp_path / "cam1.env"
    env.write_bytes(b"CAMERA_DEV=testsrc\nPUSH_URL=rtsp://h:8554/c\x00am\n")
    with pytest.raises(ConfigError, match=r"cam1\.env:2: contains a NUL byte"):
        read_env_file(env)


def test_an_endless_file_is_refused_without_reading_it_all() -> None:
    # Before: /dev/zero given by mistake was read until memory ran out.
    with pytest.raises(ConfigError, match="larger than 1 MiB"):
        bounded(lambda: read_env_file(Path("/dev/zero")))


def test_a_file_just_under_the_bound_is_read(tmp_path: Path) -> None:
    env = tmp_path / "big.env"
    comment = b"# " + b"x" * 1000 + b"\n"
    env.write_bytes(b"FPS=15\n" + comment * ((MAX_ENV_FILE_BYTES - 7) // len(comment)))
    assert read_env_file(env) == {"FPS": "15"}
