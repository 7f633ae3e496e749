"""dns/cloudflare_api.py through a reconcile against the fake Cloudflare API: the
requests it makes, the zone id kept between cycles, what its errors say (401/403/429/5xx
and Cloudflare's codes), and the re-read before a PUT so another writer's edit is never
overwritten."""

from __future__ import annotations

from typing import Any

import pytest
from support.dns_fake import FakeAPIs
from support.dns_world import (
    DEVICES,
    DEVICES_READ,
    RECORDS,
    RECORDS_READ,
    SPLIT,
    SPLIT_READ,
    TS_IP6,
    ZONES,
    a_body,
    actions,
    reads,
    reconcile_a_moved_device,
    seed_in_sync,
    writes,
)

from trashmonitor.dns.model import Result


def test_watch_iterations_cache_the_zone_id_so_steady_state_costs_three_reads(
    fake: FakeAPIs, harness_factory: Any
) -> None:
    reconciler = harness_factory().reconciler
    reconciler.reconcile()
    fake.clear()

    report = reconciler.reconcile()

    assert report.in_sync
    assert reads(fake) == [DEVICES_READ, RECORDS_READ, SPLIT_READ]
    assert fake.writes == []


def test_missing_zone_is_a_config_error(fake: FakeAPIs, harness_factory: Any) -> None:
    fake.zone = "other.org"

    report = harness_factory().reconciler.reconcile()

    assert report.exit_code == 2
    assert report.error.message.startswith("DNS_ZONE:")
    assert fake.writes == []


def test_cloudflare_401_names_the_token_and_permission(
    fake: FakeAPIs, harness_factory: Any
) -> None:
    fake.inject(
        "GET",
        "/zones$",
        401,
        {
            "success": False,
            "errors": [{"code": 10000, "message": "Authentication error"}],
            "messages": [],
            "result": None,
        },
    )

    report = harness_factory().reconciler.reconcile()

    assert report.exit_code == 2
    assert report.error_kind == "auth"
    assert "CF_API_TOKEN was not accepted" in report.error.message
    assert "Zone → Zone → Read" in report.error.message
    assert fake.writes == []


def test_cloudflare_403_on_write_names_dns_edit_and_reports_what_was_applied(
    fake: FakeAPIs, harness_factory: Any
) -> None:
    fake.cf_permissions = frozenset({"zone:read", "dns:read"})

    report = harness_factory().reconciler.reconcile()

    first, second = report.outcomes
    assert first.result is Result.FAILED
    assert first.error_kind == "auth"
    assert "Zone → DNS → Edit" in first.detail
    assert second.result is Result.APPLIED  # independent resource, reported as applied
    assert report.exit_code == 2
    assert [w.method for w in fake.writes] == ["POST", "PATCH"]  # the POST was not retried


def test_429_is_retried_after_retry_after_then_succeeds(
    fake: FakeAPIs, harness_factory: Any
) -> None:
    envelope = {"success": False, "errors": [{"code": 971, "message": "Please wait and consider "
                "throttling your request speed"}], "messages": [], "result": None}  # fmt: skip
    fake.inject("GET", "dns_records$", 429, envelope, headers={"Retry-After": "7"})
    harness = harness_factory()

    report = harness.reconciler.reconcile()

    assert report.exit_code == 0
    assert harness.sleeps == [7.0]
    assert reads(fake).count(RECORDS_READ) == 2
    assert writes(fake)[0] == ("POST", RECORDS, a_body())


def test_cname_appearing_between_read_and_create_reports_the_api_conflict(
    fake: FakeAPIs, harness_factory: Any
) -> None:
    fake.inject(
        "POST", "dns_records$", 400,
        {"success": False, "errors": [{"code": 81053, "message": "An A, AAAA, or CNAME "
         "record with that host already exists."}], "messages": [], "result": None},
    )  # fmt: skip

    report = harness_factory().reconciler.reconcile()

    assert report.outcomes[0].result is Result.REFUSED
    assert report.outcomes[0].error_kind == "conflict"
    assert [w.method for w in fake.writes] == ["POST", "PATCH"]  # no retry, no delete
    assert report.exit_code == 1


def test_a_retried_post_that_landed_twice_converges_on_81058(
    fake: FakeAPIs, harness_factory: Any
) -> None:
    # The first POST is applied but its answer is lost in a 502: the retry meets 81058.
    fake.inject("POST", "dns_records$", 502, {"success": False, "errors": []},
                after_apply=True)  # fmt: skip

    report = harness_factory().reconciler.reconcile()

    assert report.outcomes[0].result is Result.APPLIED
    assert "81058" in report.outcomes[0].detail
    assert [r.method for r in fake.requests if r.path == RECORDS] == ["GET", "POST", "POST", "GET"]
    assert len([r for r in fake.records.values() if r["type"] == "A"]) == 1
    assert report.exit_code == 0


def _edit_after_first_read(fake: FakeAPIs, record_id: str, **changes: Any) -> None:
    """Someone edits the record right after our plan read it."""
    done: list[bool] = []

    def hook(seen: Any) -> None:
        if not done and seen.method == "GET" and seen.path == RECORDS:
            done.append(True)
            if changes.get("deleted"):
                del fake.records[record_id]
            else:
                fake.records[record_id].update(changes)

    fake.after_request.append(hook)


@pytest.mark.parametrize(
    ("edit", "what"),
    [
        ({"content": "100.90.9.9"}, "content, modification time"),
        ({"comment": "taken over by alice"}, "comment, modification time"),
        ({}, "modification time"),  # edited and put back: the time still tells
        ({"deleted": True}, "deleted"),
    ],
    ids=["content", "comment", "modified-only", "deleted"],
)
def test_a_record_changed_since_the_plan_is_not_overwritten(
    fake: FakeAPIs, harness_factory: Any, edit: dict[str, Any], what: str
) -> None:
    """Today's main PUT over whatever was there by then."""
    record_id = seed_in_sync(fake)
    fake.devices[0]["addresses"] = ["100.100.1.2", TS_IP6]  # so an update is planned
    if not edit.get("deleted"):
        edit = {**edit, "modified_on": "2026-11-21T12:00:05Z"}
    _edit_after_first_read(fake, record_id, **edit)
    before = dict(fake.records.get(record_id, {}))

    report = harness_factory().reconciler.reconcile()

    assert actions(report)[0] == ("a_record", "update", "refused")
    assert report.outcomes[0].error_kind == "refused"  # the metrics contract's kind
    assert report.exit_code == 1
    assert [str(r) for r in fake.requests] == [
        f"GET {DEVICES}", f"GET {ZONES}", f"GET {RECORDS}", f"GET {SPLIT}", f"GET {RECORDS}",
    ]  # fmt: skip
    assert fake.writes == []
    if not edit.get("deleted"):
        assert fake.records[record_id] == {**before, **edit}
    assert what in report.lines()[0]
    assert "nothing written; run again" in report.lines()[0]


def test_an_unchanged_record_is_read_again_then_updated(
    fake: FakeAPIs, harness_factory: Any
) -> None:
    record_id, report = reconcile_a_moved_device(fake, harness_factory)

    assert report.exit_code == 0
    assert [str(r) for r in fake.requests] == [
        f"GET {DEVICES}", f"GET {ZONES}", f"GET {RECORDS}", f"GET {SPLIT}", f"GET {RECORDS}",
        f"PUT {RECORDS}/{record_id}",
    ]  # fmt: skip
