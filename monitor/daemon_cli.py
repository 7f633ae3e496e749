"""``trashmon monitor``: poll MediaMTX every interval, serve /metrics, /healthz, /api/status
and the agents' own /metrics for Prometheus HTTP service discovery (/api/sd/agents).

Settings (flag > env > default) are listed in docs/monitor.md. SIGTERM and SIGINT end
the loop and the server cleanly with exit 0.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterable, Mapping
from types import FrameType

from prometheus_client import disable_created_metrics
from prometheus_client.registry import Collector
from trashmonitor.monitor import config
from trashmonitor.monitor.agents import SD_PATH, AgentView, service_discovery
from trashmonitor.monitor.client_settings import add_client_arguments, client_settings
from trashmonitor.monitor.daemon import (
    DEFAULT_FORGET_AFTER,
    DEFAULT_MAX_CAMERAS,
    DEFAULT_STALE_POLLS,
    Monitor,
    routes,
    tune_gc_for_polling,
)
from trashmonitor.monitor.mediamtx import MediaMTXClient, default_metrics_url, metrics_url

from trashmonitor.errors import EXIT_OK, ConfigError
from trashmonitor.mqtt import MONITOR_SETTINGS, add_mqtt_arguments, mqtt_settings
from trashmonitor.serving import HTTPService, Response, json_response
from trashmonitor.settings import (
    HostPort,
    flag_or_env,
    parse_host_port,
    parse_http_url,
    parse_positive_int,
    parse_setting,
    seconds_between,
)
from trashmonitor.telemetry import setup_tracing

HELP = "poll MediaMTX and agents, serve status"
DEFAULT_LISTEN = "127.0.0.1:9843"
DEFAULT_INTERVAL = 1.0
DEFAULT_TIMEOUT = 2.0
NO_METRICS = ("off", "none", "")
# Bounds of the staleness setting: blind sooner than one interval would call every poll
# a failure; much later and the dashboards say "ok" about a picture long gone.
MAX_STALE_POLLS = 100
MAX_STALE_SECONDS = 3600.0
# The cap on tracked cameras bounds memory (about 60 KiB per camera with its history).
MAX_CAMERAS = 1_000_000

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    config.add_source_arguments(parser)
    add_client_arguments(parser)
    parser.add_argument(
        "--metrics-url",
        metavar="URL",
        help="MediaMTX /metrics, or 'off' (env TRASHMON_MEDIAMTX_METRICS, "
        "default the API host on port 9998)",
    )
    parser.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help=f"serve /metrics, /healthz, /api/status here (env TRASHMON_LISTEN, "
        f"default {DEFAULT_LISTEN})",
    )
    parser.add_argument(
        "--interval",
        metavar="S",
        help=f"seconds between polls (env TRASHMON_INTERVAL, default {DEFAULT_INTERVAL:g})",
    )
    parser.add_argument(
        "--timeout",
        metavar="S",
        help=f"per-request timeout (env TRASHMON_TIMEOUT, default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--forget-after",
        metavar="S",
        help="stop reporting a vanished camera after S seconds "
        f"(env TRASHMON_FORGET_AFTER, default {DEFAULT_FORGET_AFTER:g})",
    )
    parser.add_argument(
        "--stale-after",
        metavar="S",
        help="no successful poll for S seconds = the monitor is blind: every camera down "
        "with mediamtx_unreachable, trashmon_mediamtx_up 0 (env TRASHMON_STALE_AFTER, "
        f"default {DEFAULT_STALE_POLLS} intervals; at least one interval, at most "
        f"{MAX_STALE_POLLS} or {MAX_STALE_SECONDS:g} s)",
    )
    parser.add_argument(
        "--max-cameras",
        metavar="N",
        help="track at most N cameras; paths over it are dropped and counted in "
        f"trashmon_cameras_dropped (env TRASHMON_MAX_CAMERAS, default {DEFAULT_MAX_CAMERAS}, "
        f"at most {MAX_CAMERAS})",
    )
    config.add_threshold_arguments(parser, with_stall=True)
    add_mqtt_arguments(parser, MONITOR_SETTINGS)
    parser.add_argument(
        "--dns-interval",
        metavar="S",
        help="also run the DNS reconciler every S seconds with the `trashmon dns` "
        "environment and export trashmon_dns_* (env TRASHMON_DNS_INTERVAL; default off)",
    )


def _metrics_url(args: argparse.Namespace, api: str) -> str | None:
    raw = flag_or_env(
        args,
        attribute="metrics_url",
        flag="--metrics-url",
        env_var="TRASHMON_MEDIAMTX_METRICS",
        parse=lambda text: text.strip(),
        default=None,
    )
    if raw is None:
        return default_metrics_url(api)
    if raw.lower() in NO_METRICS:
        return None
    source = "--metrics-url" if args.metrics_url is not None else "TRASHMON_MEDIAMTX_METRICS"
    return metrics_url(parse_setting(source, raw, parse_http_url))


def _seconds(
    args: argparse.Namespace, name: str, env: str, default: float, *, within: tuple[float, float]
) -> float:
    return flag_or_env(
        args,
        attribute=name,
        flag=f"--{name}",
        env_var=env,
        parse=seconds_between(*within),
        default=default,
    )


def build_monitor(
    args: argparse.Namespace,
    *,
    agent_views: Callable[[], Mapping[str, AgentView]] | None = None,
    collectors: Iterable[Collector] = (),
) -> tuple[Monitor, HostPort]:
    """Read every setting (raising ConfigError) and assemble the monitor."""
    api = config.api_url(args)
    metrics = _metrics_url(args, api)
    listen = flag_or_env(
        args,
        attribute="listen",
        flag="--listen",
        env_var="TRASHMON_LISTEN",
        parse=parse_host_port,
        default=parse_host_port(DEFAULT_LISTEN),
    )
    interval = _seconds(args, "interval", "TRASHMON_INTERVAL", DEFAULT_INTERVAL, within=(0.1, 3600))
    timeout = _seconds(args, "timeout", "TRASHMON_TIMEOUT", DEFAULT_TIMEOUT, within=(0.1, 300))
    forget_after = config.seconds(
        args, "forget-after", "TRASHMON_FORGET_AFTER", DEFAULT_FORGET_AFTER
    )
    stale_after = _stale_after(args, interval)
    max_cameras = flag_or_env(
        args,
        attribute="max_cameras",
        flag="--max-cameras",
        env_var="TRASHMON_MAX_CAMERAS",
        parse=_parse_max_cameras,
        default=DEFAULT_MAX_CAMERAS,
    )
    settings = client_settings(args)
    monitor = Monitor(
        client=MediaMTXClient(
            api,
            metrics,
            timeout=timeout,
            credentials=settings.credentials,
            max_body_bytes=settings.max_body_bytes,
        ),
        tracer=setup_tracing("trashmon-monitor").get_tracer(__name__),
        thresholds=config.thresholds(args),
        parked=config.parked(args),
        expected=config.expected(args),
        interval=interval,
        agent_views=agent_views,
        forget_after=forget_after,
        stale_after=stale_after,
        max_cameras=max_cameras,
    )
    for collector in collectors:
        monitor.register(collector)
    return monitor, listen


def _stale_after(args: argparse.Namespace, interval: float) -> float:
    default = DEFAULT_STALE_POLLS * interval
    stale_after = config.seconds(args, "stale-after", "TRASHMON_STALE_AFTER", default)
    upper = min(MAX_STALE_POLLS * interval, MAX_STALE_SECONDS)
    if not interval <= stale_after <= max(upper, interval):
        setting = "--stale-after" if args.stale_after is not None else "TRASHMON_STALE_AFTER"
        raise ConfigError(
            setting,
            f"expected between one interval ({interval:g} s) and {max(upper, interval):g} s, "
            f"got {stale_after:g}",
        )
    return stale_after


def _parse_max_cameras(text: str) -> int:
    value = parse_positive_int(text)
    if value > MAX_CAMERAS:
        raise ValueError(f"expected at most {MAX_CAMERAS}")
    return value


def run(args: argparse.Namespace) -> int:
    """Assemble the optional observers (MQTT agents, DNS reconcile), then serve."""
    with contextlib.ExitStack() as cleanup:
        agent_views, collectors = _optional_observers(args, cleanup)
        return serve(args, agent_views=agent_views, collectors=collectors)


def _optional_observers(
    args: argparse.Namespace, cleanup: contextlib.ExitStack
) -> tuple[Callable[[], Mapping[str, AgentView]] | None, list[Collector]]:
    collectors: list[Collector] = []
    agent_views: Callable[[], Mapping[str, AgentView]] | None = None
    mqtt = mqtt_settings(args, MONITOR_SETTINGS)
    if mqtt is not None:
        from trashmonitor.monitor.agents import start_monitor_mqtt

        subscriber, collector = start_monitor_mqtt(mqtt)
        cleanup.callback(subscriber.stop)
        collectors.append(collector)
        agent_views = lambda: subscriber.observe().agents  # noqa: E731
    dns_interval = flag_or_env(
        args,
        attribute="dns_interval",
        flag="--dns-interval",
        env_var="TRASHMON_DNS_INTERVAL",
        parse=seconds_between(0.1, 86400),
        default=None,
    )
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
    return agent_views, collectors


def _agents_sd(agent_views: Callable[[], Mapping[str, AgentView]] | None) -> Response:
    """The agents' /metrics in Prometheus HTTP SD format: ``[]`` without MQTT."""
    return json_response(service_discovery(agent_views() if agent_views is not None else {}))


def serve(
    args: argparse.Namespace,
    *,
    agent_views: Callable[[], Mapping[str, AgentView]] | None = None,
    collectors: Iterable[Collector] = (),
) -> int:
    """Run the monitor until SIGTERM/SIGINT; other observers plug in through the
    keyword arguments (the MQTT agent views, extra Prometheus collectors)."""
    disable_created_metrics()  # type: ignore[no-untyped-call]
    config.quiet_http_logs()
    tune_gc_for_polling()
    monitor, listen = build_monitor(args, agent_views=agent_views, collectors=collectors)
    service = HTTPService(
        listen,
        {**routes(monitor), SD_PATH: lambda: _agents_sd(agent_views)},
        setting="TRASHMON_LISTEN",
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    service.start()
    log.info(
        "monitoring %s every %gs (metrics: %s)",
        monitor.client.api_url,
        monitor.interval,
        monitor.client.metrics_url or "off",
    )
    try:
        monitor.run(stop)
    finally:
        service.stop()
        monitor.close()
    return EXIT_OK
