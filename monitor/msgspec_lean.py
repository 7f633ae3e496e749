"""msgspec, imported without the ``typing_extensions`` it takes when that is installed.

``typing_extensions`` is not one of msgspec's dependencies: without it, msgspec reads
annotations with ``typing``'s own functions, the same on Python >= 3.11. But other
packages of ours need it, so it is installed, and it imports ``inspect``, ``ast``,
``dis`` and ``tokenize``: ~10 ms of a probe's start-up. A None in ``sys.modules`` fails
that one import (msgspec catches it) while msgspec loads. Every module of the package
that uses msgspec imports it from here.

Only when nothing has imported ``typing_extensions`` yet: the monitor has (OpenTelemetry
needs it), so there msgspec takes it as usual. In that short window a thread importing
``typing_extensions`` would fail; in the probe, where it applies, none does.
"""

from __future__ import annotations

import sys

if "msgspec" not in sys.modules and "typing_extensions" not in sys.modules:
    sys.modules["typing_extensions"] = None  # type: ignore[assignment]
    try:
        import msgspec
    finally:
        if sys.modules.get("typing_extensions", sys) is None:
            del sys.modules["typing_extensions"]
import msgspec
import msgspec.json as msgspec_json

__all__ = ["msgspec", "msgspec_json"]
