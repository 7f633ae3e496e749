"""Pure stages: desired state, device choice, plan rules, retry arithmetic. No I/O."""

from __future__ import annotations

import ipaddress

import pytest
from trashmonitor.dns.model import OWNER_MARKER, Action, DNSRecord, ObservedState, TailnetDevice
from trashmonitor.dns.plan import choose_device, desired_state, plan
from trashmonitor.dns.retry import RetryPolicy, TransientAPIError, parse_retry_after

NOW = 1_800_000_000.0
V4 = ipaddress.IPv4Address("100.101.102.103")
V6 = ipaddress.IPv6Address("fd7a:115c:a1e0::1234")


def desired(**overrides: object) -> object:
    args: dict[str, object] = {
        "hostname": "trashmonitor.example.com", "zone": "example.com", "ttl": 1,
        "ipv4": V4, "ipv6": None, "resolvers": ("1.0.0.1", "1.1.1.1"),
    }  # fmt: skip
    args.update(overrides)
    return desired_state(**args)  # type: ignore[arg-type]


def record(type_: str = "A", content: str = str(V4), **fields: object) -> DNSRecord:
    values: dict[str, object] = {
        "record_id": "r1", "type": type_, "name": "trashmonitor.example.com",
        "content": content, "ttl": 1, "proxied": False, "comment": OWNER_MARKER,
    }  # fmt: skip
    values.update(fields)
    return DNSRecord(**values)  # type: ignore[arg-type]


def plan_for(*records: DNSRecord, split: dict[str, tuple[str, ...]] | None = None, **kw: bool):  # type: ignore[no-untyped-def]
    return plan(desired(), ObservedState("z", records, split), **kw)  # type: ignore[arg-type]


def test_normalised_names_and_addresses_compare_equal() -> None:
    want = desired(hostname="TrashMonitor.Example.COM.", ipv6=V6)
    observed = ObservedState(
        "z",
        (
            record(name="trashmonitor.example.com"),
            record("AAAA", "FD7A:115C:A1E0:0:0:0:0:1234", record_id="r2"),
        ),
        {"Example.com.": ("1.1.1.1", "1.0.0.1")},
    )
    changes = plan(want, observed)  # type: ignore[arg-type]
    assert [c.action for c in changes] == [Action.OK, Action.OK, Action.OK]


@pytest.mark.parametrize(
    ("fields", "action"),
    [
        ({"ttl": 300}, Action.UPDATE),
        ({"proxied": True}, Action.UPDATE),
        ({"content": "100.64.0.9"}, Action.UPDATE),
        ({"comment": "hand made", "content": "100.64.0.9"}, Action.REFUSE),
        ({"comment": "hand made", "content": str(V4)}, Action.OK),
    ],
    ids=["ttl", "proxied", "address", "foreign-different", "foreign-same"],
)
def test_record_rules(fields: dict[str, object], action: Action) -> None:
    change = plan_for(record(**fields))[0]
    assert change.action is action
    if action is Action.UPDATE:
        assert change.record_id == "r1"


def test_adopt_turns_a_foreign_refusal_into_an_update() -> None:
    change = plan_for(record(comment="", content="100.64.0.9"), adopt=True)[0]
    assert change.action is Action.UPDATE
    assert change.reason == "adopting a foreign record"


def test_several_a_records_are_refused_not_pruned() -> None:
    change = plan_for(record(), record(content="100.64.0.9", record_id="r2"))[0]
    assert change.action is Action.REFUSE
    assert "2 A records" in change.reason


@pytest.mark.parametrize("conflicting", ["CNAME", "NS"])
def test_cname_or_ns_at_the_name_is_a_conflict(conflicting: str) -> None:
    change = plan_for(record(conflicting, "elsewhere.example.net"))[0]
    assert change.action is Action.REFUSE
    assert change.reason.startswith("conflict (code 81053)")


def test_other_types_at_the_name_coexist() -> None:
    change = plan_for(record("TXT", "hello", comment=""), record(record_id="r2"))[0]
    assert change.action is Action.OK


def test_public_target_refused_unless_allowed() -> None:
    want = desired(ipv4=ipaddress.IPv4Address("192.0.2.1"))
    observed = ObservedState("z", (), {})
    assert plan(want, observed)[0].action is Action.REFUSE  # type: ignore[arg-type]
    assert plan(want, observed, allow_public_target=True)[0].action is Action.CREATE  # type: ignore[arg-type]


def test_no_resolvers_means_split_dns_is_not_planned() -> None:
    changes = plan(desired(resolvers=None), ObservedState("z", (), None))  # type: ignore[arg-type]
    assert [str(c.resource) for c in changes] == ["a_record"]


def device(name: str, *, seen: float | None = NOW, connected: bool | None = None,
           addresses: tuple[str, ...] = (str(V4),)) -> TailnetDevice:  # fmt: skip
    return TailnetDevice(
        device_id=name, hostname=name.split(".", maxsplit=1)[0].upper(), name=name,
        addresses=tuple(ipaddress.ip_address(a) for a in addresses),
        last_seen=seen, connected=connected,
    )  # fmt: skip


def test_device_found_by_hostname_or_magicdns_name_case_insensitively() -> None:
    devices = [device("laptop.tail.ts.net"), device("trashmonitor.tail.ts.net")]
    assert choose_device(devices, "trashmonitor", now=NOW, max_age=60).name.startswith("trash")
    chosen = choose_device(devices, "TrashMonitor.tail.ts.net", now=NOW, max_age=60)
    assert chosen.device_id == "trashmonitor.tail.ts.net"


@pytest.mark.parametrize(
    ("devices", "message"),
    [
        ([device("laptop.tail.ts.net")], "no tailnet device"),
        ([device("trashmonitor.a.ts.net"), device("trashmonitor.b.ts.net")], "2 tailnet devices"),
        ([device("trashmonitor.t.ts.net", seen=NOW - 7200)], "last seen 7200s ago"),
        ([device("trashmonitor.t.ts.net", seen=None)], "never seen"),
        ([device("trashmonitor.t.ts.net", addresses=(str(V6),))], "no IPv4"),
    ],
    ids=["none", "several", "stale", "never", "no-ipv4"],
)
def test_device_problems(devices: list[TailnetDevice], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        choose_device(devices, "trashmonitor", now=NOW, max_age=3600)


def test_connected_device_is_fresh_whatever_last_seen_says() -> None:
    old = device("trashmonitor.t.ts.net", seen=NOW - 86400, connected=True)
    assert choose_device([old], "trashmonitor", now=NOW, max_age=60) is old


def test_retry_after_parsing() -> None:
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("Thu, 01 Jan 2026 00:01:00 GMT", now=1767225600.0) == 60.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_retry_gives_up_at_once_when_retry_after_exceeds_the_cap() -> None:
    sleeps: list[float] = []
    calls: list[int] = []

    def always_limited() -> None:
        calls.append(1)
        raise TransientAPIError("limited", status_code=429, kind="rate_limited", retry_after=900)

    policy = RetryPolicy(attempts=5, max_wait=60, sleep=sleeps.append)
    with pytest.raises(TransientAPIError):
        policy.call("x", always_limited)
    assert calls == [1]
    assert sleeps == []


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=3.0, jitter=lambda: 0.5)
    assert [policy.delay(n, None) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 3.0]
