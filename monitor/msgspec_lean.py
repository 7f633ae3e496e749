"""msgspec, imported without the ``typing_extensions`` it takes when that is installed,
and without the schema and type-inspection modules a decoder and encoder never use.

``typing_extensions`` is not one of msgspec's dependencies: without it, msgspec reads
annotations with ``typing``'s own functions, the same on Python >= 3.11. But other
packages of ours need it, so it is installed, and it imports ``inspect``, ``ast``,
``dis`` and ``tokenize``: ~10 ms of a probe's start-up. A None in ``sys.modules`` fails
that one import (msgspec catches it) while msgspec loads. Every module of the package
that uses msgspec imports it from here.

``msgspec/__init__`` also imports ``msgspec.inspect`` (type_info: with ``decimal``,
``uuid`` and ``enum`` already loaded by the codec, its own body is ~1.8 ms) and
``msgspec.json`` imports ``msgspec._json_schema`` (``schema``, ``schema_components``,
with ``textwrap``: ~1 ms). Neither is used to decode or encode: while msgspec loads,
:func:`_deferred_schema` stands in for them, and once it has loaded they are taken out
again, so that a later ``import msgspec.inspect`` or call of ``msgspec.json.schema``
imports the real modules (tests/monitor/test_msgspec_lean.py).

Only when nothing has imported ``typing_extensions`` yet: the monitor has (OpenTelemetry
needs it), so there msgspec loads as usual. While msgspec loads, ``import
typing_extensions`` fails, and ``msgspec.inspect`` is the stand-in, in every thread, not
only this one: import this module before starting threads, unless none of them can
import those.

The probe, the one process where the block applies, breaks that rule on purpose: it
imports this module where a page of 64 KiB or more is first decoded, which may be a
thread (its page window's, or a site's in ``probe_sites``' pool; ``--play``'s decode no
page). Importing it before starting them would cost every small probe msgspec's ~8 ms,
for pages that may never come. It is safe because no thread of the probe imports
``typing_extensions`` or msgspec's schema modules (tests/monitor/test_probe_cli.py checks
what real probes import, sites read in threads included), and a thread importing msgspec
meanwhile waits on the import lock until this import has finished, then finds msgspec
whole.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

_SCHEMA_MODULES = ("msgspec.inspect", "msgspec._json_schema")


def _deferred_schema() -> dict[str, ModuleType]:
    """Stand-ins for :data:`_SCHEMA_MODULES`: ``msgspec.json`` binds the schema module's
    two functions at its import, so those import the real module when first called."""

    def deferred(name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            import msgspec._json_schema as real

            return getattr(real, name)(*args, **kwargs)

        call.__name__ = call.__qualname__ = name
        return call

    schema = ModuleType("msgspec._json_schema")
    schema.schema = deferred("schema")  # type: ignore[attr-defined]
    schema.schema_components = deferred("schema_components")  # type: ignore[attr-defined]
    return {"msgspec.inspect": ModuleType("msgspec.inspect"), "msgspec._json_schema": schema}


def _import_lean() -> None:
    stand_ins = _deferred_schema()
    sys.modules["typing_extensions"] = None  # type: ignore[assignment]
    sys.modules.update(stand_ins)
    try:
        import msgspec
    finally:
        if sys.modules.get("typing_extensions", sys) is None:
            del sys.modules["typing_extensions"]
        for name, stand_in in stand_ins.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]
        package = sys.modules.get("msgspec")
        for name, stand_in in stand_ins.items():
            attribute = name.rpartition(".")[2]
            if package is not None and getattr(package, attribute, None) is stand_in:
                delattr(package, attribute)
    del msgspec


if "msgspec" not in sys.modules and "typing_extensions" not in sys.modules:
    _import_lean()
import msgspec  # noqa: E402  # after the lean import: then it is at hand
import msgspec.json as msgspec_json  # noqa: E402

__all__ = ["msgspec", "msgspec_json"]
