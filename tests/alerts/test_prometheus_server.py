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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support.processes import wait_until
from support.prometheus import SHIPPED_RULES, ScrapeTarget, render_rules, running_prometheus

from trashmonitor.alerts.config import DEFAULT_CONFIG
from trashmonitor.alerts.rules import rule_groups
from trashmonitor.serving import HTTPService, Response
from trashmonitor.settings import HostPort

pytestmark = pytest.mark.slow

FAST = DEFAULT_CONFIG.with_overrides(camera_down_for="2s")
JOBS = {"trashmon-monitor": "/monitor", "trashcam": "/capture", "mediamtx": "/mediamtx"}


def _camera_states(states: dict[str, str]) -> list[str]:
    return [
        f'trashmon_camera_state{{camera="{camera}",state="{state}"}} {int(state == current)}'
        for camera, current in states.items()
        for state in ("ok", "degraded", "down", "parked")
    ]


@dataclass
class Exposition:
    """What each fake target serves; tests change it between scrapes."""

    states: dict[str, str] = field(
        default_factory=lambda: {"cam1": "down", "cam2": "ok", "cam3": "parked"}
    )

    def monitor(self) -> str:
        lines = [
            'trashmon_build_info{version="0.1.0"} 1',
            "trashmon_mediamtx_up 1",
            "trashmon_mqtt_connected 1",
            *_camera_states(self.states),
            'trashmon_camera_reason{camera="cam1",reason="no_publisher"} 1',
        ]
        for camera in self.states:
            online = int(self.states[camera] == "ok")
            lines += [
                f'trashmon_camera_online{{camera="{camera}"}} {online}',
                f'trashmon_camera_readers{{camera="{camera}"}} 1',
                f'trashmon_camera_inbound_bytes_total{{camera="{camera}"}} 1000',
                f'trashmon_camera_frames_in_error_total{{camera="{camera}"}} 0',
                f'trashmon_camera_last_inbound_timestamp_seconds{{camera="{camera}"}} 0',
                f'trashmon_agent_online{{camera="{camera}"}} 1',
                # What each agent announces over MQTT, re-exported by the monitor.
                f'trashmon_agent_fps{{camera="{camera}"}} 15',
                f'trashmon_agent_target_fps{{camera="{camera}"}} 15',
                f'trashmon_agent_state{{camera="{camera}",state="streaming"}} 1',
                f'trashmon_agent_black_image{{camera="{camera}"}} {int(camera == "cam3")}',
                f'trashmon_agent_frozen_image{{camera="{camera}"}} 0',
                f'trashmon_agent_device_present{{camera="{camera}"}} 1',
                f'trashmon_agent_restarts{{camera="{camera}"}} 0',
            ]
        return "\n".join(lines) + "\n"

    def capture(self) -> str:
        """An agent's own /metrics (only ffmpeg detail the rules no longer need)."""
        lines = []
        for camera in self.states:
            lines += [
                f'trashcam_speed_ratio{{camera="{camera}"}} 1',
                f'trashcam_black_image{{camera="{camera}"}} {int(camera == "cam3")}',
            ]
        return "\n".join(lines) + "\n"

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
