"""dns/observe.py: the device whose address is published (its MagicDNS name, a pinned
node id or tag, never an OS hostname) and the providers' records, read before anything is
planned. Against the fake APIs, and with providers and device lists that do no I/O."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from support.dns_fake import FakeAPIs
from support.dns_world import (
    DEVICES,
    HOST,
    NOW,
    RECORDS,
    RESOLVERS,
    TS_IP,
    TS_IP6,
    ZONE,
    Recorder,
    a_body,
    default_settings,
    ip,
    recorders,
    writes,
)

from trashmonitor.dns.model import (
    DesiredRecord,
    DesiredSplitDNS,
    DNSRecord,
    ObservedState,
    Resource,
    TailnetDevice,
)
from trashmonitor.dns.observe import Observer
from trashmonitor.errors import ConfigError, TailnetDeviceError, TrashmonError


@pytest.mark.parametrize(
    ("devices", "expected"),
    [
        ([], "MagicDNS suffix is not known and the devices show none"),
        ([("trashmonitor", {}), ("trashmonitor", {"name": "trashmonitor.other.ts.net"})],
         "full MagicDNS name"),
        ([("trashmonitor", {"connectedToControl": False, "lastSeen": "2026-11-20T09:00:00Z"})],
         "last seen"),
    ],
    ids=["no-match", "shared-in-namesake", "stale"],
)  # fmt: skip
def test_device_problems_stop_before_anything_is_written(
    fake: FakeAPIs, harness_factory: Any, devices: list[tuple[str, dict[str, Any]]], expected: str
) -> None:
    fake.devices.clear()
    for hostname, fields in devices:
        fake.add_device(hostname, ["100.101.102.103"], **fields)

    report = harness_factory().reconciler.reconcile()

    assert report.error is not None
    assert expected in report.error.message
    assert report.error.message.startswith("TS_HOSTNAME")
    assert [str(r) for r in fake.requests] == [f"GET {DEVICES}"]
    assert report.exit_code in (1, 2)


def test_the_device_is_the_magicdns_name_not_an_os_hostname(
    fake: FakeAPIs, harness_factory: Any
) -> None:
    """Another machine calling itself "trashmonitor" (its MagicDNS name became
    trashmonitor-1) while ours is offline and pruned: today's main published its address."""
    fake.devices.clear()
    fake.add_device("trashmonitor", ["100.66.6.6"], name="trashmonitor-1.tail1234.ts.net")

    report = harness_factory().reconciler.reconcile()

    assert report.error is not None
    assert report.error.message == (
        "TS_HOSTNAME: no tailnet device has MagicDNS name 'trashmonitor.tail1234.ts.net'"
    )
    assert report.exit_code == 2
    assert [str(r) for r in fake.requests] == [f"GET {DEVICES}"]


def test_our_device_renamed_at_the_os_level_is_still_found_by_its_magicdns_name(
    fake: FakeAPIs, harness_factory: Any
) -> None:
    fake.devices.clear()
    fake.add_device("raspberrypi", [TS_IP], name="trashmonitor.tail1234.ts.net")
    fake.add_device("trashmonitor", ["100.66.6.6"], name="trashmonitor-1.tail1234.ts.net")

    report = harness_factory(magicdns_suffix="tail1234.ts.net").reconciler.reconcile()

    assert report.exit_code == 0
    assert writes(fake)[0] == ("POST", RECORDS, a_body())


@pytest.mark.parametrize(
    "overrides",
    [
        {"ts_hostname": None, "device_id": "nPINNED"},
        {"ts_hostname": None, "device_tag": "tag:dns"},
        {"device_id": "nPINNED", "device_tag": "tag:dns"},
    ],
    ids=["node-id", "tag", "name-and-id-and-tag"],
)
def test_a_pinned_node_id_or_tag_selects_the_device(
    fake: FakeAPIs, harness_factory: Any, overrides: dict[str, Any]
) -> None:
    fake.devices.clear()
    fake.add_device("decoy", ["100.66.6.6"], tags=["tag:laptop"])
    fake.add_device("trashmonitor", [TS_IP], tags=["tag:dns"], nodeId="nPINNED")

    report = harness_factory(**overrides).reconciler.reconcile()

    assert report.exit_code == 0
    assert writes(fake)[0] == ("POST", RECORDS, a_body())


def test_aaaa_flag_manages_the_tailnet_ipv6_too(fake: FakeAPIs, harness_factory: Any) -> None:
    report = harness_factory(aaaa=True).reconciler.reconcile()

    assert [str(o.change.resource) for o in report.outcomes] == [
        "a_record", "aaaa_record", "split_dns",
    ]  # fmt: skip
    assert [w.body for w in fake.writes if w.method == "POST"] == [
        a_body(), a_body(TS_IP6, "AAAA"),
    ]  # fmt: skip
    fake.clear()
    assert harness_factory(aaaa=True).reconciler.reconcile().in_sync
    assert fake.writes == []


# -- the Observer itself, with providers and device lists that do no I/O -------------------


def device(
    hostname: str = "trashmonitor",
    addresses: tuple[str, ...] = (TS_IP, TS_IP6),
    *,
    last_seen: float | None = NOW,
    connected: bool | None = True,
) -> TailnetDevice:
    name = f"{hostname}.tail1234.ts.net"
    return TailnetDevice("1", hostname, name, tuple(map(ip, addresses)), last_seen, connected)


class Devices:
    """A device list that counts how often it was asked for."""

    def __init__(self, *devices: TailnetDevice) -> None:
        self.devices = devices
        self.asked = 0

    def __call__(self) -> tuple[TailnetDevice, ...]:
        self.asked += 1
        return self.devices


def unread_records() -> Recorder:
    """A records provider that must not be read (the device decides first)."""
    return Recorder(frozenset({Resource.A_RECORD}), failure=TrashmonError("records were read"))


def test_without_a_target_or_a_way_to_find_the_device_there_is_no_observer() -> None:
    records, split = recorders()
    with pytest.raises(ConfigError, match=r"^TS_HOSTNAME: no way to look up the tailnet address"):
        Observer(default_settings(), records, split, None)
    with pytest.raises(ConfigError, match=r"^TS_HOSTNAME: no way to look up the tailnet address"):
        Observer(default_settings(ts_hostname=None), records, split, Devices(device()))


def test_the_observation_is_the_devices_address_and_what_the_providers_hold() -> None:
    held = DNSRecord("r1", "A", HOST, "100.90.0.1", 1, False, "set by alice")
    records = Recorder(frozenset({Resource.A_RECORD, Resource.AAAA_RECORD}), held=(held,))
    split = Recorder(frozenset({Resource.SPLIT_DNS}), held={"corp.internal": ("10.0.0.53",)})
    observer = Observer(default_settings(), records, split, Devices(device("laptop"), device()))

    desired, observed = observer.observe(NOW)

    assert desired.records == (DesiredRecord("A", HOST, ip(TS_IP), 1),)
    assert desired.split_dns == DesiredSplitDNS(ZONE, RESOLVERS)
    assert observed == ObservedState((held,), {"corp.internal": ("10.0.0.53",)})
    assert observer.providers == (records, split)  # records are written first


def test_without_split_dns_only_the_records_are_read_and_written() -> None:
    records, _ = recorders()
    observer = Observer(default_settings(), records, None, Devices(device()))

    desired, observed = observer.observe(NOW)

    assert desired.split_dns is None
    assert observed.split_dns is None
    assert observer.providers == (records,)


def test_a_fixed_target_is_published_without_asking_for_devices() -> None:
    records, split = recorders()
    devices = Devices(device())
    target = ipaddress.IPv4Address("100.64.0.5")
    observer = Observer(default_settings(target=target), records, split, devices)

    desired, _ = observer.observe(NOW)

    assert [record.address for record in desired.records] == [target]
    assert devices.asked == 0


def test_aaaa_needs_the_devices_ipv6_address() -> None:
    records, split = recorders()
    settings = default_settings(aaaa=True)

    with pytest.raises(ConfigError, match=r"^--aaaa: the tailnet device has no IPv6 address$"):
        Observer(settings, records, split, Devices(device(addresses=(TS_IP,)))).observe(NOW)
    desired, _ = Observer(settings, records, split, Devices(device())).observe(NOW)
    assert [(r.type, r.address) for r in desired.records] == [
        ("A", ip(TS_IP)), ("AAAA", ip(TS_IP6)),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("settings", "devices", "error", "message"),
    [
        ({}, [device(last_seen=NOW - 7200, connected=False)], TailnetDeviceError,
         "^TS_HOSTNAME: tailnet device 'trashmonitor.tail1234.ts.net' was last seen 7200s ago"),
        ({}, [device(last_seen=None, connected=None)], TailnetDeviceError,
         "^TS_HOSTNAME: .* was never seen online"),
        ({}, [device("laptop")], ConfigError,
         "^TS_HOSTNAME: no tailnet device has MagicDNS name 'trashmonitor.tail1234.ts.net'"),
        ({"ts_hostname": None, "device_id": "nGONE"}, [device()], ConfigError,
         "^TS_DEVICE_ID: no tailnet device has node id 'nGONE'"),
    ],
    ids=["stale", "never-seen", "no-such-name", "no-such-node-id"],
)  # fmt: skip
def test_a_device_gone_quiet_is_drift_and_one_that_is_not_there_is_bad_config(
    settings: dict[str, Any], devices: list[TailnetDevice], error: type[Exception], message: str
) -> None:
    """Stale: exit 1, try again later; missing: exit 2, the setting is wrong. Either way
    the one line names the setting and nothing else is read."""
    observer = Observer(default_settings(**settings), unread_records(), None, Devices(*devices))
    with pytest.raises(error, match=message) as raised:
        observer.observe(NOW)
    assert isinstance(raised.value, TrashmonError)
    assert raised.value.exit_code == (1 if error is TailnetDeviceError else 2)
