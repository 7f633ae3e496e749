"""Agent presence against a real mosquitto, with the agent as a real process.

kill -9 and SIGSTOP are what the Last Will exists for; a clean stop must say offline
itself. The monitor's subscriber (AgentSubscriber) must follow each change.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from support import mosquitto
from support.mosquitto import (
    Broker,
    Received,
    agent_argv,
    client_settings,
    recorder,
    start_agent,
)
from support.processes import stop_process, wait_until

from trashmonitor.monitor.agents_mqtt import AgentSubscriber, start_monitor_mqtt
from trashmonitor.mqtt import CameraTopics
from trashmonitor.pki import Layout

KEEPALIVE = 2.0
BROKER_SCAN_SECONDS = 5.0
TOPICS = CameraTopics("camA")


@pytest.fixture
def agent(pki: Layout, broker: Broker, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    argv = agent_argv(pki, "camA", broker.port, "--presence-only", "--heartbeat", "1",
                      keepalive=KEEPALIVE)  # fmt: skip
    proc = start_agent(argv, tmp_path / "agent.log")
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
        stop_process(proc)


@pytest.fixture
def monitor(pki: Layout, broker: Broker) -> Iterator[AgentSubscriber]:
    """The monitor daemon's MQTT side, started exactly as the daemon does."""
    subscriber, _ = start_monitor_mqtt(client_settings(pki, "monitor", broker.port))
    try:
        yield subscriber
    finally:
        subscriber.stop()


def _online(monitor: AgentSubscriber) -> bool | None:
    view = monitor.observe().agents.get("camA")
    return None if view is None else view.online


def _status(payload: bytes) -> Callable[[Received], bool]:
    return lambda m: m.topic == TOPICS.status and m.payload == payload


@pytest.fixture
def watch(
    pki: Layout, broker: Broker, agent: subprocess.Popen[bytes]
) -> Iterator[mosquitto.Recorder]:
    """A watcher of camA's status that has seen the agent's ``online``."""
    with mosquitto.online_recorder(
        pki, broker.port, "watch", (TOPICS.status,), ready=_status(b"online"), identity="watcher"
    ) as rec:
        yield rec


def test_online_retained_and_state_published(
    pki: Layout, broker: Broker, agent: subprocess.Popen[bytes], monitor: AgentSubscriber
) -> None:
    wait_until(lambda: _online(monitor), 10, what="monitor sees camA online")
    view = wait_until(
        lambda: v if (v := monitor.observe().agents["camA"]).last_state_at else None,
        10,
        what="state",
    )
    assert view.stream_state == "streaming"
    assert monitor.observe().connected
    # A late subscriber gets the retained online and state straight away.
    with recorder(
        client_settings(pki, "watcher", broker.port), "late", (TOPICS.status, TOPICS.state)
    ) as late:
        assert late.wait_for(lambda m: m.retain and m.payload == b"online", 5) is not None
        state = late.wait_for(lambda m: m.topic == TOPICS.state, 5)
    assert state is not None
    assert json.loads(state.payload)["camera"] == "camA"


def test_clean_stop_publishes_retained_offline(
    pki: Layout, broker: Broker, agent: subprocess.Popen[bytes], monitor: AgentSubscriber
) -> None:
    wait_until(lambda: _online(monitor), 10, what="online")
    assert stop_process(agent) == 0
    wait_until(lambda: _online(monitor) is False, 5, what="offline after SIGTERM")
    with recorder(client_settings(pki, "watcher", broker.port), "late", (TOPICS.status,)) as late:
        retained = late.wait_for(lambda m: m.retain, 5)
    assert retained is not None
    assert retained.payload == b"offline"


def test_kill_9_delivers_offline_within_a_second(
    agent: subprocess.Popen[bytes], monitor: AgentSubscriber, watch: mosquitto.Recorder
) -> None:
    killed_at = time.monotonic()
    agent.kill()
    offline = watch.wait_for(_status(b"offline"), 5, after=killed_at)
    assert offline is not None, "the Last Will never arrived"
    assert offline.at - killed_at < 1.0
    wait_until(lambda: _online(monitor) is False, 2, what="monitor view offline")


def test_hung_agent_goes_offline_after_its_keepalive_expires(
    agent: subprocess.Popen[bytes], monitor: AgentSubscriber, watch: mosquitto.Recorder
) -> None:
    time.sleep(0.5)  # let the agent's first keepalive exchange settle
    stopped_at = time.monotonic()
    os.kill(agent.pid, signal.SIGSTOP)
    offline = watch.wait_for(_status(b"offline"), 3 * KEEPALIVE + 5, after=stopped_at)
    assert offline is not None, "the broker never gave up on the hung agent"
    # Debian's mosquitto 2.0.11 scans keepalives every 5 s in whole seconds, so the
    # will fires between 1.5 x keepalive and that + 6 s (bench/mqtt_liveness.py).
    assert offline.at - stopped_at >= 1.5 * KEEPALIVE - 1.0
    assert offline.at - stopped_at < 1.5 * KEEPALIVE + BROKER_SCAN_SECONDS + 1.0
    wait_until(lambda: _online(monitor) is False, 2, what="monitor view offline")
    resumed_at = time.monotonic()
    os.kill(agent.pid, signal.SIGCONT)
    assert watch.wait_for(_status(b"online"), 15, after=resumed_at) is not None
    wait_until(lambda: _online(monitor), 5, what="monitor view back online")


@pytest.mark.slow
def test_broker_restart_agent_and_monitor_recover_without_intervention(
    pki: Layout, broker: Broker, agent: subprocess.Popen[bytes], monitor: AgentSubscriber
) -> None:
    wait_until(lambda: _online(monitor), 10, what="online")
    broker.stop()
    wait_until(lambda: not monitor.observe().connected, 5, what="monitor notices")
    first_state = monitor.observe().agents["camA"].last_state_at
    broker.start()  # no persistence: retained messages are gone, the agent must resend
    wait_until(lambda: monitor.observe().connected, 40, what="monitor reconnects")
    with recorder(
        client_settings(pki, "watcher", broker.port), "w", (TOPICS.status, TOPICS.state)
    ) as watch:
        assert watch.wait_for(_status(b"online"), 40) is not None
        assert watch.wait_for(lambda m: m.topic == TOPICS.state, 10) is not None
    assert agent.poll() is None
    wait_until(
        lambda: (monitor.observe().agents["camA"].last_state_at or 0) > (first_state or 0),
        10,
        what="monitor sees a fresh state",
    )


def test_monitor_metrics_follow_the_agent(
    pki: Layout, broker: Broker, agent: subprocess.Popen[bytes]
) -> None:
    subscriber, collector = start_monitor_mqtt(client_settings(pki, "monitor", broker.port))
    registry = CollectorRegistry()
    registry.register(collector)
    get = registry.get_sample_value
    try:
        wait_until(lambda: get("trashmon_mqtt_connected") == 1.0, 10)
        wait_until(lambda: subscriber.observe().agents["camA"].online, 10)
        for name in ("ca-chain.crt", "monitor.crt"):
            expiry = get("trashmon_certificate_expiry_timestamp_seconds", {"certificate": name})
            assert expiry is not None
            assert expiry > time.time() + 800 * 86400
        agent.kill()
        wait_until(lambda: not subscriber.observe().agents["camA"].online, 2)
        broker.stop()
        wait_until(lambda: get("trashmon_mqtt_connected") == 0.0, 5)
    finally:
        subscriber.stop()
