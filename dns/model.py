"""Typed values the reconciler passes between its stages. All frozen: observers build
them, pure functions read them, nothing mutates them behind another stage's back.

A planned change is one of six variants (:data:`PlannedChange`): each carries exactly
what its stage needs (an update the record it rewrites, a split-DNS write the entry it
replaces), so no stage narrows an optional field with an assert.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from trashmonitor.errors import (
    EXIT_OK,
    EXIT_UNDECIDED,
    EXIT_UNHEALTHY,
    TrashmonError,
    metric_kind,
)

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
    records: tuple[DNSRecord, ...]  # every record at the hostname, any type
    split_dns: Mapping[str, tuple[str, ...]] | None = field(default=None, hash=False)


@dataclass(frozen=True, kw_only=True)
class _Change:
    """What every line of the plan says: the resource, its name, old → new, and why."""

    action: ClassVar[Action]
    writes: ClassVar[bool] = False
    resource: Resource
    name: str
    old: str
    new: str
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class InSync(_Change):
    """Nothing to do: the resource already has the desired values."""

    action: ClassVar[Action] = Action.OK


@dataclass(frozen=True, kw_only=True)
class Refused(_Change):
    """A change that must not be made (foreign, conflicting, unsafe); ``kind`` is the
    ``trashmon_dns_errors_total`` label it is counted under."""

    action: ClassVar[Action] = Action.REFUSE
    kind: str = "refused"


@dataclass(frozen=True, kw_only=True)
class CreateRecord(_Change):
    action: ClassVar[Action] = Action.CREATE
    writes: ClassVar[bool] = True
    desired: DesiredRecord


@dataclass(frozen=True, kw_only=True)
class UpdateRecord(_Change):
    """Rewrite ``current`` (the record as the plan read it) to ``desired``."""

    action: ClassVar[Action] = Action.UPDATE
    writes: ClassVar[bool] = True
    desired: DesiredRecord
    current: DNSRecord

    @property
    def record_id(self) -> str:
        return self.current.record_id


@dataclass(frozen=True, kw_only=True)
class CreateSplitDNS(_Change):
    action: ClassVar[Action] = Action.CREATE
    writes: ClassVar[bool] = True
    desired: DesiredSplitDNS
    current: frozenset[str] = frozenset()
    """The zone's resolvers as the plan read them (none): a write checks they still are."""


@dataclass(frozen=True, kw_only=True)
class UpdateSplitDNS(_Change):
    action: ClassVar[Action] = Action.UPDATE
    writes: ClassVar[bool] = True
    desired: DesiredSplitDNS
    current: frozenset[str]


WriteChange = CreateRecord | UpdateRecord | CreateSplitDNS | UpdateSplitDNS
"""A change that writes: what a provider's ``apply`` is given."""
PlannedChange = InSync | Refused | WriteChange


@dataclass(frozen=True)
class Outcome:
    change: PlannedChange
    result: Result
    detail: str = ""
    error_kind: str | None = None  # metrics label when result is FAILED or REFUSED


@dataclass(frozen=True)
class DnsSettings:
    zone: str
    hostname: str
    ts_hostname: str | None
    resolvers: tuple[str, ...] | None  # None: split DNS is not managed
    ttl: int = TTL_AUTO
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


# The ``kind`` labels of ``trashmon_dns_errors_total`` (docs/contracts.md); an error whose
# own kind is not one of them counts as "server".
DNS_ERROR_KINDS = frozenset(
    {"config", "device", "unreachable", "malformed", "rate_limited", "server", "auth"}
)


def error_kind(error: TrashmonError) -> str:
    return metric_kind(error, DNS_ERROR_KINDS, "server")


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

    @property
    def outcome(self) -> str:
        """One word for the cycle: error, drift, dry_run, applied or in_sync."""
        results = {o.result for o in self.outcomes}
        if self.error is not None:
            return "error"
        if results & {Result.FAILED, Result.REFUSED}:
            return "drift"
        if Result.DRY_RUN in results:
            return "dry_run"
        return "applied" if self.writes else "in_sync"

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
