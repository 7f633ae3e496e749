"""Export: the loop's numbers for Prometheus (names in docs/contracts.md) and a cycle's
trace attributes.

:class:`DnsStats` is what the loop has done; :class:`DnsCollector` renders its latest
snapshot at scrape time, so a record the reconciler stops managing disappears from
``trashmon_dns_in_sync`` by itself.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from opentelemetry.trace import Span, Status, StatusCode
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from trashmonitor.dns.model import ReconcileReport, Result, error_kind


@dataclass
class DnsStats:
    """What the reconcile loop has done, for :class:`DnsCollector`. Thread-safe."""

    in_sync: dict[tuple[str, str], bool] = field(default_factory=dict)
    last_success: float | None = None
    changes: dict[tuple[str, str], int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, report: ReconcileReport) -> None:
        if report.error is not None:
            self.count_error(report.error_kind or error_kind(report.error))
            return
        with self._lock:
            self.in_sync = {}
            for outcome in report.outcomes:
                change = outcome.change
                key = (str(change.resource), change.name)
                self.in_sync[key] = outcome.result in (Result.NOTHING_TO_DO, Result.APPLIED)
                if outcome.result is Result.APPLIED and change.writes:
                    counter = (str(change.resource), str(change.action))
                    self.changes[counter] = self.changes.get(counter, 0) + 1
                if outcome.error_kind:
                    self.errors[outcome.error_kind] = self.errors.get(outcome.error_kind, 0) + 1
            if report.in_sync:
                self.last_success = report.started_at

    def count_error(self, kind: str) -> None:
        with self._lock:
            self.errors[kind] = self.errors.get(kind, 0) + 1
            for key in self.in_sync:
                self.in_sync[key] = False

    def snapshot(
        self,
    ) -> tuple[
        dict[tuple[str, str], bool], float | None, dict[tuple[str, str], int], dict[str, int]
    ]:
        with self._lock:
            return dict(self.in_sync), self.last_success, dict(self.changes), dict(self.errors)


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


def describe_span(span: Span, report: ReconcileReport) -> None:
    """The root span's attributes: planned writes, applied writes, the outcome; drift
    and errors set its status to ERROR."""
    planned = [o for o in report.outcomes if o.change.writes]
    span.set_attribute("dns.planned_changes", len(planned))
    span.set_attribute("dns.writes", report.writes)
    span.set_attribute("dns.outcome", report.outcome)
    if report.error is not None:
        span.set_attribute("dns.error_kind", report.error_kind or error_kind(report.error))
        span.set_status(Status(StatusCode.ERROR, report.error.message))
    elif report.outcome == "drift":
        span.set_status(Status(StatusCode.ERROR, report.summary()))
