"""The plan's rules as the fake APIs see them, through a whole reconcile: what is
written (exact requests and bodies) and what is refused with zero writes (foreign and
conflicting records, another team's split-DNS entry, public targets), and a failed write
that leaves the other resource converging. Each stage's own tests are in test_plan.py,
test_observe.py, test_apply.py, test_loop.py and the adapters' test files."""

from __future__ import annotations

from typing import Any

from support.dns_fake import FakeAPIs
from support.dns_world import (
    DEVICES,
    HOST,
    OTHER_ZONE,
    RECORDS,
    SPLIT,
    TS_IP,
    ZONE,
    ZONES,
    a_body,
    actions,
    reconcile_a_moved_device,
    seed_in_sync,
    writes,
)

from trashmonitor.dns.model import OWNER_MARKER


def test_changed_tailnet_address_updates_the_owned_record_with_put(
    fake: FakeAPIs, harness_factory: Any
) -> None:
    record_id, report = reconcile_a_moved_device(fake, harness_factory)

    assert actions(report) == [
        ("a_record", "update", "applied"),
        ("split_dns", "ok", "nothing to do"),
    ]
    assert writes(fake) == [("PUT", f"{RECORDS}/{record_id}", a_body("100.100.1.2"))]
    line = report.lines()[0]
    assert f"A {TS_IP} ttl=auto proxied=false -> A 100.100.1.2 ttl=auto proxied=false" in line


def test_normalised_values_in_sync_are_never_rewritten(
    fake: FakeAPIs, harness_factory: Any
) -> None:
    fake.split_dns[ZONE] = ["1.0.0.1", "1.1.1.1"]
    fake.add_record("A", HOST, TS_IP, ttl=1, comment=f"{OWNER_MARKER}; do not edit by hand")
    fake.add_record("TXT", HOST, '"v=spf1 -all"', ttl=300)

    report = harness_factory().reconciler.reconcile()

    assert report.in_sync
    assert fake.writes == []


def test_foreign_record_is_refused_and_left_alone(fake: FakeAPIs, harness_factory: Any) -> None:
    fake.split_dns[ZONE] = ["1.1.1.1", "1.0.0.1"]
    fake.add_record("A", HOST, "100.90.0.1", ttl=300, comment="set by alice")

    report = harness_factory().reconciler.reconcile()

    assert actions(report)[0] == ("a_record", "refuse", "refused")
    assert report.exit_code == 1
    assert fake.writes == []
    assert "not owned by trashmonitor" in report.lines()[0]
    assert "A 100.90.0.1 ttl=300 proxied=false -> A 100.101.102.103" in report.lines()[0]


def test_foreign_record_that_already_resolves_right_is_ok_but_not_taken(
    fake: FakeAPIs, harness_factory: Any
) -> None:
    fake.split_dns[ZONE] = ["1.1.1.1", "1.0.0.1"]
    fake.add_record("A", HOST, TS_IP, ttl=1, comment=None)

    report = harness_factory().reconciler.reconcile()

    assert report.exit_code == 0
    assert fake.writes == []
    assert "--adopt to manage it" in report.lines()[0]


def test_adopt_updates_the_foreign_record_and_marks_it_owned(
    fake: FakeAPIs, harness_factory: Any
) -> None:
    fake.split_dns[ZONE] = ["1.1.1.1", "1.0.0.1"]
    record_id = fake.add_record("A", HOST, "100.90.0.1", ttl=300, proxied=True)

    report = harness_factory(adopt=True).reconciler.reconcile()

    assert actions(report)[0] == ("a_record", "update", "applied")
    assert writes(fake) == [("PUT", f"{RECORDS}/{record_id}", a_body())]
    assert fake.records[record_id]["comment"] == OWNER_MARKER
    fake.clear()
    again = harness_factory().reconciler.reconcile()  # without --adopt: now ours
    assert again.in_sync
    assert fake.writes == []


def test_cname_at_the_name_is_a_conflict_not_deleted(fake: FakeAPIs, harness_factory: Any) -> None:
    fake.split_dns[ZONE] = ["1.1.1.1", "1.0.0.1"]
    fake.add_record("CNAME", HOST, "trashmonitor.tail1234.ts.net", ttl=1)

    report = harness_factory().reconciler.reconcile()

    assert actions(report)[0] == ("a_record", "refuse", "refused")
    assert report.outcomes[0].error_kind == "conflict"
    assert "refused; conflict: CNAME " in report.lines()[0]
    assert "CNAME trashmonitor.tail1234.ts.net" in report.lines()[0]
    assert fake.writes == []
    assert report.exit_code == 1


def test_5xx_on_a_write_is_reported_and_the_other_resource_still_converges(
    fake: FakeAPIs, harness_factory: Any
) -> None:
    fake.inject("PATCH", "split-dns$", 500, {"message": "boom"}, times=10)

    report = harness_factory(attempts=2).reconciler.reconcile()

    assert actions(report) == [("a_record", "create", "applied"), ("split_dns", "create", "failed")]
    assert report.exit_code == 1
    assert "HTTP 500" in report.lines()[1]
    assert "gave up" in report.lines()[1]
    assert [w.method for w in fake.writes] == ["POST", "PATCH", "PATCH"]


def test_public_target_is_refused_unless_allowed(fake: FakeAPIs, harness_factory: Any) -> None:
    from ipaddress import IPv4Address

    refused = harness_factory(target=IPv4Address("203.0.113.9")).reconciler.reconcile()
    assert actions(refused)[0] == ("a_record", "refuse", "refused")
    assert "outside the tailnet range 100.64.0.0/10" in refused.lines()[0]
    assert [w.method for w in fake.writes] == ["PATCH"]  # split DNS only
    assert not any(r.path == DEVICES for r in fake.requests)  # --target skips the lookup

    fake.clear()
    allowed = harness_factory(
        target=IPv4Address("203.0.113.9"), allow_public_target=True
    ).reconciler.reconcile()
    assert writes(fake) == [("POST", RECORDS, a_body("203.0.113.9"))]
    assert allowed.exit_code == 0


# -- issue 11 §3: own only what is ours -----------------------------------------------------


def test_split_dns_entry_with_other_resolvers_is_refused_and_nothing_is_written(
    fake: FakeAPIs, harness_factory: Any
) -> None:
    """Today's main PATCHed another team's resolvers away, tailnet-wide."""
    fake.split_dns[ZONE] = ["10.20.0.53"]

    report = harness_factory().reconciler.reconcile()

    assert actions(report) == [
        ("a_record", "refuse", "refused"),
        ("split_dns", "refuse", "refused"),
    ]
    assert report.exit_code == 1
    assert [str(r) for r in fake.requests] == [
        f"GET {DEVICES}", f"GET {ZONES}", f"GET {RECORDS}", f"GET {SPLIT}",
    ]  # fmt: skip
    assert fake.split_dns[ZONE] == ["10.20.0.53"]
    assert fake.records == {}
    line = report.lines()[1]
    assert "split_dns example.com: refuse 10.20.0.53 -> 1.0.0.1,1.1.1.1" in line
    assert "someone else's entry" in line
    assert "--adopt" in line
    assert "DNS_ZONE's split DNS entry belongs to someone else" in report.lines()[0]


def test_adopt_takes_over_another_split_dns_entry_with_a_patch_of_our_zone_only(
    fake: FakeAPIs, harness_factory: Any
) -> None:
    fake.split_dns[ZONE] = ["10.20.0.53"]
    record_id = seed_in_sync(fake)
    fake.split_dns[ZONE] = ["10.20.0.53"]

    report = harness_factory(adopt=True).reconciler.reconcile()

    assert actions(report) == [
        ("a_record", "ok", "nothing to do"),
        ("split_dns", "update", "applied"),
    ]
    assert writes(fake) == [("PATCH", SPLIT, {ZONE: ["1.0.0.1", "1.1.1.1"]})]
    assert fake.split_dns == {**OTHER_ZONE, ZONE: ["1.0.0.1", "1.1.1.1"]}
    assert record_id in fake.records


def test_a_comment_containing_the_marker_is_not_ours(fake: FakeAPIs, harness_factory: Any) -> None:
    fake.split_dns[ZONE] = ["1.1.1.1", "1.0.0.1"]
    fake.add_record("A", HOST, "100.90.0.1", ttl=1, comment=f"NOT {OWNER_MARKER}")

    report = harness_factory().reconciler.reconcile()

    assert actions(report)[0] == ("a_record", "refuse", "refused")
    assert report.exit_code == 1
    assert [str(r) for r in fake.requests] == [
        f"GET {DEVICES}", f"GET {ZONES}", f"GET {RECORDS}", f"GET {SPLIT}",
    ]  # fmt: skip
