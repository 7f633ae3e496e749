"""Prometheus export of the reconcile loop (names in docs/contracts.md).

A custom collector renders the latest :class:`DnsStats` snapshot at scrape time, so a
record the reconciler stops managing disappears from ``trashmon_dns_in_sync`` by itself.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from trashmonitor.dns.reconcile import DnsStats


class DnsCollector(Collector):
    def __init__(self, stats: DnsStats) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        in_sync, last_success, changes, errors = self._stats.snapshot()
        sync = GaugeMetricFamily(
            "trashmon_dns_in_sync",
            "1 if the record or split-DNS zone matches the desired state",
            labels=["resource", "name"],
        )
        for (resource, name), ok in sorted(in_sync.items()):
            sync.add_metric([resource, name], 1.0 if ok else 0.0)
        yield sync
        last = GaugeMetricFamily(
            "trashmon_dns_last_success_timestamp_seconds",
            "Start time of the last reconcile that ended in sync",
        )
        if last_success is not None:
            last.add_metric([], last_success)
        yield last
        applied = CounterMetricFamily(
            "trashmon_dns_changes",
            "DNS writes applied by the reconciler",
            labels=["resource", "action"],
        )
        for (resource, action), count in sorted(changes.items()):
            applied.add_metric([resource, action], float(count))
        yield applied
        failures = CounterMetricFamily(
            "trashmon_dns_errors", "Reconcile errors by kind", labels=["kind"]
        )
        for kind, count in sorted(errors.items()):
            failures.add_metric([kind], float(count))
        yield failures
