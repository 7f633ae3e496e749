"""Two monitor replicas on one broker (issue 17 §2, server/k8s/optional/ha-monitor).

The generated mosquitto.conf makes a certificate's name the client id
(``use_username_as_clientid``), so what a monitor asks for as its client id does not
matter there: two processes with ONE certificate are one client to the broker, and each
connect throws the other off. The replicas therefore get one identity each (the pod's
name); then both stay connected, both hear every agent, and both serve the same
judgement of the same MediaMTX. Real mosquitto, real agents, real `trashmon monitor`.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.fake_mediamtx import FakeMediaMTX
from support.monitor import MonitorProcess, monitor_process
from support.mosquitto import (
    Broker,
    agent_argv,
    client_settings,
    make_pki,
    running_agent,
    running_broker,
)
from support.processes import wait_until

from trashmonitor.monitor.agents_mqtt import AgentSubscriber
from trashmonitor.pki import Layout

REPLICAS = ("trashmonitor-monitor-0", "trashmonitor-monitor-1")
CAMERAS = ("camA", "camB")
TAKEOVER = re.compile(r"Client (\S+) already connected, closing old connection")


@pytest.fixture
def replica_pki(tmp_path: Path, broker_port: int) -> Layout:
    return make_pki(tmp_path / "pki", broker_port, cameras=CAMERAS, monitors=REPLICAS)


@pytest.fixture
def replica_broker(replica_pki: Layout, broker_port: int, tmp_path: Path) -> Iterator[Broker]:
    with running_broker(replica_pki, broker_port, tmp_path / "mosquitto.log") as running:
        yield running


def mqtt_env(pki: Layout, broker: Broker, identity: str) -> dict[str, str]:
    return {
        "TRASHMON_MQTT_URL": f"mqtts://127.0.0.1:{broker.port}",
        "TRASHMON_MQTT_CA": str(pki.chain),
        "TRASHMON_MQTT_CERT": str(pki.client_cert(identity)),
        "TRASHMON_MQTT_KEY": str(pki.client_key(identity)),
    }


@contextlib.contextmanager
def two_monitors(
    mediamtx: FakeMediaMTX, pki: Layout, broker: Broker, identities: tuple[str, str], logs: Path
) -> Iterator[tuple[MonitorProcess, MonitorProcess]]:
    with (
        monitor_process(mediamtx, logs / "m0", **mqtt_env(pki, broker, identities[0])) as first,
        monitor_process(mediamtx, logs / "m1", **mqtt_env(pki, broker, identities[1])) as second,
    ):
        yield first, second


@contextlib.contextmanager
def agents(pki: Layout, broker: Broker, logs: Path) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        for camera in CAMERAS:
            argv = agent_argv(pki, camera, broker.port)
            stack.enter_context(running_agent(argv, logs / f"agent-{camera}.log"))
        yield


def sees_every_agent(monitor: MonitorProcess) -> bool:
    cameras = {c["name"]: c for c in monitor.status()["cameras"]}
    return all(
        (cameras.get(name) or {}).get("agent") and cameras[name]["agent"]["online"]
        for name in CAMERAS
    )


def last_poll(monitor: MonitorProcess) -> float:
    for line in monitor.metrics().splitlines():
        if line.startswith("trashmon_last_poll_timestamp_seconds "):
            return float(line.split()[1])
    return 0.0


# Sampled at each replica's own poll moment: times, and the byte counter that grows
# between two polls (and the rate computed from it). Everything else is the judgement.
SAMPLED = frozenset(
    {"generated_at", "last_inbound_at", "last_state_at", "online_since", "inbound_bytes",
     "inbound_bytes_per_second"}
)  # fmt: skip


def judgement(document: Any) -> Any:
    """/api/status without what differs between two correct replicas (:data:`SAMPLED`)."""
    if isinstance(document, dict):
        return {k: judgement(v) for k, v in document.items() if k not in SAMPLED}
    if isinstance(document, list):
        return [judgement(item) for item in document]
    return document


def test_two_monitors_sharing_one_certificate_throw_each_other_off(
    replica_pki: Layout, replica_broker: Broker, tmp_path: Path
) -> None:
    """Why each replica needs its own identity: suffixing the client id would not help,
    the broker replaces it with the certificate's name."""
    shared = (REPLICAS[0], REPLICAS[0])
    with (
        FakeMediaMTX() as mediamtx,
        two_monitors(mediamtx, replica_pki, replica_broker, shared, tmp_path),
    ):
        taken_over = wait_until(
            lambda: TAKEOVER.findall(replica_broker.log()), 30, what="a session takeover"
        )
    assert set(taken_over) == {REPLICAS[0]}


def test_replicas_with_their_own_identities_stay_connected_and_judge_alike(
    replica_pki: Layout, replica_broker: Broker, tmp_path: Path
) -> None:
    with FakeMediaMTX() as mediamtx:
        mediamtx.set_path("camA", online=True, rate=50_000)
        mediamtx.set_path("camB", online=False)
        with (
            agents(replica_pki, replica_broker, tmp_path),
            two_monitors(mediamtx, replica_pki, replica_broker, REPLICAS, tmp_path) as monitors,
        ):
            wait_until(lambda: all(map(sees_every_agent, monitors)), 30, what="every agent seen")
            # A few more polls each: long enough for a takeover to have shown.
            marks = [last_poll(m) + 3 for m in monitors]
            wait_until(
                lambda: all(last_poll(m) >= mark for m, mark in zip(monitors, marks, strict=True)),
                30,
                what="3 s more of polls",
            )
            for monitor in monitors:
                assert "trashmon_mqtt_connected 1.0" in monitor.metrics()
            # The same judgement, compared once both have judged the same MediaMTX state.
            same = wait_until(
                lambda: (
                    (views := [judgement(m.status()) for m in monitors])[0] == views[1] and views
                ),
                30,
                what="equal /api/status modulo timestamps",
            )
            states = {c["name"]: c["state"] for c in same[0]["cameras"]}
            assert states["camA"] != states["camB"]  # a judgement, not two empty lists
    log = replica_broker.log()
    assert TAKEOVER.findall(log) == []
    for identity in REPLICAS:
        # One connection each for the whole run: nobody was thrown off and came back.
        assert len(re.findall(rf"New client connected from \S+ as {identity} ", log)) == 1


def test_replicas_ask_for_different_client_ids_even_as_pid_1(
    replica_pki: Layout, broker_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a broker that keeps the client's own id (a user's own mosquitto without
    use_username_as_clientid), two pods whose monitor is pid 1 must still differ."""
    monkeypatch.setattr(os, "getpid", lambda: 1)
    ids = []
    for pod in REPLICAS:
        monkeypatch.setattr(socket, "gethostname", lambda pod=pod: pod)
        subscriber = AgentSubscriber(client_settings(replica_pki, pod, broker_port))
        ids.append(subscriber.client._client_id.decode())
    assert ids[0] != ids[1]
    assert all(pod in client_id for pod, client_id in zip(REPLICAS, ids, strict=True))
