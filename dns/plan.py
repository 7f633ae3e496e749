"""Pure stages: desired state from settings and the tailnet address, and the plan (diff).

Nothing here does I/O or reads the clock except through its parameters, so every rule
(ownership, conflicts, target safety, normalisation) is tested without a network.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import TypedDict

from trashmonitor.dns.model import (
    TAILNET_IPV4,
    TAILNET_IPV6,
    TTL_AUTO,
    CreateRecord,
    CreateSplitDNS,
    DesiredRecord,
    DesiredSplitDNS,
    DesiredState,
    DeviceSelector,
    DNSRecord,
    InSync,
    ObservedState,
    PlannedChange,
    Refused,
    Resource,
    TailnetDevice,
    UpdateRecord,
    UpdateSplitDNS,
)
from trashmonitor.errors import DeviceChoiceError

# A/AAAA cannot share a name with a CNAME (RFC 1034 §3.6.2); NS at the name means the
# name is delegated elsewhere, so a record here would never be served.
CONFLICTING_TYPES = frozenset({"CNAME", "NS"})

DNS_ZONE_NOT_OURS = "DNS_ZONE's split DNS entry belongs to someone else (--adopt)"

RESOURCE_OF_TYPE = {"A": Resource.A_RECORD, "AAAA": Resource.AAAA_RECORD}


class _Line(TypedDict):
    """What every planned change says, whatever its variant."""

    resource: Resource
    name: str
    old: str
    new: str


def normalise_name(name: str) -> str:
    return name.strip().rstrip(".").lower()


def describe_record(type_: str, content: str, ttl: int, proxied: bool) -> str:
    ttl_text = "auto" if ttl == TTL_AUTO else str(ttl)
    return f"{type_} {content} ttl={ttl_text} proxied={str(proxied).lower()}"


def describe_resolvers(resolvers: Sequence[str] | None) -> str:
    return ",".join(resolvers) if resolvers else "(none)"


def desired_state(
    *,
    hostname: str,
    zone: str,
    ttl: int,
    ipv4: ipaddress.IPv4Address,
    ipv6: ipaddress.IPv6Address | None,
    resolvers: Sequence[str] | None,
) -> DesiredState:
    """What should exist. ``ipv6`` None: no AAAA; ``resolvers`` None: split DNS unmanaged."""
    records = [DesiredRecord("A", normalise_name(hostname), ipv4, ttl)]
    if ipv6 is not None:
        records.append(DesiredRecord("AAAA", normalise_name(hostname), ipv6, ttl))
    split = DesiredSplitDNS(normalise_name(zone), tuple(resolvers)) if resolvers else None
    return DesiredState(tuple(records), split)


def magicdns_suffix(name: str) -> str:
    """``host.tail1234.ts.net`` → ``tail1234.ts.net`` ("" for a bare label)."""
    return normalise_name(name).partition(".")[2]


def tailnet_suffix(devices: Sequence[TailnetDevice]) -> str:
    """The one MagicDNS suffix every listed device shares; DeviceChoiceError otherwise
    (devices shared in from other tailnets carry theirs, and could carry our short name)."""
    suffixes = sorted({magicdns_suffix(d.name) for d in devices if d.name})
    if len(suffixes) != 1 or not suffixes[0]:
        found = ", ".join(suffixes) or "none"
        raise DeviceChoiceError(
            f"the tailnet's MagicDNS suffix is not known and the devices show {found}; "
            "set TS_HOSTNAME to the device's full MagicDNS name (host.tailXXXX.ts.net)"
        )
    return suffixes[0]


def wanted_magicdns_name(selector: DeviceSelector, devices: Sequence[TailnetDevice]) -> str | None:
    if not selector.magicdns_name:
        return None
    name = normalise_name(selector.magicdns_name)
    if "." in name:
        return name
    return f"{name}.{normalise_name(selector.suffix or tailnet_suffix(devices))}"


def selector_matches(
    device: TailnetDevice, selector: DeviceSelector, full_name: str | None
) -> bool:
    """Every criterion given holds. The OS hostname is never looked at: any machine can
    call itself anything, while the MagicDNS name, node id and tags are the control
    server's."""
    if full_name is not None and normalise_name(device.name) != full_name:
        return False
    if selector.node_id and selector.node_id not in (device.node_id, device.device_id):
        return False
    return not selector.tag or selector.tag in device.tags


def choose_device(
    devices: Sequence[TailnetDevice], selector: DeviceSelector, *, now: float, max_age: float
) -> TailnetDevice:
    """The one device ``selector`` names; DeviceChoiceError says why there is not one.

    A device that is neither connected nor seen within ``max_age`` seconds is refused:
    its address may belong to nobody by the time resolvers see it.
    """
    if not (selector.magicdns_name or selector.node_id or selector.tag):
        raise DeviceChoiceError("no device given (TS_HOSTNAME, TS_DEVICE_ID or TS_DEVICE_TAG)")
    full_name = wanted_magicdns_name(selector, devices)
    wanted = DeviceSelector(full_name, None, selector.node_id, selector.tag).describe()
    matches = [d for d in devices if selector_matches(d, selector, full_name)]
    if not matches:
        raise DeviceChoiceError(f"no tailnet device has {wanted}")
    if len(matches) > 1:
        names = ", ".join(sorted(f"{d.name or d.hostname} ({d.device_id})" for d in matches))
        raise DeviceChoiceError(f"{len(matches)} tailnet devices match {wanted}: {names}")
    device = matches[0]
    label = device.name or device.device_id
    if device.connected is not True:
        if device.last_seen is None:
            raise DeviceChoiceError(f"tailnet device {label!r} was never seen online", stale=True)
        age = now - device.last_seen
        if age > max_age:
            raise DeviceChoiceError(
                f"tailnet device {label!r} was last seen {age:.0f}s ago (more than {max_age:.0f}s)",
                stale=True,
            )
    if device.ipv4 is None:
        raise DeviceChoiceError(f"tailnet device {label!r} has no IPv4 address")
    return device


def plan(
    desired: DesiredState,
    observed: ObservedState,
    *,
    adopt: bool = False,
    allow_public_target: bool = False,
) -> tuple[PlannedChange, ...]:
    """One change per desired resource, in a stable order (records, then split DNS)."""
    changes: list[PlannedChange] = [
        _plan_record(want, observed.records, adopt=adopt, allow_public=allow_public_target)
        for want in desired.records
    ]
    if desired.split_dns is not None:
        split = _plan_split_dns(desired.split_dns, observed.split_dns or {}, adopt=adopt)
        if isinstance(split, Refused):
            # DNS_ZONE is routed elsewhere on the tailnet: the whole setup is someone
            # else's, so this run writes nothing at all.
            changes = [_not_written(c) for c in changes]
        changes.append(split)
    return tuple(changes)


def _not_written(change: PlannedChange) -> PlannedChange:
    if not change.writes:
        return change
    return Refused(
        resource=change.resource,
        name=change.name,
        old=change.old,
        new=change.new,
        reason=f"not written: {DNS_ZONE_NOT_OURS}",
    )


def values_match(record: DNSRecord, want: DesiredRecord) -> bool:
    """Equal after normalisation: addresses compared as addresses, not strings."""
    try:
        same_address = ipaddress.ip_address(record.content.strip()) == want.address
    except ValueError:
        same_address = False
    return (
        same_address
        and record.ttl == want.ttl
        and record.proxied is want.proxied
        and normalise_name(record.name) == want.name
    )


def record_matches(record: DNSRecord, want: DesiredRecord) -> bool:
    """In sync: the values match and the record carries our ownership marker."""
    return record.owned and values_match(record, want)


def _target_problem(want: DesiredRecord) -> str | None:
    network = TAILNET_IPV4 if want.type == "A" else TAILNET_IPV6
    if want.address in network:
        return None
    return f"target {want.address} is outside the tailnet range {network}"


def _plan_record(
    want: DesiredRecord, observed: Sequence[DNSRecord], *, adopt: bool, allow_public: bool
) -> PlannedChange:
    at_name = [r for r in observed if normalise_name(r.name) == want.name]
    same_type = [r for r in at_name if r.type == want.type]
    line: _Line = {
        "resource": RESOURCE_OF_TYPE[want.type],
        "name": want.name,
        "old": "; ".join(describe_record(r.type, r.content, r.ttl, r.proxied) for r in same_type)
        or "(none)",
        "new": describe_record(want.type, str(want.address), want.ttl, want.proxied),
    }
    conflicts = [r for r in at_name if r.type in CONFLICTING_TYPES]
    if conflicts:
        found = ", ".join(f"{r.type} {r.content}" for r in conflicts)
        reason = f"conflict: {found} at this name; not deleted"
        return Refused(**line, reason=reason, kind="conflict")
    if not allow_public and (problem := _target_problem(want)):
        return Refused(**line, reason=f"{problem}; use --allow-public-target")
    if not same_type:
        return CreateRecord(**line, desired=want)
    if len(same_type) > 1:
        reason = f"{len(same_type)} {want.type} records at this name; one is managed, remove extras"
        return Refused(**line, reason=reason)
    return _plan_one_record(same_type[0], want, line, adopt=adopt)


def _plan_one_record(
    record: DNSRecord, want: DesiredRecord, line: _Line, *, adopt: bool
) -> PlannedChange:
    if record_matches(record, want):
        return InSync(**line)
    if record.owned:
        return UpdateRecord(**line, desired=want, current=record)
    if adopt:
        return UpdateRecord(
            **line, reason="adopting a foreign record", desired=want, current=record
        )
    if values_match(record, want):
        # Resolves right already; not ours to rewrite, and not drift either.
        return InSync(**line, reason="not owned by trashmonitor; --adopt to manage it")
    reason = "not owned by trashmonitor (no ownership comment); use --adopt"
    return Refused(**line, reason=reason)


def zone_entry(split: Mapping[str, Sequence[str] | None], zone: str) -> frozenset[str]:
    """The resolvers ``split`` routes ``zone`` to (names compared normalised)."""
    entries = (rs or () for domain, rs in split.items() if normalise_name(domain) == zone)
    return frozenset(r.strip() for resolvers in entries for r in resolvers)


def _plan_split_dns(
    want: DesiredSplitDNS, observed: Mapping[str, Sequence[str] | None], *, adopt: bool
) -> PlannedChange:
    current = zone_entry(observed, want.zone)
    shown = [r for domain, rs in observed.items() if normalise_name(domain) == want.zone
             for r in rs or ()]  # fmt: skip
    line: _Line = {
        "resource": Resource.SPLIT_DNS,
        "name": want.zone,
        "old": describe_resolvers(shown),
        "new": describe_resolvers(want.resolvers),
    }
    if not current:
        return CreateSplitDNS(**line, desired=want)
    if current == set(want.resolvers):
        return InSync(**line)
    if adopt:
        reason = "adopting another entry for this zone"
        return UpdateSplitDNS(**line, reason=reason, desired=want, current=current)
    # Split DNS applies tailnet-wide: other resolvers for this zone are someone else's
    # routing, and replacing them breaks every device that relies on it.
    reason = (
        f"split DNS for {want.zone} already points at other resolvers "
        "(someone else's entry); nothing written; use --adopt to replace it"
    )
    return Refused(**line, reason=reason)
