"""Pure stages: desired state, device choice, plan rules. No I/O."""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trashmonitor.dns.model import (
    OWNER_MARKER,
    Action,
    DesiredState,
    DeviceSelector,
    DNSRecord,
    ObservedState,
    PlannedChange,
    Refused,
    TailnetDevice,
    UpdateRecord,
)
from trashmonitor.dns.plan import choose_device, desired_state, plan
from trashmonitor.errors import DeviceChoiceError

NOW = 1_800_000_000.0
V4 = ipaddress.IPv4Address("100.101.102.103")
V6 = ipaddress.IPv6Address("fd7a:115c:a1e0::1234")


def desired(**overrides: Any) -> DesiredState:
    args: dict[str, Any] = {
        "hostname": "trashmonitor.example.com", "zone": "example.com", "ttl": 1,
        "ipv4": V4, "ipv6": None, "resolvers": ("1.0.0.1", "1.1.1.1"),
    }  # fmt: skip
    args.update(overrides)
    return desired_state(**args)


def record(type_: str = "A", content: str = str(V4), **fields: Any) -> DNSRecord:
    base = DNSRecord(
        record_id="r1", type=type_, name="trashmonitor.example.com", content=content,
        ttl=1, proxied=False, comment=OWNER_MARKER,
    )  # fmt: skip
    return dataclasses.replace(base, **fields)


def plan_for(
    *records: DNSRecord, split: dict[str, tuple[str, ...]] | None = None, **kw: bool
) -> tuple[PlannedChange, ...]:
    return plan(desired(), ObservedState(records, split), **kw)


def test_normalised_names_and_addresses_compare_equal() -> None:
    want = desired(hostname="TrashMonitor.Example.COM.", ipv6=V6)
    observed = ObservedState(
        (
            record(name="trashmonitor.example.com"),
            record("AAAA", "FD7A:115C:A1E0:0:0:0:0:1234", record_id="r2"),
        ),
        {"Example.com.": ("1.1.1.1", "1.0.0.1")},
    )
    changes = plan(want, observed)
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
def test_record_rules(fields: dict[str, Any], action: Action) -> None:
    change = plan_for(record(**fields))[0]
    assert change.action is action
    if action is Action.UPDATE:
        assert isinstance(change, UpdateRecord)
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
    assert change.reason.startswith(f"conflict: {conflicting} elsewhere.example.net")
    assert isinstance(change, Refused)
    assert change.kind == "conflict"


def test_other_types_at_the_name_coexist() -> None:
    change = plan_for(record("TXT", "hello", comment=""), record(record_id="r2"))[0]
    assert change.action is Action.OK


def test_public_target_refused_unless_allowed() -> None:
    want = desired(ipv4=ipaddress.IPv4Address("192.0.2.1"))
    observed = ObservedState((), {})
    assert plan(want, observed)[0].action is Action.REFUSE
    assert plan(want, observed, allow_public_target=True)[0].action is Action.CREATE


def test_no_resolvers_means_split_dns_is_not_planned() -> None:
    changes = plan(desired(resolvers=None), ObservedState((), None))
    assert [str(c.resource) for c in changes] == ["a_record"]


def device(name: str, *, seen: float | None = NOW, connected: bool | None = None,
           addresses: tuple[str, ...] = (str(V4),), hostname: str | None = None,
           node_id: str = "", tags: tuple[str, ...] = ()) -> TailnetDevice:  # fmt: skip
    return TailnetDevice(
        device_id=name,
        hostname=name.split(".", maxsplit=1)[0].upper() if hostname is None else hostname,
        name=name, addresses=tuple(ipaddress.ip_address(a) for a in addresses),
        last_seen=seen, connected=connected, node_id=node_id, tags=tags,
    )  # fmt: skip


def by_name(name: str, suffix: str | None = None) -> DeviceSelector:
    return DeviceSelector(magicdns_name=name, suffix=suffix)


def test_device_found_by_its_magicdns_name_case_insensitively() -> None:
    devices = [device("laptop.tail.ts.net"), device("trashmonitor.tail.ts.net")]
    chosen = choose_device(devices, by_name("trashmonitor"), now=NOW, max_age=60)
    assert chosen.name == "trashmonitor.tail.ts.net"
    chosen = choose_device(devices, by_name("TrashMonitor.tail.ts.net."), now=NOW, max_age=60)
    assert chosen.device_id == "trashmonitor.tail.ts.net"
    chosen = choose_device(devices, by_name("TRASHMONITOR", "Tail.ts.net"), now=NOW, max_age=60)
    assert chosen.device_id == "trashmonitor.tail.ts.net"


def test_an_os_hostname_never_selects_a_device() -> None:
    """Any machine can call itself "trashmonitor": only the MagicDNS name counts. Today's
    main matched the impostor (its OS hostname) and published its address."""
    impostor = device("trashmonitor-1.tail.ts.net", hostname="trashmonitor")
    with pytest.raises(DeviceChoiceError, match="no tailnet device has MagicDNS name"):
        choose_device([impostor], by_name("trashmonitor"), now=NOW, max_age=60)
    real = device("trashmonitor.tail.ts.net", hostname="raspberrypi")
    chosen = choose_device([impostor, real], by_name("trashmonitor"), now=NOW, max_age=60)
    assert chosen is real


def test_a_device_shared_in_from_another_tailnet_is_not_ours() -> None:
    """A shared-in device carries its own tailnet's suffix: with the suffix known it
    never matches; with only a short name the suffix is ambiguous and nothing is chosen."""
    ours = device("laptop.tail.ts.net")
    shared = device("trashmonitor.other.ts.net")
    with pytest.raises(DeviceChoiceError, match="no tailnet device"):
        choose_device([ours, shared], by_name("trashmonitor", "tail.ts.net"), now=NOW, max_age=60)
    with pytest.raises(DeviceChoiceError, match="full MagicDNS name"):
        choose_device([ours, shared], by_name("trashmonitor"), now=NOW, max_age=60)


def test_a_pinned_node_id_or_tag_selects_and_every_given_criterion_must_hold() -> None:
    server = device("trashmonitor.tail.ts.net", node_id="nSERVER", tags=("tag:dns",))
    other = device("laptop.tail.ts.net", node_id="nLAPTOP", tags=("tag:laptop",))
    pick = choose_device
    assert pick([server, other], DeviceSelector(node_id="nSERVER"), now=NOW, max_age=60) is server
    assert pick([server, other], DeviceSelector(tag="tag:dns"), now=NOW, max_age=60) is server
    both = DeviceSelector(magicdns_name="laptop", node_id="nSERVER")
    with pytest.raises(DeviceChoiceError, match="no tailnet device"):
        pick([server, other], both, now=NOW, max_age=60)
    twins = [server, device("t2.tail.ts.net", tags=("tag:dns",))]
    with pytest.raises(DeviceChoiceError, match="2 tailnet devices match tag 'tag:dns'"):
        pick(twins, DeviceSelector(tag="tag:dns"), now=NOW, max_age=60)
    with pytest.raises(DeviceChoiceError, match="no device given"):
        pick([server], DeviceSelector(), now=NOW, max_age=60)


@given(
    short=st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
    hostnames=st.lists(st.from_regex(r"[A-Za-z0-9-]{1,20}", fullmatch=True), max_size=5),
)
def test_whatever_os_hostnames_say_only_the_magicdns_name_decides(
    short: str, hostnames: list[str]
) -> None:
    devices = [
        device(f"{short}-{i}.tail.ts.net", hostname=h) for i, h in enumerate([short, *hostnames])
    ]
    real = device(f"{short}.tail.ts.net", hostname=hostnames[0] if hostnames else "x")
    assert choose_device([*devices, real], by_name(short), now=NOW, max_age=60) is real
    with pytest.raises(DeviceChoiceError):
        choose_device(devices, by_name(short), now=NOW, max_age=60)


@pytest.mark.parametrize(
    ("devices", "message"),
    [
        ([device("laptop.tail.ts.net")], "no tailnet device"),
        ([device("trashmonitor.a.ts.net"), device("trashmonitor.b.ts.net")], "full MagicDNS"),
        ([device("trashmonitor.t.ts.net", seen=NOW - 7200)], "last seen 7200s ago"),
        ([device("trashmonitor.t.ts.net", seen=None)], "never seen"),
        ([device("trashmonitor.t.ts.net", addresses=(str(V6),))], "no IPv4"),
    ],
    ids=["none", "several-suffixes", "stale", "never", "no-ipv4"],
)
def test_device_problems(devices: list[TailnetDevice], message: str) -> None:
    with pytest.raises(DeviceChoiceError, match=message):
        choose_device(devices, by_name("trashmonitor"), now=NOW, max_age=3600)


def test_connected_device_is_fresh_whatever_last_seen_says() -> None:
    old = device("trashmonitor.t.ts.net", seen=NOW - 86400, connected=True)
    assert choose_device([old], by_name("trashmonitor"), now=NOW, max_age=60) is old


# -- ownership: the comment IS the marker -------------------------------------------------


@pytest.mark.parametrize(
    "comment",
    [
        "NOT managed-by: trashmonitor",
        "managed-by: trashmonitor-staging",
        "managed-by: trashmonitor; do not edit by hand",
        " managed-by: trashmonitor",
        "managed-by: trashmonitor\n",
        "Managed-By: TrashMonitor",
        "managed-by:trashmonitor",
        "",
    ],
)
def test_a_comment_that_merely_contains_the_marker_is_not_ours(comment: str) -> None:
    """Today's main took every comment containing the marker as ours and rewrote it."""
    assert not record(comment=comment).owned
    change = plan_for(record(comment=comment, content="100.64.0.9"))[0]
    assert change.action is Action.REFUSE
    assert "not owned by trashmonitor" in change.reason


# -- split DNS: an entry with other resolvers is someone else's -------------------------


def test_split_dns_with_other_resolvers_is_refused_and_nothing_is_written() -> None:
    changes = plan_for(split={"example.com": ("10.1.1.53",)})
    assert [c.action for c in changes] == [Action.REFUSE, Action.REFUSE]
    assert "someone else's" in changes[1].reason
    assert changes[1].old == "10.1.1.53"
    assert changes[0].reason.startswith("not written: DNS_ZONE's split DNS entry")


def test_adopt_replaces_another_split_dns_entry() -> None:
    changes = plan_for(split={"example.com": ("10.1.1.53",)}, adopt=True)
    assert [c.action for c in changes] == [Action.CREATE, Action.UPDATE]


def test_a_record_that_is_in_sync_stays_ok_when_split_dns_is_refused() -> None:
    changes = plan_for(record(), split={"example.com": ("10.1.1.53",)})
    assert [c.action for c in changes] == [Action.OK, Action.REFUSE]
