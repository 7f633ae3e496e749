"""A real Prometheus server loads the rules and fires/clears the camera-down alert.

Prometheus (Debian's `prometheus`, loopback, temporary storage) scrapes a small local
exposition server whose series the test controls, as three jobs named like the real
ones. Two rule files are loaded: the shipped one (proves it loads and evaluates without
errors against realistic series) and a render of the same mixin with `for` windows
shortened, so the alert's life cycle fits in seconds.

The end-to-end twin with the real `trashmon monitor` and `trashmon capture` is
test_alerts_end_to_end.py; both use tests/support/prometheus.py.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.registry import Collector
from support.processes import wait_until
from support.prometheus import SHIPPED_RULES, ScrapeTarget, render_rules, running_prometheus

from trashmonitor.alerts.config import DEFAULT_CONFIG
from trashmonitor.alerts.rules import rule_groups
from trashmonitor.capture.metrics import AgentCollector
from trashmonitor.capture.model import AgentSnapshot, DeviceInfo
from trashmonitor.capture.model import State as MachineState
from trashmonitor.monitor.agents_mqtt import MqttCollector, MqttObservation
from trashmonitor.monitor.export import MonitorCollector
from trashmonitor.monitor.model import AgentView, CameraHealth, HealthReport, MonitorState, State
from trashmonitor.serving import HTTPService, Response
from trashmonitor.settings import HostPort

pytestmark = pytest.mark.slow

FAST = DEFAULT_CONFIG.with_overrides(camera_down_for="2s")
JOBS = {"trashmon-monitor": "/monitor", "trashcam": "/capture", "mediamtx": "/mediamtx"}


def _agent(camera: str, at: float) -> AgentView:
    """What a streaming agent announced over MQTT (cam3's picture is black)."""
    return AgentView(
        camera, online=True, status_changed_at=at, last_state_at=at, stream_state="streaming",
        fps=15.0, target_fps=15.0, black=camera == "cam3", restarts=0, device_present=True,
    )  # fmt: skip


def _camera(name: str, state: State, at: float) -> CameraHealth:
    return CameraHealth(
        name, state, ("no_publisher",) if state == "down" else (), online=state == "ok",
        inbound_bytes=1000, readers=1, frames_in_error=0, last_inbound_at=0.0,
        agent=_agent(name, at),
    )  # fmt: skip


def _rendered(*collectors: Collector) -> str:
    registry = CollectorRegistry(auto_describe=True)
    for collector in collectors:
        registry.register(collector)
    return generate_latest(registry).decode()


@dataclass
class Exposition:
    """What each fake target serves, rendered by the real collectors from states the
    tests change between scrapes."""

    states: dict[str, State] = field(
        default_factory=lambda: {"cam1": "down", "cam2": "ok", "cam3": "parked"}
    )

    def monitor(self) -> str:
        now = time.time()
        cameras = tuple(_camera(name, state, now) for name, state in self.states.items())
        state = MonitorState(report=HealthReport(now, cameras), last_success_at=now)
        connected = MqttCollector(lambda: MqttObservation(connected=True))
        return _rendered(MonitorCollector(lambda: state), connected)

    def capture(self) -> str:
        """An agent's own /metrics (ffmpeg detail the rules no longer need): cam3's, as
        each agent serves its one camera."""
        agent = AgentSnapshot(
            camera="cam3", state=MachineState.STREAMING, reason="progress", since=0.0,
            fps=15.0, target_fps=15.0, speed=1.0, restarts=0, restarts_by_reason={},
            consecutive_failures=0, black=True, frozen=False,
            device=DeviceInfo("/dev/video0", present=True), frames=100, dropped_frames=0,
            duplicated_frames=0, output_bytes=1000, last_progress_at=None, ffmpeg_pid=None,
            ts=time.time(),
        )  # fmt: skip
        return _rendered(AgentCollector(lambda: agent))

    def mediamtx(self) -> str:
        lines = []
        for camera in self.states:
            session = f'id="{camera}",path="{camera}",remoteAddr="127.0.0.1:1",state="publish"'
            lines += [
                f'paths{{name="{camera}",state="ready"}} 1',
                f"rtsp_sessions_inbound_rtp_packets{{{session}}} 1000",
                f"rtsp_sessions_inbound_rtp_packets_lost{{{session}}} 0",
            ]
        return "\n".join(lines) + "\n"


@contextlib.contextmanager
def _exposition_server(exposition: Exposition) -> Iterator[HostPort]:
    def route(render: Any) -> Any:
        return lambda: Response(200, render().encode(), "text/plain; version=0.0.4")

    service = HTTPService(
        HostPort("127.0.0.1", 0),
        {
            "/monitor": route(exposition.monitor),
            "/capture": route(exposition.capture),
            "/mediamtx": route(exposition.mediamtx),
        },
        "test exposition",
    )
    service.start()
    try:
        yield service.address
    finally:
        service.stop()


def test_prometheus_fires_and_clears_camera_down(tmp_path: Path) -> None:
    fast_rules = render_rules(tmp_path / "fast.rules.yaml", FAST)
    exposition = Exposition()
    with contextlib.ExitStack() as stack:
        address = str(stack.enter_context(_exposition_server(exposition)))
        targets = [ScrapeTarget(job, address, path) for job, path in JOBS.items()]
        prometheus = stack.enter_context(
            running_prometheus(tmp_path, targets, [SHIPPED_RULES, fast_rules])
        )
        groups = prometheus.api("/api/v1/rules")["groups"]
        loaded = {(Path(group["file"]).name, group["name"]) for group in groups}
        expected_groups = {group.name for group in rule_groups()}
        assert loaded == {
            (file.name, name) for file in (SHIPPED_RULES, fast_rules) for name in expected_groups
        }

        # Pending first in both files, then firing where `for` is 2s; the shipped 2m
        # window keeps its copy pending.
        wait_until(
            lambda: (
                set(prometheus.rule_states("TrashmonCameraDown").values()) == {"pending", "firing"}
                or None
            ),
            60,
            0.25,
            "TrashmonCameraDown firing from the fast rules",
        )
        states = prometheus.rule_states("TrashmonCameraDown")
        assert states[str(fast_rules)] == "firing"
        assert states[str(SHIPPED_RULES)] == "pending"
        firing = prometheus.alerts("TrashmonCameraDown", "firing")
        assert [alert["labels"]["camera"] for alert in firing] == ["cam1"]
        assert firing[0]["labels"]["severity"] == "critical"
        # The description's template queried Prometheus for the camera's reasons.
        assert firing[0]["annotations"]["description"].endswith("Reasons: no_publisher.")

        # Every rule of both files evaluated without error against these series.
        assert not prometheus.unhealthy_rules()
        # The parked camera (black picture) pages nothing.
        cameras = {a["labels"].get("camera") for a in prometheus.api("/api/v1/alerts")["alerts"]}
        assert "cam3" not in cameras

        exposition.states["cam1"] = "ok"
        wait_until(
            lambda: (
                set(prometheus.rule_states("TrashmonCameraDown").values()) == {"inactive"} or None
            ),
            60,
            0.25,
            "TrashmonCameraDown to clear",
        )
        assert prometheus.alerts("TrashmonCameraDown", "firing") == []
