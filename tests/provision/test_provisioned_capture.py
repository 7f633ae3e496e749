"""A freshly provisioned capture host takes pictures and recordings out of the box.

The role renders the camera's env file (real ansible); the real ``trashmon capture``
runs it the way trashcam@.service does: systemd's credentials, runtime and state
directories in its environment (the unit's LoadCredential=, RuntimeDirectory= and
StateDirectory=), MQTT with mutual TLS to a real mosquitto. Nobody listens on the push
URL: the agent keeps its segment buffer while it retries the publish.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from provision.playbooks import FakeHost
from provision.test_env_files import SYNTHETIC, load_credentials, render
from support.mosquitto import Recorder, client_settings, make_pki, recorder, running_broker
from support.processes import TRASHMON, clean_environ, free_port, running, wait_until

from trashmonitor.mqtt import CameraTopics
from trashmonitor.pki import Layout
from trashmonitor.settings import read_env_file

CAMERA = "yard"
TOPICS = CameraTopics(CAMERA)
UNIT = Path(__file__).parents[2] / "capture" / "systemd" / "trashcam@.service"


def unit_directives() -> dict[str, str]:
    return dict(line.split("=", 1) for line in UNIT.read_text().splitlines() if "=" in line[:40])


@pytest.fixture
def provisioned(fake_host: FakeHost, tmp_path: Path) -> Iterator[tuple[FakeHost, Layout, int]]:
    port = free_port()
    pki = make_pki(tmp_path / "pki", port, cameras=(CAMERA,))
    camera = {**SYNTHETIC, "metrics_addr": f"127.0.0.1:{free_port()}",
              "push_url": f"rtsp://127.0.0.1:{free_port()}/{CAMERA}",
              "fps": 10, "width": 320, "height": 240, "bitrate": "200k"}  # fmt: skip
    result = render(
        fake_host,
        [camera],
        trashcam_mqtt_url=f"mqtts://127.0.0.1:{port}",
        trashcam_mqtt_pki_src=str(pki.root),
    )
    assert result.returncode == 0, result.output
    with running_broker(pki, port, tmp_path / "mosquitto.log"):
        yield fake_host, pki, port


def unit_environment(host: FakeHost, **overrides: str) -> dict[str, str]:
    """What systemd gives trashcam@yard.service: its directories (created, as systemd does
    before ExecStart) and the loaded credentials."""
    creds = host.base / "credentials"
    if not creds.exists():
        load_credentials(host, CAMERA, creds)
    runtime = host.base / "run" / "trashcam" / CAMERA
    state = host.base / "var" / "lib" / "trashcam" / CAMERA
    for directory in (runtime, state):
        directory.mkdir(parents=True, exist_ok=True)
    return clean_environ(
        CREDENTIALS_DIRECTORY=str(creds),
        RUNTIME_DIRECTORY=str(runtime),
        STATE_DIRECTORY=str(state),
        **overrides,
    )


@contextmanager
def agent(host: FakeHost, pki: Layout, port: int, environ: dict[str, str]) -> Iterator[Recorder]:
    # The unit's ExecStart is `trashmon capture --id %i` reading /etc/trashcam/%i.env;
    # here the role's <etc> is a temporary directory.
    argv = [*TRASHMON, "capture", "--id", CAMERA, "--env-file", str(host.etc / f"{CAMERA}.env")]
    watch_settings = client_settings(pki, "controller", port)
    with recorder(watch_settings, "watcher", (TOPICS.status, TOPICS.events)) as watch:
        log = host.base / f"capture-{time.monotonic_ns()}.log"
        with running(argv, env=environ, cwd=host.base, log_path=log):
            assert watch.wait_for(lambda m: m.payload == b"online", 60) is not None, log.read_text()
            buffer = Path(environ["RUNTIME_DIRECTORY"]) / "buffer"
            wait_until(lambda: len(list(buffer.glob("*.ts"))) >= 3, 60, what="segments")
            yield watch


def ask(watch: Recorder, action: str, timeout: float = 60) -> dict[str, object]:
    sent = time.monotonic()
    watch.publish(TOPICS.action, action)
    event = watch.wait_for(lambda m: m.topic == TOPICS.events, timeout, after=sent)
    assert event is not None, f"{action!r} was never answered"
    answer: dict[str, object] = json.loads(event.payload)
    return answer


def test_unit_directories_are_where_the_role_points(fake_host: FakeHost) -> None:
    directives = unit_directives()
    assert directives["ProtectSystem"] == "strict"
    assert directives["RuntimeDirectory"] == "trashcam/%i"
    assert directives["StateDirectory"] == "trashcam/%i"
    result = render(fake_host, [SYNTHETIC])
    assert result.returncode == 0, result.output
    values = read_env_file(fake_host.etc / "yard.env")
    assert values["BUFFER_DIR"] == "${RUNTIME_DIRECTORY}/buffer"
    assert values["CAPTURES_DIR"] == "${STATE_DIRECTORY}/captures"


def test_picture_and_record_work_on_a_freshly_provisioned_host(
    provisioned: tuple[FakeHost, Layout, int],
) -> None:
    host, pki, port = provisioned
    environ = unit_environment(host, CAPTURES_MIN_FREE="1")
    captures = Path(environ["STATE_DIRECTORY"]) / "captures" / CAMERA
    with agent(host, pki, port, environ) as watch:
        picture = ask(watch, "picture")
        assert picture["ok"] is True, picture
        jpeg = Path(str(picture["file"]))
        assert jpeg.parent == captures
        assert jpeg.read_bytes()[:2] == b"\xff\xd8"

        sent = time.monotonic()
        started = ask(watch, "record 2")
        assert started["ok"] is True, started
        saved = watch.wait_for(
            lambda m: m.topic == TOPICS.events and b"saved" in m.payload, 60, after=sent
        )
        assert saved is not None, f"the recording never finished: {watch.payloads(TOPICS.events)}"
        mp4 = Path(json.loads(saved.payload)["file"])
        assert mp4.parent == captures
        assert mp4.suffix == ".mp4"
        assert mp4.stat().st_size > 0


@pytest.mark.parametrize(
    ("captures_dir", "min_free", "expected"),
    [
        ("FILE", "1", "Cannot write captures to {dir}/yard: Not a directory."),
        # Root may write anywhere but /sys, which refuses mkdir to everyone.
        ("/sys/trashcam", "1",
         "Cannot write captures to /sys/trashcam/yard: Operation not permitted."),
        ("", "1000T", "Not enough free disk space for captures:"),
    ],
    ids=["captures-dir-is-a-file", "not-writable", "disk-full-by-limit"],
)  # fmt: skip
def test_every_failure_to_write_is_answered_with_an_error_event(
    provisioned: tuple[FakeHost, Layout, int], captures_dir: str, min_free: str, expected: str
) -> None:
    """Reproduction: a captures directory that is a file left the request unanswered
    (NotADirectoryError inside the agent). Overrides as a systemd drop-in would set them
    (Environment=), over the role's env file."""
    host, pki, port = provisioned
    overrides = {"CAPTURES_MIN_FREE": min_free}
    if captures_dir == "FILE":
        blocker = host.base / "captures-file"
        blocker.write_text("in the way\n")
        overrides["CAPTURES_DIR"] = str(blocker)
        expected = expected.format(dir=blocker)
    elif captures_dir:
        overrides["CAPTURES_DIR"] = captures_dir
    with agent(host, pki, port, unit_environment(host, **overrides)) as watch:
        for action in ("picture", "record 2"):
            answer = ask(watch, action)
            assert answer["ok"] is False, answer
            assert str(answer["message"]).startswith(expected), answer
