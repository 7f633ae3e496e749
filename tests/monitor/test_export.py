"""The collector renders only what changed since the last state, yet /metrics stays what
prometheus-client renders for the reference families, byte for byte, over any sequence
of states (cameras coming and going, changing state, reasons, counts, agents, quality),
with one MediaMTX and with several sites (each line with its ``site``, two sites listing
the same path name never sharing a camera's lines)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from support.properties import PROPERTIES

from trashmonitor.errors import UnreachableError
from trashmonitor.monitor.daemon import Monitor
from trashmonitor.monitor.export import (
    MonitorCollector,
    StatusResponse,
    exposition,
    state_document,
)
from trashmonitor.monitor.history import CameraAvailability
from trashmonitor.monitor.mediamtx import MediaMTXClient
from trashmonitor.monitor.mediamtx_http import UrllibTransport
from trashmonitor.monitor.model import (
    REASONS,
    STATES,
    AgentView,
    CameraHealth,
    HealthReport,
    MonitorState,
)
from trashmonitor.monitor.multisite import Sites
from trashmonitor.monitor.play import PlayResult
from trashmonitor.monitor.play_watch import PlayCheck
from trashmonitor.monitor.quality import GRADES, CameraQuality
from trashmonitor.serving import json_response

# Agent-only cameras are named by MQTT topics: label values that need escaping too.
NAMES = ("cam1", "cam2", "yard/gate", 'odd"name', "back\\slash", "new\nline")
NOW = 1_763_700_000.0

# Counters: small, around the limits of go_number's integer path, and any size.
small = st.one_of(
    st.none(),
    st.integers(0, 3),
    st.sampled_from([999_999, 10**6, 2**53 - 1, 2**53, 2**53 + 1, 10**15]),
    st.integers(0, 2**64),
)
times = st.one_of(st.none(), st.sampled_from([NOW, NOW - 1.5, 1e9, 0.0]), st.floats(-1e20, 1e20))
rates = st.one_of(
    st.none(), st.sampled_from([0.0, -0.04, 0.05, 0.25, 1e14, 1e16]), st.floats(), st.integers(0, 9)
)
ratios = st.one_of(st.none(), st.sampled_from([0.0, 0.5, 1.0]), st.floats(0, 1))
availability_values = st.builds(
    CameraAvailability,
    st.fixed_dictionaries({"1h": ratios, "1d": ratios, "30d": ratios}),
    st.integers(0, 3),
)
availabilities = st.one_of(
    st.dictionaries(st.sampled_from(NAMES), availability_values, max_size=len(NAMES)),
    # As the history hands them: equal figures are one object, shared by cameras.
    st.lists(availability_values, min_size=1, max_size=3).flatmap(
        lambda values: st.dictionaries(
            st.sampled_from(NAMES), st.sampled_from(values), max_size=len(NAMES)
        )
    ),
)
agents = st.one_of(
    st.none(),
    st.builds(
        AgentView,
        st.just("x"),
        st.booleans(),
        st.sampled_from([NOW - 60, NOW]),
        last_state_at=times,
        stream_state=st.sampled_from([None, "streaming", "stalled", "odd"]),
        fps=st.sampled_from([None, 14.9, 0.0, float("nan"), float("inf")]),
        target_fps=st.sampled_from([None, 15.0]),
        black=st.booleans(),
        frozen=st.booleans(),
        restarts=st.integers(0, 2),
        consecutive_failures=small,
        bitrate_bps=st.sampled_from([None, 800_000.0, 1e12]),
        device_present=st.sampled_from([None, True, False]),
    ),
)
qualities = st.one_of(
    st.none(),
    st.builds(
        CameraQuality,
        st.integers(0, 3),
        st.integers(0, 2),
        st.sampled_from([None, 0.5, 1.0]),
        st.sampled_from(GRADES),
    ),
)


checks = st.builds(
    PlayCheck,
    st.builds(
        PlayResult,
        st.just("x"),
        st.sampled_from(["rtsp", "hls"]),
        st.sampled_from([(), ("black",), ("no_frames", "frozen")]),
        st.one_of(st.none(), st.floats(0, 10)),
        st.one_of(st.none(), st.floats(0, 30)),
        st.none(),
        st.none(),
        st.integers(0, 100),
        st.sampled_from(["", "refused"]),
    ),
    st.sampled_from([NOW, NOW - 0.0004]),
)
plays = st.dictionaries(st.sampled_from(NAMES), st.lists(checks, max_size=2).map(tuple), max_size=2)


@st.composite
def states(draw: st.DrawFn) -> MonitorState:
    names = draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=len(NAMES)))
    cameras = []
    quality = {}
    for name in names:
        reasons = draw(st.lists(st.sampled_from(REASONS), unique=True, max_size=3))
        cameras.append(
            CameraHealth(
                name,
                draw(st.sampled_from(STATES)),
                tuple(sorted(reasons, key=REASONS.index)),
                draw(st.booleans()),
                inbound_bytes=draw(small),
                inbound_bytes_per_second=draw(rates),
                readers=draw(small),
                frames_in_error=draw(small),
                last_inbound_at=draw(times),
                agent=draw(agents),
            )
        )
        seen = draw(qualities)
        if seen is not None:
            quality[name] = seen
    availability = draw(availabilities)
    report = draw(st.sampled_from([None, HealthReport(NOW, tuple(cameras))]))
    return MonitorState(report=report, quality=quality, availability=availability, play=draw(plays))


FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "state": st.sampled_from(STATES),
    "reasons": st.sampled_from([(), ("stalled",), ("no_publisher", "placeholder")]),
    "online": st.booleans(),
    "inbound_bytes": small,
    "inbound_bytes_per_second": rates,
    "readers": small,
    "frames_in_error": small,
    "last_inbound_at": times,
    "agent": agents,
}


@st.composite
def sequences(draw: st.DrawFn) -> list[MonitorState]:
    """Fresh states, and states that differ from the one before in one value only (the
    common case the collector skips work for)."""
    sequence = [draw(states())]
    for _ in range(draw(st.integers(0, 6))):
        previous = sequence[-1]
        report = previous.report
        if report is None or not report.cameras or draw(st.booleans()):
            sequence.append(draw(states()))
            continue
        index = draw(st.integers(0, len(report.cameras) - 1))
        field = draw(st.sampled_from(sorted(FIELDS)))
        cameras = list(report.cameras)
        cameras[index] = cameras[index]._replace(**{field: draw(FIELDS[field])})
        quality = dict(previous.quality)
        if draw(st.booleans()):
            name = cameras[index].name
            seen = draw(qualities)
            if seen is None:
                quality.pop(name, None)
            else:
                quality[name] = seen
        # The history recomputes availability every few seconds: a new mapping, of new
        # objects that mostly hold the same figures, or other figures.
        availability = (
            draw(availabilities)
            if draw(st.booleans())
            else {name: replace(seen) for name, seen in previous.availability.items()}
        )
        sequence.append(
            previous._replace(
                report=HealthReport(NOW, tuple(cameras)),
                quality=quality,
                availability=availability,
                play=draw(plays) if draw(st.booleans()) else previous.play,
            )
        )
    return sequence


@PROPERTIES
@given(sequences(), st.booleans())
def test_incremental_exposition_equals_the_reference_rendering(
    sequence: list[MonitorState], reuse_objects: bool
) -> None:
    current = [MonitorState()]
    collector = MonitorCollector(lambda: current[0])
    registry = CollectorRegistry(auto_describe=True)
    registry.register(collector)
    reference = CollectorRegistry(auto_describe=False)

    class Reference:
        def collect(self) -> list[object]:
            return collector.families(current[0])  # type: ignore[return-value]

    reference.register(Reference())  # type: ignore[arg-type]
    previous: MonitorState | None = None
    for drawn in sequence:
        state = drawn
        if reuse_objects and previous is not None and previous.report and state.report:
            # Cameras judged unchanged come back as the very same objects (the
            # evaluation cache): the collector must not mistake identity for staleness.
            kept = {camera.name: camera for camera in previous.report.cameras}
            same = tuple(kept.get(camera.name, camera) for camera in state.report.cameras)
            state = MonitorState(
                report=HealthReport(NOW, same), quality=previous.quality,
                availability=previous.availability,
            )  # fmt: skip
        current[0] = state
        assert exposition(registry) == generate_latest(reference)
        # and the samples read through the registry are the reference's
        assert generate_latest(registry) == generate_latest(reference)
        previous = state


@PROPERTIES
@given(sequences(), st.booleans())
def test_kept_status_text_equals_the_document_rendered_whole(
    sequence: list[MonitorState], metrics_error: bool
) -> None:
    """/api/status from each camera's kept object is what json_response writes for the
    whole document, byte for byte, over any sequence of states."""
    respond = StatusResponse()
    for drawn in sequence:
        state = drawn
        if metrics_error:
            state = state._replace(metrics_error=UnreachableError('MediaMTX /metrics: "x"'))
        answer = respond(state)
        document = state_document(state)
        if document is None:
            assert answer.status == 503
            continue
        assert answer.body == json_response(document).body
        assert answer.content_type == "application/json"


# ------------------------------------------------------------------ with sites

SITES = ("home", "garage")


def sited_reference(monitors: list[Monitor]) -> bytes:
    """What prometheus-client renders for the sites' states: each site's reference
    families (built by a collector that knows no site) with ``site`` added to every
    sample here, families of one name merged, the build info once and unlabelled."""
    by_name: dict[str, Metric] = {}
    for monitor in monitors:
        state = monitor.view()
        siteless = MonitorCollector(MonitorState).families(state)
        polls = [family for c in monitor.poll_collectors() for family in c.collect()]
        for family in [*siteless, *polls]:
            merged = by_name.setdefault(
                family.name, Metric(family.name, family.documentation, family.type)
            )
            if family.name == "trashmon_build_info":
                merged.samples = merged.samples or family.samples
                continue
            merged.samples = merged.samples + [
                sample._replace(labels={**sample.labels, "site": monitor.site})
                for sample in family.samples
            ]

    class Reference:
        def collect(self) -> list[Metric]:
            return list(by_name.values())

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Reference())
    return generate_latest(registry)


@PROPERTIES
@given(sequences(), sequences(), st.lists(st.booleans(), min_size=7, max_size=7))
def test_sites_exposition_equals_the_reference_rendering_with_a_site_label(
    home: list[MonitorState], garage: list[MonitorState], alike: list[bool]
) -> None:
    """Each site keeps its own camera lines: with the same camera names at both sites
    (the same values too, where ``alike``), neither site's lines show up as the other's,
    and every line carries its site as prometheus-client writes it."""
    client = MediaMTXClient("http://127.0.0.1:9", transport=UrllibTransport())
    monitors = [Monitor(client, clock=lambda: NOW, site=site) for site in SITES]
    sites = Sites(monitors)
    for step, home_state in enumerate(home):
        garage_state = garage[min(step, len(garage) - 1)]
        monitors[0].state = home_state
        monitors[1].state = home_state._replace() if alike[step] else garage_state
        assert sites.exposition() == sited_reference(monitors)


def test_two_sites_with_the_same_camera_keep_their_own_lines() -> None:
    """The same path name at two sites: two cameras, each with its site and its value."""
    client = MediaMTXClient("http://127.0.0.1:9", transport=UrllibTransport())
    monitors = [Monitor(client, clock=lambda: NOW, site=site) for site in SITES]
    sites = Sites(monitors)
    for poll, (home_bytes, garage_bytes) in enumerate([(100, 100), (200, 100), (200, 300)]):
        for monitor, inbound in zip(monitors, (home_bytes, garage_bytes), strict=True):
            camera = CameraHealth("cam1", "ok", (), True, inbound_bytes=inbound)
            monitor.state = MonitorState(report=HealthReport(NOW + poll, (camera,)))
        page = sites.exposition().decode()
        for site, inbound in zip(SITES, (home_bytes, garage_bytes), strict=True):
            line = f'trashmon_camera_inbound_bytes_total{{camera="cam1",site="{site}"}}'
            assert f"{line} {float(inbound)}\n" in page
        assert page.count('trashmon_camera_state{camera="cam1",site=') == 2 * len(STATES)
        assert page == sited_reference(monitors).decode()
