"""The collector renders only what changed since the last state, yet /metrics stays what
prometheus-client renders for the reference families, byte for byte, over any sequence
of states (cameras coming and going, changing state, reasons, counts, agents, quality)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from support.properties import PROPERTIES

from trashmonitor.monitor.export import MonitorCollector, exposition
from trashmonitor.monitor.history import CameraAvailability
from trashmonitor.monitor.model import (
    REASONS,
    STATES,
    AgentView,
    CameraHealth,
    HealthReport,
    MonitorState,
)
from trashmonitor.monitor.quality import GRADES, CameraQuality

# Agent-only cameras are named by MQTT topics: label values that need escaping too.
NAMES = ("cam1", "cam2", "yard/gate", 'odd"name', "back\\slash", "new\nline")
NOW = 1_763_700_000.0

small = st.one_of(st.none(), st.integers(0, 3), st.sampled_from([2**53 + 1, 10**15]))
times = st.one_of(st.none(), st.sampled_from([NOW, NOW - 1.5, 1e9, 0.0]))
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
                readers=draw(small),
                frames_in_error=draw(small),
                last_inbound_at=draw(times),
                agent=draw(agents),
            )
        )
        seen = draw(qualities)
        if seen is not None:
            quality[name] = seen
    availability = {
        name: CameraAvailability({"1h": 0.5, "1d": None, "30d": 1.0}, 2)
        for name in draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=2))
    }
    report = draw(st.sampled_from([None, HealthReport(NOW, tuple(cameras))]))
    return MonitorState(report=report, quality=quality, availability=availability)


FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "state": st.sampled_from(STATES),
    "reasons": st.sampled_from([(), ("stalled",), ("no_publisher", "placeholder")]),
    "online": st.booleans(),
    "inbound_bytes": small,
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
        cameras[index] = replace(cameras[index], **{field: draw(FIELDS[field])})
        quality = dict(previous.quality)
        if draw(st.booleans()):
            name = cameras[index].name
            seen = draw(qualities)
            if seen is None:
                quality.pop(name, None)
            else:
                quality[name] = seen
        sequence.append(
            replace(previous, report=HealthReport(NOW, tuple(cameras)), quality=quality)
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
