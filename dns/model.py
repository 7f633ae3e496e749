"""Typed values the reconciler passes between its stages. All frozen: observers build
them, pure functions read them, nothing mutates them behind another stage's back."""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass, field

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloudflare stores "automatic" TTL as 1; normalising to it keeps auto == auto.
TTL_AUTO = 1

# The one ownership marker: a Cloudflare record comment (see docs/dns.md, "Ownership").
# A record is ours when its comment IS the marker, byte for byte: a comment that merely
# contains it ("NOT managed-by: trashmonitor", "managed-by: trashmonitor-old") is not.
OWNER_MARKER = "managed-by: trashmonitor"


def is_owner_marker(comment: str | None) -> bool:
    return comment == OWNER_MARKER


TAILNET_IPV4 = ipaddress.IPv4Network("100.64.0.0/10")
TAILNET_IPV6 = ipaddress.IPv6Network("fd7a:115c:a1e0::/48")


class Resource(enum.StrEnum):
    """The ``resource`` label of the metrics and the first word of each output line."""

    A_RECORD = "a_record"
    AAAA_RECORD = "aaaa_record"
    SPLIT_DNS = "split_dns"


class Action(enum.StrEnum):
    OK = "ok"
    CREATE = "create"
    UPDATE = "update"
    REFUSE = "refuse"
    SKIP = "skip"


class Result(enum.StrEnum):
    """What happened to a planned action when the plan was applied."""

    NOTHING_TO_DO = "nothing to do"
    APPLIED = "applied"
    DRY_RUN = "dry run, not applied"
    REFUSED = "refused"
    FAILED = "failed"


@dataclass(frozen=True)
class DNSRecord:
    """A Cloudflare record as observed, normalised (lower-case name, no trailing dot)."""

    record_id: str
    type: str
    name: str
    content: str
    ttl: int
    proxied: bool
    comment: str
    modified_on: str = ""  # Cloudflare's modification time, compared only for equality

    @property
    def owned(self) -> bool:
        return is_owner_marker(self.comment)


@dataclass(frozen=True)
class DesiredRecord:
    type: str
    name: str
    address: IPAddress
    ttl: int
    comment: str = OWNER_MARKER
    proxied: bool = False


@dataclass(frozen=True)
class DesiredSplitDNS:
    zone: str
    resolvers: tuple[str, ...]


@dataclass(frozen=True)
class TailnetDevice:
    """One device of the tailnet, as the devices API (or ``tailscale status``) shows it."""

    device_id: str
    hostname: str  # the OS hostname: chosen by the machine itself, never trusted
    name: str  # the MagicDNS FQDN, assigned by the coordination server, unique per tailnet
    addresses: tuple[IPAddress, ...]
    last_seen: float | None  # epoch seconds
    connected: bool | None  # None when the source does not say
    node_id: str = ""  # the stable node id ("n…CNTRL"); device_id may be the legacy id
    tags: tuple[str, ...] = ()

    @property
    def ipv4(self) -> ipaddress.IPv4Address | None:
        return next((a for a in self.addresses if isinstance(a, ipaddress.IPv4Address)), None)

    @property
    def ipv6(self) -> ipaddress.IPv6Address | None:
        return next((a for a in self.addresses if isinstance(a, ipaddress.IPv6Address)), None)


@dataclass(frozen=True)
class DeviceSelector:
    """Which tailnet device's address is published. Every criterion given must hold.

    ``magicdns_name`` is the device's MagicDNS FQDN; when only a short name is known
    (``suffix`` None) the tailnet's suffix is taken from the device list itself.
    """

    magicdns_name: str | None = None
    suffix: str | None = None
    node_id: str | None = None
    tag: str | None = None

    def describe(self) -> str:
        parts = []
        if self.magicdns_name:
            full = f"{self.magicdns_name}.{self.suffix}" if self.suffix else self.magicdns_name
            parts.append(f"MagicDNS name {full!r}")
        if self.node_id:
            parts.append(f"node id {self.node_id!r}")
        if self.tag:
            parts.append(f"tag {self.tag!r}")
        return " and ".join(parts) or "nothing"


@dataclass(frozen=True)
class DesiredState:
    records: tuple[DesiredRecord, ...]
    split_dns: DesiredSplitDNS | None  # None: split DNS is not managed in this run


@dataclass(frozen=True)
class ObservedState:
    zone_id: str
    records: tuple[DNSRecord, ...]  # every record at the hostname, any type
    split_dns: dict[str, tuple[str, ...]] | None = field(default=None, hash=False)


@dataclass(frozen=True)
class PlannedChange:
    """One line of the plan: what a resource is, what it should be, and what to do."""

    resource: Resource
    name: str
    action: Action
    old: str
    new: str
    reason: str = ""
    record_id: str | None = None  # the record an update rewrites
    desired_record: DesiredRecord | None = None
    desired_split: DesiredSplitDNS | None = None

    @property
    def writes(self) -> bool:
        return self.action in (Action.CREATE, Action.UPDATE)


@dataclass(frozen=True)
class Outcome:
    change: PlannedChange
    result: Result
    detail: str = ""
    error_kind: str | None = None  # metrics label when result is FAILED or REFUSED
