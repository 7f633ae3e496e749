"""The DNS Prometheus collector over the reconcile loop's stats, on a fresh registry."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry
from support.dns_fake import FakeAPIs
from support.dns_world import HOST, NOW, ZONE

from trashmonitor.dns import DnsCollector, build_loop
from trashmonitor.dns.loop import ReconcileLoop


def sample(registry: CollectorRegistry, metric: str, **labels: str) -> float | None:
    return registry.get_sample_value(metric, labels)


def test_collector_exports_sync_state_changes_and_last_success(
    fake: FakeAPIs, harness_factory: Any
) -> None:
    loop = ReconcileLoop(harness_factory().reconciler, interval=60)
    registry = CollectorRegistry()
    registry.register(DnsCollector(loop.stats))
    assert sample(registry, "trashmon_dns_last_success_timestamp_seconds") is None

    loop.run_once()  # creates both
    loop.run_once()  # steady

    assert sample(registry, "trashmon_dns_in_sync", resource="a_record", name=HOST) == 1.0
    assert sample(registry, "trashmon_dns_in_sync", resource="split_dns", name=ZONE) == 1.0
    assert sample(registry, "trashmon_dns_last_success_timestamp_seconds") == NOW
    assert (
        sample(registry, "trashmon_dns_changes_total", resource="a_record", action="create") == 1.0
    )
    assert (
        sample(registry, "trashmon_dns_changes_total", resource="split_dns", action="create") == 1.0
    )
    assert sample(registry, "trashmon_dns_errors_total", kind="auth") is None


def test_collector_counts_errors_and_marks_drift(fake: FakeAPIs, harness_factory: Any) -> None:
    fake.add_record("CNAME", HOST, "elsewhere.example.net", ttl=1)
    loop = ReconcileLoop(harness_factory().reconciler, interval=60)
    registry = CollectorRegistry()
    registry.register(DnsCollector(loop.stats))

    loop.run_once()
    fake.ts_key = "rotated-away"
    loop.run_once()

    assert sample(registry, "trashmon_dns_errors_total", kind="conflict") == 1.0
    assert sample(registry, "trashmon_dns_errors_total", kind="auth") == 1.0
    assert sample(registry, "trashmon_dns_in_sync", resource="a_record", name=HOST) == 0.0
    assert sample(registry, "trashmon_dns_in_sync", resource="split_dns", name=ZONE) == 0.0
    assert sample(registry, "trashmon_dns_last_success_timestamp_seconds") is None


def test_build_loop_from_the_environment_for_the_monitor(fake: FakeAPIs) -> None:
    with fake.serve() as base_url:
        env = {
            "CF_API_TOKEN": fake.cf_token, "TS_API_KEY": fake.ts_key,
            "TS_HOSTNAME": "trashmonitor", "DNS_ZONE": ZONE, "DNS_HOSTNAME": HOST,
            "CLOUDFLARE_BASE_URL": f"{base_url}/client/v4", "TS_API_BASE_URL": base_url,
        }  # fmt: skip
        loop, setup = build_loop(env, interval=300)
        try:
            registry = CollectorRegistry()
            registry.register(DnsCollector(loop.stats))
            report = loop.run_once()
        finally:
            setup.cloudflare.close()
            if setup.tailscale is not None:
                setup.tailscale.close()

    assert report is not None
    assert report.exit_code == 0
    assert sample(registry, "trashmon_dns_in_sync", resource="a_record", name=HOST) == 1.0
    assert len(fake.writes) == 2
