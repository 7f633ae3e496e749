"""msgspec, imported without the ``typing_extensions`` it takes when that is installed.

``typing_extensions`` is not one of msgspec's dependencies: without it, msgspec reads
annotations with ``typing``'s own functions, the same on Python >= 3.11. But other
packages of ours need it, so it is installed, and it imports ``inspect``, ``ast``,
``dis`` and ``tokenize``: ~10 ms of a probe's start-up. A None in ``sys.modules`` fails
that one import (msgspec catches it) while msgspec loads. Every module of the package
that uses msgspec imports it from here.

Only when nothing has imported ``typing_extensions`` yet: the monitor has (OpenTelemetry
needs it), so there msgspec takes it as usual. While msgspec loads, ``import
typing_extensions`` fails in every thread, not only this one: import this module before
starting threads, unless none of them can import ``typing_extensions``.

The probe, the one process where the block applies, breaks that rule on purpose: it
imports this module where a page of 64 KiB or more is first decoded, which may be a
thread (its page window's, or a site's in ``probe_sites``' pool; ``--play``'s decode no
page). Importing it before starting them would cost every small probe msgspec's ~8 ms,
for pages that may never come. It is safe because no thread of the probe imports
``typing_extensions`` (tests/monitor/test_probe_cli.py checks what real probes import,
sites read in threads included), and a thread importing msgspec meanwhile waits on the
import lock until this import has finished, then finds msgspec whole.
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
