"""Two real monitor replicas behind one real Prometheus: each alert fires once.

Issue 17 §2: Kubernetes runs two or more ``trashmon monitor`` replicas, every one
judging the same MediaMTX and exporting the same series (only ``instance`` differs);
the shipped rules must aggregate them, or every page comes once per replica. Here two
real monitor processes poll one MediaMTX stand-in (tests/support/fake_mediamtx.py);
Debian's Prometheus scrapes both as the job ``trashmon-monitor`` (and the stand-in's
/metrics as ``mediamtx``) and evaluates the shipped rules rendered with seconds-long
`for` windows (the expressions are the shipped ones).
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest
from support.fake_mediamtx import FakeMediaMTX
from support.monitor import MonitorProcess, monitor_process
from support.processes import wait_until
from support.prometheus import Prometheus, ScrapeTarget, render_rules, running_prometheus

from trashmonitor.alerts.config import DEFAULT_CONFIG

pytestmark = pytest.mark.slow

CAMERAS = ("cam1", "cam2")
FAST = DEFAULT_CONFIG.with_overrides(camera_down_for="2s", mediamtx_unreachable_for="2s")
REASONS = re.compile(r"Reasons: (.*)\.$")


def _address(monitor: MonitorProcess) -> str:
    return monitor.base.removeprefix("http://")


def _firing(prometheus: Prometheus, alert: str) -> list[dict[str, str]]:
    """The ALERTS series of ``alert`` in state firing: one per alert instance."""
    query = f'ALERTS{{alertname="{alert}",alertstate="firing"}}'
    return [series["metric"] for series in prometheus.query(query)]


def _targets(replicas: list[MonitorProcess], mediamtx: FakeMediaMTX) -> list[ScrapeTarget]:
    """Both replicas as one job (only ``instance`` differs), and MediaMTX's /metrics."""
    first, second = replicas
    return [
        ScrapeTarget(
            DEFAULT_CONFIG.monitor_job, _address(first), more_addresses=(_address(second),)
        ),
        ScrapeTarget(DEFAULT_CONFIG.mediamtx_job, mediamtx.url.removeprefix("http://")),
    ]


def _reasons_listed_once(prometheus: Prometheus, alert_name: str) -> list[str]:
    """The reasons the firing ``alert_name``'s description lists: the replicas report the
    same reasons, and each must be listed once."""
    (alert,) = prometheus.alerts(alert_name, "firing")
    match = REASONS.search(alert["annotations"]["description"])
    assert match is not None, alert["annotations"]
    reasons = match.group(1).split(", ")
    assert len(reasons) == len(set(reasons)), reasons
    return reasons


def _replica_series(prometheus: Prometheus, expr: str) -> set[str]:
    """The monitor instances exporting ``expr`` (each replica is one scrape target)."""
    return {series["metric"]["instance"] for series in prometheus.query(expr)}


def test_two_monitor_replicas_page_once_per_camera_and_once_for_mediamtx(
    tmp_path: Path,
) -> None:
    rules = render_rules(tmp_path / "fast.rules.yaml", FAST)
    with contextlib.ExitStack() as stack:
        mediamtx = stack.enter_context(FakeMediaMTX("v1.20"))
        for camera in CAMERAS:
            mediamtx.set_path(camera, online=True, rate=40_000.0)
        expect = {"TRASHMON_EXPECT": ",".join(CAMERAS)}
        replicas = [
            stack.enter_context(monitor_process(mediamtx, tmp_path / f"replica-{i}", **expect))
            for i in range(2)
        ]
        prometheus = stack.enter_context(
            running_prometheus(tmp_path / "prometheus", _targets(replicas, mediamtx), [rules])
        )
        both = {_address(replica) for replica in replicas}

        # Healthy: both replicas scraped, both judge cam1 ok; nothing fires.
        ok = 'trashmon_camera_state{camera="cam1",state="ok"} == 1'
        wait_until(lambda: _replica_series(prometheus, ok) == both, 60, 0.25, ok)
        # (MonitorAbsent may be pending from before the first scrape: it clears.)
        wait_until(lambda: prometheus.api("/api/v1/alerts")["alerts"] == [], 60, 0.25, "no alert")

        # Cut cam1's publisher: both replicas see it down, one alert fires.
        mediamtx.set_path("cam1", online=False)
        wait_until(lambda: _firing(prometheus, "TrashmonCameraDown"), 60, 0.25, "camera down")
        down = 'trashmon_camera_state{camera="cam1",state="down"} == 1'
        assert _replica_series(prometheus, down) == both
        firing = _firing(prometheus, "TrashmonCameraDown")
        assert [alert["camera"] for alert in firing] == ["cam1"]
        assert "no_publisher" in _reasons_listed_once(prometheus, "TrashmonCameraDown")

        # The MediaMTX API fails for both replicas: one MediaMTX alert, not one per replica.
        mediamtx.fault = "http500"
        wait_until(
            lambda: _firing(prometheus, "TrashmonMediamtxUnreachable"), 60, 0.25, "unreachable"
        )
        assert _replica_series(prometheus, "trashmon_mediamtx_up == 0") == both
        assert len(_firing(prometheus, "TrashmonMediamtxUnreachable")) == 1
        # Cameras down only because MediaMTX is unreachable do not page on their own.
        wait_until(
            lambda: not _firing(prometheus, "TrashmonCameraDown"), 60, 0.25, "camera down cleared"
        )

        mediamtx.fault = None
        wait_until(
            lambda: not _firing(prometheus, "TrashmonMediamtxUnreachable"), 60, 0.25, "recovered"
        )
        assert not prometheus.unhealthy_rules()
