"""mTLS and ACLs against a real mosquitto with the generated config.

mosquitto drops refused clients and ACL-denied publishes silently (under TLS 1.3 a
client without a certificate even "connects" first), so every test asserts on what is
*delivered* to a legitimate subscriber, with a positive control in the same test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.mosquitto import (
    Broker,
    Recorder,
    agent_argv,
    client_settings,
    make_pki,
    raw_client,
    recorder,
    running_agent,
    running_broker,
)
from support.processes import free_port

from trashmonitor.mqtt import ALL_STATE, ALL_STATUS, MAX_MESSAGE_BYTES, CameraTopics
from trashmonitor.pki import CaPassphrase, Layout, revoke

SILENCE = 1.5  # how long "never arrives" is watched for; delivery takes milliseconds


def test_mtls_client_publishes_and_monitor_receives(pki: Layout, broker: Broker) -> None:
    cam = CameraTopics("camA")
    monitor = client_settings(pki, "monitor", broker.port)
    camera = client_settings(pki, "camA", broker.port)
    with recorder(monitor, "monitor", (ALL_STATUS,)) as seen, recorder(camera, "camA", ()) as a:
        a.publish(cam.status, "online")
        got = seen.wait_for(lambda m: m.topic == cam.status, timeout=5)
    assert got is not None
    assert got.payload == b"online"


def _refused_client_cannot_deliver(
    pki: Layout, broker: Broker, cert: Path | None, key: Path | None, identity: str = "camA"
) -> None:
    monitor = client_settings(pki, "monitor", broker.port)
    topic = CameraTopics(identity).status
    with recorder(monitor, "monitor", (ALL_STATUS,)) as seen:
        intruder, events = raw_client(broker.port, pki.chain, cert, key, identity)
        try:
            time.sleep(0.5)
            intruder.publish(topic, "hijacked", qos=0)
            assert seen.wait_for(lambda m: m.payload == b"hijacked", timeout=SILENCE) is None
        finally:
            intruder.loop_stop()
        # positive control: the same subscriber does receive a legitimate camA message
        with recorder(client_settings(pki, "camA", broker.port), "camA-real", ()) as real:
            real.publish(CameraTopics("camA").status, "online")
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
    with (
        recorder(
            client_settings(pki, "monitor", broker.port), "m", (ALL_STATUS, ALL_STATE)
        ) as seen,
        recorder(client_settings(pki, "controller", broker.port), "c", (b.events,)) as events,
        recorder(
            client_settings(pki, "camB", broker.port), "camB", (b.settings, b.action)
        ) as cam_b,
    ):
        with recorder(client_settings(pki, "camA", broker.port), "camA", (a.action,)) as cam_a:
            for topic in (b.status, b.state, b.events, b.action, a.action):
                cam_a.publish(topic, "from camA")
            cam_a.publish(a.status, "marker")
            assert seen.wait_for(lambda m: m.payload == b"marker", timeout=5) is not None
            time.sleep(0.3)
        leaked = [
            m.topic
            for watcher in (seen, events, cam_b, cam_a)
            for m in watcher.messages
            if m.payload == b"from camA"
        ]
    assert leaked == []


def test_camera_reads_only_its_own_control_topics(pki: Layout, broker: Broker) -> None:
    a, b = CameraTopics("camA"), CameraTopics("camB")
    controller = client_settings(pki, "controller", broker.port)
    with (
        recorder(client_settings(pki, "camA", broker.port), "camA", ("trashcam/#",)) as cam_a,
        recorder(client_settings(pki, "camB", broker.port), "camB", (b.action,)) as cam_b,
        recorder(controller, "controller", ()) as control,
    ):
        control.publish(b.action, "picture")
        control.publish(f"{a.base}/control/other", "picture")
        control.publish(a.action, "stop")
        assert cam_b.wait_for(lambda m: m.topic == b.action, timeout=5) is not None
        assert cam_a.wait_for(lambda m: m.topic == a.action, timeout=5) is not None
        time.sleep(0.3)
    assert [m.topic for m in cam_a.messages] == [a.action]


# --- least privilege, impersonation, size, revocation (issue 11 section 2) -------------


@pytest.fixture
def agent_b(pki: Layout, broker: Broker, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """camB's real agent process (presence and control; no camera, no media)."""
    argv = agent_argv(pki, "camB", broker.port, keepalive=5)
    with running_agent(argv, tmp_path / "agent-camB.log") as proc:
        yield proc


@pytest.fixture
def control_b(pki: Layout, broker: Broker, agent_b: subprocess.Popen[bytes]) -> Iterator[Recorder]:
    """A controller that sees camB's answers, once camB's agent is online."""
    b = CameraTopics("camB")
    settings = client_settings(pki, "controller", broker.port)
    with recorder(settings, "controller", (b.events, b.status)) as control:
        assert control.wait_for(lambda m: m.payload == b"online", timeout=15) is not None
        yield control


def test_a_certificate_cannot_take_another_clients_id(
    pki: Layout, broker: Broker, agent_b: subprocess.Popen[bytes]
) -> None:
    b = CameraTopics("camB")
    with recorder(client_settings(pki, "watcher", broker.port), "w", (b.status,)) as seen:
        assert seen.wait_for(lambda m: m.payload == b"online", timeout=15) is not None
        joined = time.monotonic()
        # camA's certificate asks for camB's agent's client id (the one before the fix)
        intruder, events = raw_client(
            broker.port, pki.chain, pki.client_cert("camA"), pki.client_key("camA"), "camB-agent"
        )
        try:
            assert events.get(timeout=10) == "connect Success"  # camA itself may connect
            # camB keeps its session: its will does not fire and it never has to rejoin
            changed = seen.wait_for(lambda m: m.topic == b.status, timeout=SILENCE, after=joined)
            assert changed is None, changed
        finally:
            intruder.disconnect()
            intruder.loop_stop()
    assert agent_b.poll() is None


def test_an_oversized_control_message_is_refused_by_the_broker(
    pki: Layout, broker: Broker, control_b: Recorder
) -> None:
    b, control = CameraTopics("camB"), control_b
    # positive control: the largest legitimate message is delivered and answered
    sent = time.monotonic()
    control.publish(b.action, b"x" * MAX_MESSAGE_BYTES)
    answer = control.wait_for(lambda m: m.topic == b.events, timeout=10, after=sent)
    assert answer is not None
    assert f"{MAX_MESSAGE_BYTES} bytes" in answer.payload.decode()
    # 50 MB from another controller: the broker drops it (and its sender)
    flooder, events = raw_client(
        broker.port, pki.chain, pki.client_cert("operator"), pki.client_key("operator"), "op"
    )
    try:
        assert events.get(timeout=10) == "connect Success"
        flooded = time.monotonic()
        flooder.publish(b.action, b"y" * (50 * 1024 * 1024), qos=0)
        assert events.get(timeout=30).startswith("disconnect")
        late = control.wait_for(lambda m: m.topic == b.events, timeout=SILENCE, after=flooded)
        assert late is None, late.payload[:200]  # the agent never read it
    finally:
        flooder.loop_stop()
    assert "Client operator disconnected due to oversize packet." in broker.log()


def test_the_monitor_observes_but_cannot_control(pki: Layout, broker: Broker) -> None:
    a = CameraTopics("camA")
    with recorder(client_settings(pki, "camA", broker.port), "camA", (a.settings, a.action)) as cam:
        for identity, payload in (("monitor", "from the observer"), ("controller", "picture")):
            with recorder(client_settings(pki, identity, broker.port), identity, ()) as sender:
                sender.publish(a.action, payload)
        assert cam.wait_for(lambda m: m.payload == b"picture", timeout=5) is not None
        time.sleep(0.3)
    assert [m.payload for m in cam.messages] == [b"picture"]


def test_a_revoked_certificate_is_refused(pki: Layout, broker: Broker, tmp_path: Path) -> None:
    kept = {s: tmp_path / f"camB{s}" for s in (".crt", ".key")}
    for suffix, path in kept.items():
        shutil.copy(pki.client_cert("camB").with_suffix(suffix), path)
    revoke(pki.root, "camB", CaPassphrase(encrypt=False))
    broker.stop()
    broker.start()  # mosquitto reads the CRL at start
    _refused_client_cannot_deliver(pki, broker, kept[".crt"], kept[".key"], identity="camB")


def test_the_agent_subscribes_to_its_two_control_topics_only(
    broker: Broker, control_b: Recorder
) -> None:
    b, control = CameraTopics("camB"), control_b
    sent = time.monotonic()
    control.publish(f"{b.base}/control/other", "picture")
    control.publish(f"{b.base}/control/settings/deeper", "brightness 1")
    control.publish(b.action, "picture")  # positive control: answered
    answer = control.wait_for(lambda m: m.topic == b.events, timeout=10, after=sent)
    assert answer is not None
    time.sleep(0.3)
    answers = [m for m in control.messages if m.topic == b.events and m.at >= sent]
    assert len(answers) == 1
    assert b'"request": "picture"' in answers[0].payload
    # what the broker says camB subscribed to
    subscribed = _subscriptions(broker.log(), "camB")
    assert subscribed == {b.settings, b.action}


def _subscriptions(log: str, client_id: str) -> set[str]:
    """Topic filters from mosquitto -v's "Received SUBSCRIBE from <id>" blocks."""
    topics: set[str] = set()
    lines = log.splitlines()
    for index, line in enumerate(lines):
        if line.endswith(f"Received SUBSCRIBE from {client_id}"):
            for follow in lines[index + 1 :]:
                match = re.match(r"^\d+: \t(\S+) \(QoS \d\)$", follow)
                if match is not None:
                    topics.add(match.group(1))
                elif not re.match(rf"^\d+: {re.escape(client_id)} \d \S+$", follow):
                    break  # "<id> <qos> <filter>" lines interleave; anything else ends it
    return topics


def test_mosquitto_started_as_root_reads_its_files_as_mosquitto() -> None:
    # mosquitto must be able to reach the PKI once it is the `mosquitto` user: a private
    # pytest tmp dir (0700 root) would hide it, so this one is traversable.
    work = Path(tempfile.mkdtemp(prefix="trashmon-broker-"))
    work.chmod(0o755)
    try:
        port = free_port()
        layout = make_pki(work / "pki", port, broker_user=None)  # no `user` line
        assert "\nuser " not in layout.mosquitto_conf.read_text()
        with running_broker(layout, port, work / "mosquitto.log") as broker:
            a = CameraTopics("camA")
            with recorder(client_settings(layout, "monitor", port), "m", (a.status,)) as seen:
                with recorder(client_settings(layout, "camA", port), "camA", ()) as cam:
                    cam.publish(a.status, "online")
                assert seen.wait_for(lambda m: m.payload == b"online", timeout=5) is not None
            if os.geteuid() == 0:
                owner = subprocess.run(
                    ["ps", "-o", "user=", "-p", str(broker.proc.pid if broker.proc else 0)],
                    capture_output=True, text=True, check=False,
                )  # fmt: skip
                assert owner.stdout.strip() == "mosquitto"
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_a_camera_cannot_store_a_huge_retained_state(pki: Layout, broker: Broker) -> None:
    a = CameraTopics("camA")
    camera, events = raw_client(
        broker.port, pki.chain, pki.client_cert("camA"), pki.client_key("camA"), "camA"
    )
    try:
        assert events.get(timeout=10) == "connect Success"
        camera.publish(a.state, b"{" + b" " * (20 * 1024 * 1024) + b"}", qos=1, retain=True)
        assert events.get(timeout=30).startswith("disconnect")
    finally:
        camera.loop_stop()
    with recorder(client_settings(pki, "camA", broker.port), "camA", ()) as cam:
        cam.publish(a.state, '{"state": "streaming"}', retain=True)  # positive control
    with recorder(client_settings(pki, "watcher", broker.port), "w", (a.state,)) as late:
        retained = late.wait_for(lambda m: m.retain, timeout=5)
    assert retained is not None
    assert retained.payload == b'{"state": "streaming"}'
