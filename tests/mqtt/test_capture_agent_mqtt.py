"""`trashmon capture` itself on MQTT: presence, its own state, and a picture taken from
its own ffmpeg's segment buffer while the media server is unreachable."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from support.mosquitto import Broker, client_settings, recorder
from support.processes import TRASHMON, free_port, running, wait_until

from trashmonitor.mqtt import CameraTopics
from trashmonitor.pki import Layout

TOPICS = CameraTopics("camA")


def _unpublishable_agent(pki: Layout, broker: Broker, tmp_path: Path, extra: str = "") -> list[str]:
    """`trashmon capture` for camA from an env file, its PUSH_URL a port nobody listens
    on (the media server is down), with a segment buffer and MQTT."""
    env_file = tmp_path / "camA.env"
    env_file.write_text(
        "CAMERA_DEV=testsrc\n"
        f"PUSH_URL=rtsp://127.0.0.1:{free_port()}/camA\n"  # nobody listens: backoff
        "FPS=10\nWIDTH=320\nHEIGHT=240\nBITRATE=200k\n"
        f"METRICS_ADDR=127.0.0.1:{free_port()}\n"
        f"BUFFER_DIR={tmp_path / 'buffer'}\n"
        f"CAPTURES_DIR={tmp_path / 'captures'}\nCAPTURES_MIN_FREE=1\n"
        f"MQTT_URL=mqtts://127.0.0.1:{broker.port}\n"
        f"MQTT_CA={pki.chain}\nMQTT_CERT={pki.client_cert('camA')}\n"
        f"MQTT_KEY={pki.client_key('camA')}\n{extra}"
    )
    return [*TRASHMON, "capture", "--id", "camA", "--env-file", str(env_file)]


def test_capture_agent_speaks_mqtt_from_its_env_file(
    pki: Layout, broker: Broker, tmp_path: Path
) -> None:
    captures = tmp_path / "captures"
    argv = _unpublishable_agent(pki, broker, tmp_path)
    settings = client_settings(pki, "controller", broker.port)
    subscriptions = (TOPICS.status, TOPICS.state, TOPICS.events)
    with recorder(settings, "watcher", subscriptions) as watch:
        with running(argv, cwd=tmp_path, log_path=tmp_path / "capture.log") as agent:
            assert watch.wait_for(lambda m: m.payload == b"online", 20) is not None
            state = watch.wait_for(lambda m: m.topic == TOPICS.state, 10)
            assert state is not None
            document = json.loads(state.payload)
            assert document["camera"] == "camA"
            assert document["target_fps"] == 10
            assert document["state"] in {"starting", "backoff", "streaming"}
            # The buffer keeps being written while publishing fails; a picture comes from it.
            wait_until(lambda: len(list((tmp_path / "buffer").glob("*.ts"))) >= 2, 20)
            sent = time.monotonic()
            watch.publish(TOPICS.action, "picture")
            event = watch.wait_for(lambda m: m.topic == TOPICS.events, 30, after=sent)
            assert event is not None
            answer = json.loads(event.payload)
            assert answer["ok"] is True, answer
            picture = Path(answer["file"])
            assert picture.parent == captures / "camA"
            assert picture.read_bytes()[:2] == b"\xff\xd8"  # a JPEG
            unknown = time.monotonic()
            watch.publish(TOPICS.settings, "brightness 10")  # testsrc has no controls
            refused = watch.wait_for(lambda m: m.topic == TOPICS.events, 10, after=unknown)
            assert refused is not None
            assert json.loads(refused.payload)["ok"] is False
            stopping = time.monotonic()
            agent.send_signal(signal.SIGTERM)
            assert agent.wait(20) == 0
        offline = watch.wait_for(
            lambda m: m.topic == TOPICS.status and m.payload == b"offline", 5, after=stopping
        )
        assert offline is not None, "a clean stop publishes the retained offline itself"


def test_thumbnails_keep_coming_while_publishing_fails(
    pki: Layout, broker: Broker, tmp_path: Path
) -> None:
    """No media server: ffmpeg keeps encoding into the buffer, so the agent keeps sending
    thumbnails of what the camera sees, while its state says the publish is failing
    (backoff), never "streaming"."""
    argv = _unpublishable_agent(pki, broker, tmp_path, "SNAPSHOT_INTERVAL=1\n")
    settings = client_settings(pki, "controller", broker.port)
    with (
        recorder(settings, "watcher", (TOPICS.state, TOPICS.camera_image)) as watch,
        running(argv, cwd=tmp_path, log_path=tmp_path / "capture.log"),
    ):
        backoff = watch.wait_for(
            lambda m: m.topic == TOPICS.state and json.loads(m.payload)["state"] == "backoff",
            30,
        )
        assert backoff is not None, "the failing publish is never reported"
        first = watch.wait_for(lambda m: m.topic == TOPICS.camera_image, 40, after=backoff.at)
        assert first is not None, "no thumbnail while the publish fails"
        later = watch.wait_for(
            lambda m: m.topic == TOPICS.camera_image and m.payload != first.payload,
            40,
            after=first.at,
        )
        assert later is not None, "the thumbnails stopped"
        assert first.payload.startswith(b"\xff\xd8")
        assert later.payload.startswith(b"\xff\xd8")
        states = {json.loads(payload)["state"] for payload in watch.payloads(TOPICS.state)}
    assert "streaming" not in states, states
