"""Apply a plan: each write goes to the provider that owns its resource.

The applier knows providers only through :class:`Provider` (external-dns's
``ApplyChanges``): which resources one owns and ``apply(changes) → outcomes``. What a
write means for Cloudflare or Tailscale (codes, re-reads, merges) stays in their
adapters; in-sync and refused lines and a dry run never reach a provider.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from trashmonitor.dns.model import (
    InSync,
    Outcome,
    PlannedChange,
    Refused,
    Resource,
    Result,
    WriteChange,
    error_kind,
)
from trashmonitor.dns.retry import give_up
from trashmonitor.errors import TrashmonError


class Provider(Protocol):
    """Where a resource lives: it owns ``resources`` and writes changes to them."""

    @property
    def resources(self) -> frozenset[Resource]: ...

    def apply(self, changes: Sequence[WriteChange]) -> tuple[Outcome, ...]:
        """One outcome per change, in order; a failed write is an outcome, not a raise."""
        ...


def apply_plan(
    changes: Sequence[PlannedChange], providers: Sequence[Provider], *, dry_run: bool
) -> tuple[Outcome, ...]:
    """The outcome of every planned change, in plan order. Providers write in their
    order (records before split DNS), each given its changes at once."""
    outcomes: dict[int, Outcome] = {}
    writes: list[tuple[int, WriteChange]] = []
    for index, change in enumerate(changes):
        if isinstance(change, InSync):
            outcomes[index] = Outcome(change, Result.NOTHING_TO_DO)
        elif isinstance(change, Refused):
            outcomes[index] = Outcome(change, Result.REFUSED, error_kind=change.kind)
        elif dry_run:
            outcomes[index] = Outcome(change, Result.DRY_RUN)
        else:
            writes.append((index, change))
    for provider in providers:
        mine = [(i, c) for i, c in writes if c.resource in provider.resources]
        if mine:
            done = provider.apply([c for _, c in mine])
            outcomes.update((i, outcome) for (i, _), outcome in zip(mine, done, strict=True))
    for index, change in writes:
        if index not in outcomes:
            detail = f"no provider manages {change.resource}"
            outcomes[index] = Outcome(change, Result.FAILED, detail, "internal")
    return tuple(outcomes[index] for index in range(len(changes)))


def write_outcome(change: WriteChange, write: Callable[[], Outcome]) -> Outcome:
    """``write()``'s outcome, or FAILED with the error's one line and metric kind: one
    resource's failure must not stop the others (a half-applied change stays visible)."""
    try:
        return write()
    except TrashmonError as error:
        message = give_up(error).message if error.retryable else error.message
        return Outcome(change, Result.FAILED, message, error_kind(error))
