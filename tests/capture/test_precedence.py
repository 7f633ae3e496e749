"""Every agent setting: flag > process environment > env file > unit directory > default
(the defaults themselves: test_config.py).

The process environment used to be ignored, so a systemd ``Environment=`` override (or
``FPS=5 trashmon capture``) did nothing although the README promised it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
from support.processes import clean_environ, run_trashmon

from trashmonitor.capture.config import add_arguments, agent_environment, load_config
from trashmonitor.capture.mqtt_agent_cli import media_settings_from
from trashmonitor.capture.settings import KEYS, SETTINGS, STANDALONE
from trashmonitor.errors import ConfigError
from trashmonitor.settings import HostPort

BASE = {"CAMERA_DEV": "testsrc", "PUSH_URL": "rtsp://base.example:8554/cam"}

# Per key: (file value, environment value, flag value) and what each parses to.
LAYERS: dict[str, tuple[tuple[str, Any], tuple[str, Any], tuple[str, Any]]] = {
    "CAMERA_DEV": (("/dev/video0", "/dev/video0"), ("testsrc", "testsrc"),
                   ("lavfi:smptebars", "lavfi:smptebars")),
    "PUSH_URL": (("rtsp://a:8554/x", "rtsp://a:8554/x"), ("rtsp://b:8554/x", "rtsp://b:8554/x"),
                 ("rtsps://c:8322/x", "rtsps://c:8322/x")),
    "FPS": (("15", 15), ("10", 10), ("5", 5)),
    "WIDTH": (("1280", 1280), ("640", 640), ("320", 320)),
    "HEIGHT": (("720", 720), ("480", 480), ("240", 240)),
    "BITRATE": (("2M", "2M"), ("800k", "800k"), ("300000", "300000")),
    "INPUT_FORMAT": (("mjpeg", "mjpeg"), ("yuyv422", "yuyv422"), ("h264", "h264")),
    "KEYFRAME_INTERVAL": (("30", 30), ("20", 20), ("10", 10)),
    "METRICS_ADDR": (("127.0.0.1:9001", HostPort("127.0.0.1", 9001)),
                     ("127.0.0.1:9002", HostPort("127.0.0.1", 9002)),
                     ("127.0.0.1:9003", HostPort("127.0.0.1", 9003))),
    "STALL_SECONDS": (("3", 3.0), ("4", 4.0), ("5", 5.0)),
    "CONNECT_TIMEOUT": (("3", 3.0), ("4", 4.0), ("5", 5.0)),
    "BLACK_SECONDS": (("3", 3.0), ("4", 4.0), ("5", 5.0)),
    "FREEZE_SECONDS": (("3", 3.0), ("4", 4.0), ("5", 5.0)),
    "IMAGE_HEALTH": (("off", False), ("on", True), ("off", False)),
    "BUFFER_DIR": (("/b/file", Path("/b/file")), ("/b/env", Path("/b/env")),
                   ("/b/flag", Path("/b/flag"))),
    "BUFFER_SEGMENTS": (("10", 10), ("20", 20), ("40", 40)),
    "BACKOFF_INITIAL": (("2", 2.0), ("3", 3.0), ("4", 4.0)),
    "BACKOFF_MAX": (("60", 60.0), ("70", 70.0), ("80", 80.0)),
    "FFMPEG": (("/opt/a/ffmpeg", "/opt/a/ffmpeg"), ("/opt/b/ffmpeg", "/opt/b/ffmpeg"),
               ("/opt/c/ffmpeg", "/opt/c/ffmpeg")),
}  # fmt: skip
# STREAM_USER and STREAM_PASSWORD_FILE only work as a pair: tested together below.
PAIRED = {"STREAM_USER", "STREAM_PASSWORD_FILE"}


def test_every_key_is_in_the_layer_table() -> None:
    assert {key.env for key in KEYS} == set(LAYERS) | PAIRED


def _load(
    tmp_path: Path, file_values: dict[str, str], environ: dict[str, str], argv: list[str]
) -> Any:
    env_file = tmp_path / "cam.env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in file_values.items()))
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--env-file", str(env_file), *argv])
    with pytest.MonkeyPatch.context() as patch:
        for name in [key.env for key in KEYS if key.env]:
            patch.delenv(name, raising=False)
        for name, value in environ.items():
            patch.setenv(name, value)
        return load_config(args)


@pytest.mark.parametrize("env_key", sorted(LAYERS))
def test_each_layer_overrides_the_one_below(tmp_path: Path, env_key: str) -> None:
    key = next(k for k in KEYS if k.env == env_key)
    (in_file, from_file), (in_env, from_env), (in_flag, from_flag) = LAYERS[env_key]
    base = {k: v for k, v in BASE.items() if k != env_key}
    layers = [
        ({**base, env_key: in_file}, {}, [], from_file),
        ({**base, env_key: in_file}, {env_key: in_env}, [], from_env),
        ({**base, env_key: in_file}, {env_key: in_env}, [key.flag, in_flag], from_flag),
    ]
    for file_values, environ, argv, expected in layers:
        loaded = _load(tmp_path, file_values, environ, argv)
        assert getattr(loaded, key.attribute) == expected, (file_values, environ, argv)


def test_stream_credentials_follow_the_same_layers(tmp_path: Path) -> None:
    for name in ("file", "env", "flag"):
        (tmp_path / f"{name}.pw").write_text(f"pw-{name}\n")
    file_values = {
        **BASE,
        "STREAM_USER": "u-file",
        "STREAM_PASSWORD_FILE": str(tmp_path / "file.pw"),
    }
    environ = {"STREAM_USER": "u-env", "STREAM_PASSWORD_FILE": str(tmp_path / "env.pw")}
    flags = ["--stream-user", "u-flag", "--stream-password-file", str(tmp_path / "flag.pw")]

    for env, argv, expected in [
        ({}, [], ("u-file", "pw-file")),
        (environ, [], ("u-env", "pw-env")),
        (environ, flags, ("u-flag", "pw-flag")),
    ]:
        loaded = _load(tmp_path, file_values, env, argv)
        assert (loaded.stream_user, loaded.stream_password) == expected


def test_a_bad_environment_value_is_named_like_a_file_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, BASE, {"FPS": "fast"}, [])
    assert caught.value.message == "FPS: expected a whole number, got 'fast'"


def test_unrelated_environment_variables_are_not_settings(tmp_path: Path) -> None:
    env_file = tmp_path / "cam.env"
    env_file.write_text("FPS=15\n")
    layered = agent_environment(env_file, {"PATH": "/bin", "HOME": "/root", "FPS": "9"})
    assert layered == {"FPS": "9"}


def _media(environ: dict[str, str], argv: list[str]) -> Any:
    parser = argparse.ArgumentParser()
    SETTINGS.add_arguments(parser, STANDALONE)
    return media_settings_from(SETTINGS.read(parser.parse_args(argv), STANDALONE, environ))


def test_captures_settings_layer_the_same_way(tmp_path: Path) -> None:
    env_file = tmp_path / "cam.env"
    env_file.write_text("CAPTURES_DIR=/c/file\nCAPTURES_MIN_FREE=1M\n")
    unit = {"STATE_DIRECTORY": "/var/lib/trashcam/cam", "RUNTIME_DIRECTORY": "/run/trashcam/cam"}

    assert _media(agent_environment(None, {}), []) is None  # default: no captures
    assert _media(agent_environment(None, unit), []).captures_dir == Path(
        "/var/lib/trashcam/cam/captures"
    )
    from_file = _media(agent_environment(env_file, unit), [])
    assert (from_file.captures_dir, from_file.min_free_bytes) == (Path("/c/file"), 1024**2)
    from_env = _media(agent_environment(env_file, {**unit, "CAPTURES_DIR": "/c/env"}), [])
    assert from_env.captures_dir == Path("/c/env")
    flagged = agent_environment(env_file, {**unit, "CAPTURES_DIR": "/c/env"})
    assert _media(flagged, ["--captures-dir", "/c/flag"]).captures_dir == Path("/c/flag")


def test_unit_directories_default_the_buffer_and_captures(tmp_path: Path) -> None:
    """Under trashcam@.service (RuntimeDirectory=/StateDirectory=trashcam/%i) picture and
    record work without any key: the only writable places under ProtectSystem=strict."""
    unit = {"RUNTIME_DIRECTORY": "/run/trashcam/cam", "STATE_DIRECTORY": "/var/lib/trashcam/cam"}
    loaded = _load(tmp_path, BASE, unit, [])
    assert loaded.buffer_dir == Path("/run/trashcam/cam/buffer")
    outside_systemd = _load(tmp_path, BASE, {}, [])
    assert outside_systemd.buffer_dir is None


def test_unit_directory_reference_outside_systemd_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, {**BASE, "BUFFER_DIR": "${RUNTIME_DIRECTORY}/buffer"}, {}, [])
    assert caught.value.setting == "BUFFER_DIR"
    assert "RuntimeDirectory=" in caught.value.message


def test_systemd_environment_override_reaches_the_real_cli(tmp_path: Path) -> None:
    """What `Environment=FPS=5` in a drop-in does: the real `trashmon capture` obeys it."""
    env_file = tmp_path / "cam.env"
    env_file.write_text("CAMERA_DEV=testsrc\nPUSH_URL=rtsp://127.0.0.1:9/cam\nFPS=15\n")
    environ = {**clean_environ(FPS="5"), "RUNTIME_DIRECTORY": str(tmp_path / "run")}
    done = run_trashmon(
        "capture", "--env-file", str(env_file), "--print-command", env=environ, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "testsrc2=size=1280x720:rate=5" in done.stdout
    assert f"{tmp_path / 'run' / 'buffer'}/seg%03d.ts" in done.stdout
