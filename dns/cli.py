"""``trashmon dns``: reconcile the Cloudflare A record and the Tailscale split-DNS zone.

Settings are the seed's environment variables (a ``.env`` next to the justfile is loaded
by ``just``) and the flags of :data:`~trashmonitor.dns.config.SETTINGS`, which override
them. See docs/dns.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from trashmonitor.dns import config
from trashmonitor.dns.config import Setup, build, configure, health_api_url, magicdns_suffix
from trashmonitor.errors import EXIT_OK, ConfigError

if TYPE_CHECKING:
    import threading

    from opentelemetry.trace import Tracer

    from trashmonitor.dns.loop import DnsReconciler, ReconcileLoop
    from trashmonitor.dns.model import ReconcileReport
    from trashmonitor.dns.observe import DeviceLister
    from trashmonitor.settings import HostPort

# Only `configure` (and `--print-health-url`) run for `--help` and `just health`: what
# the reconcile needs (the API clients, OpenTelemetry, prometheus-client, the HTTP
# server) is imported where it is used, so those print without ~0.4 s of imports.

__all__ = ["build", "build_loop", "configure", "health_api_url", "magicdns_suffix", "run"]
log = logging.getLogger(__name__)


def reconciler_for(setup: Setup, tracer: Tracer | None = None) -> DnsReconciler:
    """The providers for these settings: Cloudflare always, Tailscale split DNS when
    there are credentials and resolvers; the address from the API, the local
    ``tailscale`` command, or ``--target``."""
    from trashmonitor.dns import tailscale_api
    from trashmonitor.dns.cloudflare_api import CloudflareRecords
    from trashmonitor.dns.loop import DnsReconciler
    from trashmonitor.dns.observe import Observer

    settings = setup.settings
    records = CloudflareRecords(setup.cloudflare, settings.zone, settings.hostname, tracer=tracer)
    devices: DeviceLister | None = None
    split = None
    if setup.tailscale is None:
        if settings.resolvers is not None:
            log.warning("no TS_API_KEY or OAuth client: split DNS is not managed in this run")
        if settings.target is None:
            devices = tailscale_api.devices_from_local_cli
    else:
        if settings.resolvers is not None:
            split = tailscale_api.TailscaleSplitDNS(setup.tailscale, tracer=tracer)
        if settings.target is None:
            devices = setup.tailscale.devices
    return DnsReconciler(Observer(settings, records, split, devices, tracer=tracer), tracer=tracer)


def build_loop(
    environ: Mapping[str, str] | None = None,
    *,
    interval: float = 60.0,
    dry_run: bool = False,
    tracer: Tracer | None = None,
) -> tuple[ReconcileLoop, Setup]:
    """The monitor's entry point: the same settings as ``trashmon dns`` with no flags given.

    Each cycle is a ``trashmon.dns.reconcile`` span of the monitor's service (exported
    over OTLP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set). The caller owns ``Setup`` and
    calls ``setup.close()`` at exit.
    """
    from trashmonitor.dns.loop import ReconcileLoop
    from trashmonitor.telemetry import setup_tracing

    parser = argparse.ArgumentParser()
    configure(parser)
    setup = build(parser.parse_args([]), os.environ if environ is None else environ)
    if tracer is None:
        tracer = setup_tracing("trashmon-monitor").get_tracer(__name__)
    loop = ReconcileLoop(reconciler_for(setup, tracer), interval=interval, dry_run=dry_run)
    return loop, setup


def print_report(report: ReconcileReport) -> None:
    for line in report.lines():
        print(line, flush=True)
    if report.error is None:
        print(report.summary(), flush=True)


def run(args: argparse.Namespace) -> int:
    values = config.read(args, os.environ)
    if values[config.PRINT_HEALTH_URL]:
        print(health_api_url(os.environ))
        return EXIT_OK
    metrics_addr = values[config.METRICS_ADDR]
    watch, dry_run = values[config.WATCH], values[config.DRY_RUN]
    if metrics_addr is not None and not watch:
        raise ConfigError("--metrics-addr", "only with --watch (one run has nothing to scrape)")
    if not getattr(args, "debug", False):
        # httpx logs every request at INFO: noise next to the one line per resource.
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.WARNING)
    from trashmonitor.dns.loop import ReconcileLoop
    from trashmonitor.runtime import stop_on_signals

    setup = build(args, os.environ)
    try:
        reconciler = reconciler_for(setup, _exported_tracer())
        if not watch:
            report = reconciler.reconcile(dry_run=dry_run)
            print_report(report)
            if report.error is not None:
                raise report.error
            return report.exit_code
        loop = ReconcileLoop(
            reconciler, interval=values[config.INTERVAL], dry_run=dry_run, on_report=_print_run
        )
        with stop_on_signals() as stop:
            last = _watch(loop, stop, metrics_addr)
        return last.exit_code if last is not None else EXIT_OK
    finally:
        setup.close()


def _exported_tracer() -> Tracer | None:
    """A tracer when spans go somewhere (OTLP, see trashmonitor.telemetry); else None, the
    components' no-op tracer: a one-shot run then skips the SDK's import (~15 ms)."""
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return None
    from trashmonitor.telemetry import setup_tracing

    return setup_tracing("trashmon-dns").get_tracer(__name__)


def _print_run(report: ReconcileReport) -> None:
    print_report(report)
    if report.error is not None:
        print(f"trashmon dns: error: {report.error.message}", file=sys.stderr, flush=True)


def _watch(
    loop: ReconcileLoop, stop: threading.Event, metrics_addr: HostPort | None
) -> ReconcileReport | None:
    if metrics_addr is None:
        return loop.run(stop)
    from prometheus_client import CollectorRegistry

    from trashmonitor.dns.export import DnsCollector
    from trashmonitor.serving import HTTPService, metrics_route

    # The loop's own /metrics (a standalone reconciler, e.g. its own Kubernetes
    # workload): the same collector the monitor's --dns-interval loop registers.
    registry = CollectorRegistry()
    registry.register(DnsCollector(loop.stats))
    service = HTTPService(
        metrics_addr, {"/metrics": metrics_route(registry)}, config.METRICS_ADDR_ENV
    )
    service.start()
    try:
        return loop.run(stop)
    finally:
        service.stop()
