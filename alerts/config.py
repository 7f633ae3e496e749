"""The one config that renders alerts, recording rules and dashboards (mixin style).

Everything a deployment may want to change lives here: which scrape jobs the rules
select, thresholds, ``for`` windows and where the runbook is published. Alerts,
recording rules and dashboards are pure functions of a :class:`MixinConfig`, so a
different deployment (or a test that needs ``for: 2s``) renders its own copy instead of
patching generated YAML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from trashmonitor.monitor.model import Thresholds
from trashmonitor.monitor.quality import DEFAULT_QUALITY, GRADES, QualityThresholds

_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d|w|y)$")
_DURATION_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration_seconds(text: str) -> float:
    """Seconds in a single-unit Prometheus duration such as ``5m`` (config values only)."""
    match = _DURATION.match(text)
    if match is None or match.group(2) == "y":
        raise ValueError(f"not a single-unit Prometheus duration: {text!r}")
    return int(match.group(1)) * _DURATION_SECONDS[match.group(2)]


@dataclass(frozen=True)
class MixinConfig:
    """Selectors, thresholds and windows; defaults are what the shipped files use."""

    # Scrape jobs (docs/contracts.md). A selector is the inside of `{…}`.
    monitor_selector: str = 'job="trashmon-monitor"'
    capture_selector: str = 'job="trashcam"'
    mediamtx_selector: str = 'job="mediamtx"'
    # The DNS reconciler's gauges come from the monitor's registry (`--dns-interval`) or
    # from `trashmon dns --watch --metrics-addr` scraped as its own job (Kubernetes).
    dns_selector: str = 'job=~"trashmon-monitor|trashmon-dns"'
    monitor_job: str = "trashmon-monitor"
    capture_job: str = "trashcam"
    mediamtx_job: str = "mediamtx"

    # Window of every rate()/increase() in recording rules (named into the rule, e.g.
    # `:rate5m`). Dashboards use Grafana's $__rate_interval instead.
    rate_window: str = "5m"

    # `for` windows: short for "the camera is down" (the monitor already debounces),
    # longer for symptoms that flap.
    camera_down_for: str = "2m"
    stream_stalled_for: str = "2m"
    placeholder_for: str = "5m"
    low_fps_for: str = "10m"
    image_for: str = "5m"
    agent_offline_for: str = "2m"
    agent_stale_for: str = "2m"
    restart_loop_for: str = "5m"
    device_missing_for: str = "1m"
    rtp_loss_for: str = "10m"
    frames_in_error_for: str = "10m"
    mediamtx_unreachable_for: str = "2m"
    monitor_blind_for: str = "2m"
    mqtt_disconnected_for: str = "5m"
    absent_for: str = "5m"
    monitor_replica_down_for: str = "5m"
    # A central Prometheus: a site heard from within the window but silent for `_for`.
    site_silent_for: str = "5m"
    site_silent_window: str = "1d"
    dns_drift_for: str = "15m"
    dns_reconcile_for: str = "5m"
    certificate_for: str = "1h"

    # Thresholds.
    stall_seconds: int = 60
    # The health model's low_fps limit is the one source: an alert at another ratio than
    # the camera's reason would page about cameras the monitor calls ok, or miss some.
    low_fps_ratio: float = Thresholds().low_fps_ratio
    # So is its agent_stale_after: the model calls an online agent silent for longer
    # (or for 2.5 announced heartbeats, when shorter) `agent_stale`; the alert fires when
    # that silence has lasted agent_stale_for beyond the same limit. An alert at another
    # age would page about agents the monitor calls fresh (it was 180 s against 90 s).
    agent_stale_seconds: float = Thresholds().agent_stale_after
    # No successful MediaMTX poll for this long, yet trashmon_mediamtx_up is not 0: the
    # monitor's states are stale (TrashmonMonitorBlind). Well above a scrape interval.
    monitor_blind_seconds: int = 60
    restart_window: str = "15m"
    restart_count: int = 3
    rtp_loss_ratio: float = 0.01
    frames_in_error_per_second: float = 0.1
    dns_reconcile_max_age_seconds: int = 3600
    certificate_warning_days: int = 14
    certificate_critical_days: int = 3

    # Connection quality (issue 16 §2): the grade's limits are the model's, declared once
    # in monitor/quality.py; the dashboards colour reconnects and stalls with them.
    quality: QualityThresholds = DEFAULT_QUALITY
    # Alert when a camera's grade is this or worse (trashmon_camera_quality_level).
    poor_connection_grade: str = "poor"
    poor_connection_for: str = "30m"

    # Availability objective per camera (issue 16 §3): the share of time each camera is
    # ok or degraded (trashmon_camera_available). Multi-window multi-burn-rate alerts
    # after the SRE workbook (ch. 5): page when both windows of the fast pair burn the
    # error budget 14.4x (2 % of a 30-day budget in an hour), ticket when both of the
    # slow pair burn it 6x (5 % in 6 hours).
    availability_objective: float = 0.995
    burn_page_windows: tuple[str, str] = ("1h", "5m")
    burn_page_factor: float = 14.4
    burn_ticket_windows: tuple[str, str] = ("6h", "30m")
    burn_ticket_factor: float = 6.0
    burn_page_for: str = "2m"
    burn_ticket_for: str = "15m"

    # runbook_url = runbook_base_url + "#" + anchor; anchors are headings in docs/runbook.md.
    runbook_base_url: str = "https://github.com/trashmonitor/trashmonitor/blob/main/docs/runbook.md"
    alert_prefix: str = "Trashmon"

    # Notifications (alerts/alertmanager.yml, rendered by alerts/notifications.py).
    # Alerts are grouped per alert and camera: one message per camera incident.
    camera_label: str = "camera"
    # Cameras are keyed by (site, path) (issue 17 §1): every per-camera series carries
    # `site` ("" = absent when no site is named), from the monitor or from the per-site
    # Prometheus's external_labels through federation. Rules aggregate and join by both.
    site_label: str = "site"
    notification_group_wait: str = "30s"
    notification_group_interval: str = "5m"
    notification_repeat_critical: str = "4h"
    notification_repeat_warning: str = "12h"
    # Alertmanager 0.25 cannot read a URL from a file: the URL is not secret; the token
    # the receiver checks is read from credentials_file (sent as `Authorization: Bearer`).
    page_webhook_url: str = "http://alert-relay:9099/trashmonitor/page"
    notify_webhook_url: str = "http://alert-relay:9099/trashmonitor/notify"
    webhook_credentials_file: str = "/etc/alertmanager/secrets/webhook-token"

    # Dashboards.
    dashboard_tags: tuple[str, ...] = ("trashmonitor",)
    dashboard_uid_prefix: str = "trashmon"
    dashboard_refresh: str = "30s"
    dashboard_time_from: str = "now-6h"

    def __post_init__(self) -> None:
        if not 0 < self.availability_objective < 1:
            raise ValueError(
                f"availability_objective: expected 0 < x < 1, got {self.availability_objective}"
            )
        if self.poor_connection_grade not in GRADES:
            raise ValueError(f"poor_connection_grade: expected one of {GRADES}")
        for window in (*self.burn_page_windows, *self.burn_ticket_windows):
            duration_seconds(window)
        for name in self.__dataclass_fields__:
            if (
                name.endswith("_for")
                or name.startswith("notification_")
                or name in {"rate_window", "restart_window", "site_silent_window"}
            ):
                duration_seconds(getattr(self, name))  # raises on a typo such as "5 m"

    @property
    def camera_key(self) -> str:
        """The labels that name one camera, as written inside ``by (…)``/``on (…)``."""
        return f"{self.site_label}, {self.camera_label}"

    @property
    def poor_connection_level(self) -> int:
        """The ``trashmon_camera_quality_level`` of ``poor_connection_grade``."""
        return len(GRADES) - 1 - GRADES.index(self.poor_connection_grade)

    @property
    def burn_windows(self) -> tuple[str, ...]:
        """Every window a burn-rate alert reads, shortest first."""
        windows = {*self.burn_page_windows, *self.burn_ticket_windows}
        return tuple(sorted(windows, key=duration_seconds))

    def with_overrides(self, **changes: object) -> MixinConfig:
        """A copy with some fields changed (tests shorten `for` windows this way)."""
        return replace(self, **changes)  # type: ignore[arg-type]


DEFAULT_CONFIG = MixinConfig()
