"""Configuration: the seed's env file, flags over it, and one-line errors with exit 2."""

from __future__ import annotations

import argparse
import re
import socket
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.processes import run_trashmon

from trashmonitor.capture.command import build_command
from trashmonitor.capture.config import MAX_BITRATE, add_arguments, config_from, load_config
from trashmonitor.errors import ConfigError

SEED_ENV = """\
# /etc/trashcam/frontdoor.env as the seed's ansible role writes it
CAMERA_DEV=/dev/video0
PUSH_URL=rtsp://mediamtx.tailnet:8554/frontdoor
FPS=15
WIDTH=1280
HEIGHT=720
BITRATE=2M
MQTT_URL=mqtts://broker:8883
SOMETHING_ELSE="kept for other tools"
"""


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def write_env(tmp_path: Path, text: str, name: str = "frontdoor.env") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_seed_env_file_loads_and_unknown_keys_are_fine(tmp_path: Path) -> None:
    config = load_config(parse(["--env-file", str(write_env(tmp_path, SEED_ENV))]))
    assert config.camera == "frontdoor"  # from the file name
    assert config.camera_dev == "/dev/video0"
    assert config.source_kind == "v4l2"
    assert (config.fps, config.width, config.height, config.bitrate) == (15, 1280, 720, "2M")
    assert str(config.metrics_addr) == "127.0.0.1:9844"
    assert config.stall_seconds <= 3
    assert config.buffer_dir is None


def test_flags_override_the_file_and_id_overrides_the_name(tmp_path: Path) -> None:
    env = write_env(tmp_path, SEED_ENV)
    args = parse(["--env-file", str(env), "--id", "cam7", "--fps", "10", "--camera-dev", "testsrc"])
    config = load_config(args)
    assert config.camera == "cam7"
    assert config.fps == 10
    assert config.camera_dev == "testsrc"
    assert config.width == 1280


@pytest.mark.parametrize(
    ("line", "setting"),
    [
        ("FPS=fast", "FPS"),
        ("FPS=0", "FPS"),
        ("WIDTH=641", "WIDTH"),
        ("BITRATE=lots", "BITRATE"),
        ("PUSH_URL=http://x/y", "PUSH_URL"),
        ("PUSH_URL=rtsp://host/a|b", "PUSH_URL"),
        ("CAMERA_DEV=video0", "CAMERA_DEV"),
        ("CAMERA_DEV=lavfi:", "CAMERA_DEV"),
        ("METRICS_ADDR=nope", "METRICS_ADDR"),
        ("STALL_SECONDS=-1", "STALL_SECONDS"),
        ("IMAGE_HEALTH=maybe", "IMAGE_HEALTH"),
        ("BACKOFF_MAX=0.5", "BACKOFF_MAX"),
        ("BUFFER_SEGMENTS=1000", "BUFFER_SEGMENTS"),
        ("BUFFER_DIR=/a:b", "BUFFER_DIR"),
    ],
)
def test_invalid_values_name_the_key(tmp_path: Path, line: str, setting: str) -> None:
    env = write_env(tmp_path, SEED_ENV + line + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config(parse(["--env-file", str(env)]))
    assert caught.value.setting == setting


def test_missing_required_key_is_named(tmp_path: Path) -> None:
    env = write_env(tmp_path, "CAMERA_DEV=testsrc\n")
    with pytest.raises(ConfigError, match="PUSH_URL: missing"):
        load_config(parse(["--env-file", str(env)]))


def test_flag_error_names_the_flag(tmp_path: Path) -> None:
    env = write_env(tmp_path, SEED_ENV)
    with pytest.raises(ConfigError) as caught:
        load_config(parse(["--env-file", str(env), "--fps", "x"]))
    assert caught.value.setting == "--fps"


def test_id_without_file_works_from_flags_alone() -> None:
    config = load_config(
        parse(["--id", "nofile-cam", "--camera-dev", "testsrc", "--push-url", "rtsp://h:8554/x"])
    )
    assert config.env_file is None
    assert config.source_kind == "testsrc"


def test_bad_camera_id_is_refused() -> None:
    with pytest.raises(ConfigError, match="--id"):
        load_config(parse(["--id", "../etc/passwd"]))


def test_commands_for_each_source(tmp_path: Path) -> None:
    env = write_env(tmp_path, SEED_ENV)
    v4l2 = build_command(load_config(parse(["--env-file", str(env)])))
    joined = " ".join(v4l2)
    assert "-f v4l2 -input_format mjpeg -framerate 15 -video_size 1280x720 -i /dev/video0" in joined
    assert "-c:v libx264 -preset ultrafast -tune zerolatency -pix_fmt yuv420p -g 15" in joined
    assert (
        "-f rtsp -rtsp_transport tcp -timeout 5000000 rtsp://mediamtx.tailnet:8554/frontdoor"
        in joined
    )
    assert "-progress pipe:1" in joined
    assert "freezedetect=d=2" in joined
    assert "metadata=mode=print:key=lavfi.black_start" in joined
    assert "-re" not in v4l2  # a camera paces itself
    test = build_command(load_config(parse(["--env-file", str(env), "--camera-dev", "testsrc"])))
    assert test[test.index("-i") - 3 : test.index("-i") + 2] == [
        "-re", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=15",
    ]  # fmt: skip
    off = build_command(
        load_config(parse(["--env-file", str(env), "--image-health", "off", "--buffer-dir", "/b"]))
    )
    assert "-vf" not in off
    tee = off[-1]
    assert tee.startswith("[f=rtsp:rtsp_transport=tcp:timeout=5000000:onfail=ignore]rtsp://")
    assert "|[f=segment:segment_time=1:segment_wrap=30:segment_format=mpegts" in tee
    assert tee.endswith("onfail=ignore]/b/seg%03d.ts")


def run_cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_trashmon("capture", *argv, cwd=cwd)


def test_cli_bad_value_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = write_env(tmp_path, SEED_ENV + "FPS=fast\n")
    done = run_cli("--env-file", str(env), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "trashmon capture: error: FPS: expected a whole number, got 'fast'"
    ]
    missing = run_cli("--env-file", str(tmp_path / "absent.env"), cwd=tmp_path)
    assert missing.returncode == 2
    assert "env file not found" in missing.stderr
    assert "Traceback" not in missing.stderr + done.stderr


def test_cli_metrics_address_in_use_is_exit_2(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run_cli(
            "--id", "cam1", "--camera-dev", "testsrc", "--push-url", "rtsp://127.0.0.1:9/x",
            "--metrics-addr", f"127.0.0.1:{port}", cwd=tmp_path,
        )  # fmt: skip
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith(f"trashmon capture: error: METRICS_ADDR: cannot listen on 127.0.0.1:{port}")
    )


def test_missing_key_without_env_file_says_where_it_looked() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(parse(["--id", "typo-cam", "--camera-dev", "testsrc"]))
    assert caught.value.setting == "PUSH_URL"
    assert "no /etc/trashcam/typo-cam.env" in caught.value.message
    assert "--push-url" in caught.value.message


def test_cli_print_command_redacts_credentials(tmp_path: Path) -> None:
    env = write_env(tmp_path, SEED_ENV.replace("rtsp://", "rtsp://publisher:s3cret@"))
    done = run_cli("--env-file", str(env), "--print-command", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ffmpeg -hide_banner")
    assert "rtsp://***@mediamtx.tailnet:8554/frontdoor" in done.stdout
    assert "s3cret" not in done.stdout + done.stderr


@pytest.mark.parametrize("value", ["2m", "2 M", "-1", "1e9", "2Mb", "2G", "", "1.5", "2mbit"])
def test_cli_bitrate_ffmpeg_would_misread_is_exit_2(tmp_path: Path, value: str) -> None:
    """Reproduction: BITRATE=2m validated, and ffmpeg reads m as milli: no rate cap."""
    env = write_env(tmp_path, SEED_ENV.replace("BITRATE=2M", f"BITRATE={value}"))
    done = run_cli("--env-file", str(env), "--print-command", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "trashmon capture: error: BITRATE: expected a bitrate in bit/s such as 2M, 800k or "
        f"500000, got {value.strip()!r}"
    ]


@pytest.mark.parametrize(
    ("value", "bits"), [("2M", 2e6), ("800k", 8e5), ("800K", 8e5), ("1.5M", 1.5e6), ("500000", 5e5)]
)
def test_bitrate_forms_ffmpeg_reads_as_meant(tmp_path: Path, value: str, bits: float) -> None:
    env = write_env(tmp_path, SEED_ENV.replace("BITRATE=2M", f"BITRATE={value}"))
    config = load_config(parse(["--env-file", str(env)]))
    command = build_command(config)
    assert command[command.index("-b:v") + 1] == value
    number, unit = (value[:-1], value[-1]) if value[-1] in "kKM" else (value, "")
    assert float(number) * {"": 1, "k": 1e3, "K": 1e3, "M": 1e6}[unit] == bits


_BITRATE_SEED = {"CAMERA_DEV": "testsrc", "PUSH_URL": "rtsp://h/x"}


@given(st.text(alphabet="0123456789.kKmMGe -+", max_size=8))
def test_bitrate_parser_accepts_only_unambiguous_forms(text: str) -> None:
    unambiguous = re.fullmatch(r"\s*(\d+|\d+(\.\d+)?[kKM])\s*", text)
    scale = {"k": 1e3, "K": 1e3, "M": 1e6}
    bits = unambiguous and float(unambiguous[1].rstrip("kKM")) * scale.get(unambiguous[1][-1], 1)
    if not bits or not 0 < bits <= MAX_BITRATE:
        with pytest.raises(ConfigError) as caught:
            config_from("cam", {**_BITRATE_SEED, "BITRATE": text})
        assert caught.value.setting == "BITRATE"
    else:
        assert unambiguous is not None  # bits is truthy only when it matched
        assert config_from("cam", {**_BITRATE_SEED, "BITRATE": text}).bitrate == unambiguous[1]
