"""The env files the role renders are exactly what the capture agent reads.

Each test renders through the role itself (its validate + cameras tasks, real ansible)
and loads the result with the agent's parser. The inventory values are the expectation:
nothing here restates the template.
"""

from __future__ import annotations

import argparse
import grp
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from provision.playbooks import FakeHost, PlayResult, run_playbook

from trashmonitor import mqtt
from trashmonitor.capture import config as capture_config
from trashmonitor.settings import read_env_file

RENDER = Path(__file__).parent / "render_env.yml"
# Keys every camera's env file carries (the seed's six, where to serve /metrics, and the
# unit's directories for the segment buffer and the captures).
SEED_KEYS = {"CAMERA_DEV", "PUSH_URL", "FPS", "WIDTH", "HEIGHT", "BITRATE", "METRICS_ADDR",
             "BUFFER_DIR", "CAPTURES_DIR"}  # fmt: skip

SYNTHETIC = {"id": "yard", "device": "testsrc", "fps": 15, "width": 640, "height": 480,
             "bitrate": "800k"}  # fmt: skip
LAVFI: dict[str, Any] = {
    "id": "porch.2",
    "device": "lavfi:testsrc2=size=320x240:rate=5",
    "fps": 5,
    "width": 320,
    "height": 240,
    "bitrate": "300k",
    "input_format": "yuyv422",
    "keyframe_interval": 10,
    "push_url": "rtsp://mediamtx.example.ts.net:8554/porch",
    "metrics_addr": "100.64.0.7:9900",
    "env": {"STALL_SECONDS": "5", "IMAGE_HEALTH": "off"},
}


def _group_name() -> str:
    return grp.getgrgid(os.getgid()).gr_name


def render(host: FakeHost, cameras: list[dict[str, Any]], **extra: Any) -> PlayResult:
    extra = {"trashcam_manage_services": False, **extra}
    return run_playbook(host, cameras, unit_src_dir=host.base, extra_vars=extra, playbook=RENDER)


def test_seed_camera_env_file_has_the_inventory_values(fake_host: FakeHost) -> None:
    result = render(fake_host, [SYNTHETIC], trashcam_push_base="rtsp://mtx.example:8554")
    assert result.returncode == 0, result.output

    values = read_env_file(fake_host.etc / "yard.env")

    assert set(values) == SEED_KEYS
    assert values["CAMERA_DEV"] == SYNTHETIC["device"]
    assert values["PUSH_URL"] == "rtsp://mtx.example:8554/yard"
    assert (values["FPS"], values["WIDTH"], values["HEIGHT"]) == ("15", "640", "480")
    assert values["BITRATE"] == SYNTHETIC["bitrate"]
    assert values["METRICS_ADDR"] == "127.0.0.1:9844"


def test_optional_keys_overrides_and_extra_env_are_written(fake_host: FakeHost) -> None:
    result = render(fake_host, [SYNTHETIC, LAVFI])
    assert result.returncode == 0, result.output

    values = read_env_file(fake_host.etc / "porch.2.env")

    for inventory_key, env_key in [
        ("device", "CAMERA_DEV"),
        ("input_format", "INPUT_FORMAT"),
        ("keyframe_interval", "KEYFRAME_INTERVAL"),
        ("push_url", "PUSH_URL"),
        ("metrics_addr", "METRICS_ADDR"),
    ]:
        assert values[env_key] == str(LAVFI[inventory_key]), env_key
    for key, value in LAVFI["env"].items():
        assert values[key] == value
    assert "MQTT_URL" not in values


def test_each_camera_gets_its_own_metrics_port(fake_host: FakeHost) -> None:
    cameras = [{**SYNTHETIC, "id": f"cam{n}"} for n in range(3)]
    result = render(fake_host, cameras, trashcam_metrics_host="100.64.0.9",
                    trashcam_metrics_base_port=9700)  # fmt: skip
    assert result.returncode == 0, result.output

    addrs = [read_env_file(fake_host.etc / f"cam{n}.env")["METRICS_ADDR"] for n in range(3)]

    assert addrs == ["100.64.0.9:9700", "100.64.0.9:9701", "100.64.0.9:9702"]


def render_with_mqtt(fake_host: FakeHost) -> dict[str, str]:
    """The SYNTHETIC camera's env file rendered with MQTT and a PKI to copy (each file
    holding its own name, so a mix-up shows)."""
    pki = fake_host.base / "pki"
    (pki / "clients").mkdir(parents=True)
    (pki / "ca-chain.crt").write_text("CA\n")
    (pki / "clients/yard.crt").write_text("CERT\n")
    (pki / "clients/yard.key").write_text("KEY\n")
    result = render(
        fake_host,
        [SYNTHETIC],
        trashcam_mqtt_url="mqtts://broker.example.ts.net:8883",
        trashcam_mqtt_pki_src=str(pki),
    )
    assert result.returncode == 0, result.output
    return read_env_file(fake_host.etc / "yard.env")


def load_credentials(host: FakeHost, camera: str, into: Path) -> dict[str, str]:
    """Do what systemd does for the camera's unit: read LoadCredential=NAME:PATH from its
    drop-in and copy each file into a private directory (the unit's
    $CREDENTIALS_DIRECTORY); returns {name: source path}."""
    dropin = host.systemd_dir / f"trashcam@{camera}.service.d" / "credentials.conf"
    sources = dict(
        line.removeprefix("LoadCredential=").split(":", 1)
        for line in dropin.read_text().splitlines()
        if line.startswith("LoadCredential=")
    )
    into.mkdir(mode=0o700)
    for name, source in sources.items():
        (into / name).write_bytes(Path(source).read_bytes())
        (into / name).chmod(0o400)
    return sources


def as_under_the_unit(patch: pytest.MonkeyPatch, host: FakeHost) -> None:
    """The directories systemd names for trashcam@.service (RuntimeDirectory=,
    StateDirectory=): the rendered BUFFER_DIR and CAPTURES_DIR point into them."""
    patch.setenv("RUNTIME_DIRECTORY", str(host.base / "run"))
    patch.setenv("STATE_DIRECTORY", str(host.base / "state"))


def test_mqtt_key_is_root_only_and_reaches_only_its_unit(fake_host: FakeHost) -> None:
    """The key used to sit in <etc>/pki/ with mode 0640 group video: every camera's agent
    (and every member of video) could read every camera's key."""
    values = render_with_mqtt(fake_host)
    assert values["MQTT_URL"] == "mqtts://broker.example.ts.net:8883"
    assert Path(values["MQTT_CA"]).read_text() == "CA\n"
    assert Path(values["MQTT_CERT"]).read_text() == "CERT\n"
    assert values["MQTT_KEY"] == "${CREDENTIALS_DIRECTORY}/mqtt.key"

    key = fake_host.etc / "yard" / "mqtt.key"
    assert key.read_text() == "KEY\n"
    assert key.stat().st_mode & 0o777 == 0o600
    assert key.parent.stat().st_mode & 0o777 == 0o700
    assert not (fake_host.etc / "pki" / "yard.key").exists()
    sources = load_credentials(fake_host, "yard", fake_host.base / "creds")
    assert sources == {"mqtt.key": str(key)}


def test_env_files_are_0640_in_the_agents_group(fake_host: FakeHost) -> None:
    result = render(fake_host, [SYNTHETIC], trashcam_env_group=_group_name())
    assert result.returncode == 0, result.output
    info = (fake_host.etc / "yard.env").stat()
    assert info.st_mode & 0o777 == 0o640
    assert info.st_gid == os.getgid()
    assert not (fake_host.systemd_dir / "trashcam@yard.service.d" / "credentials.conf").exists()


PASSWORD = "p@ss w:rd/%"


def test_publish_password_is_a_root_only_credential_and_never_printed(
    fake_host: FakeHost,
) -> None:
    camera = {**SYNTHETIC, "stream_user": "yard-pub", "stream_password": PASSWORD}
    extra = {"trashcam_manage_services": False, "trashcam_push_base": "rtsp://mtx.example:8554"}
    result = run_playbook(
        fake_host, [camera], unit_src_dir=fake_host.base, extra_vars=extra,
        playbook=RENDER, args=["--diff", "-v"],
    )  # fmt: skip
    assert result.returncode == 0, result.output
    assert PASSWORD not in result.output
    assert "p@ss" not in result.output

    values = read_env_file(fake_host.etc / "yard.env")
    assert values["STREAM_USER"] == "yard-pub"
    assert values["STREAM_PASSWORD_FILE"] == "${CREDENTIALS_DIRECTORY}/stream.password"
    assert PASSWORD not in (fake_host.etc / "yard.env").read_text()
    secret = fake_host.etc / "yard" / "stream.password"
    assert secret.read_text() == PASSWORD + "\n"
    assert secret.stat().st_mode & 0o777 == 0o600
    assert (secret.stat().st_uid, secret.stat().st_gid) == (os.getuid(), os.getgid())

    creds = fake_host.base / "creds"
    assert load_credentials(fake_host, "yard", creds) == {"stream.password": str(secret)}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CREDENTIALS_DIRECTORY", str(creds))
        as_under_the_unit(patch, fake_host)
        loaded = capture_config.load_config(
            argparse.Namespace(env_file=fake_host.etc / "yard.env", camera_id=None)
        )
    assert loaded.publish_url == f"rtsp://yard-pub:{quote(PASSWORD, safe='')}@mtx.example:8554/yard"


@pytest.mark.parametrize(
    "camera",
    [
        {**SYNTHETIC, "stream_user": "u"},
        {**SYNTHETIC, "stream_password": "alone"},
        {**SYNTHETIC, "stream_user": "u", "stream_password": "two\nlines"},
    ],
    ids=["user-alone", "password-alone", "two-lines"],
)
def test_bad_publish_credentials_are_refused_without_showing_them(
    fake_host: FakeHost, camera: dict[str, Any]
) -> None:
    result = render(fake_host, [camera])
    assert result.returncode != 0
    assert "stream_user and stream_password go together" in result.output
    assert "alone" not in result.output
    assert "two\\nlines" not in result.output
    assert not fake_host.etc.exists()


def test_agent_config_loader_accepts_the_rendered_file(fake_host: FakeHost) -> None:
    """Integration with issue 3: `trashmon capture`'s own loader reads what we wrote."""
    result = render(fake_host, [SYNTHETIC, LAVFI])
    assert result.returncode == 0, result.output

    for camera in (SYNTHETIC, LAVFI):
        env_file = fake_host.etc / f"{camera['id']}.env"
        args = argparse.Namespace(env_file=env_file, camera_id=None)
        with pytest.MonkeyPatch.context() as patch:
            as_under_the_unit(patch, fake_host)
            loaded = capture_config.load_config(args)
        assert loaded.camera == camera["id"]
        assert loaded.camera_dev == camera["device"]
        assert (loaded.fps, loaded.width, loaded.height) == (
            camera["fps"],
            camera["width"],
            camera["height"],
        )
        assert loaded.bitrate == camera["bitrate"]


def test_missing_device_fails_naming_camera_and_path(fake_host: FakeHost) -> None:
    camera = {**SYNTHETIC, "id": "attic", "device": str(fake_host.base / "video9")}
    result = render(fake_host, [camera])

    assert result.returncode != 0
    assert f"attic: {camera['device']} is not a character device" in result.output


def test_regular_file_is_not_accepted_as_a_device(fake_host: FakeHost) -> None:
    device = fake_host.base / "video0"
    device.write_text("not a device")
    result = render(fake_host, [{**SYNTHETIC, "device": str(device)}])

    assert result.returncode != 0
    assert "is not a character device" in result.output


def test_character_device_passes_the_device_check(fake_host: FakeHost) -> None:
    # /dev/null stands in for /dev/video0: both are character devices.
    result = render(fake_host, [{**SYNTHETIC, "device": "/dev/null"}])

    assert result.returncode == 0, result.output
    assert read_env_file(fake_host.etc / "yard.env")["CAMERA_DEV"] == "/dev/null"


@pytest.mark.parametrize(
    ("cameras", "message"),
    [
        ([SYNTHETIC, SYNTHETIC], "ids must be unique"),
        ([{**SYNTHETIC, "id": "front door"}], "ids must be unique letters, digits"),
        ([{**SYNTHETIC, "bitrate": '2M"'}], "has a newline, quote or backslash"),
        ([{**SYNTHETIC, "env": {"FFMPEG": "/opt/ff\\mpeg"}}], "has a newline, quote or backslash"),
        (
            [SYNTHETIC, {**SYNTHETIC, "id": "b", "metrics_addr": "127.0.0.1:9844"}],
            "would serve /metrics on one address",
        ),
    ],
)
def test_bad_inventory_is_refused_before_writing(
    fake_host: FakeHost, cameras: list[dict[str, Any]], message: str
) -> None:
    result = render(fake_host, cameras)

    assert result.returncode != 0
    assert message in result.output
    assert not fake_host.etc.exists(), "nothing may be written for a refused inventory"


def test_env_parser_and_systemd_agree_on_a_rendered_value(fake_host: FakeHost) -> None:
    """A value with '=' and ':' (lavfi graphs) survives unquoted in both readers."""
    result = render(fake_host, [LAVFI])
    assert result.returncode == 0, result.output
    line = next(
        line
        for line in (fake_host.etc / "porch.2.env").read_text().splitlines()
        if line.startswith("CAMERA_DEV=")
    )
    # systemd.exec(5): the value is everything after the first '=', unquoted.
    assert line.partition("=")[2] == LAVFI["device"]


def test_agent_mqtt_loader_accepts_the_rendered_mqtt_keys(fake_host: FakeHost) -> None:
    """Integration with the MQTT issue: its settings loader reads our MQTT_* keys, with
    MQTT_KEY in the unit's credentials directory as systemd provides it."""
    render_with_mqtt(fake_host)
    creds = fake_host.base / "creds"
    load_credentials(fake_host, "yard", creds)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CREDENTIALS_DIRECTORY", str(creds))
        as_under_the_unit(patch, fake_host)
        values = capture_config.read_agent_env_file(fake_host.etc / "yard.env")
    settings = mqtt.mqtt_settings(argparse.Namespace(), mqtt.AGENT_SETTINGS, environ=values)

    assert settings is not None, "the rendered MQTT_* keys configure no broker"
    assert (settings.broker.host, settings.broker.port) == ("broker.example.ts.net", 8883)
    assert settings.key == creds / "mqtt.key"
    assert settings.key.read_text() == "KEY\n"
