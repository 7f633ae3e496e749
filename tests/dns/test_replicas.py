"""Two DNS reconcile loops at once (issue 17 §2; docs/dns.md, "Several replicas").

Each seed is one interleaving of two reconcilers' API requests: both run their cycles
in threads, and before every request a seeded scheduler picks which one goes next, so
each request is atomic and the order is reproducible (the seed is in the test id).

What holds, and why: replicas with the SAME settings converge with one record per type
and no flapping — a racing create of the same record is refused by Cloudflare as
identical (81058), which the adapter reads as done; an update re-reads the record first
and leaves it alone if another writer changed it; Tailscale's split-DNS PATCH merges.
What does not: replicas that want DIFFERENT addresses (an old and a new configuration
side by side) can both create, and Cloudflare keeps two A records of one name; both
then refuse to touch them. So a settings change rolls the DNS Deployment (its ConfigMap
is named after a hash of the settings) and the rollout is `Recreate`: its replicas never
run two configurations at once (tests/server/test_k8s_ha.py).
"""

from __future__ import annotations

import ipaddress
import random
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support.dns_fake import FakeAPIs
from support.dns_world import (
    CF_BASE,
    HOST,
    RESOLVERS,
    TS_BASE,
    TS_IP,
    ZONE,
    default_settings,
    seed_world,
    wired_reconciler,
)

from trashmonitor.dns.cloudflare_api import CloudflareDNS
from trashmonitor.dns.loop import DnsReconciler
from trashmonitor.dns.model import OWNER_MARKER, ReconcileReport, Result
from trashmonitor.dns.retry import RetryPolicy
from trashmonitor.dns.tailscale_api import TailscaleAPI, TailscaleCredentials
from trashmonitor.transport import Answer, MockTransport, Request, Transport

SEEDS = range(60)
Settings = tuple[dict[str, Any], dict[str, Any]]  # each replica's overrides
CYCLES = 3  # per loop: the race, a cycle that may mop up, one that must find all in sync


class Interleaver:
    """Lets one thread at a time make its next request, chosen by ``rand`` among those
    waiting once every live thread is waiting (so the choice, not the OS, decides)."""

    def __init__(self, rand: random.Random, parties: int) -> None:
        self._rand = rand
        self._changed = threading.Condition()
        self._running = parties
        self._waiting: set[str] = set()
        self._granted: str | None = None

    def turn(self, name: str) -> None:
        with self._changed:
            self._waiting.add(name)
            self._running -= 1
            self._grant()
            if not self._changed.wait_for(lambda: self._granted == name, timeout=60):
                raise AssertionError(f"{name} never got its turn")
            self._granted = None
            self._waiting.discard(name)
            self._running += 1

    def done(self) -> None:
        with self._changed:
            self._running -= 1
            self._grant()

    def _grant(self) -> None:
        if self._running == 0 and self._waiting and self._granted is None:
            self._granted = self._rand.choice(sorted(self._waiting))
            self._changed.notify_all()


def gated(fake: FakeAPIs, interleaver: Interleaver, name: str) -> MockTransport:
    inner = fake.transport()

    def handler(request: Request) -> Answer:
        interleaver.turn(name)
        return inner.send(request)

    return MockTransport(handler)


def replica(fake: FakeAPIs, transport: Transport, **settings: Any) -> DnsReconciler:
    """A reconciler as `trashmon dns` wires it, one attempt per call (no retry sleeps)."""
    retry = RetryPolicy(attempts=1)
    cloudflare = CloudflareDNS(fake.cf_token, base_url=CF_BASE, retry=retry, transport=transport)
    tailscale = TailscaleAPI(
        TailscaleCredentials(api_key=fake.ts_key), base_url=TS_BASE, retry=retry,
        transport=transport, clock=lambda: 0.0,
    )  # fmt: skip
    return wired_reconciler(default_settings(**settings), cloudflare, tailscale)


def race(fake: FakeAPIs, seed: int, settings: Settings) -> list[list[ReconcileReport]]:
    """Two replicas each run :data:`CYCLES` cycles, interleaved as ``seed`` says."""
    interleaver = Interleaver(random.Random(seed), parties=2)
    reports: list[list[ReconcileReport]] = [[], []]
    failures: list[BaseException] = []

    def loop(index: int) -> None:
        name = f"replica-{index}"
        reconciler = replica(fake, gated(fake, interleaver, name), **settings[index])
        try:
            for _ in range(CYCLES):
                reports[index].append(reconciler.reconcile())
        except BaseException as error:  # surfaced below, not lost in the thread
            failures.append(error)
        finally:
            interleaver.done()

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(t.is_alive() for t in threads), "a replica hung"
    assert failures == []
    return reports


def records_at_host(fake: FakeAPIs) -> list[tuple[str, str]]:
    return sorted((r["type"], r["content"]) for r in fake.records.values() if r["name"] == HOST)


def record_writes(fake: FakeAPIs) -> list[tuple[str, dict[str, Any]]]:
    return [(w.method, w.body) for w in fake.writes if "/dns_records" in w.path]


def assert_converged(fake: FakeAPIs, reports: list[list[ReconcileReport]]) -> None:
    assert records_at_host(fake) == [("A", TS_IP)]
    assert all(r["comment"] == OWNER_MARKER for r in fake.records.values() if r["name"] == HOST)
    assert fake.split_dns[ZONE] == list(RESOLVERS)
    for replica_reports in reports:
        last = replica_reports[-1]
        assert last.error is None
        assert all(o.result is Result.NOTHING_TO_DO for o in last.outcomes), last.lines()


def empty_world() -> FakeAPIs:
    return seed_world(FakeAPIs())


def stale_world() -> FakeAPIs:
    """Our records exist with an address the device no longer has."""
    fake = empty_world()
    fake.add_record("A", HOST, "100.64.0.99", ttl=1, proxied=False, comment=OWNER_MARKER)
    return fake


SAME: Settings = ({}, {})


@pytest.mark.parametrize("seed", SEEDS)
def test_two_replicas_create_each_record_once(seed: int) -> None:
    fake = empty_world()
    reports = race(fake, seed, SAME)
    assert_converged(fake, reports)
    # Never two of a kind, and never rewritten: each POST carried the final value, the
    # loser's was refused as identical (81058), and nothing was PUT or PATCHed after.
    writes = record_writes(fake)
    assert {method for method, _ in writes} == {"POST"}
    assert {(body["type"], body["content"]) for _, body in writes} == {("A", TS_IP)}


@pytest.mark.parametrize("seed", SEEDS)
def test_two_replicas_update_a_stale_record_without_flapping(seed: int) -> None:
    fake = stale_world()
    ids = sorted(fake.records)
    reports = race(fake, seed, SAME)
    assert_converged(fake, reports)
    assert sorted(fake.records) == ids  # updated in place: no record added or removed
    # Every write moved a record to the wanted value: none ever went back.
    for method, body in record_writes(fake):
        assert method == "PUT"
        assert body["content"] == TS_IP
    split_writes = [w.body for w in fake.writes if w.path.endswith("/split-dns")]
    assert split_writes
    assert all(body == {ZONE: list(RESOLVERS)} for body in split_writes)


def worlds_after_races_where(
    found: Callable[[FakeAPIs], bool], settings: Settings
) -> Iterator[FakeAPIs]:
    for seed in SEEDS:
        fake = empty_world()
        race(fake, seed, settings)
        if found(fake):
            yield fake


def test_replicas_that_want_different_addresses_can_leave_a_duplicate() -> None:
    """Why a DNS settings change must roll the Deployment, and roll it with Recreate: an
    old and a new configuration must never run together (here the new one pins
    --target)."""
    disagreeing: Settings = ({}, {"target": ipaddress.ip_address("100.64.0.42")})

    def duplicated_a(fake: FakeAPIs) -> bool:
        return len([r for r in records_at_host(fake) if r[0] == "A"]) == 2

    duplicated = next(worlds_after_races_where(duplicated_a, disagreeing), None)
    assert duplicated is not None, "no interleaving created both records"
    assert {r for r in records_at_host(duplicated) if r[0] == "A"} == {
        ("A", "100.64.0.42"),
        ("A", TS_IP),
    }
