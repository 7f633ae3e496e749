"""Control over a real broker with the agent as a real process: round trips, fuzzing,
and a recording interrupted by kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.mosquitto import (
    Broker,
    ControlAgent,
    Recorder,
    agent_argv,
    client_settings,
    online_recorder,
    recorder,
    start_agent,
)
from support.processes import children_of, require_binary, stop_process, wait_until

from trashmonitor.mqtt import MAX_MESSAGE_BYTES, CameraTopics
from trashmonitor.pki import Layout

TOPICS = CameraTopics("camA")


@pytest.fixture
def agent(control_agent: ControlAgent) -> subprocess.Popen[bytes]:
    return control_agent()


@pytest.fixture
def controller(pki: Layout, broker: Broker, agent: subprocess.Popen[bytes]) -> Iterator[Recorder]:
    with online_recorder(pki, broker.port, "controller", (TOPICS.events, TOPICS.status)) as rec:
        yield rec


def ask(
    controller: Recorder, topic: str, payload: bytes | str, timeout: float = 10
) -> dict[str, Any]:
    """Publish one request and return the event that answers it."""
    sent = time.monotonic()
    controller.publish(topic, payload)
    event = controller.wait_for(lambda m: m.topic == TOPICS.events, timeout, after=sent)
    assert event is not None, f"no event answered {payload[:40]!r}"
    answer: dict[str, Any] = json.loads(event.payload)
    return answer


def test_settings_round_trip_follows_the_device_state(controller: Recorder) -> None:
    blocked = ask(controller, TOPICS.settings, "focus_absolute 100")
    assert blocked["ok"] is False
    assert blocked["message"] == (
        "focus_absolute is blocked while autofocus is on. "
        "Turn it off first: 'focus_automatic_continuous 0'."
    )
    assert blocked["request"] == "focus_absolute 100"
    manual = ask(controller, TOPICS.settings, "focus_automatic_continuous 0")
    assert manual["ok"] is True
    assert manual["message"].startswith("Manual focus on.")
    applied = ask(controller, TOPICS.settings, '{"control": "focus_absolute", "value": 100}')
    assert applied == {**applied, "ok": True, "message": "focus_absolute set to 100.", "file": None}


def test_picture_over_mqtt_names_the_file(controller: Recorder, captures: Path) -> None:
    event = ask(controller, TOPICS.action, "picture", timeout=30)
    assert event["ok"] is True, event
    path = Path(event["file"])
    assert path.parent == captures / "camA"
    assert path.is_file()


def _all_files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_fuzzed_payloads_get_error_events_and_touch_nothing(
    controller: Recorder, agent: subprocess.Popen[bytes], tmp_path: Path, captures: Path
) -> None:
    marker = tmp_path / "pwned"
    hostile: list[bytes] = [
        b"\x00\x01\x02\xff\xfe binary",
        b"A" * MAX_MESSAGE_BYTES,  # the most the broker passes on (more: test_broker_mtls)
        f"brightness $(touch {marker})".encode(),
        f"brightness 1; touch {marker}".encode(),
        f"picture; touch {marker}".encode(),
        f"`touch {marker}`".encode(),
        b"record -5",
        b"record 99999999999",
        b"record 1e309",
        b"record ../../etc/passwd",
        b"dance",
        b"\xc3\x28 invalid utf-8",
        b'{"action": "record", "seconds": -1}',
        b'{"control": "../../x", "value": 1}',
        b"{}",
        b"",
    ]
    before = _all_files(tmp_path)
    for payload in hostile:
        for topic in (TOPICS.settings, TOPICS.action):
            event = ask(controller, topic, payload)
            assert event["ok"] is False, (payload[:40], event)
            assert event["message"]
            assert len(event["request"]) <= 81
            time.sleep(0.2)  # stay under the rate limit: each answer is checked
    assert agent.poll() is None, "the agent died"
    assert not marker.exists()
    created = _all_files(tmp_path) - before
    stray = [p for p in created if captures not in p.parents and p.name != "agent.log"]
    assert stray == []
    # and it still works afterwards
    assert ask(controller, TOPICS.settings, "brightness 10")["ok"] is True


def test_flood_is_rate_limited_not_fatal(
    controller: Recorder, agent: subprocess.Popen[bytes]
) -> None:
    sent = time.monotonic()
    for _ in range(40):
        controller.client.publish(TOPICS.settings, "brightness 1", qos=0)
    limited = controller.wait_for(
        lambda m: m.topic == TOPICS.events and b"Too many requests" in m.payload, 10, after=sent
    )
    assert limited is not None
    time.sleep(1.5)
    answers = [m for m in controller.messages if m.topic == TOPICS.events and m.at >= sent]
    # the burst (10) is served, the rest answered once, not 30 times
    assert 10 <= len(answers) <= 14
    assert agent.poll() is None


@pytest.mark.slow
def test_kill_9_during_recording_leaves_a_playable_file(
    controller: Recorder, agent: subprocess.Popen[bytes], captures: Path
) -> None:
    event = ask(controller, TOPICS.action, "record 30")
    assert event["ok"] is True, event
    partials = wait_until(
        lambda: [p for p in (captures / "camA").glob("*.partial.mp4") if p.stat().st_size > 0],
        15,
        what="recording data on disk",
    )
    time.sleep(2.5)
    recorders = children_of(agent.pid)  # the recorder thread spawns ffmpeg
    assert recorders, "no ffmpeg recorder found under the agent"
    for pid in [agent.pid, *recorders]:  # as in a power cut: nobody finalises anything
        os.kill(pid, signal.SIGKILL)
    agent.wait(5)
    partial = partials[0]
    probe = subprocess.run(
        [require_binary("ffprobe"), "-v", "error", "-show_entries", "format=duration",
         "-of", "csv=p=0", str(partial)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    assert float(probe.stdout) >= 1.0
    decode = subprocess.run(
        [require_binary("ffmpeg"), "-v", "error", "-i", str(partial), "-f", "null", "-"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert decode.returncode == 0, decode.stderr


def test_retained_commands_are_not_executed_on_connect(
    pki: Layout, broker: Broker, buffer_dir: Path, tmp_path: Path
) -> None:
    # Live deliveries never carry the retain flag; a retained command would be re-run on
    # every (re)connect of the agent, so it is refused there.
    captures = tmp_path / "captures"
    settings = client_settings(pki, "controller", broker.port)
    with recorder(settings, "controller", (TOPICS.events,)) as controller:
        controller.publish(TOPICS.action, "picture", retain=True)
        argv = agent_argv(pki, "camA", broker.port, "--buffer-dir", str(buffer_dir),
                          "--captures-dir", str(captures), "--captures-min-free", "1")  # fmt: skip
        proc = start_agent(argv, tmp_path / "agent.log")
        try:
            event = controller.wait_for(lambda m: m.topic == TOPICS.events, 15)
            assert event is not None
            answer = json.loads(event.payload)
            assert answer["ok"] is False
            assert "retained" in answer["message"]
            assert not captures.exists() or not list(captures.rglob("*.jpg"))
        finally:
            controller.publish(TOPICS.action, b"", retain=True)  # clear it on the broker
            stop_process(proc)


@pytest.mark.slow
def test_clean_stop_during_recording_keeps_a_complete_file(
    controller: Recorder, agent: subprocess.Popen[bytes], captures: Path
) -> None:
    assert ask(controller, TOPICS.action, "record 60")["ok"] is True
    wait_until(lambda: list((captures / "camA").glob("*.partial.mp4")), 15, what="recording")
    time.sleep(2)
    assert stop_process(agent) == 0
    finished = list((captures / "camA").glob("*.mp4"))
    assert [p.name for p in finished if p.name.endswith(".partial.mp4")] == []
    assert len(finished) == 1
    saved = controller.wait_for(lambda m: b"stopped early" in m.payload, 5)
    assert saved is not None
