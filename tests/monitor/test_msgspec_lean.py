"""msgspec_lean: msgspec loaded without typing_extensions and without its schema modules
in a fresh process (the probe's), and those modules still whole when asked for later."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from support.processes import OUTSIDE_REPO, clean_environ

# A struct of the kind mediamtx_fast decodes into (Annotated bounds, optional nesting),
# then what a caller of the schema or inspection API would see.
USE = """
import json, sys
from typing import Annotated
{imports}
loaded = sorted(name for name in ("typing_extensions", "msgspec.inspect",
    "msgspec._json_schema", "textwrap") if name in sys.modules)

class Props(msgspec.Struct, frozen=True):
    width: int | None = None

class Track(msgspec.Struct):
    codec: str
    count: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)] = 0
    props: Props | None = None

decoded = msgspec.json.decode(b'[{{"codec":"H264","count":3,"props":{{"width":640}}}}]',
                              type=list[Track])
import msgspec.inspect
print(json.dumps({{
    "loaded": loaded,
    "decoded": msgspec.json.encode(decoded).decode(),
    "schema": msgspec.json.schema(list[Track]),
    "components": msgspec.json.schema_components((Track,))[1],
    "type_info": type(msgspec.inspect.type_info(Track)).__name__,
    "inspect_bound": msgspec.inspect is sys.modules["msgspec.inspect"],
}}))
"""


def run_fresh(imports: str) -> dict[str, Any]:
    """USE's answers in a new interpreter (nothing loaded yet, as in a probe)."""
    done = subprocess.run(
        [sys.executable, "-P", "-c", USE.format(imports=imports)],
        capture_output=True,
        text=True,
        env=clean_environ(),
        cwd=OUTSIDE_REPO,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def test_the_lean_import_leaves_out_the_schema_modules_until_they_are_asked_for() -> None:
    lean = run_fresh("from trashmonitor.monitor.msgspec_lean import msgspec")
    plain = run_fresh("import msgspec")
    # Loaded by the lean import: none of them (the plain one loads the schema modules).
    assert lean["loaded"] == []
    assert {"msgspec.inspect", "msgspec._json_schema"} <= set(plain["loaded"])
    # Decoding, encoding, the schema functions msgspec.json bound at its import, and the
    # inspection module imported afterwards: the same answers as a plain import's.
    assert lean["decoded"] == '[{"codec":"H264","count":3,"props":{"width":640}}]'
    for key in ("decoded", "schema", "components", "type_info", "inspect_bound"):
        assert lean[key] == plain[key], key
    assert lean["type_info"] == "StructType"
    assert lean["inspect_bound"] is True


def test_in_this_process_too_the_schema_modules_are_whole() -> None:
    # Whichever way msgspec loaded here (typing_extensions may be loaded already).
    import msgspec.inspect

    from trashmonitor.monitor.msgspec_lean import msgspec, msgspec_json

    assert msgspec_json is msgspec.json
    assert msgspec.json.schema(int) == {"type": "integer"}
    assert type(msgspec.inspect.type_info(int)).__name__ == "IntType"
