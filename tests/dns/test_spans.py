"""A span per DNS reconcile cycle (``trashmon.dns.reconcile``), a child per API read or
write, and attributes saying what was planned, written and how it ended; in
``trashmon dns`` and in the monitor's DNS loop (build_loop). docs/dns.md promised them
and there were none."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode, Tracer
from support.dns_fake import FakeAPIs
from support.dns_world import HOST, ZONE, dns_env, wired_reconciler
from support.fake_mediamtx import FakeMediaMTX
from support.http import get_text
from support.monitor import monitor_process
from support.otlp import OTLPReceiver
from support.processes import (
    clean_environ,
    run_trashmon,
    stop_process,
    wait_until,
)

from trashmonitor.dns.cli import build_loop
from trashmonitor.dns.loop import DnsReconciler
from trashmonitor.telemetry import setup_tracing

CYCLE = "trashmon.dns.reconcile"
READS = ["cloudflare.records_at", "cloudflare.zone_id", "tailscale.devices", "tailscale.split_dns"]


def traced(harness: Any, tracer: Tracer, **overrides: Any) -> DnsReconciler:
    """The harness's reconciler, with a tracer (same APIs, same fake world)."""
    settings = harness.reconciler.settings
    for key, value in overrides.items():
        settings = type(settings)(**{**settings.__dict__, key: value})
    return wired_reconciler(settings, harness.cloudflare, harness.tailscale, tracer=tracer)


def memory_tracer() -> tuple[Tracer, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    return setup_tracing("test", SimpleSpanProcessor(exporter)).get_tracer("test"), exporter


def cycles(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name == CYCLE]


def children(exporter: InMemorySpanExporter, parent: ReadableSpan) -> list[str]:
    assert parent.context is not None
    found = [
        span
        for span in exporter.get_finished_spans()
        if span.parent is not None and span.parent.span_id == parent.context.span_id
    ]
    assert {span.context.trace_id for span in found if span.context} <= {parent.context.trace_id}
    return sorted(span.name for span in found)


def test_create_cycle_then_steady_cycle(harness_factory: Any) -> None:
    tracer, exporter = memory_tracer()
    reconciler = traced(harness_factory(), tracer)

    reconciler.reconcile()
    reconciler.reconcile()

    first, second = cycles(exporter)
    assert first.parent is None  # one trace per cycle
    assert dict(first.attributes or {}) == {
        "dns.hostname": HOST,
        "dns.zone": ZONE,
        "dns.dry_run": False,
        "dns.planned_changes": 2,
        "dns.writes": 2,
        "dns.outcome": "applied",
    }
    assert children(exporter, first) == sorted(
        [*READS, "cloudflare.create", "tailscale.split_dns", "tailscale.patch_split_dns"]
    )
    assert first.status.status_code is StatusCode.UNSET
    assert (second.attributes or {})["dns.outcome"] == "in_sync"
    assert (second.attributes or {})["dns.writes"] == 0
    assert (second.attributes or {})["dns.planned_changes"] == 0
    # The zone id is kept between runs: a steady cycle is three reads, no writes.
    assert children(exporter, second) == sorted(
        ["cloudflare.records_at", "tailscale.devices", "tailscale.split_dns"]
    )


def test_dry_run_cycle_says_what_it_would_write(harness_factory: Any) -> None:
    tracer, exporter = memory_tracer()
    traced(harness_factory(), tracer).reconcile(dry_run=True)
    (cycle,) = cycles(exporter)
    attributes = dict(cycle.attributes or {})
    assert (attributes["dns.outcome"], attributes["dns.planned_changes"]) == ("dry_run", 2)
    assert attributes["dns.writes"] == 0
    assert attributes["dns.dry_run"] is True
    assert children(exporter, cycle) == sorted(READS)


def test_failed_cycle_is_an_error_span_with_its_kind(harness_factory: Any) -> None:
    tracer, exporter = memory_tracer()
    traced(harness_factory(), tracer, ts_hostname="no-such-device").reconcile()
    (cycle,) = cycles(exporter)
    attributes = dict(cycle.attributes or {})
    assert (attributes["dns.outcome"], attributes["dns.error_kind"]) == ("error", "config")
    assert cycle.status.status_code is StatusCode.ERROR
    assert children(exporter, cycle) == ["tailscale.devices"]


def test_the_monitors_dns_loop_traces_each_cycle(fake: FakeAPIs) -> None:
    tracer, exporter = memory_tracer()
    with fake.serve() as base_url:
        loop, setup = build_loop(dns_env(base_url, fake), interval=60, tracer=tracer)
        try:
            loop.run_once()
            loop.run_once()
        finally:
            setup.close()
    outcomes = [(c.attributes or {})["dns.outcome"] for c in cycles(exporter)]
    assert outcomes == ["applied", "in_sync"]


def test_trashmon_dns_exports_its_cycle_over_otlp(fake: FakeAPIs, tmp_path: Path) -> None:
    """The real CLI as a process, exporting to a loopback OTLP receiver."""
    with fake.serve() as base_url, OTLPReceiver() as receiver:
        env = {**clean_environ(), **dns_env(base_url, fake)}
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        done = run_trashmon("dns", env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        spans = receiver.spans()
        assert receiver.rejected == []
    (cycle,) = [span for span in spans if span.name == CYCLE]
    assert cycle.parent_span_id == ""
    assert cycle.resource["service.name"] == "trashmon-dns"
    assert cycle.attributes["dns.outcome"] == "applied"
    assert cycle.attributes["dns.writes"] == 2
    names = sorted(span.name for span in spans if span.parent_span_id == cycle.span_id)
    assert names == sorted(
        [*READS, "cloudflare.create", "tailscale.split_dns", "tailscale.patch_split_dns"]
    )
    assert all(span.trace_id == cycle.trace_id for span in spans)
    secrets = (fake.cf_token, fake.ts_key)
    assert not any(secret in repr(spans) for secret in secrets)


def _last_dns_success(metrics_url: str) -> float | None:
    text = get_text(metrics_url)
    found = re.search(r"^trashmon_dns_last_success_timestamp_seconds (\S+)$", text, re.M)
    return float(found.group(1)) if found else None


def test_the_monitors_dns_loop_exports_its_cycles_over_otlp(fake: FakeAPIs, tmp_path: Path) -> None:
    """The real `trashmon monitor` with TRASHMON_DNS_INTERVAL: its DNS cycles arrive as
    traces of the monitor's service, flushed when SIGTERM stops it."""
    with (
        fake.serve() as base_url,
        OTLPReceiver() as receiver,
        FakeMediaMTX("v1.20") as mediamtx,
    ):
        mediamtx.add_paths(1, rate=20_000, configured=True)
        env = {
            **dns_env(base_url, fake),
            "TRASHMON_DNS_INTERVAL": "0.5",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        }
        with monitor_process(mediamtx, tmp_path, **env) as monitor:
            metrics = monitor.base + "/metrics"
            first = wait_until(
                lambda: _last_dns_success(metrics), timeout=60, what="a DNS cycle done"
            )
            # A second successful cycle after the one that wrote: it found all in sync.
            wait_until(
                lambda: (_last_dns_success(metrics) or first) > first,
                timeout=60, what="a later DNS cycle in sync",
            )  # fmt: skip
            assert stop_process(monitor.proc, grace=30) == 0
        spans = receiver.spans()
    dns_cycles = [span for span in spans if span.name == CYCLE]
    assert dns_cycles, sorted({span.name for span in spans})
    assert {span.resource["service.name"] for span in dns_cycles} == {"trashmon-monitor"}
    assert dns_cycles[0].attributes["dns.outcome"] == "applied"
    # The cycle in flight when SIGTERM arrives may be cut short (and say so): every
    # other cycle after the first found the records in sync.
    assert {span.attributes["dns.outcome"] for span in dns_cycles[1:-1]} <= {"in_sync"}
    assert "in_sync" in {span.attributes["dns.outcome"] for span in dns_cycles[1:]}
