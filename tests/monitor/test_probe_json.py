"""The probe's piped ``--json`` is the same JSON value whichever encoder wrote it:
msgspec's (loaded when a page over 64 KiB was decoded with it) or json.dumps."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from support.fake_mediamtx import FakeMediaMTX
from support.hostile_mediamtx import TERMINAL_NAMES
from support.processes import clean_environ

# `trashmon probe` as the console script runs it, with the fast decoder's threshold set
# so no page reaches it: msgspec is never imported, and json.dumps writes the document.
WITHOUT_MSGSPEC = (
    "import sys\n"
    "from trashmonitor.monitor import mediamtx_parse\n"
    "mediamtx_parse.FAST_DECODE_MIN_BYTES = 1 << 62\n"
    "from trashmonitor.cli import main\n"
    "sys.argv = ['trashmon', *sys.argv[1:]]\n"
    "sys.exit(main())\n"
)
# Names MediaMTX's grammar allows, with every punctuation it allows; and names it does
# not (terminal escapes, line breaks), which the probe leaves out whichever encoder.
ODD_NAMES = ("site-a/cam_1", "garage:door.2~old", "x" * 200)


def probe_json(*command: str, url: str) -> tuple[int, bytes, dict[str, Any]]:
    result = subprocess.run(
        [*command, "probe", "--api", url, "--json", "--parked", "cam0007"],
        capture_output=True,
        env=clean_environ(),
        timeout=120,
        check=False,
    )
    assert result.stderr == b"", result.stderr
    document = json.loads(result.stdout)
    document.pop("generated_at")  # the only field that differs between two runs
    return result.returncode, result.stdout, document


def test_msgspec_and_json_dumps_write_the_same_value(fake: FakeMediaMTX) -> None:
    # Pages over 64 KiB (msgspec decodes them); counters fixed (no rate) so that two runs
    # read the same, some past 2**53, where a float would round.
    fake.add_paths(1250, inbound_bytes=2**60 + 1, outbound_bytes=12_345, readers=1)
    fake.set_path("cam0003", online=False)
    fake.set_path("cam0005", frames_in_error=7, codec="H265", width=3840, height=2160)
    for name in ODD_NAMES + TERMINAL_NAMES:
        fake.set_path(name, inbound_bytes=10)
    python = [sys.executable, "-P"]
    fast_exit, fast_bytes, fast = probe_json(*python, "-m", "trashmonitor", url=fake.url)
    plain_exit, plain_bytes, plain = probe_json(*python, "-c", WITHOUT_MSGSPEC, url=fake.url)
    # Which encoder wrote each: json.dumps puts a space after every separator.
    assert b'", "' not in fast_bytes
    assert b'", "' in plain_bytes
    assert fast_exit == plain_exit == 1  # cam0003 is down
    assert fast == plain
    names = {camera["name"] for camera in fast["cameras"]}
    assert set(ODD_NAMES) <= names
    assert names.isdisjoint(TERMINAL_NAMES)
    assert fast["summary"] == {"ok": 1251, "degraded": 0, "down": 1, "parked": 1}
    assert fast["cameras"][0]["inbound_bytes"] == 2**60 + 1
