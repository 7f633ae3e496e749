"""The reconcile loop: observe → desired → plan → apply, and its report.

:class:`DnsReconciler` is reusable: ``trashmon dns`` calls it once (or in ``--watch``),
and the monitor can own one and scrape :class:`~trashmonitor.dns.metrics.DnsCollector`.
It keeps the zone id between runs so a steady ``--watch`` iteration costs three reads
(records at the name, devices, split DNS) and no writes.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from opentelemetry.trace import Span, Status, StatusCode, Tracer
from trashmonitor.dns.cloudflare_api import (
    CODE_CONFLICT,
    CODE_IDENTICAL_RECORD,
    CODE_RECORD_EXISTS,
    CloudflareRejected,
)
from trashmonitor.dns.model import (
    Action,
    DesiredRecord,
    DesiredState,
    DeviceSelector,
    DNSRecord,
    ObservedState,
    Outcome,
    PlannedChange,
    Result,
    TailnetDevice,
)
from trashmonitor.dns.plan import (
    DeviceChoiceError,
    choose_device,
    describe_resolvers,
    desired_state,
    normalise_name,
    plan,
    record_matches,
)
from trashmonitor.dns.retry import TransientAPIError
from trashmonitor.dns.tailscale_api import SplitDNS

from trashmonitor.errors import (
    EXIT_OK,
    EXIT_UNDECIDED,
    EXIT_UNHEALTHY,
    AuthError,
    ConfigError,
    DriftError,
    MalformedResponseError,
    TrashmonError,
    UnreachableError,
)

log = logging.getLogger(__name__)


class RecordsAPI(Protocol):
    def zone_id(self, zone: str) -> str: ...
    def records_at(self, zone_id: str, name: str) -> tuple[DNSRecord, ...]: ...
    def create(self, zone_id: str, want: DesiredRecord) -> DNSRecord: ...
    def update(self, zone_id: str, record_id: str, want: DesiredRecord) -> DNSRecord: ...


class SplitDNSAPI(Protocol):
    def split_dns(self) -> SplitDNS: ...
    def patch_split_dns(self, changes: dict[str, list[str] | None]) -> SplitDNS: ...


DeviceLister = Callable[[], tuple[TailnetDevice, ...]]


@dataclass(frozen=True)
class DnsSettings:
    zone: str
    hostname: str
    ts_hostname: str | None
    resolvers: tuple[str, ...] | None  # None: split DNS is not managed
    ttl: int = 1
    aaaa: bool = False
    adopt: bool = False
    allow_public_target: bool = False
    target: ipaddress.IPv4Address | None = None  # skips the device lookup
    max_device_age: float = 3600.0
    magicdns_suffix: str | None = None  # None: the suffix the tailnet's devices share
    device_id: str | None = None  # pinned node id
    device_tag: str | None = None

    @property
    def device_selector(self) -> DeviceSelector:
        return DeviceSelector(
            self.ts_hostname, self.magicdns_suffix, self.device_id, self.device_tag
        )

    @property
    def device_setting(self) -> str:
        """The setting an error about the device names, for the one-line message."""
        if self.ts_hostname:
            return "TS_HOSTNAME"
        return "TS_DEVICE_ID" if self.device_id else "TS_DEVICE_TAG"


class DeviceError(DriftError):
    """The tailnet device is there but not usable now (not seen recently): retry later."""


# Most specific first: the ``kind`` label of ``trashmon_dns_errors_total``.
_ERROR_KINDS: tuple[tuple[type[TrashmonError], str], ...] = (
    (AuthError, "auth"),
    (ConfigError, "config"),
    (DeviceError, "device"),
    (UnreachableError, "unreachable"),
    (MalformedResponseError, "malformed"),
)


def error_kind(error: TrashmonError) -> str:
    if isinstance(error, TransientAPIError):
        return error.kind
    kind = next((k for cls, k in _ERROR_KINDS if isinstance(error, cls)), None)
    return kind or "server"


@dataclass(frozen=True)
class ReconcileReport:
    started_at: float
    duration: float
    dry_run: bool
    outcomes: tuple[Outcome, ...] = ()
    error: TrashmonError | None = None  # observation failed: nothing planned or written
    error_kind: str | None = None

    @property
    def in_sync(self) -> bool:
        """The world matches the desired state now (after what this run applied)."""
        return self.error is None and all(
            o.result in (Result.NOTHING_TO_DO, Result.APPLIED) for o in self.outcomes
        )

    @property
    def exit_code(self) -> int:
        if self.error is not None:
            return self.error.exit_code
        if any(o.error_kind in ("auth", "config") for o in self.outcomes):
            return EXIT_UNDECIDED
        return EXIT_OK if self.in_sync else EXIT_UNHEALTHY

    @property
    def writes(self) -> int:
        return sum(1 for o in self.outcomes if o.result is Result.APPLIED and o.change.writes)

    def lines(self) -> list[str]:
        return [format_outcome(o) for o in self.outcomes]

    def summary(self) -> str:
        if self.error is not None:
            return f"dns: could not reconcile: {self.error.message}"
        pending = [o for o in self.outcomes if o.result is Result.DRY_RUN]
        failed = [o for o in self.outcomes if o.result in (Result.FAILED, Result.REFUSED)]
        if failed:
            return f"dns: drift remains ({len(failed)} refused or failed, {self.writes} applied)"
        if pending:
            return f"dns: {len(pending)} change(s) planned, dry run: nothing written"
        if self.writes:
            return f"dns: in sync ({self.writes} change(s) applied)"
        return "dns: in sync (nothing to do)"


def format_outcome(outcome: Outcome) -> str:
    change = outcome.change
    head = f"{change.resource} {change.name}: {change.action}"
    values = change.old if change.action is Action.OK else f"{change.old} -> {change.new}"
    notes = [n for n in (change.reason, outcome.detail) if n]
    if outcome.result is not Result.NOTHING_TO_DO:
        notes.insert(0, outcome.result.value)
    return f"{head} {values}" + (f" ({'; '.join(notes)})" if notes else "")


class DnsReconciler:
    def __init__(
        self,
        settings: DnsSettings,
        records: RecordsAPI,
        split_dns: SplitDNSAPI | None,
        devices: DeviceLister | None,
        *,
        clock: Callable[[], float] = time.time,
        tracer: Tracer | None = None,
    ) -> None:
        selector = settings.device_selector
        if settings.target is None and (
            devices is None or not (selector.magicdns_name or selector.node_id or selector.tag)
        ):
            raise ConfigError("TS_HOSTNAME", "no way to look up the tailnet address")
        self.settings = settings
        self._records = records
        self._split_dns = split_dns
        self._devices = devices
        self._clock = clock
        self._tracer = tracer
        self._zone_id: str | None = None

    @contextlib.contextmanager
    def _span(self, name: str, **attributes: Any) -> Iterator[Span | None]:
        """A child span per API read or write (none without a tracer)."""
        if self._tracer is None:
            yield None
            return
        with self._tracer.start_as_current_span(name, attributes=attributes) as span:
            yield span

    # -- observe --------------------------------------------------------------------------

    def _target(self, now: float) -> tuple[ipaddress.IPv4Address, ipaddress.IPv6Address | None]:
        settings = self.settings
        if settings.target is not None:
            return settings.target, None
        assert self._devices is not None  # checked in __init__
        with self._span("tailscale.devices"):
            devices = self._devices()
        try:
            device = choose_device(
                devices, settings.device_selector, now=now, max_age=settings.max_device_age
            )
        except DeviceChoiceError as error:
            if error.stale:
                raise DeviceError(f"{settings.device_setting}: {error}") from None
            raise ConfigError(settings.device_setting, str(error)) from None
        assert device.ipv4 is not None  # choose_device refuses devices without one
        return device.ipv4, device.ipv6

    def observe(self, now: float) -> tuple[DesiredState, ObservedState]:
        settings = self.settings
        ipv4, ipv6 = self._target(now)
        if settings.aaaa and ipv6 is None:
            raise ConfigError("--aaaa", "the tailnet device has no IPv6 address")
        desired = desired_state(
            hostname=settings.hostname,
            zone=settings.zone,
            ttl=settings.ttl,
            ipv4=ipv4,
            ipv6=ipv6 if settings.aaaa else None,
            resolvers=settings.resolvers if self._split_dns is not None else None,
        )
        if self._zone_id is None:
            with self._span("cloudflare.zone_id", **{"dns.zone": settings.zone}):
                self._zone_id = self._records.zone_id(settings.zone)
        try:
            with self._span("cloudflare.records_at", **{"dns.name": desired.records[0].name}):
                records = self._records.records_at(self._zone_id, desired.records[0].name)
        except TransientAPIError:
            raise
        except TrashmonError:
            self._zone_id = None  # the zone may be gone or moved: look it up again
            raise
        split = None
        if self._split_dns is not None:
            with self._span("tailscale.split_dns"):
                split = self._split_dns.split_dns()
        return desired, ObservedState(self._zone_id, records, split)

    # -- the whole run --------------------------------------------------------------------

    def reconcile(self, *, dry_run: bool = False) -> ReconcileReport:
        """One cycle, traced as a ``trashmon.dns.reconcile`` span (children per API call;
        attributes: what was planned, what was written, the outcome)."""
        attributes = {
            "dns.hostname": self.settings.hostname,
            "dns.zone": self.settings.zone,
            "dns.dry_run": dry_run,
        }
        with self._span("trashmon.dns.reconcile", **attributes) as span:
            report = self._reconcile(dry_run)
            if span is not None:
                _describe(span, report)
            return report

    def _reconcile(self, dry_run: bool) -> ReconcileReport:
        started = self._clock()
        clock_start = time.monotonic()

        def report(
            outcomes: Iterable[Outcome] = (),
            error: TrashmonError | None = None,
            kind: str | None = None,
        ) -> ReconcileReport:
            elapsed = time.monotonic() - clock_start
            return ReconcileReport(started, elapsed, dry_run, tuple(outcomes), error, kind)

        try:
            desired, observed = self.observe(started)
        except TransientAPIError as error:
            return report(error=_give_up(error), kind=error.kind)
        except TrashmonError as error:
            return report(error=error, kind=error_kind(error))
        changes = plan(
            desired,
            observed,
            adopt=self.settings.adopt,
            allow_public_target=self.settings.allow_public_target,
        )
        return report(self._apply(change, observed, dry_run) for change in changes)

    # -- apply ----------------------------------------------------------------------------

    def _apply(  # noqa: PLR0911 - one return per action reads best
        self, change: PlannedChange, observed: ObservedState, dry_run: bool
    ) -> Outcome:
        if change.action is Action.OK:
            return Outcome(change, Result.NOTHING_TO_DO)
        if change.action is Action.REFUSE:
            kind = "conflict" if change.reason.startswith("conflict") else "refused"
            return Outcome(change, Result.REFUSED, error_kind=kind)
        if change.action is Action.SKIP:
            return Outcome(change, Result.NOTHING_TO_DO)
        if dry_run:
            return Outcome(change, Result.DRY_RUN)
        try:
            if change.desired_record is not None:
                return self._apply_record(change, change.desired_record, observed)
            assert change.desired_split is not None
            return self._apply_split_dns(change, observed)
        except TransientAPIError as error:
            return Outcome(change, Result.FAILED, _give_up(error).message, error.kind)
        except TrashmonError as error:
            return Outcome(change, Result.FAILED, error.message, error_kind(error))

    def _apply_record(
        self, change: PlannedChange, want: DesiredRecord, observed: ObservedState
    ) -> Outcome:
        zone_id = observed.zone_id
        if change.action is Action.UPDATE:
            assert change.record_id is not None
            planned = _record_by_id(observed.records, change.record_id)
            # Someone may have edited the record since the plan (a person in the
            # dashboard, another reconciler): a PUT would silently undo their change.
            with self._span("cloudflare.records_at", **{"dns.name": want.name}):
                present = self._records.records_at(zone_id, want.name)
            current = _record_by_id(present, change.record_id)
            if current != planned:
                detail = _changed_since_plan(planned, current)
                return Outcome(change, Result.REFUSED, detail, "refused")
            with self._span("cloudflare.update", **{"dns.name": want.name, "dns.type": want.type}):
                self._records.update(zone_id, change.record_id, want)
            return Outcome(change, Result.APPLIED)
        try:
            with self._span("cloudflare.create", **{"dns.name": want.name, "dns.type": want.type}):
                self._records.create(zone_id, want)
        except CloudflareRejected as error:
            if CODE_CONFLICT in error.codes:
                return Outcome(
                    change, Result.REFUSED, f"conflict (code {CODE_CONFLICT})", "conflict"
                )
            if not {CODE_IDENTICAL_RECORD, CODE_RECORD_EXISTS} & set(error.codes):
                raise
            # A retried POST may have landed twice: what is there now decides.
            with self._span("cloudflare.records_at", **{"dns.name": want.name}):
                present = self._records.records_at(zone_id, want.name)
            if any(r.type == want.type and record_matches(r, want) for r in present):
                return Outcome(change, Result.APPLIED, "already created (81058), converged")
            return Outcome(
                change, Result.FAILED, "Cloudflare says the record exists but it differs", "server"
            )
        return Outcome(change, Result.APPLIED)

    def _apply_split_dns(self, change: PlannedChange, observed: ObservedState) -> Outcome:
        assert self._split_dns is not None
        assert change.desired_split is not None
        want = change.desired_split
        planned = _zone_entry(observed.split_dns or {}, want.zone)
        with self._span("tailscale.split_dns"):
            current = _zone_entry(self._split_dns.split_dns(), want.zone)
        if current != planned:
            return Outcome(
                change,
                Result.REFUSED,
                f"split DNS for {want.zone} changed since it was read (now "
                f"{describe_resolvers(sorted(current))}); nothing written; run again",
                "refused",
            )
        with self._span("tailscale.patch_split_dns", **{"dns.zone": want.zone}):
            after = self._split_dns.patch_split_dns({want.zone: list(want.resolvers)})
        now = set(after.get(want.zone, ()))
        if now != set(want.resolvers):
            return Outcome(
                change, Result.FAILED, f"the API now reports {sorted(now) or 'none'}", "server"
            )
        return Outcome(change, Result.APPLIED)


def reconcile_outcome(report: ReconcileReport) -> str:
    """One word for a cycle: error, drift, dry_run, applied or in_sync."""
    results = {o.result for o in report.outcomes}
    if report.error is not None:
        return "error"
    if results & {Result.FAILED, Result.REFUSED}:
        return "drift"
    if Result.DRY_RUN in results:
        return "dry_run"
    return "applied" if report.writes else "in_sync"


def _describe(span: Span, report: ReconcileReport) -> None:
    planned = [o for o in report.outcomes if o.change.writes]
    span.set_attribute("dns.planned_changes", len(planned))
    span.set_attribute("dns.writes", report.writes)
    span.set_attribute("dns.outcome", reconcile_outcome(report))
    if report.error is not None:
        span.set_attribute("dns.error_kind", report.error_kind or error_kind(report.error))
        span.set_status(Status(StatusCode.ERROR, report.error.message))
    elif reconcile_outcome(report) == "drift":
        span.set_status(Status(StatusCode.ERROR, report.summary()))


def _record_by_id(records: Iterable[DNSRecord], record_id: str) -> DNSRecord | None:
    return next((r for r in records if r.record_id == record_id), None)


def _changed_since_plan(planned: DNSRecord | None, current: DNSRecord | None) -> str:
    if current is None:
        return "the record was deleted since it was read; nothing written; run again"
    fields = [
        name
        for name in ("content", "comment", "ttl", "proxied", "type", "modified_on")
        if planned is None or getattr(planned, name) != getattr(current, name)
    ]
    what = ", ".join("modification time" if f == "modified_on" else f for f in fields)
    return f"the record changed since it was read ({what}); nothing written; run again"


def _zone_entry(split: Mapping[str, Sequence[str] | None], zone: str) -> frozenset[str]:
    entries = (rs or () for domain, rs in split.items() if normalise_name(domain) == zone)
    return frozenset(r.strip() for resolvers in entries for r in resolvers)


def _give_up(error: TransientAPIError) -> TrashmonError:
    """Retries are exhausted: 429/5xx are drift (exit 1), no connection is exit 2."""
    if error.kind == "unreachable":
        return UnreachableError(error.message)
    return DriftError(f"{error.message}; gave up after retries")


# -- the numbers the monitor exports ---------------------------------------------------------


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

    def run(self, stop: threading.Event, *, max_runs: int | None = None) -> ReconcileReport | None:
        runs = 0
        while not stop.is_set() and (max_runs is None or runs < max_runs):
            try:
                self.run_once()
            except Exception:
                # A bug must not stop a loop the monitor runs in a thread: log it, count
                # it, try again next interval (external-dns does the same).
                log.exception("dns reconcile crashed; retrying in %.0fs", self.interval)
                self.stats.count_error("internal")
            runs += 1
            if max_runs is not None and runs >= max_runs:
                break
            stop.wait(self.interval)
        return self.last_report
