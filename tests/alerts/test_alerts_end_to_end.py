"""End to end: a real Prometheus evaluates the shipped rules over the real processes.

Debian's ``prometheus`` (loopback, stopped by PID) scrapes, every second, a real
``trashmon monitor`` (job trashmon-monitor) and the fake MediaMTX's /metrics (job
mediamtx) — the stack of tests/support/stack.py. A real ``trashmon capture`` publishes
the synthetic testsrc picture to an RTSP peer and announces its health over MQTT; it is
not scraped (its /metrics is on loopback, so the job trashcam, discovered through the
monitor's /api/sd/agents as docs/observability.md configures it, has no target): what
the rules know about it comes through the monitor. It loads two rule files:
the SHIPPED alerts/trashmonitor.rules.yaml, and a render of the same mixin with only
the `for` windows (and the restart-loop look-back) shortened, so the life cycle fits
in seconds; the expressions are otherwise identical.

Killing the RTSP peer (the stand-in for MediaMTX's RTSP port) is the incident:

* the agent's ffmpeg loses its server and keeps failing to reconnect: the restarts it
  announces over MQTT (``trashmon_agent_restarts``, re-exported by the monitor) drive
  TrashmonFfmpegRestartLoop;
* the monitor sees the path go offline and reports the camera ``down``:
  TrashmonCameraDown. The monitor learns about the publisher only through MediaMTX's
  API, and no MediaMTX can run here, so :class:`support.stack.PublisherBridge` stands
  in for MediaMTX: it sets the fake MediaMTX path offline while no publisher is
  connected to the peer, and online again once the agent is reconnected. Everything
  after that (monitor poll, its /metrics, scrape, rule evaluation) is the real thing.

Restarting the peer is the recovery: the agent reconnects by itself and the camera-down
alert clears; the restart loop clears once its look-back window has passed.

Prometheus sends its alerts to a real Alertmanager (Debian's `prometheus-alertmanager`)
running the shipped routing, rendered from the same mixin config with seconds for its
group wait/interval (support/alertmanager.py); its webhook receivers are a small HTTP
server in the test. The camera going down pages exactly once, the restart loop goes to
the quieter receiver, and recovery sends `resolved`.

A second incident breaks MediaMTX's API while its /metrics still answer (an API
listener or credentials problem): the monitor reports MediaMTX unreachable, which pages;
TrashmonPlaceholderOnly then fires in Prometheus too (MediaMTX's /metrics still call the
path ready, the monitor no longer sees it online), and the shipped inhibition holds it
back: Alertmanager marks it suppressed and it never reaches a receiver, while the
unreachable alert's recovery sends `resolved`. (TrashmonCameraDown is not the inhibited
one here: its expression already leaves out cameras down only because MediaMTX is
unreachable, so it never fires. Every inhibition pair is also checked alert by alert on a
real Alertmanager in test_alertmanager.py.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support.alertmanager import (
    FAST_NOTIFICATIONS,
    Alertmanager,
    Delivery,
    WebhookRecorder,
    recording_webhook,
    render_alertmanager_config,
    running_alertmanager,
)
from support.processes import wait_until
from support.prometheus import (
    SHIPPED_RULES,
    Prometheus,
    render_rules,
    running_prometheus,
)
from support.stack import CAMERA, Stack, running_stack

from trashmonitor.alerts.config import DEFAULT_CONFIG

pytestmark = pytest.mark.slow

CAMERA_DOWN = "TrashmonCameraDown"
RESTART_LOOP = "TrashmonFfmpegRestartLoop"
UNREACHABLE = "TrashmonMediamtxUnreachable"
PLACEHOLDER = "TrashmonPlaceholderOnly"
FAST = DEFAULT_CONFIG.with_overrides(
    camera_down_for="2s", restart_loop_for="2s", restart_window="20s",
    # The inhibiting alert fires well before the one it holds back, as with the shipped
    # windows (2m before 5m): an alert that reaches Alertmanager first is delivered.
    mediamtx_unreachable_for="1s", placeholder_for="6s",
    **FAST_NOTIFICATIONS,
)  # fmt: skip


def _deliveries(webhook: WebhookRecorder, path: str, alert: str, status: str) -> list[Delivery]:
    """What the receiver at ``path`` got about ``alert`` in ``status`` (firing/resolved)."""
    return [
        delivery
        for delivery in webhook.received(path)
        if delivery.status == status and alert in delivery.alert_names()
    ]


def _wait_states(
    prometheus: Prometheus,
    stack: Stack,
    alert: str,
    wanted: dict[Path, str],
    timeout: float = 30,
) -> None:
    """Wait until ``alert`` is in the wanted state in each rule file (by file path)."""
    expected = {str(path): state for path, state in wanted.items()}
    try:
        wait_until(lambda: prometheus.rule_states(alert) == expected, timeout, 0.25, alert)
    except AssertionError as error:
        states = prometheus.rule_states(alert)
        raise AssertionError(f"{error}: {states} != {expected}\n{stack.logs()}") from None


@dataclass
class Incident:
    """The running deployment, and the steps of one incident on it (times in seconds)."""

    prometheus: Prometheus
    stack: Stack
    webhook: WebhookRecorder
    fast_rules: Path
    alertmanager: Alertmanager

    @property
    def files(self) -> tuple[Path, Path]:
        return (SHIPPED_RULES, self.fast_rules)

    def wait_states(self, alert: str, wanted: dict[Path, str], timeout: float = 30) -> None:
        _wait_states(self.prometheus, self.stack, alert, wanted, timeout)

    def deliveries(self, path: str, alert: str, status: str) -> list[Delivery]:
        return _deliveries(self.webhook, path, alert, status)

    def healthy(self) -> None:
        prometheus = self.prometheus
        all_up = {DEFAULT_CONFIG.monitor_job: True, DEFAULT_CONFIG.mediamtx_job: True}
        wait_until(lambda: prometheus.targets_up() == all_up, 30, 0.25, "every target scraped")
        assert prometheus.active_targets(DEFAULT_CONFIG.capture_job) == []  # not scraped
        # The restart count is known before the incident, so increase() sees it grow.
        wait_until(
            lambda: prometheus.query(f'trashmon_agent_restarts{{camera="{CAMERA}"}}'),
            30, 0.25, "the agent's announced restart count in Prometheus",
        )  # fmt: skip
        self.wait_states(CAMERA_DOWN, dict.fromkeys(self.files, "inactive"))
        assert prometheus.rule_states(RESTART_LOOP) == {str(f): "inactive" for f in self.files}
        firing = [a for a in prometheus.api("/api/v1/alerts")["alerts"] if a["state"] == "firing"]
        assert firing == []

    def camera_down_pages(self, killed: float) -> tuple[float, float]:
        """Seconds from the kill to camera-down firing, and to the page."""
        # The fast copy fires; the shipped copy (for: 2m) is pending on the same series.
        self.wait_states(CAMERA_DOWN, {SHIPPED_RULES: "pending", self.fast_rules: "firing"})
        firing_after = time.monotonic() - killed
        firing = self.prometheus.alerts(CAMERA_DOWN, "firing")
        assert [alert["labels"]["camera"] for alert in firing] == [CAMERA]
        assert firing[0]["labels"]["severity"] == "critical"
        # The reasons in the description are the real monitor's, queried by the template.
        assert "no_publisher" in firing[0]["annotations"]["description"]

        # Alertmanager pages: the camera-down group, with this camera's labels.
        paged = wait_until(
            lambda: self.deliveries("/page", CAMERA_DOWN, "firing"), 30, 0.25, "page"
        )
        assert [a["labels"]["camera"] for a in paged[0].body["alerts"]] == [CAMERA]
        assert paged[0].body["groupLabels"] == {"alertname": CAMERA_DOWN, "camera": CAMERA}
        return firing_after, time.monotonic() - killed

    def restart_loop_notifies(self, killed: float) -> float:
        """What the agent announces: ffmpeg cannot reconnect and is restarted again and
        again. Seconds from the kill to the restart loop firing."""
        self.wait_states(RESTART_LOOP, {SHIPPED_RULES: "pending", self.fast_rules: "firing"})
        firing_after = time.monotonic() - killed
        loop = self.prometheus.alerts(RESTART_LOOP, "firing")
        assert [alert["labels"]["camera"] for alert in loop] == [CAMERA]
        assert float(loop[0]["value"]) >= FAST.restart_count
        # A warning: the quieter receiver, never the pager.
        wait_until(lambda: self.deliveries("/notify", RESTART_LOOP, "firing"), 30, 0.25, "notify")
        return firing_after

    def recovery_resolves(self, restored: float) -> tuple[float, float]:
        """Seconds from the peer's return to camera-down and to the restart loop clearing."""
        self.wait_states(CAMERA_DOWN, dict.fromkeys(self.files, "inactive"))
        camera_down_cleared_after = time.monotonic() - restored
        assert self.prometheus.alerts(CAMERA_DOWN) == []
        assert self.stack.camera()["state"] in ("ok", "degraded")
        wait_until(lambda: self.deliveries("/page", CAMERA_DOWN, "resolved"), 30, 0.25, "resolved")
        # The loop clears when its look-back no longer holds 3 restarts. The shipped
        # copy looks back 15m, so it is still pending: that is its window, not a bug.
        cleared = {SHIPPED_RULES: "pending", self.fast_rules: "inactive"}
        self.wait_states(RESTART_LOOP, cleared, timeout=40)
        return camera_down_cleared_after, time.monotonic() - restored

    def mediamtx_api_down_inhibits(self) -> None:
        """MediaMTX's API fails, its /metrics still answer: MediaMTX unreachable pages,
        and the placeholder alert it inhibits fires in Prometheus but is held back."""
        self.stack.mediamtx.fault = "http500"
        self.wait_states(UNREACHABLE, {SHIPPED_RULES: "pending", self.fast_rules: "firing"})
        wait_until(lambda: self.deliveries("/page", UNREACHABLE, "firing"), 30, 0.25, "paged")
        self.wait_states(PLACEHOLDER, {SHIPPED_RULES: "pending", self.fast_rules: "firing"})
        placeholder = self.prometheus.alerts(PLACEHOLDER, "firing")
        assert [alert["labels"]["camera"] for alert in placeholder] == [CAMERA]

        def held_back() -> dict[str, Any] | None:
            status = self.alertmanager.alert_state(PLACEHOLDER)
            return status if status and status["state"] == "suppressed" else None

        status = wait_until(held_back, 30, 0.25, f"{PLACEHOLDER} suppressed in Alertmanager")
        assert status["inhibitedBy"], status
        # The camera's own down alert leaves MediaMTX outages to the platform alert.
        assert self.prometheus.rule_states(CAMERA_DOWN) == {str(f): "inactive" for f in self.files}

    def mediamtx_api_back_resolves(self) -> None:
        """Recovery. The held-back alert's evidence goes first (Prometheus is refused
        MediaMTX's /metrics, so the path is no longer `ready`): it resolves while its
        inhibitor still fires, which never notifies; then the API answers again and the
        unreachable alert sends `resolved`."""
        mediamtx = self.stack.mediamtx
        mediamtx.authorize = lambda action, _authorization: action != "metrics"
        self.wait_states(PLACEHOLDER, dict.fromkeys(self.files, "inactive"))
        wait_until(
            lambda: self.alertmanager.alert_state(PLACEHOLDER) is None, 30, 0.25,
            f"{PLACEHOLDER} resolved in Alertmanager",
        )  # fmt: skip
        mediamtx.fault = None
        self.wait_states(UNREACHABLE, dict.fromkeys(self.files, "inactive"))
        wait_until(lambda: self.deliveries("/page", UNREACHABLE, "resolved"), 30, 0.25, "resolved")
        mediamtx.authorize = None


def test_killing_the_rtsp_peer_fires_and_recovery_clears_the_shipped_alerts(
    tmp_path: Path,
) -> None:
    fast_rules = render_rules(tmp_path / "fast.rules.yaml", FAST)
    with (
        recording_webhook() as webhook,
        running_alertmanager(
            tmp_path, render_alertmanager_config(tmp_path, FAST, webhook)
        ) as alertmanager,
        running_stack(tmp_path) as stack,
        running_prometheus(
            tmp_path, stack.scrape_targets(), (SHIPPED_RULES, fast_rules), [alertmanager.address]
        ) as prometheus,
    ):
        incident = Incident(prometheus, stack, webhook, fast_rules, alertmanager)
        incident.healthy()

        stack.peer.stop()  # SIGKILL: the server side of the stream is gone
        killed = time.monotonic()
        camera_down_after, paged_after = incident.camera_down_pages(killed)
        restart_loop_after = incident.restart_loop_notifies(killed)

        stack.peer.start()  # the same port: the agent reconnects on its own
        camera_down_cleared_after, restart_loop_cleared_after = incident.recovery_resolves(
            time.monotonic()
        )

        # Every rule of both files evaluated without error against the real series.
        assert not prometheus.unhealthy_rules()
        # One incident, one page (group_interval is 1s here: a re-send would have shown).
        assert len(incident.deliveries("/page", CAMERA_DOWN, "firing")) == 1
        assert len(incident.deliveries("/page", CAMERA_DOWN, "resolved")) == 1
        assert incident.deliveries("/page", RESTART_LOOP, "firing") == []

        # MediaMTX's API breaks: one page for it; the placeholder alert it inhibits
        # fires in Prometheus and never reaches a receiver, not even as resolved.
        incident.mediamtx_api_down_inhibits()
        incident.mediamtx_api_back_resolves()
        assert len(incident.deliveries("/page", UNREACHABLE, "firing")) == 1
        assert len(incident.deliveries("/page", UNREACHABLE, "resolved")) == 1
        delivered = {name for d in webhook.received() for name in d.alert_names()}
        assert PLACEHOLDER not in delivered
        assert not prometheus.unhealthy_rules()

    print(
        f"camera-down firing {camera_down_after:.1f}s after the kill (paged after "
        f"{paged_after:.1f}s), "
        f"restart-loop firing {restart_loop_after:.1f}s after; after the peer came back "
        f"camera-down cleared in {camera_down_cleared_after:.1f}s, "
        f"restart-loop in {restart_loop_cleared_after:.1f}s"
    )
