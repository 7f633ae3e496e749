"""The probe's piped ``--json`` is the same bytes for the same status whatever the size
of the pages it read: whether or not msgspec was loaded to decode them (pages over 64
KiB), one encoder writes it in one form."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.fake_mediamtx import FakeMediaMTX
from support.hostile_mediamtx import TERMINAL_NAMES
from support.processes import clean_environ

from trashmonitor.monitor.model import CameraHealth, HealthReport
from trashmonitor.monitor.msgspec_lean import msgspec_json
from trashmonitor.monitor.probe_cli import _dumped_alike, _write_json
from trashmonitor.monitor.status import status_document

# `trashmon probe` as the console script runs it, with the fast decoder's threshold set
# so no page reaches it: msgspec is not imported to decode.
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


# The one field that differs between two runs, with the separator after it (spaced or
# not: the spelling is what the test compares).
GENERATED_AT = re.compile(rb'^\{"generated_at": ?[0-9.e+-]+, ?')


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
    document.pop("generated_at")
    unstamped, stamps = GENERATED_AT.subn(b"{", result.stdout)
    assert stamps == 1, result.stdout[:200]
    return result.returncode, unstamped, document


def test_the_same_status_is_the_same_bytes_whatever_decoded_the_pages(
    fake: FakeMediaMTX,
) -> None:
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
    assert fast_exit == plain_exit == 1  # cam0003 is down
    assert fast == plain
    # Not only the same value: the same spelling (json.dumps, which wrote the document
    # when no page had loaded msgspec, put a space after every separator).
    assert fast_bytes == plain_bytes
    assert b'", "' not in fast_bytes
    names = {camera["name"] for camera in fast["cameras"]}
    assert set(ODD_NAMES) <= names
    assert names.isdisjoint(TERMINAL_NAMES)
    assert fast["summary"] == {"ok": 1251, "degraded": 0, "down": 1, "parked": 1}
    assert fast["cameras"][0]["inbound_bytes"] == 2**60 + 1


def piped_json(document: object, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """What the probe's ``_write_json`` writes to a piped stdout."""
    written = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(written, encoding="utf-8"))
    _write_json(document)
    return written.getvalue()


def test_piped_json_is_compact_utf8_for_any_document(monkeypatch: pytest.MonkeyPatch) -> None:
    document = {"name": "café", "rate": 1.5e16, "small": 1e-05, "rates": [None, 0.5]}
    assert piped_json(document, monkeypatch) == (
        '{"name":"café","rate":1.5e16,"small":0.00001,"rates":[null,0.5]}\n'.encode()
    )


def test_a_string_utf8_cannot_carry_is_written_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    # A lone surrogate (an argument that was not UTF-8, kept by surrogateescape): no
    # UTF-8 spells it, so it is escaped, in the same compact form.
    assert piped_json({"error": "bad \udcff", "n": 1}, monkeypatch) == (
        b'{"error":"bad \\udcff","n":1}\n'
    )


LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text()
    # Where the two spellings of a float part, and lone surrogates (UTF-8 has none).
    | st.sampled_from([1e-4, 9.999e-5, 1e16, 1e16 - 2, -1e-4, -0.0, 1e-300, 5e-324])
    | st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1)
)
DOCUMENTS = st.recursive(
    LEAVES,
    lambda children: (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=6), children, max_size=4)
        | st.dictionaries(st.integers(), children, min_size=1, max_size=2)
    ),
    max_leaves=24,
)


@given(DOCUMENTS)
def test_json_dumps_stands_in_only_where_it_writes_msgspec_s_bytes(document: Any) -> None:
    dumped = _dumped_alike(document)
    if dumped is not None:
        assert dumped == msgspec_json.encode(document) + b"\n"


def test_a_small_status_is_dumped_and_odd_floats_are_left_to_msgspec() -> None:
    camera = CameraHealth(
        name="cam1", state="ok", reasons=(), online=True, codec="H264", resolution="640x480",
        inbound_bytes_per_second=51234.5, inbound_bytes=2**60 + 1, readers=1,
        frames_in_error=0, online_since=1763699000.25, last_inbound_at=1763699999.6,
    )  # fmt: skip
    document = status_document(HealthReport(1763700000.125, (camera,)))
    assert _dumped_alike(document) == msgspec_json.encode(document) + b"\n"
    for odd in (float("nan"), float("inf"), 1e16, 2.5e-5):
        assert _dumped_alike({**document, "generated_at": odd}) is None
