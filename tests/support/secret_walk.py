"""Where a secret is reachable from an exception: the error, its ``__cause__``/
``__context__`` chain, and the locals of every frame of their tracebacks (what a crash
reporter or a debugger showing locals would print, and what an error kept in a reference
cycle keeps alive)."""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from types import FrameType, FunctionType, ModuleType

DEPTH = 6


def holds_secret(
    value: object,
    secrets: tuple[str, ...],
    opaque: tuple[type, ...] = (),
    depth: int = DEPTH,
    seen: set[int] | None = None,
) -> bool:
    """``value`` is or reaches one of ``secrets`` through containers and object
    attributes. Instances of ``opaque`` (a caller's own setting, its repr hiding the
    secret) do not count; what was made of them does."""
    seen = set() if seen is None else seen
    if id(value) in seen or depth < 0 or isinstance(value, opaque):
        return False
    seen.add(id(value))
    if isinstance(value, str):
        return any(secret in value for secret in secrets)
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        return any(secret.encode() in data for secret in secrets)
    if isinstance(value, type | ModuleType | FunctionType | FrameType):
        return False
    if isinstance(value, dict):
        items: list[object] = [*value.keys(), *value.values()]
    elif isinstance(value, list | tuple | set | frozenset):
        items = list(value)
    else:
        items = list(getattr(value, "__dict__", {}).values())
        if isinstance(value, BaseException):
            items += list(value.args)  # a UnicodeDecodeError's hold the bytes
    return any(holds_secret(item, secrets, opaque, depth - 1, seen) for item in items)


def chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and every exception linked from it as cause or context."""
    pending, seen = [error], set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [linked for linked in (current.__cause__, current.__context__) if linked]


def leaks(
    error: BaseException, secrets: tuple[str, ...], opaque: tuple[type, ...] = ()
) -> list[str]:
    """Where a secret is reachable from ``error``: an exception of its chain, or a local
    of a frame of their tracebacks (``function.name``)."""
    found = []
    for linked in chain(error):
        if holds_secret(linked, secrets, opaque):
            found.append(f"{type(linked).__name__} itself")
        for frame, _ in traceback.walk_tb(linked.__traceback__):
            for name, value in frame.f_locals.items():
                if holds_secret(value, secrets, opaque):
                    found.append(f"{frame.f_code.co_name}.{name} (via {type(linked).__name__})")
    return found
