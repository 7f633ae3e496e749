"""Frozen ``__slots__`` values without :mod:`dataclasses`.

Importing dataclasses loads inspect, ast, dis and tokenize (~10 ms): too much for the
processes that start often and must start fast (the MediaMTX hook, the probe). This
module imports nothing.
"""

from __future__ import annotations


class Frozen:
    """Values set once, in ``__slots__`` order (a frozen dataclass without importing
    dataclasses). Equality and hashing stay by identity, as for any object."""

    __slots__: tuple[str, ...] = ()

    def __init__(self, *values: object) -> None:
        for name, value in zip(self.__slots__, values, strict=True):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{self.__class__.__name__} is frozen ({name})")
