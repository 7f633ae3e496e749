"""Recording and alerting rules as data, rendered from a :class:`MixinConfig`.

Rules are plain dataclasses so the same definitions produce the Prometheus rule file,
the prometheus-operator ``PrometheusRule`` and the docs' alert table, and so tests can
walk them (names, severities, runbook anchors, metric names) without parsing YAML.

Camera-level alerts never fire for a camera the monitor reports as ``parked``:
``_AlertFactory.camera`` guards them (``… unless on (site, camera) parked``). Alerts that are
symptoms of a bigger outage are suppressed in the expression rather than by Alertmanager
inhibition, so a plain Prometheus without Alertmanager configuration still pages once.

A camera is named by ``site`` and ``camera`` (``MixinConfig.camera_key``): every
per-camera aggregation and join uses both, so the same path name at two sites stays two
cameras and a central Prometheus federating several sites keeps them apart. Several
monitor replicas export the same judgement; the rules aggregate them away (``max``,
never ``sum``), so every alert fires once, not once per replica (docs/observability.md,
"Several monitor replicas").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from trashmonitor.alerts.config import DEFAULT_CONFIG, MixinConfig

Severity = Literal["critical", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info")


@dataclass(frozen=True)
class RecordingRule:
    record: str
    expr: str

    def as_dict(self) -> dict[str, Any]:
        return {"record": self.record, "expr": self.expr}


@dataclass(frozen=True)
class AlertRule:
    name: str
    expr: str
    for_: str
    severity: Severity
    summary: str
    description: str
    runbook_url: str
    # False for alerts about the platform (monitor, MediaMTX, DNS, certificates).
    per_camera: bool

    @property
    def runbook_anchor(self) -> str:
        return self.runbook_url.rsplit("#", 1)[1]

    def as_dict(self) -> dict[str, Any]:
        return {
            "alert": self.name,
            "expr": self.expr,
            "for": self.for_,
            "labels": {"severity": self.severity},
            "annotations": {
                "summary": self.summary,
                "description": self.description,
                "runbook_url": self.runbook_url,
            },
        }


@dataclass(frozen=True)
class RuleGroup:
    name: str
    rules: tuple[RecordingRule | AlertRule, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "rules": [rule.as_dict() for rule in self.rules]}


class RecordedNames:
    """Names of the recording rules, shared by alerts and dashboards."""

    def __init__(self, config: MixinConfig) -> None:
        rate = config.rate_window
        self.parked = "camera:trashmon_camera_parked:max"
        self.inbound_age = "camera:trashmon_camera_inbound_age_seconds:max"
        self.inbound_bytes_rate = f"camera:trashmon_camera_inbound_bytes:rate{rate}"
        self.frames_in_error_rate = f"camera:trashmon_camera_frames_in_error:rate{rate}"
        self.fps_ratio = "camera:trashmon_agent_fps_target:ratio"
        self.restarts_increase = f"camera:trashmon_agent_restarts:increase{config.restart_window}"
        self.rtp_lost_rate = f"camera:mediamtx_rtp_packets_lost:rate{rate}"
        self.rtp_received_rate = f"camera:mediamtx_rtp_packets:rate{rate}"
        self.rtp_loss_ratio = f"camera:mediamtx_rtp_packets_lost:ratio_rate{rate}"
        self.path_ready = "camera:mediamtx_path_ready:max"

    @staticmethod
    def unavailable(window: str) -> str:
        """Share of ``window`` a camera was down (the availability SLI's error ratio)."""
        return f"camera:trashmon_camera_unavailable:ratio_avg{window}"


def _path_as_camera(expr: str, label: str) -> str:
    # MediaMTX names the path `name` (paths*) or `path` (sessions); ours is `camera`.
    return f'label_replace({expr}, "camera", "$1", "{label}", "(.*)")'


def recording_rules(config: MixinConfig = DEFAULT_CONFIG) -> tuple[RecordingRule, ...]:
    names = RecordedNames(config)
    mon, mtx, rate = config.monitor_selector, config.mediamtx_selector, config.rate_window
    key = config.camera_key
    lost = _path_as_camera(f"rate(rtsp_sessions_inbound_rtp_packets_lost{{{mtx}}}[{rate}])", "path")
    received = _path_as_camera(f"rate(rtsp_sessions_inbound_rtp_packets{{{mtx}}}[{rate}])", "path")
    # Every monitor replica exports the same judgement (issue 17 §2), so the monitor's
    # series are aggregated with `max` by (site, camera), never summed: a sum would
    # count each camera once per replica. MediaMTX's sessions are summed per path (one
    # MediaMTX per site; its scrape target carries the site label, docs/observability.md).
    return (
        RecordingRule(
            names.parked, f'max by ({key}) (trashmon_camera_state{{{mon},state="parked"}})'
        ),
        RecordingRule(
            names.inbound_age,
            f"max by ({key}) (time() - trashmon_camera_last_inbound_timestamp_seconds{{{mon}}})",
        ),
        RecordingRule(
            names.inbound_bytes_rate,
            f"max by ({key}) (rate(trashmon_camera_inbound_bytes_total{{{mon}}}[{rate}]))",
        ),
        RecordingRule(
            names.frames_in_error_rate,
            f"max by ({key}) (rate(trashmon_camera_frames_in_error_total{{{mon}}}[{rate}]))",
        ),
        # The agents' own values as the monitor re-exports them from MQTT, so no rule
        # needs Prometheus to reach a capture host.
        RecordingRule(
            names.fps_ratio,
            f"max by ({key}) (trashmon_agent_fps{{{mon}}})"
            f" / max by ({key}) (trashmon_agent_target_fps{{{mon}}} > 0)",
        ),
        RecordingRule(
            names.restarts_increase,
            # trashmon_agent_restarts is the agent's count since it started: it drops
            # to 0 when the agent restarts, which increase() reads as a counter reset.
            f"max by ({key}) (increase(trashmon_agent_restarts{{{mon}}}[{config.restart_window}]))",
        ),
        RecordingRule(names.rtp_lost_rate, f"sum by ({key}) ({lost})"),
        RecordingRule(names.rtp_received_rate, f"sum by ({key}) ({received})"),
        RecordingRule(
            names.rtp_loss_ratio,
            f"{names.rtp_lost_rate} / ({names.rtp_received_rate} + {names.rtp_lost_rate})",
        ),
        RecordingRule(
            names.path_ready,
            f"max by ({key}) (" + _path_as_camera(f'paths{{{mtx},state="ready"}}', "name") + ")",
        ),
        # The availability SLI's error ratio per burn-rate window: trashmon_camera_available
        # is 1 while ok or degraded, 0 while down, absent while parked.
        *(
            RecordingRule(
                names.unavailable(window),
                f"1 - max by ({key}) (avg_over_time(trashmon_camera_available{{{mon}}}[{window}]))",
            )
            for window in config.burn_windows
        ),
    )


class _AlertFactory:
    """Fills in what every alert shares: prefix, runbook URL, parked exclusion."""

    def __init__(self, config: MixinConfig) -> None:
        self._config = config
        self._parked = RecordedNames(config).parked
        self._key = config.camera_key

    # Positional on purpose: each call reads like a row of the alert table.
    def camera(  # noqa: PLR0917
        self, name: str, expr: str, for_: str, severity: Severity, summary: str, description: str
    ) -> AlertRule:
        guarded = f"({expr}) unless on ({self._key}) ({self._parked} == 1)"
        return self._build(name, guarded, for_, severity, summary, description, per_camera=True)

    def platform(  # noqa: PLR0917
        self, name: str, expr: str, for_: str, severity: Severity, summary: str, description: str
    ) -> AlertRule:
        return self._build(name, expr, for_, severity, summary, description, per_camera=False)

    def _build(  # noqa: PLR0917
        self,
        name: str,
        expr: str,
        for_: str,
        severity: Severity,
        summary: str,
        description: str,
        *,
        per_camera: bool,
    ) -> AlertRule:
        full_name = self._config.alert_prefix + name
        return AlertRule(
            name=full_name,
            expr=expr,
            for_=for_,
            severity=severity,
            summary=summary,
            description=description,
            runbook_url=f"{self._config.runbook_base_url}#{full_name.lower()}",
            per_camera=per_camera,
        )


def _reasons_template(config: MixinConfig) -> str:
    """Alert template text listing the camera's active reasons, comma-separated.

    Queried at notification time, so the page says *why* without opening a dashboard.
    Aggregated by reason, so N monitor replicas list each reason once.
    """
    site, camera = config.site_label, config.camera_label
    # A Go raw string (backticks): the selector's own double quotes need no escaping.
    query = (
        f"max by (reason) (trashmon_camera_reason"
        f'{{{config.monitor_selector},{site}="%s",{camera}="%s"}}) == 1'
    )
    return (
        f"{{{{ range $i, $r := printf `{query}` $labels.{site} $labels.{camera}"
        ' | query | sortByLabel "reason" }}'
        "{{ if $i }}, {{ end }}{{ $r.Labels.reason }}{{ else }}none reported{{ end }}"
    )


def camera_alerts(config: MixinConfig = DEFAULT_CONFIG) -> tuple[AlertRule, ...]:
    c, n, alert = config, RecordedNames(config), _AlertFactory(config)
    mon, key = c.monitor_selector, c.camera_key
    online = f"max by ({key}) (trashmon_camera_online{{{mon}}})"
    # What an agent announced stays exported after it went offline or silent (as its
    # last word); AgentOffline/AgentStale report that, so these read it only while the
    # agent is online.
    agent_online = f"on ({key}) (max by ({key}) (trashmon_agent_online{{{mon}}}) == 1)"

    def announced(name: str) -> str:
        return f"max by ({key}) (trashmon_agent_{name}{{{mon}}})"

    return (
        *_availability_alerts(config),
        alert.camera(
            "CameraDown",
            # A replica that cannot read MediaMTX reports every camera down with reason
            # mediamtx_unreachable (TrashmonMediamtxUnreachable speaks for that): its
            # down states are dropped per replica (job, instance) before aggregating, so
            # it neither pages for the cameras nor hides a camera another replica sees
            # down.
            f"max by ({key}) ("
            f'trashmon_camera_state{{{mon},state="down"}} == 1 unless on (job, instance, {key})'
            f' (trashmon_camera_reason{{{mon},reason="mediamtx_unreachable"}} == 1))',
            c.camera_down_for,
            "critical",
            "Camera is down.",
            "The monitor reports camera {{ $labels.camera }} as down for "
            f"{c.camera_down_for} or more. Reasons: " + _reasons_template(c) + ".",
        ),
        alert.camera(
            "StreamStalled",
            f"{n.inbound_age} > {c.stall_seconds} and on ({key}) ({online} == 1)",
            c.stream_stalled_for,
            "warning",
            "Stream is stalled.",
            "Camera {{ $labels.camera }} has a publisher attached but MediaMTX received "
            "no bytes for {{ $value | humanizeDuration }}.",
        ),
        alert.camera(
            "PlaceholderOnly",
            f"{n.path_ready} == 1 and on ({key}) ({online} == 0)",
            c.placeholder_for,
            "warning",
            "Viewers see the offline placeholder.",
            "MediaMTX reports path {{ $labels.camera }} as ready, but no real publisher "
            "is attached: only the always-available placeholder is being served.",
        ),
        alert.camera(
            "LowFps",
            f"{n.fps_ratio} < {c.low_fps_ratio} and on ({key}) "
            f'(max by ({key}) (trashmon_agent_state{{{mon},state="streaming"}}) == 1)'
            f" and {agent_online}",
            c.low_fps_for,
            "warning",
            "Camera delivers fewer frames than configured.",
            "Camera {{ $labels.camera }} streams at {{ $value | humanizePercentage }} "
            "of its configured frame rate.",
        ),
        alert.camera(
            "BlackImage",
            f"{announced('black_image')} == 1 and {agent_online}",
            c.image_for,
            "warning",
            "Camera picture is black.",
            "The capture agent of camera {{ $labels.camera }} detects a black picture "
            "(lens covered, lights off or a dead sensor).",
        ),
        alert.camera(
            "FrozenImage",
            # A black picture is also frozen: report it once, as black.
            f"{announced('frozen_image')} == 1 and {agent_online}"
            f" unless on ({key}) ({announced('black_image')} == 1)",
            c.image_for,
            "warning",
            "Camera picture is frozen.",
            "The capture agent of camera {{ $labels.camera }} sees the same picture "
            "frame after frame.",
        ),
        alert.camera(
            "AgentOffline",
            f"max by ({key}) (trashmon_agent_online{{{mon}}}) == 0",
            c.agent_offline_for,
            "warning",
            "Capture agent is offline.",
            "The capture agent of camera {{ $labels.camera }} published `offline` "
            "(or its MQTT last will fired).",
        ),
        alert.camera(
            "AgentStale",
            f"max by ({key}) (time() - trashmon_agent_last_state_timestamp_seconds{{{mon}}})"
            f" > {c.agent_stale_seconds:g} and on ({key}) "
            f"(max by ({key}) (trashmon_agent_online{{{mon}}}) == 1)",
            c.agent_stale_for,
            "warning",
            "Capture agent stopped reporting.",
            "The capture agent of camera {{ $labels.camera }} says it is online but sent "
            "no state message for {{ $value | humanizeDuration }}.",
        ),
        alert.camera(
            "FfmpegRestartLoop",
            f"{n.restarts_increase} >= {c.restart_count}",
            c.restart_loop_for,
            "warning",
            "ffmpeg keeps restarting.",
            "ffmpeg of camera {{ $labels.camera }} restarted {{ $value | humanize }} times "
            f"in the last {c.restart_window}.",
        ),
        alert.camera(
            "DeviceMissing",
            f"{announced('device_present')} == 0 and {agent_online}",
            c.device_missing_for,
            "warning",
            "Camera device is missing.",
            "The V4L2 device of camera {{ $labels.camera }} is not present on its "
            "capture host (unplugged, or a USB reset).",
        ),
        alert.camera(
            "RtpPacketLoss",
            f"{n.rtp_loss_ratio} > {c.rtp_loss_ratio}",
            c.rtp_loss_for,
            "warning",
            "RTP packets from the camera are lost.",
            "MediaMTX lost {{ $value | humanizePercentage }} of the RTP packets of "
            "camera {{ $labels.camera }}.",
        ),
        alert.camera(
            "FramesInError",
            f"{n.frames_in_error_rate} > {c.frames_in_error_per_second}",
            c.frames_in_error_for,
            "warning",
            "MediaMTX receives frames in error.",
            "MediaMTX counts {{ $value | humanize }} inbound frames in error per second "
            "for camera {{ $labels.camera }}.",
        ),
        alert.camera(
            # Only where agents are scraped at all (targets from the monitor's
            # /api/sd/agents or a file): no `up` series for the job, no alert. The alerts
            # above use the monitor's trashmon_agent_* series and do not depend on it.
            "CaptureScrapeFailing",
            f'max by ({key}, instance) (up{{job="{c.capture_job}"}}) == 0',
            c.absent_for,
            "warning",
            "A capture agent's /metrics cannot be scraped.",
            "Prometheus cannot scrape {{ $labels.instance }}, the capture agent of camera "
            "{{ $labels.camera }}: its ffmpeg detail (speed, dropped frames) is missing. "
            "The camera alerts read the monitor's trashmon_agent_* series and still work.",
        ),
    )


def _burn_threshold(config: MixinConfig, factor: float) -> str:
    """The error ratio that burns the budget ``factor`` times too fast, as PromQL text."""
    return f"{factor * (1 - config.availability_objective):.6g}"


def _availability_alerts(config: MixinConfig) -> tuple[AlertRule, ...]:
    """The availability objective's burn-rate alerts and the connection-quality alert."""
    c, alert = config, _AlertFactory(config)
    mon, objective = c.monitor_selector, f"{c.availability_objective * 100:g} %"
    key = c.camera_key

    def burning(windows: tuple[str, str], factor: float) -> str:
        threshold = _burn_threshold(c, factor)
        long, short = (RecordedNames.unavailable(window) for window in windows)
        return f"{long} > {threshold} and on ({key}) {short} > {threshold}"

    page_long, page_short = c.burn_page_windows
    ticket_long, ticket_short = c.burn_ticket_windows
    return (
        alert.camera(
            "AvailabilityBudgetBurnFast",
            burning(c.burn_page_windows, c.burn_page_factor),
            c.burn_page_for,
            "critical",
            "Camera burns its availability error budget fast.",
            "Camera {{ $labels.camera }} was down {{ $value | humanizePercentage }} of the "
            f"last {page_long} (and of the last {page_short}): at this rate the "
            f"{objective} objective's 30-day budget is gone in about "
            f"{30 * 24 / c.burn_page_factor:.0f} hours.",
        ),
        alert.camera(
            "AvailabilityBudgetBurnSlow",
            burning(c.burn_ticket_windows, c.burn_ticket_factor),
            c.burn_ticket_for,
            "warning",
            "Camera burns its availability error budget steadily.",
            "Camera {{ $labels.camera }} was down {{ $value | humanizePercentage }} of the "
            f"last {ticket_long} (and of the last {ticket_short}): at this rate the "
            f"{objective} objective's 30-day budget is gone in about "
            f"{30 / c.burn_ticket_factor:.0f} days.",
        ),
        alert.camera(
            "ConnectionPoor",
            # While down, TrashmonCameraDown pages instead.
            f"max by ({key}) (trashmon_camera_quality_level{{{mon}}})"
            f" <= {c.poor_connection_level} unless on ({key}) "
            f'(max by ({key}) (trashmon_camera_state{{{mon},state="down"}}) == 1)',
            c.poor_connection_for,
            "warning",
            "Camera connection quality is poor.",
            "Camera {{ $labels.camera }} reconnects, stalls or falls short of its frame "
            f"rate enough to grade {c.poor_connection_grade} or worse (limits: "
            "docs/monitor.md, Connection quality).",
        ),
    )


def _at_site(config: MixinConfig) -> str:
    """Template text: " at site NAME" when the alert carries a site, else nothing."""
    return f"{{{{ with $labels.{config.site_label} }}}} at site {{{{ . }}}}{{{{ end }}}}"


def platform_alerts(config: MixinConfig = DEFAULT_CONFIG) -> tuple[AlertRule, ...]:
    c, alert = config, _AlertFactory(config)
    mon, dns, site = c.monitor_selector, c.dns_selector, c.site_label
    monitor_up = f'up{{job="{c.monitor_job}"}}'
    at_site = _at_site(c)
    day = 86400
    # Several monitor replicas serve the same judgement (issue 17 §2): an alert about
    # what they all see (MediaMTX, MQTT broker, DNS, certificates) aggregates the
    # replicas away (by site where the series has one), so it fires once, not once per
    # replica. Only TrashmonMonitorReplicaDown names a replica: that is its subject.
    blind_replicas = (
        # A replica whose last successful poll is old, though it does not say MediaMTX
        # is unreachable (MediamtxUnreachable pages for that)…
        f"(time() - trashmon_last_successful_poll_timestamp_seconds{{{mon}}}"
        f" > {c.monitor_blind_seconds}"
        f" unless on (job, instance, {site}) (trashmon_mediamtx_up{{{mon}}} == 0))"
        # …or one that is scraped but has never polled successfully.
        f" or (up{{{mon}}} == 1"
        f" unless on (job, instance) trashmon_last_successful_poll_timestamp_seconds{{{mon}}}"
        f" unless on (job, instance) (trashmon_mediamtx_up{{{mon}}} == 0))"
    )
    return (
        alert.platform(
            "MonitorAbsent",
            # No replica scraped at all (absent); or, where `up` carries a site (a
            # central Prometheus federating several sites), every replica of one site
            # down. `or on ()` keeps the second part out whenever the first fires.
            f"absent({monitor_up} == 1) or on ()"
            f" (count by ({site}) ({monitor_up} == 0) unless on ({site}) ({monitor_up} == 1))",
            c.absent_for,
            "critical",
            "No trashmon monitor replica is scraped.",
            f"No healthy scrape of any replica of job {c.monitor_job}{at_site} for "
            f"{c.absent_for}: camera alerts cannot fire while the monitor is gone.",
        ),
        alert.platform(
            "MonitorReplicaDown",
            # Only while another replica of the same site is up: when none is,
            # TrashmonMonitorAbsent pages instead.
            f"{monitor_up} == 0 and on ({site}) ({monitor_up} == 1)",
            c.monitor_replica_down_for,
            "warning",
            "A monitor replica cannot be scraped; the others still judge.",
            "Prometheus cannot scrape the monitor replica {{ $labels.instance }}" + at_site + ": "
            "the other replicas keep judging the cameras, with one fewer to spare.",
        ),
        alert.platform(
            "MediamtxUnreachable",
            # Unreachable from every replica (max): one replica cut off alone does not
            # make the cameras unjudged, and its down states are ignored by CameraDown.
            f"max by ({site}) (trashmon_mediamtx_up{{{mon}}}) == 0",
            c.mediamtx_unreachable_for,
            "critical",
            "MediaMTX is unreachable from the monitor.",
            f"No monitor replica can read the MediaMTX API{at_site}: its cameras cannot be judged.",
        ),
        alert.platform(
            "MonitorBlind",
            # A monitor that has not polled MediaMTX successfully for a while (or ever,
            # while it is up) but does not say MediaMTX is unreachable: its camera states
            # are old news. When it does say so, MediamtxUnreachable pages instead.
            f"count by ({site}) ({blind_replicas})",
            c.monitor_blind_for,
            "critical",
            "The monitor has not seen MediaMTX for a while but still reports states.",
            "{{ $value }} monitor replica(s)" + at_site + " had no successful poll of "
            f"MediaMTX for over {c.monitor_blind_seconds}s, yet do not report MediaMTX "
            "unreachable: their camera states are stale.",
        ),
        alert.platform(
            "MqttDisconnected",
            f"count by (job, {site}) (trashmon_mqtt_connected{{{mon}}} == 0)",
            c.mqtt_disconnected_for,
            "warning",
            "The monitor is not connected to the MQTT broker.",
            "{{ $value }} monitor replica(s)" + at_site + " lost their MQTT connection: "
            "agent liveness is unknown to them.",
        ),
        alert.platform(
            "DnsOutOfSync",
            # The DNS replicas (no leader) read the same records: in sync if any says so.
            f"max by (resource, name) (trashmon_dns_in_sync{{{dns}}}) == 0",
            c.dns_drift_for,
            "warning",
            "DNS differs from the desired state.",
            "The {{ $labels.resource }} for {{ $labels.name }} does not match what the "
            "DNS reconciler wants.",
        ),
        alert.platform(
            "DnsReconcileFailing",
            # The newest success of any replica counts: all reconcile (no leader), so
            # while one succeeds DNS is kept right, whatever another's failures.
            f"time() - max(trashmon_dns_last_success_timestamp_seconds{{{dns}}})"
            f" > {c.dns_reconcile_max_age_seconds}",
            c.dns_reconcile_for,
            "warning",
            "DNS reconcile keeps failing.",
            "The last DNS reconcile that ended in sync was {{ $value | humanizeDuration }} ago.",
        ),
        alert.platform(
            "CertificateExpiring",
            f"min by ({site}, certificate) (trashmon_certificate_expiry_timestamp_seconds"
            f"{{{mon}}}) - time() < {c.certificate_warning_days * day}",
            c.certificate_for,
            "warning",
            "A certificate expires soon.",
            "Certificate {{ $labels.certificate }}" + at_site + " expires in "
            "{{ $value | humanizeDuration }}.",
        ),
        alert.platform(
            "CertificateExpiryCritical",
            f"min by ({site}, certificate) (trashmon_certificate_expiry_timestamp_seconds"
            f"{{{mon}}}) - time() < {c.certificate_critical_days * day}",
            c.certificate_for,
            "critical",
            "A certificate expires within days.",
            "Certificate {{ $labels.certificate }}" + at_site + " expires in "
            "{{ $value | humanizeDuration }}: MQTT clients will be refused.",
        ),
    )


def rule_groups(config: MixinConfig = DEFAULT_CONFIG) -> tuple[RuleGroup, ...]:
    # Rules of one group run in order at the same timestamp; separate groups run
    # independently, so an alert reading a recording rule from another group would see
    # the previous evaluation's value. Recording rules therefore precede the alerts
    # that read them, in the same group.
    return (
        RuleGroup("trashmonitor.cameras", recording_rules(config) + camera_alerts(config)),
        RuleGroup("trashmonitor.platform", platform_alerts(config)),
    )


def all_alerts(config: MixinConfig = DEFAULT_CONFIG) -> tuple[AlertRule, ...]:
    return camera_alerts(config) + platform_alerts(config)


def rule_file(config: MixinConfig = DEFAULT_CONFIG) -> dict[str, Any]:
    """The plain Prometheus rule file (``rule_files:`` entry), as a document."""
    return {"groups": [group.as_dict() for group in rule_groups(config)]}


def prometheus_rule(
    config: MixinConfig = DEFAULT_CONFIG,
    name: str = "trashmonitor",
    namespace: str = "trashmonitor",
) -> dict[str, Any]:
    """The same groups as a prometheus-operator ``PrometheusRule`` custom resource."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/name": "trashmonitor", "role": "alert-rules"},
        },
        "spec": rule_file(config),
    }
