"""The monitor's pure fold of MQTT messages into AgentViews, and the service discovery
built from them (the MQTT side's collector: test_agents_mqtt.py)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trashmonitor.capture.mqtt_agent import should_publish_state
from trashmonitor.monitor.agents import MAX_STATE_BYTES, fold, service_discovery
from trashmonitor.monitor.model import AgentMessage, AgentView
from trashmonitor.mqtt import parse_scrape_target


def _fold(*messages: tuple[str, bytes | str, float]) -> dict[str, AgentView]:
    views: dict[str, AgentView] = {}
    for topic, payload, at in messages:
        raw = payload.encode() if isinstance(payload, str) else payload
        views = fold(views, AgentMessage(topic, raw, at))
    return views


STATE = {"camera": "cam1", "state": "streaming", "fps": 14.9, "target_fps": 15,
         "restarts": 2, "black": False, "frozen": True, "ts": 95.0, "heartbeat": 5}  # fmt: skip


def test_status_then_state() -> None:
    views = _fold(
        ("trashcam/cam1/status", "online", 90.0),
        ("trashcam/cam1/state", json.dumps(STATE), 100.0),
    )
    assert views["cam1"] == AgentView(
        camera="cam1", online=True, status_changed_at=90.0, last_state_at=95.0,
        stream_state="streaming", fps=14.9, target_fps=15.0, black=False, frozen=True,
        restarts=2, heartbeat=5.0,
    )  # fmt: skip


def test_offline_keeps_last_state_and_records_the_change_time() -> None:
    views = _fold(
        ("trashcam/cam1/status", "online", 90.0),
        ("trashcam/cam1/state", json.dumps(STATE), 100.0),
        ("trashcam/cam1/status", "offline", 120.0),
        ("trashcam/cam1/status", "offline", 130.0),
    )
    assert not views["cam1"].online
    assert views["cam1"].status_changed_at == 120.0
    assert views["cam1"].stream_state == "streaming"


def test_state_timestamp_in_the_future_is_clamped_to_arrival() -> None:
    views = _fold(("trashcam/cam1/state", json.dumps({**STATE, "ts": 10_000.0}), 100.0))
    assert views["cam1"].last_state_at == 100.0
    assert not views["cam1"].online  # no status heard yet: not assumed online


def test_empty_retained_status_forgets_the_camera() -> None:
    views = _fold(("trashcam/cam1/status", "online", 1.0), ("trashcam/cam1/status", b"", 2.0))
    assert views == {}


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("trashcam/cam1/status", "maybe"),
        ("trashcam/cam1/state", "not json"),
        ("trashcam/cam1/state", b"\xff\xfe"),
        ("trashcam/cam1/state", "[1, 2]"),
        ("trashcam/cam1/state", "{" + " " * 20_000 + "}"),
        ("trashcam/+/status", "online"),
        ("other/cam1/status", "online"),
        ("trashcam/cam1", "online"),
    ],
)
def test_malformed_messages_change_nothing(topic: str, payload: str | bytes) -> None:
    before = _fold(("trashcam/cam1/status", "online", 1.0))
    raw = payload.encode() if isinstance(payload, str) else payload
    assert fold(before, AgentMessage(topic, raw, 2.0)) == before


def test_wrongly_typed_state_fields_are_ignored() -> None:
    odd = {"state": 3, "fps": "fast", "target_fps": True, "restarts": -1, "black": "yes",
           "ts": "now"}  # fmt: skip
    view = _fold(("trashcam/cam1/state", json.dumps(odd), 50.0))["cam1"]
    assert (view.stream_state, view.fps, view.target_fps, view.restarts, view.black) == (
        None, None, None, 0, False,
    )  # fmt: skip
    assert view.last_state_at == 50.0


def test_agent_publishes_state_on_change_or_heartbeat_only() -> None:
    first = {"camera": "cam1", "state": "streaming", "fps": 15.0, "ts": 100.0}
    same_later = {**first, "ts": 110.0}
    changed = {**first, "fps": 9.0, "ts": 111.0}
    assert should_publish_state(None, 0.0, first, 100.0, heartbeat=30)
    assert not should_publish_state(first, 100.0, same_later, 110.0, heartbeat=30)
    assert should_publish_state(first, 100.0, changed, 111.0, heartbeat=30)
    assert should_publish_state(first, 100.0, same_later, 130.0, heartbeat=30)


ANNOUNCED = {**STATE, "consecutive_failures": 4, "bitrate_bps": 812_000.5,
             "device": {"path": "/dev/video0", "present": False, "driver": "uvcvideo",
                        "card": "Cam"},
             "metrics_addr": "192.0.2.10:9844"}  # fmt: skip


def test_the_announced_health_and_metrics_address_are_folded() -> None:
    view = _fold(
        ("trashcam/cam1/status", "online", 90.0),
        ("trashcam/cam1/state", json.dumps(ANNOUNCED), 100.0),
    )["cam1"]
    assert (view.consecutive_failures, view.bitrate_bps, view.device_present) == (
        4, 812_000.5, False,
    )  # fmt: skip
    assert view.metrics_target == "192.0.2.10:9844"


def test_an_older_agent_without_the_new_fields_leaves_them_unknown() -> None:
    view = _fold(("trashcam/cam1/state", json.dumps(STATE), 100.0))["cam1"]
    assert (view.consecutive_failures, view.bitrate_bps, view.device_present) == (
        None, None, None,
    )  # fmt: skip
    assert view.metrics_target is None


@pytest.mark.parametrize(
    "announced",
    [
        "127.0.0.1:9844", "127.1:9844", "2130706433:9844", "0x7f.1:9844", "[::1]:9844",
        "[::ffff:127.0.0.1]:9844", "0.0.0.0:9844", "[::]:9844", "localhost:9844",
        "metrics.localhost:9844", "169.254.169.254:80", "[fe80::1%eth0]:9844",
        "224.0.0.1:9844", "::1:9844", "192.0.2.10", "192.0.2.10:0", "192.0.2.10:65536",
        "192.0.2.10:98440", "[192.0.2.10]:9844", "cam 1:9844", "cam/1:9844",
        "evil.example:9844/../metrics", "-cam:9844", "a" * 300 + ":9844", "cam1:٩٨٤٤",
        9844, None, ["192.0.2.10:9844"], {"host": "192.0.2.10"},
    ],
)  # fmt: skip
def test_a_metrics_address_no_other_host_may_scrape_is_not_a_target(announced: object) -> None:
    """The state topic is outside input: a hostile or misconfigured agent cannot make
    Prometheus scrape the monitor host's loopback, the cloud metadata address or junk."""
    document = {**STATE, "metrics_addr": announced}
    view = _fold(
        ("trashcam/cam1/status", "online", 90.0),
        ("trashcam/cam1/state", json.dumps(document), 100.0),
    )["cam1"]
    assert view.metrics_target is None
    assert view.stream_state == "streaming"  # the rest of the message still counts
    assert service_discovery({"cam1": view}) == []


@pytest.mark.parametrize(
    ("announced", "target"),
    [
        ("192.0.2.10:9844", "192.0.2.10:9844"),
        ("100.64.0.7:9845", "100.64.0.7:9845"),
        ("[fd7a:115c:a1e0::1]:9844", "[fd7a:115c:a1e0::1]:9844"),
        ("cam-host.tail1234.ts.net:9844", "cam-host.tail1234.ts.net:9844"),
        ("camhost:9844", "camhost:9844"),
    ],
)
def test_a_reachable_metrics_address_is_a_target(announced: str, target: str) -> None:
    assert parse_scrape_target(announced) == target


@given(st.one_of(st.text(max_size=400), st.binary(max_size=64).map(repr)))
def test_parse_scrape_target_never_raises_and_keeps_only_canonical_targets(text: str) -> None:
    target = parse_scrape_target(text)
    if target is not None:
        assert parse_scrape_target(target) == target  # canonical: stable when re-read
        assert not target.startswith(("127.", "0.0.0.0", "[::1]", "[::]", "localhost"))


@given(st.builds(lambda a, b, c, d, port: f"{a}.{b}.{c}.{d}:{port}",
                 *(st.integers(0, 255),) * 4, st.integers(1, 65535)))  # fmt: skip
def test_every_ipv4_target_is_kept_unless_loopback_wildcard_link_local_or_multicast(
    text: str,
) -> None:
    first = int(text.split(".", 1)[0])
    second = int(text.split(".")[1])
    unreachable = first in (0, 127) or first >= 224 or (first, second) == (169, 254)
    assert (parse_scrape_target(text) is None) == unreachable


def test_a_deeply_nested_state_changes_nothing() -> None:
    """Thousands of nested arrays fit in MAX_STATE_BYTES; json.loads then raises
    RecursionError, which used to escape fold() into paho's network thread (paho
    re-raises callback exceptions there: the monitor's MQTT loop ended)."""
    before = _fold(("trashcam/cam1/status", "online", 1.0))
    payload = b'{"state": ' + b"[" * (MAX_STATE_BYTES - 20)
    assert fold(before, AgentMessage("trashcam/cam1/state", payload, 2.0)) == before


@given(st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(sorted(ANNOUNCED)), children, max_size=6),
    max_leaves=30,
))  # fmt: skip
def test_any_state_document_folds_into_a_usable_view(document: object) -> None:
    payload = json.dumps({"doc": document} if not isinstance(document, dict) else document)
    views = fold({}, AgentMessage("trashcam/cam1/state", payload.encode(), 5.0))
    for view in views.values():
        assert view.consecutive_failures is None or view.consecutive_failures >= 0
        assert view.bitrate_bps is None or view.bitrate_bps >= 0
        assert view.device_present in (None, True, False)
        assert view.metrics_target is None or parse_scrape_target(view.metrics_target)
        service_discovery(views)  # never raises


def test_service_discovery_lists_online_agents_with_a_target() -> None:
    views = {
        "camB": AgentView("camB", True, 1.0, metrics_target="192.0.2.11:9844"),
        "camA": AgentView("camA", True, 1.0, metrics_target="[fd00::2]:9845"),
        "camC": AgentView("camC", False, 1.0, metrics_target="192.0.2.12:9844"),
        "camD": AgentView("camD", True, 1.0),
    }
    assert service_discovery(views) == [
        {"targets": ["[fd00::2]:9845"], "labels": {"camera": "camA"}},
        {"targets": ["192.0.2.11:9844"], "labels": {"camera": "camB"}},
    ]
    assert service_discovery({}) == []
