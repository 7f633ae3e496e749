"""The Monitor poll cycle in-process against the fake MediaMTX: metrics, status, spans."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from support.fake_mediamtx import FakeMediaMTX
from support.processes import free_port, promtool_check_metrics

from trashmonitor.monitor.daemon import Monitor, blind_at, track
from trashmonitor.monitor.mediamtx import MediaMTXClient
from trashmonitor.monitor.model import AgentView, PathObservation
from trashmonitor.telemetry import setup_tracing


class Clock:
    """Poll times are an input: the test moves the clock, nothing sleeps."""

    def __init__(self) -> None:
        self.now = 1_763_700_000.0

    def __call__(self) -> float:
        return self.now


def make_monitor(fake: FakeMediaMTX, clock: Clock, **kwargs: Any) -> Monitor:
    metrics_url = kwargs.pop("metrics_url", fake.metrics_url)
    return Monitor(MediaMTXClient(fake.url, metrics_url, timeout=2), clock=clock, **kwargs)


def sample(monitor: Monitor, name: str, **labels: str) -> float | None:
    return monitor.registry.get_sample_value(name, labels)


def status(monitor: Monitor) -> dict[str, Any]:
    response = monitor.status()
    assert response.status == 200
    document: dict[str, Any] = json.loads(response.body)
    return document


def test_metrics_and_status_follow_the_paths(fake: FakeMediaMTX) -> None:
    clock = Clock()
    fake.set_path("cam1", inbound_bytes=1000, readers=2, frames_in_error=0)
    fake.set_path("cam2", inbound_bytes=1000)
    monitor = make_monitor(fake, clock)
    monitor.poll_once()
    clock.now += 1
    fake.set_path("cam1", inbound_bytes=6000, frames_in_error=0)
    fake.set_path("cam2", online=False, placeholder=True)
    monitor.poll_once()

    assert sample(monitor, "trashmon_mediamtx_up") == 1
    assert sample(monitor, "trashmon_mediamtx_metrics_up") == 1
    assert sample(monitor, "trashmon_last_poll_timestamp_seconds") == clock.now
    assert sample(monitor, "trashmon_camera_state", camera="cam1", state="ok") == 1
    assert sample(monitor, "trashmon_camera_state", camera="cam1", state="down") == 0
    assert sample(monitor, "trashmon_camera_state", camera="cam2", state="down") == 1
    assert sample(monitor, "trashmon_camera_reason", camera="cam2", reason="placeholder") == 1
    assert sample(monitor, "trashmon_camera_reason", camera="cam1", reason="placeholder") is None
    assert sample(monitor, "trashmon_camera_online", camera="cam2") == 0
    assert sample(monitor, "trashmon_camera_inbound_bytes_total", camera="cam1") == 6000
    assert sample(monitor, "trashmon_camera_readers", camera="cam1") == 2
    assert sample(monitor, "trashmon_camera_frames_in_error_total", camera="cam1") == 0
    assert (
        sample(monitor, "trashmon_camera_last_inbound_timestamp_seconds", camera="cam1")
        == clock.now
    )
    assert sample(monitor, "trashmon_cameras", state="down") == 1
    assert sample(monitor, "trashmon_poll_duration_seconds_count") == 2
    assert sample(monitor, "trashmon_build_info", version="0.1.0") == 1

    document = status(monitor)
    cam1 = document["cameras"][0]
    assert (cam1["name"], cam1["state"], cam1["inbound_bytes_per_second"]) == ("cam1", "ok", 5000)
    assert document["summary"] == {"ok": 1, "degraded": 0, "down": 1, "parked": 0}


def test_stall_detected_from_the_history(fake: FakeMediaMTX) -> None:
    clock = Clock()
    fake.set_path("cam1", inbound_bytes=10)
    monitor = make_monitor(fake, clock)
    for grow in (10, 20, 20, 20):
        fake.set_path("cam1", inbound_bytes=grow)
        monitor.poll_once()
        clock.now += 1
    assert sample(monitor, "trashmon_camera_reason", camera="cam1", reason="stalled") == 1
    fake.set_path("cam1", inbound_bytes=30)
    monitor.poll_once()
    assert sample(monitor, "trashmon_camera_reason", camera="cam1", reason="stalled") is None


def test_outage_is_a_state_and_vanished_paths_stay_known(fake: FakeMediaMTX) -> None:
    clock = Clock()
    fake.add_paths(2, rate=1000, configured=True)
    monitor = make_monitor(fake, clock, parked=frozenset({"cam1"}))
    monitor.poll_once()
    good_poll_at = clock.now
    fake.fault = "http500"
    clock.now += 1
    monitor.poll_once()
    assert sample(monitor, "trashmon_mediamtx_up") == 0
    assert sample(monitor, "trashmon_poll_errors_total", source="api", kind="http") == 1
    assert sample(monitor, "trashmon_poll_errors_total", source="api", kind="unreachable") == 0
    assert sample(monitor, "trashmon_last_poll_timestamp_seconds") == good_poll_at
    assert (
        sample(monitor, "trashmon_camera_reason", camera="cam0", reason="mediamtx_unreachable") == 1
    )
    assert sample(monitor, "trashmon_camera_state", camera="cam1", state="parked") == 1
    document = status(monitor)
    assert document["mediamtx"]["reachable"] is False
    assert "HTTP 500" in document["mediamtx"]["error"]

    fake.fault = None
    fake.remove_path("cam0")  # configured, on demand: it vanishes with its publisher
    clock.now += 1
    monitor.poll_once()
    assert sample(monitor, "trashmon_mediamtx_up") == 1
    assert sample(monitor, "trashmon_camera_reason", camera="cam0", reason="no_publisher") == 1


def test_forgotten_after_the_forget_delay(fake: FakeMediaMTX) -> None:
    clock = Clock()
    fake.set_path("cam0", configured=True)
    monitor = make_monitor(fake, clock, forget_after=10)
    monitor.poll_once()
    fake.remove_path("cam0")
    clock.now += 5
    monitor.poll_once()
    assert sample(monitor, "trashmon_camera_state", camera="cam0", state="down") == 1
    clock.now += 6
    monitor.poll_once()
    assert sample(monitor, "trashmon_camera_state", camera="cam0", state="down") is None


def test_unreachable_mediamtx_from_the_start() -> None:
    monitor = Monitor(MediaMTXClient(f"http://127.0.0.1:{free_port()}", None, timeout=1))
    monitor.poll_once()
    assert monitor.registry.get_sample_value("trashmon_mediamtx_up") == 0
    assert (
        monitor.registry.get_sample_value(
            "trashmon_poll_errors_total", {"source": "api", "kind": "unreachable"}
        )
        == 1
    )
    assert monitor.registry.get_sample_value("trashmon_last_poll_timestamp_seconds") is None
    assert json.loads(monitor.status().body)["mediamtx"]["reachable"] is False
    assert monitor.healthz().status == 200  # polling, even though MediaMTX is down


def test_metrics_failure_degrades_gracefully(fake: FakeMediaMTX) -> None:
    fake.add_paths(1, rate=1000)
    monitor = make_monitor(fake, Clock(), metrics_url=f"http://127.0.0.1:{free_port()}/metrics")
    monitor.poll_once()
    assert sample(monitor, "trashmon_mediamtx_up") == 1
    assert sample(monitor, "trashmon_mediamtx_metrics_up") == 0
    assert sample(monitor, "trashmon_poll_errors_total", source="metrics", kind="unreachable") == 1
    document = status(monitor)
    assert "cannot connect" in document["mediamtx"]["metrics_error"]
    assert document["cameras"][0]["state"] == "ok"


def test_without_metrics_url_no_metrics_gauge(fake: FakeMediaMTX) -> None:
    fake.add_paths(1)
    monitor = make_monitor(fake, Clock(), metrics_url=None)
    monitor.poll_once()
    assert sample(monitor, "trashmon_mediamtx_metrics_up") is None
    assert fake.requests == 1


def test_healthz_before_and_after_polling(fake: FakeMediaMTX) -> None:
    monitor = make_monitor(fake, Clock())
    assert monitor.healthz().status == 503
    assert monitor.status().status == 503
    monitor.poll_once()
    assert monitor.healthz().status == 200


def test_agent_views_plug_in_and_a_broken_source_is_survived(fake: FakeMediaMTX) -> None:
    clock = Clock()
    fake.set_path("cam1", inbound_bytes=1)
    views = {
        "cam1": AgentView("cam1", True, clock.now, last_state_at=clock.now, black=True),
        "cam7": AgentView("cam7", True, clock.now, last_state_at=clock.now - 5),
    }
    calls: list[int] = []

    def source() -> dict[str, AgentView]:
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("observer bug")
        return views

    monitor = make_monitor(fake, clock, agent_views=source)
    monitor.poll_once()
    assert sample(monitor, "trashmon_camera_reason", camera="cam1", reason="black_image") == 1
    assert (
        sample(monitor, "trashmon_camera_reason", camera="cam7", reason="agent_without_publisher")
        == 1
    )
    assert sample(monitor, "trashmon_agent_online", camera="cam7") == 1
    assert (
        sample(monitor, "trashmon_agent_last_state_timestamp_seconds", camera="cam7")
        == clock.now - 5
    )
    assert status(monitor)["cameras"][0]["agent"]["black"] is True
    monitor.poll_once()  # the source raises: judged without agents, no crash
    assert sample(monitor, "trashmon_camera_reason", camera="cam1", reason="black_image") is None
    assert sample(monitor, "trashmon_camera_state", camera="cam1", state="ok") == 1


class ReconcileCollector(Collector):
    def collect(self) -> Iterable[Metric]:
        gauge = GaugeMetricFamily("trashmon_dns_in_sync", "test", labels=["resource", "name"])
        gauge.add_metric(["a_record", "cams.example"], 1)
        yield gauge


def test_extra_collectors_are_served(fake: FakeMediaMTX) -> None:
    monitor = make_monitor(fake, Clock())
    monitor.register(ReconcileCollector())
    monitor.poll_once()
    labels = {"resource": "a_record", "name": "cams.example"}
    assert monitor.registry.get_sample_value("trashmon_dns_in_sync", labels) == 1


def test_one_span_per_cycle_with_a_child_per_request(fake: FakeMediaMTX) -> None:
    exporter = InMemorySpanExporter()
    tracer = setup_tracing("test", SimpleSpanProcessor(exporter)).get_tracer("test")
    fake.add_paths(1)
    monitor = make_monitor(fake, Clock(), tracer=tracer)
    monitor.poll_once()
    fake.fault = "html"
    monitor.poll_once()
    spans = exporter.get_finished_spans()
    cycles = [s for s in spans if s.name == "trashmon.poll"]
    assert len(cycles) == 2
    for cycle in cycles:
        children = [
            s for s in spans if s.parent is not None and s.parent.span_id == cycle.context.span_id
        ]
        assert children
        assert {s.context.trace_id for s in children} == {cycle.context.trace_id}
    first_children = sorted(
        s.name for s in spans if s.parent and s.parent.span_id == cycles[0].context.span_id
    )
    assert first_children == ["mediamtx.metrics", "mediamtx.paths_list"]
    assert cycles[1].status.status_code.name == "ERROR"
    assert cycles[0].status.status_code.name == "UNSET"


def test_exposition_is_promtool_clean(fake: FakeMediaMTX, tmp_path: Any) -> None:
    fake.add_paths(3, rate=1000)
    fake.set_path("cam1", online=False)
    monitor = make_monitor(
        fake,
        Clock(),
        agent_views=lambda: {"cam0": AgentView("cam0", True, 0.0, last_state_at=1.0)},
    )
    monitor.poll_once()
    text = generate_latest(monitor.registry)
    assert b"trashmon_camera_state{" in text
    code, complaints = promtool_check_metrics(text)
    assert code == 0, complaints


def test_a_hanging_mediamtx_times_out_into_the_outage_state(fake: FakeMediaMTX) -> None:
    fake.add_paths(1)
    fake.fault = "hang"
    monitor = Monitor(MediaMTXClient(fake.url, None, timeout=0.3), interval=0.3)
    monitor.poll_once()
    assert (
        monitor.registry.get_sample_value(
            "trashmon_poll_errors_total", {"source": "api", "kind": "unreachable"}
        )
        == 1
    )
    assert "timed out" in json.loads(monitor.status().body)["mediamtx"]["error"]


def test_expected_cameras_are_never_forgotten(fake: FakeMediaMTX) -> None:
    clock = Clock()
    monitor = make_monitor(fake, clock, expected=frozenset({"cam9"}), forget_after=1)
    monitor.poll_once()
    clock.now += 100
    monitor.poll_once()
    assert sample(monitor, "trashmon_camera_reason", camera="cam9", reason="no_publisher") == 1


Sample = tuple[str, tuple[tuple[str, str], ...], float]


def exposed_samples(text: bytes) -> set[Sample]:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (s.name, tuple(sorted(s.labels.items())), s.value)
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }


class ChangingCollector(Collector):
    """A collector whose value moves between scrapes, like the MQTT connection gauge."""

    def __init__(self) -> None:
        self.value = 0

    def collect(self) -> Iterable[Metric]:
        gauge = GaugeMetricFamily("trashmon_mqtt_connected", "test")
        gauge.add_metric([], self.value)
        yield gauge


def test_served_exposition_is_the_registrys(fake: FakeMediaMTX) -> None:
    fake.add_paths(3, rate=1000)
    fake.set_path("cam1", online=False, placeholder=True)
    monitor = make_monitor(
        fake,
        Clock(),
        agent_views=lambda: {"cam0": AgentView("cam0", True, 0.0, last_state_at=1.0)},
    )
    monitor.register(ReconcileCollector())
    monitor.poll_once()
    text = monitor.exposition()
    code, said = promtool_check_metrics(text)
    assert code == 0, said
    served = exposed_samples(text)
    assert ("trashmon_camera_state", (("camera", "cam1"), ("state", "down")), 1) in served
    assert ("trashmon_agent_online", (("camera", "cam0"),), 1) in served
    assert served == exposed_samples(generate_latest(monitor.registry))


def test_served_exposition_follows_polls_and_live_collectors(fake: FakeMediaMTX) -> None:
    clock = Clock()
    fake.set_path("cam1", inbound_bytes=1000)
    monitor = make_monitor(fake, clock)
    live = ChangingCollector()
    monitor.register(live)
    monitor.poll_once()
    # One path to /metrics: the registry, in its order, byte for byte, whether the
    # monitor's families come from its collector's per-state cache or not.
    assert monitor.exposition() == generate_latest(monitor.registry)
    first = exposed_samples(monitor.exposition())
    live.value = 1  # same poll, new scrape: the live part moves, the snapshot part stays
    assert monitor.exposition() == generate_latest(monitor.registry)
    second = exposed_samples(monitor.exposition())
    assert ("trashmon_mqtt_connected", (), 0) in first
    assert ("trashmon_mqtt_connected", (), 1) in second
    inbound: Sample = ("trashmon_camera_inbound_bytes_total", (("camera", "cam1"),), 1000)
    assert inbound in first
    assert inbound in second
    assert monitor.status() is monitor.status()  # rendered once for this poll
    before = monitor.status()
    clock.now += 1
    fake.set_path("cam1", inbound_bytes=5000)
    monitor.poll_once()
    third = exposed_samples(monitor.exposition())
    assert ("trashmon_camera_inbound_bytes_total", (("camera", "cam1"),), 5000) in third
    assert inbound not in third
    assert ("trashmon_poll_duration_seconds_count", (), 2) in third
    assert monitor.status() is not before
    assert status(monitor)["cameras"][0]["inbound_bytes"] == 5000


def test_a_child_span_per_http_request_even_for_pages_read_in_parallel(
    fake: FakeMediaMTX,
) -> None:
    exporter = InMemorySpanExporter()
    tracer = setup_tracing("test", SimpleSpanProcessor(exporter)).get_tracer("test")
    fake.add_paths(5)
    client = MediaMTXClient(fake.url, fake.metrics_url, timeout=2, items_per_page=2)
    Monitor(client, tracer=tracer, clock=Clock()).poll_once()
    spans = {span.context.span_id: span for span in exporter.get_finished_spans()}
    requests = [span for span in spans.values() if span.name == "http.get"]
    parents = sorted(spans[span.parent.span_id].name for span in requests if span.parent)
    assert parents == ["mediamtx.metrics"] + ["mediamtx.paths_list"] * 3  # 5 paths, 2 a page
    pages = sorted(
        page
        for span in requests
        if span.attributes
        and isinstance(page := span.attributes["mediamtx.page"], int)
        and page >= 0
    )
    assert pages == [0, 1, 2]


# ---------------------------------------------------------------- staleness is a state


def seen_by_every_route(monitor: Monitor) -> tuple[bool, float | None, bool]:
    """(status says reachable, trashmon_mediamtx_up, healthz says it sees)."""
    healthz = json.loads(monitor.healthz().body)
    return (
        status(monitor)["mediamtx"]["reachable"],
        sample(monitor, "trashmon_mediamtx_up"),
        healthz["sees_mediamtx"],
    )


def test_no_successful_poll_for_three_intervals_is_blind_on_every_route(
    fake: FakeMediaMTX,
) -> None:
    """A poll that never ends publishes nothing: the clock alone must turn the state."""
    clock = Clock()
    fake.add_paths(2, rate=1000)
    monitor = make_monitor(fake, clock, interval=2.0, parked=frozenset({"cam1"}))
    assert monitor.stale_after == 6.0
    monitor.poll_once()
    good_at = clock.now
    clock.now += 5.9  # inside the bound: the last poll still stands
    assert seen_by_every_route(monitor) == (True, 1, True)
    assert sample(monitor, "trashmon_camera_state", camera="cam0", state="ok") == 1
    clock.now += 0.1  # three intervals without a successful poll, and no poll ended
    assert seen_by_every_route(monitor) == (False, 0, False)
    document = status(monitor)
    cam0, cam1 = document["cameras"]
    assert (cam0["state"], cam0["reasons"], cam0["online"]) == (
        "down",
        ["mediamtx_unreachable"],
        False,
    )
    assert cam1["state"] == "parked"
    assert "no successful poll for 6 s" in document["mediamtx"]["error"]
    assert document["generated_at"] == good_at + 6.0
    assert sample(monitor, "trashmon_camera_state", camera="cam0", state="ok") == 0
    assert sample(monitor, "trashmon_camera_state", camera="cam0", state="down") == 1
    assert (
        sample(monitor, "trashmon_camera_reason", camera="cam0", reason="mediamtx_unreachable") == 1
    )
    assert sample(monitor, "trashmon_last_successful_poll_timestamp_seconds") == good_at
    assert sample(monitor, "trashmon_last_poll_timestamp_seconds") == good_at
    assert sample(monitor, "trashmon_mediamtx_metrics_up") == 0  # read in the same cycle
    healthz = json.loads(monitor.healthz().body)
    assert healthz["status"] == "blind"
    assert healthz["last_successful_poll_age_seconds"] == 6.0
    served = exposed_samples(monitor.exposition())
    assert ("trashmon_mediamtx_up", (), 0) in served
    assert monitor.status() is monitor.status()  # the blind view is rendered once too

    monitor.poll_once()  # a poll succeeds again: seeing again
    assert seen_by_every_route(monitor) == (True, 1, True)


def test_blind_from_the_start_when_no_poll_ever_ends(fake: FakeMediaMTX) -> None:
    clock = Clock()
    monitor = make_monitor(fake, clock, interval=1.0, expected=frozenset({"cam1"}))
    assert monitor.status().status == 503  # starting: nothing to say yet
    assert sample(monitor, "trashmon_mediamtx_up") is None
    clock.now += 3
    document = status(monitor)
    assert document["mediamtx"]["reachable"] is False
    assert [(c["name"], c["reasons"]) for c in document["cameras"]] == [
        ("cam1", ["mediamtx_unreachable"])
    ]
    assert sample(monitor, "trashmon_mediamtx_up") == 0
    assert sample(monitor, "trashmon_last_successful_poll_timestamp_seconds") is None
    assert json.loads(monitor.healthz().body)["sees_mediamtx"] is False


def test_a_configured_stale_bound_is_used(fake: FakeMediaMTX) -> None:
    clock = Clock()
    fake.add_paths(1)
    monitor = make_monitor(fake, clock, interval=1.0, stale_after=10.0)
    monitor.poll_once()
    clock.now += 9
    assert status(monitor)["mediamtx"]["reachable"] is True
    clock.now += 1
    assert status(monitor)["mediamtx"]["reachable"] is False


def test_blind_at_is_pure() -> None:
    assert blind_at(None, started_at=100.0, stale_after=3.0) == 103.0
    assert blind_at(150.0, started_at=100.0, stale_after=3.0) == 153.0


# ---------------------------------------------------------------- unexpected errors


def test_an_unexpected_error_while_observing_is_a_counted_failed_poll(
    fake: FakeMediaMTX, monkeypatch: Any, caplog: Any
) -> None:
    clock = Clock()
    fake.add_paths(1, rate=1000)
    monitor = make_monitor(fake, clock)
    monitor.poll_once()
    assert sample(monitor, "trashmon_camera_state", camera="cam0", state="ok") == 1

    def choke(deadline: float | None = None) -> tuple[Any, ...]:
        raise RecursionError("maximum recursion depth exceeded \x1b[2J")

    monkeypatch.setattr(monitor.client, "read_paths", choke)
    with caplog.at_level("INFO", logger="trashmonitor.monitor.daemon"):
        for _ in range(3):
            clock.now += 1
            monitor.poll_once()
    assert sample(monitor, "trashmon_poll_errors_total", source="api", kind="internal") == 3
    assert sample(monitor, "trashmon_mediamtx_up") == 0
    assert sample(monitor, "trashmon_camera_state", camera="cam0", state="down") == 1  # not frozen
    error = status(monitor)["mediamtx"]["error"]
    assert error.startswith("unexpected RecursionError")
    assert "\x1b" not in error
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1  # once, not once per poll
    assert warnings[0].exc_info is None  # one line: the traceback is for --debug
    assert "RecursionError" in warnings[0].getMessage()

    monkeypatch.undo()
    clock.now += 1
    monitor.poll_once()
    assert sample(monitor, "trashmon_mediamtx_up") == 1


def test_an_unexpected_error_while_judging_is_a_counted_failed_poll(fake: FakeMediaMTX) -> None:
    clock = Clock()
    fake.add_paths(1, rate=1000)
    views: dict[str, Any] = {}
    monitor = make_monitor(fake, clock, agent_views=lambda: views)
    monitor.poll_once()
    good_at = clock.now
    assert sample(monitor, "trashmon_camera_state", camera="cam0", state="ok") == 0  # no agent
    views["cam0"] = object()  # an observer's bug: not an AgentView
    clock.now += 1
    monitor.poll_once()
    assert sample(monitor, "trashmon_poll_errors_total", source="judge", kind="internal") == 1
    assert sample(monitor, "trashmon_mediamtx_up") == 0
    assert sample(monitor, "trashmon_last_successful_poll_timestamp_seconds") == good_at
    assert status(monitor)["mediamtx"]["error"].startswith("unexpected AttributeError")


def test_an_unexpected_error_reading_metrics_is_counted(
    fake: FakeMediaMTX, monkeypatch: Any
) -> None:
    fake.add_paths(1, rate=1000)
    monitor = make_monitor(fake, Clock())

    def choke(deadline: float | None = None) -> Any:  # the read the monitor makes
        raise OverflowError("cannot convert float infinity to integer")

    monkeypatch.setattr(monitor.client, "read_metrics_text", choke)
    monitor.poll_once()
    assert sample(monitor, "trashmon_poll_errors_total", source="metrics", kind="internal") == 1
    assert sample(monitor, "trashmon_mediamtx_metrics_up") == 0
    assert sample(monitor, "trashmon_mediamtx_up") == 1


# ---------------------------------------------------------------- bounded memory


def test_ad_hoc_names_are_forgotten_configured_and_agents_remembered(fake: FakeMediaMTX) -> None:
    clock = Clock()
    fake.set_path("cam1", configured=True)
    fake.set_path("adhoc")
    fake.set_path("cam7")
    views = {"cam7": AgentView("cam7", True, clock.now, last_state_at=clock.now)}
    calls: list[int] = []

    def agents() -> dict[str, AgentView]:
        calls.append(1)
        return views if len(calls) == 1 else {}  # heard once over MQTT, then gone

    monitor = make_monitor(fake, clock, agent_views=agents)
    monitor.poll_once()
    for name in ("cam1", "adhoc", "cam7"):
        fake.remove_path(name)
    clock.now += 1
    monitor.poll_once()
    names = {camera["name"]: camera["reasons"] for camera in status(monitor)["cameras"]}
    assert names == {"cam1": ["no_publisher"], "cam7": ["no_publisher"]}


def test_a_flood_of_short_lived_names_makes_no_down_camera(fake: FakeMediaMTX) -> None:
    """Reproduction: a peer publishing briefly to fifty new names a second."""
    clock = Clock()
    fake.set_path("cam1", rate=1000, configured=True)
    monitor = make_monitor(fake, clock)
    for second in range(10):
        names = fake.add_paths(50, prefix=f"flood{second}-", rate=1000)
        monitor.poll_once()
        for name in names:
            fake.remove_path(name)
        clock.now += 1
    monitor.poll_once()
    document = status(monitor)
    assert document["summary"]["down"] == 0
    assert [camera["name"] for camera in document["cameras"]] == ["cam1"]


def test_the_camera_cap_drops_ad_hoc_paths_first_and_says_so(fake: FakeMediaMTX) -> None:
    clock = Clock()
    flood = fake.add_paths(20, prefix="adhoc", rate=1000)
    fake.set_path("zcam", configured=True)
    monitor = make_monitor(fake, clock, max_cameras=5, expected=frozenset({"gone"}))
    monitor.poll_once()
    names = [camera["name"] for camera in status(monitor)["cameras"]]
    assert len(names) == 5
    assert {"gone", "zcam"} <= set(names)  # expected and configured first
    assert sample(monitor, "trashmon_cameras_dropped") == 17
    assert sample(monitor, "trashmon_camera_state", camera="adhoc19", state="ok") is None
    for name in flood:
        fake.remove_path(name)
    clock.now += 1
    monitor.poll_once()
    assert sample(monitor, "trashmon_cameras_dropped") == 0


def test_track_keeps_what_must_stay_then_configured_then_online() -> None:
    def path(name: str, *, online: bool = True, configured: bool = False) -> PathObservation:
        return PathObservation(name, online, online, 0, 0, 0, configured=configured)

    paths = {
        p.name: p
        for p in (
            path("a"),
            path("b", online=False),
            path("c", configured=True, online=False),
            path("d"),
            path("kept", online=False),
        )
    }
    tracked, dropped = track(paths, {"kept", "expected-only"}, limit=4)
    assert sorted(tracked) == ["a", "c", "kept"]
    assert dropped == 2
    assert track(paths, (), limit=5) == (paths, 0)
    assert track(paths, {"x"}, limit=1) == ({}, 5)


names = st.text(alphabet="abcdef", min_size=1, max_size=3)


@given(
    st.dictionaries(names, st.tuples(st.booleans(), st.booleans()), max_size=30),
    st.frozensets(names, max_size=10),
    st.integers(min_value=1, max_value=40),
)
def test_track_never_exceeds_the_cap_and_never_drops_what_must_stay(
    listed: dict[str, tuple[bool, bool]], keep: frozenset[str], limit: int
) -> None:
    paths = {
        name: PathObservation(name, online, online, 0, 0, 0, configured=configured)
        for name, (online, configured) in listed.items()
    }
    tracked, dropped = track(paths, keep, limit)
    assert keep.intersection(paths) <= set(tracked)
    assert len(set(tracked) | keep) <= max(limit, len(keep))
    assert len(tracked) + dropped == len(paths)
    assert set(tracked) <= set(paths)
    left_out = [paths[name] for name in paths if name not in tracked]
    chosen = [paths[name] for name in tracked if name not in keep]
    # Nothing left out ranks before something chosen: configured, then online, then name.

    def rank(path: PathObservation) -> tuple[bool, bool, str]:
        return (not path.configured, not path.online, path.name)

    assert all(rank(out) > rank(kept) for out in left_out for kept in chosen)


def test_hostile_path_names_are_counted_never_tracked(fake: FakeMediaMTX) -> None:
    clock = Clock()
    fake.set_path("cam1", configured=True)
    fake.set_path("evil\x1b[2Jname")
    fake.set_path("x" * 300)
    monitor = make_monitor(fake, clock)
    monitor.poll_once()
    assert [camera["name"] for camera in status(monitor)["cameras"]] == ["cam1"]
    assert sample(monitor, "trashmon_mediamtx_rejected_paths") == 2
    assert b"evil" not in monitor.exposition()
    fake.remove_path("evil\x1b[2Jname")
    clock.now += 1
    monitor.poll_once()
    assert sample(monitor, "trashmon_mediamtx_rejected_paths") == 1
