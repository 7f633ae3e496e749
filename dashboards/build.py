"""The Grafana dashboards, built with grafana-foundation-sdk from the mixin config.

Generation time only: the SDK is a `dev` dependency and the JSON it produces is
committed under dashboards/generated/. Expressions reuse the recording rules of
:mod:`trashmonitor.alerts.rules` where alerts and dashboards share a computation, so a
dashboard shows exactly what an alert fires on.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

with warnings.catch_warnings():
    # The SDK steers towards dashboard v2, which Grafana's file provisioning does not
    # read without feature flags; the v1 model (schemaVersion 42) is deliberate.
    warnings.simplefilter("ignore", DeprecationWarning)
    from grafana_foundation_sdk.builders import dashboard as gdb
    from grafana_foundation_sdk.builders import prometheus, stat, table, timeseries
    from grafana_foundation_sdk.builders.common import VizLegendOptions
    from grafana_foundation_sdk.cog import builder as cogbuilder
    from grafana_foundation_sdk.cog import variants as cogvariants
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models.common import (
        DataSourceRef,
        LegendDisplayMode,
        LegendPlacement,
    )
    from grafana_foundation_sdk.models.dashboard import (
        DashboardLinkType,
        VariableRefresh,
        VariableSort,
    )

from trashmonitor.alerts.config import DEFAULT_CONFIG, MixinConfig
from trashmonitor.alerts.rules import RecordedNames

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
SITE_MATCH = 'site=~"$site"'
"""The monitor's series carry ``site`` when sites are named (docs/monitor.md); with the
variable at All (``.*``) a series without the label matches too."""
CAMERA_MATCH = f'{SITE_MATCH},camera=~"$camera"'
AGENT_CAMERA_MATCH = 'camera=~"$camera"'
"""The capture agents' own series (``trashcam_*``, scraped from each agent) have no site."""
FULL_WIDTH = 24

# Grafana unit ids used below; "suffix:" units render as a plain number plus text.
UNIT_SECONDS = "s"
UNIT_BITS_PER_SECOND = "bps"
UNIT_COUNT = "short"
UNIT_RATIO = "percentunit"
UNIT_YES_NO = "bool_yes_no"
UNIT_FPS = "suffix: fps"
UNIT_PER_SECOND = "suffix: /s"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    instant: bool = False


Panel = timeseries.Panel | stat.Panel | table.Panel
AnyPanel = TypeVar("AnyPanel", timeseries.Panel, stat.Panel, table.Panel)


def selector(base: str, *extra: str) -> str:
    """``{base,extra…}``: a config selector narrowed by more matchers."""
    return "{" + ",".join(part for part in (base, *extra) if part) + "}"


class _Layout:
    """Numbers panels and builds targets consistently (refId, datasource, legend)."""

    def __init__(self) -> None:
        self._next_id = 1

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def _targets(self, queries: Sequence[Query]) -> list[cogbuilder.Builder[cogvariants.Dataquery]]:
        targets: list[cogbuilder.Builder[cogvariants.Dataquery]] = []
        for index, query in enumerate(queries):
            target = (
                prometheus.Dataquery()
                .expr(query.expr)
                .ref_id(chr(ord("A") + index))
                .datasource(DATASOURCE)
            )
            if query.legend:
                target = target.legend_format(query.legend)
            if query.instant:
                target = target.instant()
            targets.append(target)
        return targets

    def row(self, title: str) -> gdb.Row:
        return gdb.Row(title).id(self._id())

    def timeseries(  # noqa: PLR0917 (the same order as stat/table, plus links)
        self,
        title: str,
        description: str,
        unit: str,
        queries: Sequence[Query],
        span: int = 12,
        links: Sequence[gdb.DashboardLink] = (),
    ) -> timeseries.Panel:
        legend = (
            VizLegendOptions()
            .show_legend(True)
            .display_mode(LegendDisplayMode.LIST)
            .placement(LegendPlacement.BOTTOM)
        )
        panel = self._panel(timeseries.Panel(), title, description, unit, queries)
        return panel.span(span).height(8).legend(legend).data_links(list(links))

    def stat(
        self, title: str, description: str, unit: str, queries: Sequence[Query], span: int = 6
    ) -> stat.Panel:
        return self._panel(stat.Panel(), title, description, unit, queries).span(span).height(5)

    def table(
        self, title: str, description: str, unit: str, queries: Sequence[Query], span: int = 12
    ) -> table.Panel:
        return self._panel(table.Panel(), title, description, unit, queries).span(span).height(8)

    def _panel(
        self, panel: AnyPanel, title: str, description: str, unit: str, queries: Sequence[Query]
    ) -> AnyPanel:
        """What every panel has: its id, title, description, data source, unit and queries."""
        return (
            panel.id(self._id())
            .title(title)
            .description(description)
            .datasource(DATASOURCE)
            .unit(unit)
            .targets(self._targets(queries))
        )


def _base_dashboard(config: MixinConfig, slug: str, title: str, description: str) -> gdb.Dashboard:
    return (
        gdb.Dashboard(title)
        .uid(f"{config.dashboard_uid_prefix}-{slug}")
        .description(description)
        .tags(list(config.dashboard_tags))
        .refresh(config.dashboard_refresh)
        .time(config.dashboard_time_from, "now")
        .timezone("browser")
        .editable()
        .annotation(
            # Grafana's built-in "Annotations & Alerts" query, written out so the JSON has
            # an `annotations.list` (the SDK otherwise emits an empty object).
            gdb.AnnotationQuery()
            .name("Annotations & Alerts")
            .datasource(DataSourceRef(type_val="grafana", uid="-- Grafana --"))
            .enable(True)
            .hide(True)
            .icon_color("rgba(0, 211, 255, 1)")
            .type("dashboard")
            .built_in(1)
        )
        .link(
            gdb.DashboardLink("trashmonitor")
            .type(DashboardLinkType.DASHBOARDS)
            .tags(list(config.dashboard_tags))
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
        .with_variable(gdb.DatasourceVariable("datasource").label("Data source").type("prometheus"))
    )


def _camera_drilldown(config: MixinConfig) -> gdb.DashboardLink:
    """A data link from a per-camera series to that camera's dashboard."""
    return (
        gdb.DashboardLink("Open camera ${__field.labels.camera}")
        .type(DashboardLinkType.LINK)
        .url(
            # The site too: the same camera name may exist at several sites.
            f"/d/{config.dashboard_uid_prefix}-camera/?var-site=${{__field.labels.site}}"
            "&var-camera=${__field.labels.camera}"
            "&${datasource:queryparam}&${__url_time_range}"
        )
    )


def _site_variable(config: MixinConfig) -> gdb.QueryVariable:
    """Which sites (issue 17): all by default; empty while no site is named."""
    query = f"label_values(trashmon_camera_state{selector(config.monitor_selector)}, site)"
    return _label_variable("site", "Site", query, multi=True)


def _camera_variable(config: MixinConfig, multi: bool) -> gdb.QueryVariable:
    query = (
        f"label_values(trashmon_camera_state{selector(config.monitor_selector, SITE_MATCH)}, "
        "camera)"
    )
    return _label_variable("camera", "Camera", query, multi=multi)


def _label_variable(name: str, label: str, query: str, *, multi: bool) -> gdb.QueryVariable:
    """A variable over the values ``query`` finds, all of them by default."""
    return (
        gdb.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(query)
        .definition(query)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(multi)
        .include_all(True)
        .all_value(".*")
    )


def _camera_dashboard(
    config: MixinConfig, slug: str, title: str, description: str, *, multi: bool
) -> gdb.Dashboard:
    """A dashboard about cameras: the base, then the site and camera variables (``multi``:
    several cameras at once, else one)."""
    return (
        _base_dashboard(config, slug, title, description)
        .with_variable(_site_variable(config))
        .with_variable(_camera_variable(config, multi=multi))
    )


def _add(dash: gdb.Dashboard, items: Sequence[gdb.Row | Panel]) -> gdb.Dashboard:
    for item in items:
        dash = dash.with_row(item) if isinstance(item, gdb.Row) else dash.with_panel(item)
    return dash


def overview(config: MixinConfig = DEFAULT_CONFIG) -> gdb.Dashboard:
    n, lay, mon = RecordedNames(config), _Layout(), config.monitor_selector
    cam = selector(mon, CAMERA_MATCH)
    dash = _camera_dashboard(
        config,
        "overview",
        "trashmonitor / Overview",
        "Every camera at a glance: state, reasons, freshness, ingest and viewers.",
        multi=True,
    )
    return _add(
        dash,
        [
            lay.row("Cameras"),
            lay.stat(
                "Cameras by state",
                "How many cameras the monitor judges ok, degraded, down or parked.",
                UNIT_COUNT,
                [
                    Query(
                        # Each replica counts every camera: the max across replicas
                        # per site first, then the sum over sites.
                        "sum by (state) (max by (site, state) "
                        f"(trashmon_cameras{selector(mon, SITE_MATCH)}))",
                        "{{state}}",
                        True,
                    )
                ],
                span=8,
            ),
            lay.table(
                "Active reasons",
                "Why each camera is not ok (machine-readable reasons, docs/contracts.md).",
                UNIT_COUNT,
                [
                    Query(
                        f"max by (site, camera, reason) (trashmon_camera_reason{cam} == 1)",
                        "{{camera}} {{site}} {{reason}}",
                        True,
                    )
                ],
                span=8,
            ),
            lay.table(
                "Firing alerts",
                "trashmonitor alerts currently firing in this Prometheus.",
                UNIT_COUNT,
                [
                    Query(
                        f'sum by (alertname, severity, site, camera) (ALERTS{{alertname=~"'
                        f'{config.alert_prefix}.*",alertstate="firing"}})',
                        "{{alertname}}",
                        True,
                    )
                ],
                span=8,
            ),
            lay.timeseries(
                "Camera state",
                "1 while the camera is in the state named in the legend.",
                UNIT_COUNT,
                [
                    Query(
                        f"max by (site, camera, state) (trashmon_camera_state{cam}) == 1",
                        "{{camera}} {{site}} {{state}}",
                    )
                ],
            ),
            lay.timeseries(
                "Time since last frame",
                "Seconds since MediaMTX last received bytes for the path "
                f"(TrashmonStreamStalled fires above {config.stall_seconds} s).",
                UNIT_SECONDS,
                [Query(f"{n.inbound_age}{{{CAMERA_MATCH}}}", "{{camera}} {{site}}")],
                links=[_camera_drilldown(config)],
            ),
            lay.timeseries(
                "Ingest bitrate per path",
                "Bits per second MediaMTX receives from each camera.",
                UNIT_BITS_PER_SECOND,
                [Query(f"8 * {n.inbound_bytes_rate}{{{CAMERA_MATCH}}}", "{{camera}} {{site}}")],
                links=[_camera_drilldown(config)],
            ),
            lay.timeseries(
                "Readers",
                "Viewers (HLS, RTSP, WebRTC) reading each path.",
                UNIT_COUNT,
                [
                    Query(
                        f"max by (site, camera) (trashmon_camera_readers{cam})",
                        "{{camera}} {{site}}",
                    )
                ],
                links=[_camera_drilldown(config)],
            ),
        ],
    )


def camera(config: MixinConfig = DEFAULT_CONFIG) -> gdb.Dashboard:
    n, lay = RecordedNames(config), _Layout()
    mon = selector(config.monitor_selector, CAMERA_MATCH)
    cap = selector(config.capture_selector, AGENT_CAMERA_MATCH)
    rate = "[$__rate_interval]"
    dash = _camera_dashboard(
        config,
        "camera",
        "trashmonitor / Camera",
        "One camera in depth: capture agent, ffmpeg, picture checks and ingest. The agent's "
        "values come from the monitor (what each agent announces over MQTT); speed, dropped "
        "frames and the device table need Prometheus to scrape the agents themselves.",
        multi=False,
    )
    return _add(
        dash,
        [
            lay.row("Stream"),
            lay.timeseries(
                "Camera state",
                "The monitor's verdict over time.",
                UNIT_COUNT,
                [
                    Query(
                        f"max by (site, camera, state) (trashmon_camera_state{mon}) == 1",
                        "{{state}}",
                    )
                ],
            ),
            lay.timeseries(
                "Frames per second vs target",
                "ffmpeg's output fps against the configured target, as the agent announces "
                f"them (TrashmonLowFps below {config.low_fps_ratio:.0%}).",
                UNIT_FPS,
                [
                    Query(
                        f"max by (site, camera) (trashmon_agent_fps{mon})",
                        "{{camera}} {{site}} fps",
                    ),
                    Query(
                        f"max by (site, camera) (trashmon_agent_target_fps{mon})",
                        "{{camera}} {{site}} target",
                    ),
                ],
            ),
            lay.timeseries(
                "Encoding speed",
                "ffmpeg speed: 100 % is real time (from the agent's own /metrics).",
                UNIT_RATIO,
                [Query(f"max by (camera) (trashcam_speed_ratio{cap})", "{{camera}}")],
            ),
            lay.timeseries(
                "Dropped and duplicated frames",
                "Frames ffmpeg dropped or duplicated to keep the output rate (from the "
                "agent's own /metrics).",
                UNIT_PER_SECOND,
                [
                    Query(
                        f"sum by (camera) (rate(trashcam_dropped_frames_total{cap}{rate}))",
                        "{{camera}} dropped",
                    ),
                    Query(
                        f"sum by (camera) (rate(trashcam_duplicated_frames_total{cap}{rate}))",
                        "{{camera}} duplicated",
                    ),
                ],
            ),
            lay.timeseries(
                "ffmpeg restarts",
                f"Restarts in the last {config.restart_window} "
                f"(TrashmonFfmpegRestartLoop at {config.restart_count}) and runs that failed "
                "in a row, as the agent announces them.",
                UNIT_COUNT,
                [
                    Query(
                        f"max by (site, camera) (increase(trashmon_agent_restarts{mon}"
                        f"[{config.restart_window}]))",
                        "{{camera}} {{site}} restarts",
                    ),
                    Query(
                        f"max by (site, camera) (trashmon_agent_consecutive_failures{mon})",
                        "{{camera}} {{site}} failures in a row",
                    ),
                ],
            ),
            lay.timeseries(
                "Ingest bitrate",
                "Bits per second MediaMTX receives for this camera, and the output bitrate "
                "ffmpeg reports to its agent (where it reports one: not for RTSP alone).",
                UNIT_BITS_PER_SECOND,
                [
                    Query(f"8 * {n.inbound_bytes_rate}{{{CAMERA_MATCH}}}", "{{camera}} {{site}}"),
                    Query(
                        f"8 * max by (site, camera) (trashmon_agent_bitrate_bytes_per_second{mon})",
                        "{{camera}} {{site}} ffmpeg",
                    ),
                ],
            ),
            *_quality_and_availability(config, lay, mon),
            lay.row("Picture and device"),
            lay.timeseries(
                "Black and frozen picture",
                "1 while the capture agent announces a black or frozen picture.",
                UNIT_YES_NO,
                [
                    Query(
                        f"max by (site, camera) (trashmon_agent_black_image{mon})",
                        "{{camera}} {{site}} black",
                    ),
                    Query(
                        f"max by (site, camera) (trashmon_agent_frozen_image{mon})",
                        "{{camera}} {{site}} frozen",
                    ),
                ],
            ),
            lay.timeseries(
                "Device present",
                "Whether the V4L2 device exists on the capture host, as the agent announces.",
                UNIT_YES_NO,
                [
                    Query(
                        f"max by (site, camera) (trashmon_agent_device_present{mon})",
                        "{{camera}} {{site}}",
                    )
                ],
            ),
            lay.table(
                "Device",
                "The V4L2 device the agent captures from (from the agent's own /metrics).",
                UNIT_COUNT,
                [Query(f"trashcam_device_info{cap}", "{{device}}", True)],
            ),
            lay.timeseries(
                "Capture agent state",
                "1 while the agent announces the state named in the legend.",
                UNIT_COUNT,
                [
                    Query(
                        f"max by (site, camera, state) (trashmon_agent_state{mon}) == 1",
                        "{{state}}",
                    )
                ],
            ),
            lay.row("Agent liveness"),
            lay.timeseries(
                "Agent online (MQTT)",
                "The agent's retained status topic as the monitor sees it.",
                UNIT_YES_NO,
                [
                    Query(
                        f"max by (site, camera) (trashmon_agent_online{mon})", "{{camera}} {{site}}"
                    )
                ],
            ),
            lay.timeseries(
                "Time since last agent state",
                f"TrashmonAgentStale fires above {config.agent_stale_seconds:g} s "
                f"(the monitor's agent_stale) for {config.agent_stale_for}.",
                UNIT_SECONDS,
                [
                    Query(
                        "max by (site, camera) "
                        f"(time() - trashmon_agent_last_state_timestamp_seconds{mon})",
                        "{{camera}} {{site}}",
                    )
                ],
            ),
            lay.row("Transport (MediaMTX)"),
            lay.timeseries(
                "RTP packet loss",
                "Share of RTP packets lost "
                f"(TrashmonRtpPacketLoss above {config.rtp_loss_ratio:.0%}).",
                UNIT_RATIO,
                [Query(f"{n.rtp_loss_ratio}{{{CAMERA_MATCH}}}", "{{camera}} {{site}}")],
            ),
            lay.timeseries(
                "Frames in error",
                "Inbound frames MediaMTX could not decode, per second.",
                UNIT_PER_SECOND,
                [Query(f"{n.frames_in_error_rate}{{{CAMERA_MATCH}}}", "{{camera}} {{site}}")],
            ),
        ],
    )


def _quality_and_availability(config: MixinConfig, lay: _Layout, mon: str) -> list[gdb.Row | Panel]:
    """Issue 16: the connection quality grade, its inputs, availability and incidents."""
    limits = "; ".join(
        f"{grade}: ≤ {reconnects} reconnects, ≤ {stalls} stalls, fps ≥ {ratio:.0%}"
        for grade, (reconnects, stalls, ratio) in config.quality.limits()
    )
    objective = config.availability_objective
    unavailable = RecordedNames.unavailable
    page_long, _ = config.burn_page_windows
    ticket_long, _ = config.burn_ticket_windows
    return [
        lay.row("Connection quality and availability"),
        lay.timeseries(
            "Connection quality",
            "The monitor's grade: 4 excellent, 3 good, 2 fair, 1 poor, 0 unusable (down). "
            f"Limits per hour: {limits}. TrashmonConnectionPoor at "
            f"{config.poor_connection_grade} or worse for {config.poor_connection_for}.",
            UNIT_COUNT,
            [Query(f"max by (site, camera) (trashmon_camera_quality_level{mon})",
                   "{{camera}} {{site}}")],
            span=6,
        ),
        lay.timeseries(
            "Reconnects and stalls (last hour)",
            "New publisher sessions or ffmpeg restarts, and stalls, in the hour before each "
            "point, as the monitor counts them; the fps ratio is on the fps panel.",
            UNIT_COUNT,
            [
                Query(f"max by (site, camera) (trashmon_camera_reconnects_last_hour{mon})",
                      "{{camera}} {{site}} reconnects"),
                Query(f"max by (site, camera) (trashmon_camera_stalls_last_hour{mon})",
                      "{{camera}} {{site}} stalls"),
                Query(f"max by (site, camera) (trashmon_camera_fps_ratio{mon})",
                      "{{camera}} {{site}} fps ratio"),
            ],
            span=6,
        ),
        lay.timeseries(
            "Availability",
            f"Share of time ok or degraded. Objective {objective:.1%}: the monitor's own "
            "history over 1h, 1d and 30d (kept across restarts with --state-dir), and "
            f"Prometheus's over {page_long} and {ticket_long} (the burn-rate alerts' windows).",
            UNIT_RATIO,
            [
                Query(f"max by (site, camera, window) (trashmon_camera_availability_ratio{mon})",
                      "{{camera}} {{site}} {{window}} (monitor)"),
                Query(f"1 - {unavailable(page_long)}{{{CAMERA_MATCH}}}",
                      f"{{{{camera}}}} {{{{site}}}} {page_long}"),
                Query(f"1 - {unavailable(ticket_long)}{{{CAMERA_MATCH}}}",
                      f"{{{{camera}}}} {{{{site}}}} {ticket_long}"),
                Query(f"vector({objective})", "objective"),
            ],
            span=6,
        ),
        lay.timeseries(
            "Incidents",
            "Incidents (down at least --incident-min) that began in the last day, from the "
            "monitor's history (GET /api/incidents?camera=… lists them with their cause), "
            "and whether the camera is available (1) or down (0) right now.",
            UNIT_COUNT,
            [
                Query(f"max by (site, camera) (trashmon_camera_incidents_last_day{mon})",
                      "{{camera}} {{site}} incidents, last day"),
                Query(f"max by (site, camera) (trashmon_camera_available{mon})",
                      "{{camera}} {{site}} available"),
            ],
            span=6,
        ),
    ]  # fmt: skip


def monitor_health(config: MixinConfig = DEFAULT_CONFIG) -> gdb.Dashboard:
    lay, mon = _Layout(), selector(config.monitor_selector)
    rate = "[$__rate_interval]"
    jobs = "|".join((config.monitor_job, config.capture_job, config.mediamtx_job))
    quantiles = [
        Query(
            f"histogram_quantile({q}, sum by (le) "
            f"(rate(trashmon_poll_duration_seconds_bucket{mon}{rate})))",
            f"p{round(q * 100)}",
        )
        for q in (0.5, 0.9, 0.99)
    ]
    dash = _base_dashboard(
        config,
        "monitor",
        "trashmonitor / Monitor health",
        "The monitor itself: polls of MediaMTX, MQTT, certificates and scrape targets.",
    )
    return _add(
        dash,
        [
            lay.row("Polling"),
            lay.timeseries(
                "Poll duration", "One poll cycle: API pages plus metrics.", UNIT_SECONDS, quantiles
            ),
            lay.timeseries(
                "Poll errors",
                "Failed polls by source and kind.",
                UNIT_PER_SECOND,
                [
                    Query(
                        f"sum by (source, kind) (rate(trashmon_poll_errors_total{mon}{rate}))",
                        "{{source}} {{kind}}",
                    )
                ],
            ),
            lay.timeseries(
                "MediaMTX reachable",
                "1 if the monitor's last poll of the MediaMTX API succeeded.",
                UNIT_YES_NO,
                [Query(f"trashmon_mediamtx_up{mon}", "{{instance}}")],
            ),
            lay.timeseries(
                "Time since last successful poll",
                "Grows while MediaMTX is unreachable or the monitor is stuck.",
                UNIT_SECONDS,
                [Query(f"time() - trashmon_last_poll_timestamp_seconds{mon}", "{{instance}}")],
            ),
            lay.row("Dependencies"),
            lay.timeseries(
                "MQTT connected",
                "The monitor's connection to the broker.",
                UNIT_YES_NO,
                [Query(f"trashmon_mqtt_connected{mon}", "{{instance}}")],
                span=8,
            ),
            lay.timeseries(
                "Scrape targets up",
                "Prometheus's own view of every trashmonitor target.",
                UNIT_YES_NO,
                [Query(f'up{{job=~"{jobs}"}}', "{{job}} {{instance}}")],
                span=8,
            ),
            lay.timeseries(
                "Certificate lifetime left",
                f"TrashmonCertificateExpiring below {config.certificate_warning_days} days.",
                UNIT_SECONDS,
                [
                    Query(
                        f"trashmon_certificate_expiry_timestamp_seconds{mon} - time()",
                        "{{certificate}}",
                    )
                ],
                span=8,
            ),
            lay.table(
                "Versions",
                "Build info of the monitor and every capture agent.",
                UNIT_COUNT,
                [
                    Query(f"trashmon_build_info{mon}", "{{version}}", True),
                    Query(
                        f"trashcam_build_info{selector(config.capture_selector)}",
                        "{{version}}",
                        True,
                    ),
                ],
                span=FULL_WIDTH,
            ),
        ],
    )


def dns_reconcile(config: MixinConfig = DEFAULT_CONFIG) -> gdb.Dashboard:
    lay, dns = _Layout(), selector(config.dns_selector)
    rate = "[$__rate_interval]"
    dash = _base_dashboard(
        config,
        "dns",
        "trashmonitor / DNS reconcile",
        "The Cloudflare record and Tailscale split-DNS reconciler.",
    )
    return _add(
        dash,
        [
            lay.row("Reconcile"),
            lay.timeseries(
                "In sync",
                "1 when the record or split-DNS entry matches the desired state.",
                UNIT_YES_NO,
                [Query(f"trashmon_dns_in_sync{dns}", "{{resource}} {{name}}")],
            ),
            lay.timeseries(
                "Time since last successful reconcile",
                f"TrashmonDnsReconcileFailing above {config.dns_reconcile_max_age_seconds} s.",
                UNIT_SECONDS,
                [
                    Query(
                        f"time() - trashmon_dns_last_success_timestamp_seconds{dns}", "{{instance}}"
                    )
                ],
            ),
            lay.timeseries(
                "Changes applied",
                "Writes to Cloudflare or Tailscale; steady writes mean the plan never converges.",
                UNIT_COUNT,
                [
                    Query(
                        "sum by (resource, action) "
                        f"(increase(trashmon_dns_changes_total{dns}{rate}))",
                        "{{resource}} {{action}}",
                    )
                ],
            ),
            lay.timeseries(
                "Errors",
                "Failed reconciles by kind (auth, rate_limited, server, conflict, ...).",
                UNIT_COUNT,
                [
                    Query(
                        f"sum by (kind) (increase(trashmon_dns_errors_total{dns}{rate}))",
                        "{{kind}}",
                    )
                ],
            ),
        ],
    )


# file stem under dashboards/generated/ -> builder
DASHBOARDS: dict[str, Callable[[MixinConfig], gdb.Dashboard]] = {
    "overview": overview,
    "camera": camera,
    "monitor": monitor_health,
    "dns": dns_reconcile,
}


def to_json(dash: gdb.Dashboard) -> str:
    # sort_keys + a trailing newline: byte-for-byte reproducible, diff-friendly.
    return json.dumps(dash.build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def rendered_dashboards(config: MixinConfig = DEFAULT_CONFIG) -> dict[str, str]:
    """File name (inside dashboards/generated/) -> JSON text."""
    return {f"{stem}.json": to_json(build(config)) for stem, build in DASHBOARDS.items()}
