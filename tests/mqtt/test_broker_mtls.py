"""mTLS and ACLs against a real mosquitto with the generated config.

mosquitto drops refused clients and ACL-denied publishes silently (under TLS 1.3 a
client without a certificate even "connects" first), so every test asserts on what is
*delivered* to a legitimate subscriber, with a positive control in the same test.
"""

from __future__ import annotations

import time
from pathlib import Path

from support.mosquitto import Broker, client_settings, make_pki, raw_client, recorder

from trashmonitor.mqtt import CameraTopics
from trashmonitor.pki import Layout

SILENCE = 1.5  # how long "never arrives" is watched for; delivery takes milliseconds


def test_mtls_client_publishes_and_monitor_receives(pki: Layout, broker: Broker) -> None:
    cam = CameraTopics("camA")
    monitor = client_settings(pki, "monitor", broker.port)
    camera = client_settings(pki, "camA", broker.port)
    with recorder(monitor, "monitor", ("trashcam/#",)) as seen, recorder(camera, "camA", ()) as a:
        a.publish(cam.status, "online")
        got = seen.wait_for(lambda m: m.topic == cam.status, timeout=5)
    assert got is not None
    assert got.payload == b"online"


def _refused_client_cannot_deliver(
    pki: Layout, broker: Broker, cert: Path | None, key: Path | None
) -> None:
    monitor = client_settings(pki, "monitor", broker.port)
    topic = CameraTopics("camA").status
    with recorder(monitor, "monitor", ("trashcam/#",)) as seen:
        intruder, events = raw_client(broker.port, pki.chain, cert, key, "camA")
        try:
            time.sleep(0.5)
            intruder.publish(topic, "hijacked", qos=0)
            assert seen.wait_for(lambda m: m.payload == b"hijacked", timeout=SILENCE) is None
        finally:
            intruder.loop_stop()
        # positive control: the same subscriber does receive a legitimate camA message
        with recorder(client_settings(pki, "camA", broker.port), "camA-real", ()) as real:
            real.publish(topic, "online")
        assert seen.wait_for(lambda m: m.payload == b"online", timeout=5) is not None
    outcomes = []
    while not events.empty():
        outcomes.append(events.get())
    assert not any(o == "connect Success" for o in outcomes), outcomes


def test_client_without_certificate_is_refused(pki: Layout, broker: Broker) -> None:
    _refused_client_cannot_deliver(pki, broker, None, None)


def test_client_certificate_from_another_ca_is_refused(
    pki: Layout, broker: Broker, tmp_path: Path
) -> None:
    # Same CN as a real camera, issued by a different (but well-formed) PKI.
    other = make_pki(tmp_path / "other-pki", broker.port)
    _refused_client_cannot_deliver(pki, broker, other.client_cert("camA"), other.client_key("camA"))


def test_camera_cannot_publish_into_another_cameras_topics(pki: Layout, broker: Broker) -> None:
    a, b = CameraTopics("camA"), CameraTopics("camB")
    monitor = client_settings(pki, "monitor", broker.port)
    with recorder(monitor, "monitor", ("trashcam/#",)) as seen:
        with recorder(client_settings(pki, "camA", broker.port), "camA", ()) as cam_a:
            for topic in (b.status, b.state, b.events, b.action, a.action):
                cam_a.publish(topic, "from camA")
            cam_a.publish(a.status, "marker")
        assert seen.wait_for(lambda m: m.payload == b"marker", timeout=5) is not None
        time.sleep(0.3)
    leaked = [m.topic for m in seen.messages if m.payload == b"from camA"]
    assert leaked == []


def test_camera_reads_only_its_own_control_topics(pki: Layout, broker: Broker) -> None:
    a, b = CameraTopics("camA"), CameraTopics("camB")
    monitor = client_settings(pki, "monitor", broker.port)
    with (
        recorder(client_settings(pki, "camA", broker.port), "camA", ("trashcam/#",)) as cam_a,
        recorder(client_settings(pki, "camB", broker.port), "camB", (b.control,)) as cam_b,
        recorder(monitor, "monitor", ()) as controller,
    ):
        controller.publish(b.action, "picture")
        controller.publish(a.action, "stop")
        assert cam_b.wait_for(lambda m: m.topic == b.action, timeout=5) is not None
        assert cam_a.wait_for(lambda m: m.topic == a.action, timeout=5) is not None
        time.sleep(0.3)
    assert [m.topic for m in cam_a.messages] == [a.action]
