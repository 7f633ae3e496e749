"""``trashmon monitor``: poll MediaMTX every interval, serve /metrics, /healthz, /api/status
and the agents' own /metrics for Prometheus HTTP service discovery (/api/sd/agents).

Settings (flag > env > default) are listed in docs/monitor.md. SIGTERM and SIGINT end
the loop and the server cleanly with exit 0.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping

from opentelemetry.trace import Tracer
from prometheus_client import disable_created_metrics
from prometheus_client.registry import Collector

from trashmonitor.errors import EXIT_OK, ConfigError
from trashmonitor.monitor import config
from trashmonitor.monitor.agents import SD_PATH, service_discovery
from trashmonitor.monitor.control import (
    PANEL_TOPICS,
    Commander,
    ControlApi,
    PanelStore,
    control_identity,
)
from trashmonitor.monitor.control import PREFIX as CONTROL_PREFIX
from trashmonitor.monitor.daemon import Monitor
from trashmonitor.monitor.history import HistoryStore
from trashmonitor.monitor.hooks import HookService
from trashmonitor.monitor.mediamtx import MediaMTXClient
from trashmonitor.monitor.model import AgentView
from trashmonitor.monitor.multisite import Sites, route_agents
from trashmonitor.monitor.play_watch import PlayWatcher, build_watcher
from trashmonitor.monitor.routes import routes
from trashmonitor.monitor.sites import DEFAULT_SITE, Site
from trashmonitor.monitor.tuning import tune_gc_for_polling, tune_malloc_for_polling
from trashmonitor.mqtt import MONITOR_SETTINGS, add_mqtt_arguments, mqtt_settings
from trashmonitor.runtime import stop_on_signals
from trashmonitor.serving import HTTPService, Response, json_response
from trashmonitor.settings import (
    HostPort,
    ReadSettings,
)
from trashmonitor.telemetry import setup_tracing

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    config.SETTINGS.add_arguments(parser, config.MONITOR)
    add_mqtt_arguments(parser, MONITOR_SETTINGS)


def build_monitor(
    args: argparse.Namespace,
    *,
    agent_views: Callable[[], Mapping[str, AgentView]] | None = None,
    collectors: Iterable[Collector] = (),
) -> tuple[Monitor | Sites, HostPort]:
    """Read every setting (raising ConfigError) and assemble the monitor (one per site,
    served as one, when sites are named)."""
    return _assemble(config.SETTINGS.read(args, config.MONITOR), agent_views, collectors)


def _assemble(
    settings: ReadSettings,
    agent_views: Callable[[], Mapping[str, AgentView]] | None,
    collectors: Iterable[Collector],
) -> tuple[Monitor | Sites, HostPort]:
    """One monitor for the one MediaMTX of ``--api``; with named sites, one per site,
    served as one (:class:`Sites`)."""
    sites = config.sites(settings)
    tracer = setup_tracing("trashmon-monitor").get_tracer(__name__)
    monitors = [_site_monitor(settings, site, tracer) for site in sites]  # settings checked
    history: HistoryStore | None = None
    for monitor in monitors:  # one database, every site's cameras keyed by their site
        history = monitor.history = open_history(settings, monitor.site, history)
    watched: Monitor | Sites = monitors[0]
    if sites[0].name:
        route_agents(monitors, agent_views)
        watched = Sites(monitors)
    else:
        monitors[0].agent_views = agent_views
    for collector in collectors:
        watched.register(collector)
    return watched, settings[config.LISTEN]


def _site_monitor(settings: ReadSettings, site: Site, tracer: Tracer) -> Monitor:
    interval = settings[config.INTERVAL]
    client_settings = config.site_client_settings(settings, site)
    return Monitor(
        client=MediaMTXClient(
            site.api_url,
            config.site_metrics_target(site),
            timeout=settings[config.TIMEOUT],
            credentials=client_settings.credentials,
            max_body_bytes=client_settings.max_body_bytes,
        ),
        tracer=tracer,
        thresholds=config.thresholds(settings),
        parked=settings[config.PARKED],
        expected=settings[config.EXPECT],
        interval=interval,
        forget_after=settings[config.FORGET_AFTER],
        stale_after=config.stale_after(settings, interval),
        max_cameras=settings[config.MAX_CAMERAS_SETTING],
        site=site.name,
    )


def open_history(
    settings: ReadSettings, site: str = DEFAULT_SITE, share: HistoryStore | None = None
) -> HistoryStore:
    """The incident history of ``site`` in ``--state-dir`` (in memory when off; sharing
    ``share``'s database); a database SQLite cannot open or write (not a database,
    read-only) is a ConfigError naming the setting."""
    try:
        history = HistoryStore(
            settings[config.STATE_DIR],
            blip_seconds=settings[config.INCIDENT_MIN],
            site=site,
            share=share,
        )
    except sqlite3.Error as error:
        raise ConfigError(
            settings.source(config.STATE_DIR), f"incident history: {error}"
        ) from error
    log.info("incident history: %s", history.describe())
    return history


def run(args: argparse.Namespace) -> int:
    """Read the settings once, assemble the optional observers (MQTT agents, DNS
    reconcile), then serve."""
    settings = config.SETTINGS.read(args, config.MONITOR)
    with contextlib.ExitStack() as cleanup:
        agent_views, collectors, panel = _optional_observers(args, settings, cleanup)
        return serve(
            args, agent_views=agent_views, collectors=collectors, panel=panel, settings=settings
        )


def _optional_observers(
    args: argparse.Namespace, settings: ReadSettings, cleanup: contextlib.ExitStack
) -> tuple[Callable[[], Mapping[str, AgentView]] | None, list[Collector], ControlApi]:
    collectors: list[Collector] = []
    agent_views: Callable[[], Mapping[str, AgentView]] | None = None
    mqtt = mqtt_settings(args, MONITOR_SETTINGS)
    control = control_identity(
        config.control_files(settings), mqtt, settings.source(config.CONTROL_CERT)
    )
    store = PanelStore(settings[config.MAX_CAMERAS_SETTING])
    send = None
    if control is not None:
        commander = Commander(control)  # its own connection: the controller identity
        commander.start()
        cleanup.callback(commander.stop)
        send = commander.send
    if mqtt is not None:
        from trashmonitor.monitor.agents_mqtt import start_monitor_mqtt

        subscriber, collector = start_monitor_mqtt(mqtt, tap=store.hear, tap_topics=PANEL_TOPICS)
        cleanup.callback(subscriber.stop)
        collectors.append(collector)
        agent_views = lambda: subscriber.observe().agents  # noqa: E731
    dns_interval = settings[config.DNS_INTERVAL]
    if dns_interval is not None:
        # Imported only when enabled: the Cloudflare SDK is heavy.
        from trashmonitor.dns import DnsCollector, build_loop

        loop, setup = build_loop(interval=dns_interval)
        cleanup.callback(setup.close)
        collectors.append(DnsCollector(loop.stats))
        stop = threading.Event()
        thread = threading.Thread(target=loop.run, args=(stop,), name="dns", daemon=True)
        thread.start()
        cleanup.callback(stop.set)
    return agent_views, collectors, ControlApi(store, send)


def _agents_sd(agent_views: Callable[[], Mapping[str, AgentView]] | None) -> Response:
    """The agents' /metrics in Prometheus HTTP SD format: ``[]`` without MQTT."""
    return json_response(service_discovery(agent_views() if agent_views is not None else {}))


def _hooks(settings: ReadSettings, watched: Monitor | Sites) -> HookService | None:
    """MediaMTX's hook route when a shared secret is set (docs/monitor.md, "Hooks"); a
    notice names its site (``site``, from ``TRASHMON_SITE``) when sites are named."""
    secret = config.hook_secret(settings)
    if secret is None:
        return None
    refresh = {monitor.site: monitor.refresh_path for monitor in _site_monitors(watched)}
    hooks = HookService(secret, settings[config.HOOK_RATE], refresh)
    for collector in hooks.collectors():
        watched.register(collector)
    return hooks


def _site_monitors(watched: Monitor | Sites) -> tuple[Monitor, ...]:
    return watched.monitors if isinstance(watched, Sites) else (watched,)


def _play_watcher(settings: ReadSettings) -> PlayWatcher | None:
    """The periodic playback check (``--play-interval``), one MediaMTX only: its URLs
    default to ``--api``'s host, which sites have not."""
    watcher = build_watcher(settings)
    if watcher is not None and config.sites(settings)[0].name:
        raise ConfigError(
            settings.source(config.PLAY_INTERVAL), "not with sites yet: one MediaMTX only"
        )
    return watcher


def serve(
    args: argparse.Namespace,
    *,
    agent_views: Callable[[], Mapping[str, AgentView]] | None = None,
    collectors: Iterable[Collector] = (),
    panel: ControlApi | None = None,
    settings: ReadSettings | None = None,
) -> int:
    """Run the monitor until SIGTERM/SIGINT; other observers plug in through the
    keyword arguments (the MQTT agent views, extra Prometheus collectors, the camera
    control API). ``settings``: those already read from ``args``, if they were."""
    disable_created_metrics()  # type: ignore[no-untyped-call]
    config.quiet_http_logs()
    tune_gc_for_polling()
    tune_malloc_for_polling()
    if settings is None:
        settings = config.SETTINGS.read(args, config.MONITOR)
    watcher = _play_watcher(settings)  # before anything starts: its settings may be bad
    monitor, listen = _assemble(settings, agent_views, collectors)
    hooks = _hooks(settings, monitor)
    if watcher is not None and isinstance(monitor, Monitor):
        monitor.play_checks = watcher.checks
    service = HTTPService(
        listen,
        {
            **routes(monitor),
            SD_PATH: lambda: _agents_sd(agent_views),
            **({CONTROL_PREFIX: panel.endpoint()} if panel is not None else {}),
            **(hooks.routes() if hooks is not None else {}),
        },
        setting="TRASHMON_LISTEN",
    )
    with stop_on_signals() as stop, contextlib.ExitStack() as cleanup:
        if hooks is not None:
            hooks.start()
            cleanup.callback(hooks.stop)
        if watcher is not None:
            watcher.start()
            cleanup.callback(watcher.stop)
        service.start()
        monitors = _site_monitors(monitor)
        for each in monitors:
            log.info(
                "monitoring %s%s every %gs (metrics: %s)",
                f"site {each.site}: " if each.site else "",
                each.client.api_url,
                each.interval,
                each.client.metrics_url or "off",
            )
        try:
            monitor.run(stop)
        finally:
            service.stop()
            monitor.close()
            for each in monitors:
                if each.history is not None:
                    each.history.close()
    return EXIT_OK
