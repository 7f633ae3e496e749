"""The seed's MQTT interface (SEED_MQTT=on): its own command lines replayed over a real
mosquitto with mTLS against the agent as a process, replies compared to the seed's
strings (camera-container main.go) exactly. The translation alone (pure, with hypothesis):
tests/capture/test_seed_interface.py."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.mosquitto import (
    C920_CONTROLS,
    Broker,
    ControlAgent,
    Recorder,
    agent_argv,
    client_settings,
    make_pki,
    online_recorder,
    recorder,
    running_agent,
)
from support.processes import wait_until

from trashmonitor.mqtt import CameraTopics
from trashmonitor.pki import Layout

SETTINGS, ACTION, STATUS = "camera/control/settings", "camera/control/action", "camera/status"


@pytest.fixture
def pki(tmp_path: Path, broker_port: int) -> Layout:
    return make_pki(tmp_path / "pki", broker_port, seed_camera="camA")


@pytest.fixture
def seed_agent(control_agent: ControlAgent) -> subprocess.Popen[bytes]:
    return control_agent("--record-max-seconds", "20", "--seed-mqtt", "on")


@pytest.fixture
def client(pki: Layout, broker: Broker, seed_agent: subprocess.Popen[bytes]) -> Iterator[Recorder]:
    """A seed client: publishes commands, reads camera/status (a controller identity)."""
    topics = (STATUS, CameraTopics("camA").status)
    with online_recorder(pki, broker.port, "seed-client", topics) as rec:
        yield rec


def replies(
    client: Recorder, topic: str, payload: str, count: int, timeout: float = 20
) -> list[str]:
    """Publish one seed command and return the first ``count`` camera/status lines after it."""
    sent = time.monotonic()
    client.publish(topic, payload)
    deadline = time.monotonic() + timeout

    def lines() -> list[str]:
        return [m.payload.decode() for m in client.messages if m.topic == STATUS and m.at >= sent]

    while len(lines()) < count and time.monotonic() < deadline:
        client.wait_for(lambda m: m.topic == STATUS and m.at >= sent and len(lines()) >= count,
                        max(0.0, deadline - time.monotonic()))  # fmt: skip
    got = lines()
    assert len(got) >= count, f"{payload!r}: expected {count} replies, got {got}"
    return got[:count]


def recording_data(captures: Path) -> None:
    """Wait until the recording has data on disk (a stop before that saves nothing)."""
    wait_until(
        lambda: [p for p in (captures / "camA").glob("*.partial.mp4") if p.stat().st_size > 0],
        20,
        what="recording data on disk",
    )


def reply(client: Recorder, topic: str, payload: str) -> str:
    return replies(client, topic, payload, 1)[0]


def assert_replies(client: Recorder, topic: str, dialogue: list[tuple[str, str]]) -> None:
    """Send each command in turn; each gets exactly the seed's reply."""
    for command, expected in dialogue:
        assert reply(client, topic, command) == expected, command


def test_focus_and_pan_replies_are_the_seeds(client: Recorder) -> None:
    # The seed's Flutter app: the slider while auto is on, then the "Manual Focus" button.
    # pan_absolute moves in steps of 3600 on the C920: 5 is refused by the device model.
    assert_replies(client, SETTINGS, [
        ("focus_absolute 40",
         "ERROR: Focus adjustment blocked. Please click 'Manual Focus' first."),
        ("focus_automatic_continuous 0",
         "SUCCESS: Manual Focus ENABLED. Use the slider to adjust focus."),
        ("focus_absolute 40", "SUCCESS: focus_absolute set to 40"),
        ("focus_automatic_continuous 1",
         "SUCCESS: Auto Focus ENABLED. Manual slider is now ignored."),
        ("pan_absolute 5",
         "ERROR: Pan adjustment blocked. The feature may be unsupported or require manual "
         "focus/zoom to be disabled."),
        ("focus_automatic_continuous 7",
         "ERROR: Auto Focus toggle failed. Output: "
         "focus_automatic_continuous is on/off: send 1 or 0; got 7."),
    ])  # fmt: skip


def test_white_balance_replies_are_the_seeds(client: Recorder) -> None:
    assert reply(client, SETTINGS, "white_balance_temperature 4500") == (
        "ERROR: White Balance adjustment blocked. Please click 'Manual WB (Disable Auto)' first."
    )
    assert reply(client, SETTINGS, "white_balance_automatic 0") == (
        "SUCCESS: Manual WB ENABLED. Use the slider to adjust temperature."
    )
    assert reply(client, SETTINGS, "white_balance_temperature 4500") == (
        "SUCCESS: white_balance_temperature set to 4500"
    )
    assert reply(client, SETTINGS, "white_balance_automatic 1") == (
        "SUCCESS: Auto White Balance ENABLED. Manual slider is now ignored."
    )
    assert reply(client, SETTINGS, "white_balance_automatic 7") == (
        "ERROR: Auto WB toggle failed. Output: "
        "white_balance_automatic is on/off: send 1 or 0; got 7."
    )


def test_malformed_and_generic_settings_get_the_seeds_lines(client: Recorder) -> None:
    invalid = "ERROR: Invalid setting format. Expected <control> <value>"
    assert reply(client, SETTINGS, "brightness") == invalid
    assert reply(client, SETTINGS, "brightness 1 2") == invalid
    assert reply(client, SETTINGS, "brightness 128") == "SUCCESS: brightness set to 128"
    assert reply(client, SETTINGS, "brightness 999") == (
        "ERROR: Setting brightness failed. Output: brightness must be between 0 and 255; got 999."
    )
    unknown = reply(client, SETTINGS, "warp_drive 9")
    assert unknown.startswith(
        "ERROR: Setting warp_drive failed. Output: Unknown control 'warp_drive'."
    )


def test_actions_picture_record_stop_and_unknown(client: Recorder, captures: Path) -> None:
    assert reply(client, ACTION, "dance") == "ERROR: Unknown action: dance"
    assert reply(client, ACTION, "stop") == "No recording in progress"
    started, saved = replies(client, ACTION, "picture", 2, timeout=40)
    assert started == "Image capturing started now!"
    prefix = "SUCCESS: Image saved to "
    assert saved.startswith(prefix), saved
    picture = Path(saved.removeprefix(prefix))
    assert picture.is_absolute()
    assert picture.parent == (captures / "camA").resolve()
    assert picture.read_bytes()[:2] == b"\xff\xd8"

    assert reply(client, ACTION, "record 10") == "The Recording Starts Now!"
    assert reply(client, ACTION, "record 10") == "Recording already in progress"
    recording_data(captures)
    sent = time.monotonic()
    assert reply(client, ACTION, "stop") == "Recording stopping..."
    stops = client.wait_for(lambda m: m.payload == b"The Recording Stops Now!", 30, after=sent)
    assert stops is not None
    stopped = client.wait_for(
        lambda m: m.payload.startswith(b"Recording stopped: "), 10, after=sent
    )
    assert stopped is not None
    video = Path(stopped.payload.decode().removeprefix("Recording stopped: "))
    assert video.is_file()
    assert video.suffix == ".mp4"


def test_bare_record_runs_until_stop_and_bad_lengths_do_not_start(
    client: Recorder, captures: Path
) -> None:
    assert_replies(client, ACTION, [
        (f"record {length}", "ERROR: Failed to start recording: "
         f"Recording length must be between 1 and 20 seconds; got {length}.")
        for length in ("abc", "99999")
    ])  # fmt: skip
    assert reply(client, ACTION, "record") == "The Recording Starts Now!"
    recording_data(captures)
    sent = time.monotonic()
    assert reply(client, ACTION, "stop") == "Recording stopping..."
    assert client.wait_for(lambda m: m.payload.startswith(b"Recording stopped: "), 30, after=sent)


def test_the_trashcam_topics_still_answer_in_json(client: Recorder) -> None:
    topics = CameraTopics("camA")
    sent = time.monotonic()
    client.client.subscribe(topics.events, qos=1)
    client.publish(topics.settings, "brightness 12")
    event = client.wait_for(lambda m: m.topic == topics.events, 10, after=sent)
    assert event is not None
    assert b'"ok": true' in event.payload
    assert [m for m in client.messages if m.topic == STATUS and m.at >= sent] == []


def test_without_seed_mqtt_the_seed_topics_stay_silent(
    pki: Layout, broker: Broker, buffer_dir: Path, tmp_path: Path
) -> None:
    argv = agent_argv(pki, "camA", broker.port, "--controls-file", str(C920_CONTROLS))
    settings = client_settings(pki, "controller", broker.port)
    topics = CameraTopics("camA")
    with (
        recorder(settings, "seed-client", (STATUS, topics.status, topics.events)) as client,
        running_agent(argv, tmp_path / "agent.log"),
    ):
        assert client.wait_for(lambda m: m.payload == b"online", 15) is not None
        sent = time.monotonic()
        client.publish(SETTINGS, "brightness 1")
        client.publish(topics.settings, "brightness 2")  # the marker: answered after it
        assert client.wait_for(lambda m: m.topic == topics.events, 10, after=sent) is not None
        assert client.wait_for(lambda m: m.topic == STATUS, 1, after=sent) is None


def test_only_the_seed_camera_may_use_the_seed_topics(pki: Layout, broker: Broker) -> None:
    """camB is not the broker's seed camera: it can neither answer on camera/status nor read
    the seed's commands (one camera per broker, as in the seed)."""
    settings = client_settings(pki, "controller", broker.port)
    own = "trashcam/camB/control/settings"  # camB may read this: the markers travel here
    with (
        recorder(settings, "seed-client", (STATUS, "trashcam/camB/status")) as client,
        recorder(
            client_settings(pki, "camB", broker.port), "camB", (SETTINGS, ACTION, own)
        ) as cam_b,
    ):
        cam_b.publish(STATUS, "SUCCESS: forged by camB")
        cam_b.publish("trashcam/camB/status", "marker")  # same connection, delivered after
        assert client.wait_for(lambda m: m.payload == b"marker", 10) is not None
        deadline = time.monotonic() + 10
        while cam_b.wait_for(lambda m: m.payload == b"ready", 0.5) is None:  # subscribed
            assert time.monotonic() < deadline, "camB never received its own control topic"
            client.publish(own, "ready")
        client.publish(SETTINGS, "brightness 1")
        client.publish(ACTION, "picture")
        client.publish(own, "marker")  # same connection: the seed commands came first
        assert cam_b.wait_for(lambda m: m.payload == b"marker", 10) is not None
    assert [m.payload for m in client.messages if m.topic == STATUS] == []
    assert [m.topic for m in cam_b.messages if m.topic in (SETTINGS, ACTION)] == []
