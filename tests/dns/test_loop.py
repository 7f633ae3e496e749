"""dns/loop.py: one reconcile cycle (observe -> plan -> apply) and the loop that repeats
it. Against the fake APIs: exact requests, counts, outcomes, exit codes; and, with
providers that do no I/O, what a cycle makes of a failed read."""

from __future__ import annotations

import ipaddress
import threading
from typing import Any

import pytest
from support.dns_fake import FakeAPIs
from support.dns_world import (
    DEVICES,
    HOST,
    OTHER_ZONE,
    RECORDS,
    SPLIT,
    SPLIT_READ,
    STEADY_ONE_SHOT,
    TS_IP,
    ZONE,
    ZONES,
    Recorder,
    a_body,
    actions,
    default_settings,
    reads,
    recorders,
    writes,
)

from trashmonitor.dns.loop import DnsReconciler, ReconcileLoop
from trashmonitor.dns.model import ReconcileReport, Result
from trashmonitor.dns.observe import Observer
from trashmonitor.errors import AuthError, TransientAPIError, TrashmonError


def test_first_run_creates_the_record_and_the_split_dns_zone(
    fake: FakeAPIs, harness_factory: Any
) -> None:
    report = harness_factory().reconciler.reconcile()

    assert actions(report) == [
        ("a_record", "create", "applied"),
        ("split_dns", "create", "applied"),
    ]
    assert report.exit_code == 0
    assert [(r.method, r.path) for r in fake.requests] == [
        ("GET", DEVICES), ("GET", ZONES), ("GET", RECORDS), ("GET", SPLIT),
        ("POST", RECORDS), ("GET", SPLIT), ("PATCH", SPLIT),
    ]  # fmt: skip
    assert reads(fake) == [*STEADY_ONE_SHOT, SPLIT_READ]  # split DNS read again before PATCH
    assert writes(fake) == [
        ("POST", RECORDS, a_body()),
        ("PATCH", SPLIT, {ZONE: ["1.0.0.1", "1.1.1.1"]}),
    ]
    assert fake.split_dns == {**OTHER_ZONE, ZONE: ["1.0.0.1", "1.1.1.1"]}


def test_second_run_is_a_no_op_with_four_reads_and_zero_writes(
    fake: FakeAPIs, harness_factory: Any
) -> None:
    harness_factory().reconciler.reconcile()
    fake.clear()

    report = harness_factory().reconciler.reconcile()  # a new process: no cached zone id

    assert actions(report) == [
        ("a_record", "ok", "nothing to do"),
        ("split_dns", "ok", "nothing to do"),
    ]
    assert report.exit_code == 0
    assert report.in_sync
    assert report.writes == 0
    assert fake.writes == []
    assert reads(fake) == STEADY_ONE_SHOT  # 4 reads: no extra empty page


def test_dry_run_reads_everything_and_writes_nothing(fake: FakeAPIs, harness_factory: Any) -> None:
    report = harness_factory().reconciler.reconcile(dry_run=True)

    assert actions(report) == [
        ("a_record", "create", "dry run, not applied"),
        ("split_dns", "create", "dry run, not applied"),
    ]
    assert fake.writes == []
    assert reads(fake) == STEADY_ONE_SHOT
    assert report.exit_code == 1  # drift remains: nothing was applied


def test_5xx_is_retried_then_reported_as_drift_without_writes(
    fake: FakeAPIs, harness_factory: Any
) -> None:
    fake.inject("GET", "split-dns$", 503, {"message": "unavailable"}, times=10)
    harness = harness_factory(attempts=3)

    report = harness.reconciler.reconcile()

    assert report.exit_code == 1
    assert report.error_kind == "server"
    assert "gave up after retries" in report.error.message
    assert reads(fake).count(SPLIT_READ) == 3
    assert harness.sleeps == [0.5, 1.0]  # exponential backoff (jitter pinned to 1.0x)
    assert fake.writes == []


def test_loop_runs_until_stopped_and_keeps_going_after_errors(
    fake: FakeAPIs, harness_factory: Any
) -> None:
    fake.inject("GET", "/devices$", 401, {"message": "API token invalid"})
    reports: list[Any] = []
    stop = threading.Event()

    def on_report(report: Any) -> None:
        reports.append(report)
        if len(reports) == 3:
            stop.set()

    loop = ReconcileLoop(harness_factory().reconciler, interval=0.001, on_report=on_report)
    last = loop.run(stop)

    assert [r.exit_code for r in reports] == [2, 0, 0]
    assert last is reports[-1]
    assert last.in_sync
    assert loop.stats.errors == {"auth": 1}


def test_a_crash_inside_a_run_is_counted_and_the_loop_goes_on(
    fake: FakeAPIs, harness_factory: Any
) -> None:
    reconciler = harness_factory().reconciler
    calls: list[int] = []
    real = reconciler.reconcile

    def flaky(*, dry_run: bool = False) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("bug")
        return real(dry_run=dry_run)

    reconciler.reconcile = flaky
    stop = threading.Event()
    loop = ReconcileLoop(
        reconciler, interval=0.001, on_report=lambda _: stop.set() if len(calls) >= 2 else None
    )

    last = loop.run(stop)

    assert len(calls) == 2
    assert last is not None
    assert last.in_sync
    assert loop.stats.errors == {"internal": 1}


# -- one cycle with providers that do no I/O ----------------------------------------------

STARTED = 1_800_000_123.0


def stub_reconciler(records: Recorder, split: Recorder | None) -> DnsReconciler:
    """A reconciler publishing a fixed target (no device lookup) through ``records`` and
    ``split``, its clock stopped at :data:`STARTED`."""
    settings = default_settings(target=ipaddress.IPv4Address(TS_IP))
    return DnsReconciler(Observer(settings, records, split, None), clock=lambda: STARTED)


def test_a_cycle_plans_from_the_observation_and_hands_each_provider_its_writes() -> None:
    records, split = recorders()

    report = stub_reconciler(records, split).reconcile()

    assert report.started_at == STARTED
    assert actions(report) == [
        ("a_record", "create", "applied"),
        ("split_dns", "create", "applied"),
    ]
    assert [[type(c).__name__ for c in batch] for batch in records.batches] == [["CreateRecord"]]
    assert [[type(c).__name__ for c in batch] for batch in split.batches] == [["CreateSplitDNS"]]
    assert (report.exit_code, report.writes, report.outcome) == (0, 2, "applied")


def test_a_dry_run_hands_the_providers_nothing() -> None:
    records, split = recorders()

    report = stub_reconciler(records, split).reconcile(dry_run=True)

    assert [o.result for o in report.outcomes] == [Result.DRY_RUN, Result.DRY_RUN]
    assert records.batches == split.batches == []
    assert report.dry_run
    assert report.exit_code == 1


@pytest.mark.parametrize(
    ("failure", "reported", "exit_code", "kind"),
    [
        (TransientAPIError("Cloudflare: HTTP 503", status_code=503, kind="server"),
         "Cloudflare: HTTP 503; gave up after retries", 1, "server"),
        (TransientAPIError("Cloudflare: rate limited", status_code=429, kind="rate_limited"),
         "Cloudflare: rate limited; gave up after retries", 1, "rate_limited"),
        (TransientAPIError("Cloudflare: connection lost", status_code=None, kind="unreachable"),
         "Cloudflare: connection lost", 2, "unreachable"),
        (AuthError("Cloudflare: CF_API_TOKEN was not accepted"),
         "Cloudflare: CF_API_TOKEN was not accepted", 2, "auth"),
    ],
    ids=["5xx", "429", "lost-connection", "auth"],
)  # fmt: skip
def test_a_failed_read_ends_the_cycle_before_any_plan_with_its_kind(
    failure: TrashmonError, reported: str, exit_code: int, kind: str
) -> None:
    """A read the retries gave up on is drift (try again next cycle) unless nothing
    answered at all; the metric kind is the read's own, not the giving up's."""
    records, split = recorders()
    records.failure = failure

    report = stub_reconciler(records, split).reconcile()

    assert report.outcomes == ()
    assert report.error is not None
    assert report.error.message == reported
    assert (report.exit_code, report.error_kind, report.outcome) == (exit_code, kind, "error")
    assert records.batches == split.batches == []


def test_run_once_keeps_the_report_counts_it_and_hands_it_on() -> None:
    records, split = recorders()
    seen: list[ReconcileReport] = []
    loop = ReconcileLoop(stub_reconciler(records, split), interval=60, on_report=seen.append)

    applied = loop.run_once()
    records.failure = AuthError("Cloudflare: CF_API_TOKEN was not accepted")
    failed = loop.run_once()

    assert seen == [applied, failed]
    assert loop.last_report is failed
    in_sync, last_success, changes, errors = loop.stats.snapshot()
    assert last_success == STARTED
    assert changes == {("a_record", "create"): 1, ("split_dns", "create"): 1}
    assert errors == {"auth": 1}
    assert in_sync == {("a_record", HOST): False, ("split_dns", ZONE): False}
