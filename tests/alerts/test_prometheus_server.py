"""A real Prometheus server loads the rules and fires/clears the camera-down alert.

Prometheus (Debian's `prometheus`, loopback, temporary storage) scrapes a small local
exposition server whose series the test controls, as three jobs named like the real
ones. Two rule files are loaded: the shipped one (proves it loads and evaluates without
errors against realistic series) and a render of the same mixin with `for` windows
shortened, so the alert's life cycle fits in seconds.

After integration, the issue's full end-to-end test (real `trashmon monitor` and
`trashmon capture` instead of this exposition server) reuses :func:`_prometheus`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support.http import get_json
from support.processes import REPO, free_port, require_binary, running, wait_until
from trashmonitor.alerts.config import DEFAULT_CONFIG
from trashmonitor.alerts.render import rules_yaml
from trashmonitor.alerts.rules import rule_groups

from trashmonitor.serving import HTTPService, Response
from trashmonitor.settings import HostPort

pytestmark = pytest.mark.slow

SHIPPED_RULES = REPO / "alerts" / "trashmonitor.rules.yaml"
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
            ]
        return "\n".join(lines) + "\n"

    def capture(self) -> str:
        lines = []
        for camera in self.states:
            lines += [
                f'trashcam_fps{{camera="{camera}"}} 15',
                f'trashcam_target_fps{{camera="{camera}"}} 15',
                f'trashcam_state{{camera="{camera}",state="streaming"}} 1',
                f'trashcam_black_image{{camera="{camera}"}} {int(camera == "cam3")}',
                f'trashcam_frozen_image{{camera="{camera}"}} 0',
                f'trashcam_device_present{{camera="{camera}"}} 1',
                f'trashcam_restarts_total{{camera="{camera}",reason="exited"}} 0',
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


def _prometheus_config(target: HostPort, rule_files: list[Path]) -> str:
    # JSON is valid YAML, and keeps this test free of quoting questions.
    return json.dumps(
        {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(path) for path in rule_files],
            "scrape_configs": [
                {
                    "job_name": job,
                    "metrics_path": path,
                    "static_configs": [{"targets": [str(target)]}],
                }
                for job, path in JOBS.items()
            ],
        }
    )


def _api(port: int, path: str) -> Any:
    document = get_json(f"http://127.0.0.1:{port}{path}")
    assert document["status"] == "success"
    return document["data"]


@contextlib.contextmanager
def _prometheus(tmp_path: Path, target: HostPort, rule_files: list[Path]) -> Iterator[int]:
    binary = require_binary("prometheus")
    config = tmp_path / "prometheus.yml"
    config.write_text(_prometheus_config(target, rule_files))
    port = free_port()
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    with running(argv, log_path=tmp_path / "prometheus.log") as proc:
        try:
            wait_until(lambda: _api(port, "/api/v1/status/buildinfo"), 60, 0.2, "prometheus")
            yield port
        finally:
            assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()


def _rule_states(port: int, alert_name: str) -> dict[str, str]:
    """Rule file -> state of ``alert_name`` in it (inactive, pending, firing)."""
    return {
        group["file"]: rule["state"]
        for group in _api(port, "/api/v1/rules?type=alert")["groups"]
        for rule in group["rules"]
        if rule["name"] == alert_name
    }


def _firing(port: int, alert_name: str) -> list[dict[str, Any]]:
    return [
        alert
        for alert in _api(port, "/api/v1/alerts")["alerts"]
        if alert["labels"]["alertname"] == alert_name and alert["state"] == "firing"
    ]


def test_prometheus_fires_and_clears_camera_down(tmp_path: Path) -> None:
    fast_rules = tmp_path / "fast.rules.yaml"
    fast_rules.write_text(rules_yaml(FAST))
    exposition = Exposition()
    with (
        _exposition_server(exposition) as target,
        _prometheus(tmp_path, target, [SHIPPED_RULES, fast_rules]) as port,
    ):
        groups = _api(port, "/api/v1/rules")["groups"]
        loaded = {(Path(group["file"]).name, group["name"]) for group in groups}
        expected_groups = {group.name for group in rule_groups()}
        assert loaded == {
            (file.name, name) for file in (SHIPPED_RULES, fast_rules) for name in expected_groups
        }

        # Pending first in both files, then firing where `for` is 2s; the shipped 2m
        # window keeps its copy pending.
        wait_until(
            lambda: (
                set(_rule_states(port, "TrashmonCameraDown").values()) == {"pending", "firing"}
                or None
            ),
            60,
            0.25,
            "TrashmonCameraDown firing from the fast rules",
        )
        states = _rule_states(port, "TrashmonCameraDown")
        assert states[str(fast_rules)] == "firing"
        assert states[str(SHIPPED_RULES)] == "pending"
        firing = _firing(port, "TrashmonCameraDown")
        assert [alert["labels"]["camera"] for alert in firing] == ["cam1"]
        assert firing[0]["labels"]["severity"] == "critical"
        # The description's template queried Prometheus for the camera's reasons.
        assert firing[0]["annotations"]["description"].endswith("Reasons: no_publisher.")

        # Every rule of both files evaluated without error against these series.
        unhealthy = [
            (group["file"], rule["name"], rule.get("lastError"))
            for group in _api(port, "/api/v1/rules")["groups"]
            for rule in group["rules"]
            if rule["health"] != "ok"
        ]
        assert not unhealthy
        # The parked camera (black picture) pages nothing.
        cameras = {a["labels"].get("camera") for a in _api(port, "/api/v1/alerts")["alerts"]}
        assert "cam3" not in cameras

        exposition.states["cam1"] = "ok"
        wait_until(
            lambda: set(_rule_states(port, "TrashmonCameraDown").values()) == {"inactive"} or None,
            60,
            0.25,
            "TrashmonCameraDown to clear",
        )
        assert _firing(port, "TrashmonCameraDown") == []
