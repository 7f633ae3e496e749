"""One reconcile cycle (observe → plan → apply, traced) and the loop that repeats it.

:class:`DnsReconciler` is reusable: ``trashmon dns`` runs it once or in ``--watch``, and
the monitor runs a :class:`ReconcileLoop` in a thread and exports its
:class:`~trashmonitor.dns.export.DnsStats`. The reconciler sees providers only through
their protocols (:mod:`trashmonitor.dns.observe`, :mod:`trashmonitor.dns.apply`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from opentelemetry.trace import NoOpTracer, Tracer

from trashmonitor.dns.apply import apply_plan
from trashmonitor.dns.export import DnsStats, describe_span
from trashmonitor.dns.model import DnsSettings, ReconcileReport, error_kind
from trashmonitor.dns.observe import Observer
from trashmonitor.dns.plan import plan
from trashmonitor.dns.retry import give_up
from trashmonitor.errors import TrashmonError
from trashmonitor.runtime import run_every

log = logging.getLogger(__name__)


class DnsReconciler:
    def __init__(
        self,
        observer: Observer,
        *,
        clock: Callable[[], float] = time.time,
        tracer: Tracer | None = None,
    ) -> None:
        self.observer = observer
        self._clock = clock
        self._tracer = tracer or NoOpTracer()

    @property
    def settings(self) -> DnsSettings:
        return self.observer.settings

    def reconcile(self, *, dry_run: bool = False) -> ReconcileReport:
        """One cycle, traced as a ``trashmon.dns.reconcile`` span (children per API call;
        attributes: what was planned, what was written, the outcome)."""
        attributes: dict[str, str | bool] = {
            "dns.hostname": self.settings.hostname,
            "dns.zone": self.settings.zone,
            "dns.dry_run": dry_run,
        }
        with self._tracer.start_as_current_span(
            "trashmon.dns.reconcile", attributes=attributes
        ) as span:
            report = self._reconcile(dry_run)
            describe_span(span, report)
            return report

    def _reconcile(self, dry_run: bool) -> ReconcileReport:
        started = self._clock()
        clock_start = time.monotonic()
        try:
            desired, observed = self.observer.observe(started)
        except TrashmonError as error:
            # A failed read aborts the run before any write.
            reported = give_up(error) if error.retryable else error
            elapsed = time.monotonic() - clock_start
            return ReconcileReport(started, elapsed, dry_run, (), reported, error_kind(error))
        changes = plan(
            desired,
            observed,
            adopt=self.settings.adopt,
            allow_public_target=self.settings.allow_public_target,
        )
        outcomes = apply_plan(changes, self.observer.providers, dry_run=dry_run)
        return ReconcileReport(started, time.monotonic() - clock_start, dry_run, outcomes)


class ReconcileLoop:
    """Reconcile every ``interval`` seconds until ``stop`` is set; never raises for a run."""

    def __init__(
        self,
        reconciler: DnsReconciler,
        *,
        interval: float,
        dry_run: bool = False,
        stats: DnsStats | None = None,
        on_report: Callable[[ReconcileReport], None] | None = None,
    ) -> None:
        self.reconciler = reconciler
        self.interval = interval
        self.dry_run = dry_run
        self.stats = stats or DnsStats()
        self._on_report = on_report
        self.last_report: ReconcileReport | None = None

    def run_once(self) -> ReconcileReport:
        report = self.reconciler.reconcile(dry_run=self.dry_run)
        self.stats.record(report)
        self.last_report = report
        if report.error is not None:
            log.warning("dns reconcile failed: %s", report.error.message)
        if self._on_report is not None:
            self._on_report(report)
        return report

    def _step(self) -> None:
        try:
            self.run_once()
        except Exception:
            # A bug must not stop a loop the monitor runs in a thread: log it, count it,
            # try again next interval (external-dns does the same).
            log.exception("dns reconcile crashed; retrying in %.0fs", self.interval)
            self.stats.count_error("internal")

    def run(self, stop: threading.Event) -> ReconcileReport | None:
        run_every(self.interval, self._step, stop)
        return self.last_report
