"""The fast readers answer what the reference parsers answer: the msgspec page reader
(``mediamtx_fast``) the same page whenever it gives one, the reference deciding anything
it does not take (so every error stays the reference's, word for word); and the
one-pass /metrics reader the same as the line-by-line one."""

from __future__ import annotations

import gc
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.fake_mediamtx import GENERATIONS, FakePath, render_path
from support.properties import JSON_VALUES, KEYS, PROPERTIES

from trashmonitor.errors import TrashmonError
from trashmonitor.monitor import mediamtx_fast
from trashmonitor.monitor.mediamtx_fast import MAX_LAYOUTS, fast_paths_page
from trashmonitor.monitor.mediamtx_parse import (
    FAST_DECODE_MIN_BYTES,
    decode_json,
    decode_paths_page,
    metrics_patterns,
    parse_metrics,
    parse_metrics_lines,
    parse_paths_page,
)
from trashmonitor.monitor.model import MediaMTXMetrics, PathsPage

FIXTURES = Path(__file__).parent / "fixtures"


def reference(body: bytes) -> PathsPage | tuple[type[TrashmonError], str]:
    try:
        return parse_paths_page(decode_json(body, "src"))
    except TrashmonError as error:
        return type(error), error.message


def decoded(body: bytes) -> PathsPage | tuple[type[TrashmonError], str]:
    try:
        return decode_paths_page(body, "src")
    except TrashmonError as error:
        return type(error), error.message


def assert_same(body: bytes) -> PathsPage | None:
    fast = fast_paths_page(body)
    if fast is not None:
        assert fast == reference(body)
    assert decoded(body) == reference(body)
    return fast


def fake_page(generation: str, count: int, **fields: Any) -> dict[str, Any]:
    now = time.monotonic()
    items = [
        render_path(
            FakePath(f"cam{number:05d}", inbound_bytes=number * 7, readers=number % 3, **fields),
            generation,
            now,
        )
        for number in range(count)
    ]
    return {"itemCount": count, "pageCount": 1, "items": items}


@pytest.mark.parametrize("name", ["paths-v1.9.json", "paths-v1.16.json", "paths-v1.20.json"])
def test_every_schema_generation_is_read_by_the_fast_reader(name: str) -> None:
    body = (FIXTURES / name).read_bytes()
    assert assert_same(body) is not None  # taken by the fast reader, and equal


@pytest.mark.parametrize("generation", GENERATIONS)
@pytest.mark.parametrize(
    "fields",
    [{}, {"online": False}, {"online": False, "placeholder": True}, {"configured": True}],
)
def test_large_fake_pages_take_the_fast_path_and_read_the_same(
    generation: str, fields: dict[str, Any]
) -> None:
    body = json.dumps(fake_page(generation, 400, **fields)).encode()
    assert len(body) >= FAST_DECODE_MIN_BYTES
    fast = assert_same(body)
    assert fast is not None
    assert len(fast.items) == 400


# A well-formed item of each generation with one field replaced by anything: the
# branches where the fast reader must hand over (or agree).
ITEM_FIELDS_LIST = [
    "name", "confName", "source", "ready", "readyTime", "online", "onlineTime", "available",
    "tracks", "tracks2", "bytesReceived", "bytesSent", "inboundBytes", "outboundBytes",
    "inboundFramesInError", "readers",
]  # fmt: skip
ITEM_FIELDS = st.sampled_from(ITEM_FIELDS_LIST)
ODD: list[Any] = [
    None,
    2**64 - 1,
    2**64,
    -1,
    0,
    1.0,
    1e3,
    True,
    False,
    "",
    "bad name",
    "../x",
    "cam00000",
    "H264",
    "\ud800",
    [],
    {},
    [1],
    ["H264", 5],
    ["\x1b[2J"],
    [{"codec": "H264", "codecProps": {"width": 1.5, "height": True}}],
    [{"codec": "H264", "codecProps": {"width": 640, "height": 100_000}}],
    [{"codec": "H264", "codecProps": []}],
    [{"codec": "\x1b"}],
    [{"codecProps": {}}],
    ["x"],
    {"type": 5},
    {"type": "x"},
    "2024-01-01T00:00:00",
    "2024-01-01T00:00:00+02:00",
    "yesterday",
]
ODD_VALUES = st.sampled_from(ODD) | JSON_VALUES


@pytest.mark.parametrize("generation", GENERATIONS)
def test_every_field_with_every_odd_value_reads_the_same(generation: str) -> None:
    for field in ITEM_FIELDS_LIST:
        for value in ODD:
            document = fake_page(generation, 2)
            document["items"][0][field] = value
            assert_same(json.dumps(document).encode())
            document["items"][1].pop(field, None)
            assert_same(json.dumps(document).encode())


@PROPERTIES
@given(
    st.sampled_from(GENERATIONS),
    st.lists(st.tuples(st.integers(0, 2), ITEM_FIELDS, ODD_VALUES), max_size=4),
    st.sampled_from([None, -1, 0, 3, True, 2.0, "3"]),
)
def test_one_odd_field_reads_the_same(
    generation: str, changes: list[tuple[int, str, Any]], item_count: object
) -> None:
    document = fake_page(generation, 3)
    for index, field, value in changes:
        document["items"][index][field] = value
    if item_count is not None:
        document["itemCount"] = item_count
    assert_same(json.dumps(document).encode())


@PROPERTIES
@given(JSON_VALUES | st.dictionaries(KEYS, JSON_VALUES, max_size=6).map(lambda i: {"items": [i]}))
def test_any_json_document_reads_the_same(document: Any) -> None:
    assert_same(json.dumps(document).encode())


@PROPERTIES
@given(st.binary(max_size=500))
def test_any_bytes_read_the_same(body: bytes) -> None:
    assert_same(body)


@pytest.mark.parametrize(
    "body",
    [
        # json.loads keeps the last of duplicate keys
        b'{"items": [{"name": "a", "name": "b", "online": true, "online": false}]}',
        b'{"items": [], "items": [{"name": "cam1"}]}',
        # a lone surrogate escape, a BOM, UTF-16: json.loads reads them, msgspec may not
        b'{"items": [{"name": "cam1", "source": {"type": "\\ud800"}}]}',
        b'\xef\xbb\xbf{"items": [{"name": "cam1"}]}',
        '{"items": [{"name": "cam1"}]}'.encode("utf-16"),
        b'{"items": [{"name": "cam1", "inboundBytes": 1e3}]}',
        b'{"items": [{"name": "cam1", "inboundBytes": NaN}]}',
        b'{"items": [{"name": "cam1", "inboundBytes": 1' + b"0" * 5000 + b"}]}",
        b'{"items": [{"name": "cam1", "readers": ' + b"[" * 5000 + b"]" * 5000 + b"}]}",
        b'{"items": [{"name": "cam1"}]} trailing',
        b'{"items": [{"name": "cam1", "ready": true, "readyTime": "not a time"}]}',
        # online without ready nor available (available follows online)
        b'{"items": [{"name": "cam1", "online": true, "onlineTime": "2024-01-01T00:00:00Z"}]}',
    ],
)
def test_hostile_pages_read_the_same(body: bytes) -> None:
    # padded past the size that takes the fast path: the decision is the caller's too
    padded = body.replace(b"{", b"{" + b" " * FAST_DECODE_MIN_BYTES, 1)
    for candidate in (body, padded):
        assert_same(candidate)


# /metrics: the one-pass reading of MediaMTX-shaped path lines equals the line-by-line
# reference, whatever else the text holds and in whatever order.
def metrics_or_error(
    parse: Callable[[str], MediaMTXMetrics], text: str
) -> MediaMTXMetrics | tuple[type[TrashmonError], str]:
    try:
        return parse(text)
    except TrashmonError as error:
        return type(error), error.message


def assert_same_metrics(text: str) -> None:
    assert metrics_or_error(parse_metrics, text) == metrics_or_error(parse_metrics_lines, text)


METRIC_FAMILIES = st.sampled_from(
    [
        "paths", "paths_readers", "paths_inbound_bytes", "paths_bytes_received",
        "paths_outbound_bytes", "paths_bytes_sent", "paths_inbound_frames_in_error",
        "rtsp_conns", "pathsx",
    ]
)  # fmt: skip
METRIC_NAMES = st.sampled_from(
    ["cam1", "cam2", "a/b", "../x", "a/./b", "/lead", "trail/", "x" * 256, "ü", 'q"t', ""]
)
METRIC_VALUES = st.sampled_from(
    ["0", "1", "7", "01", "9007199254740993", "18446744073709551615", "9999999999999999999",
     "1e3", "NaN", "-1", "1.5", "x", ""]
)  # fmt: skip
MEDIAMTX_LINES = st.builds(
    lambda family, name, state, reader, value, pad: (
        f'{pad}{family}{{name="{name}",state="{state}"{reader}}} {value}{pad}'
    ),
    METRIC_FAMILIES,
    METRIC_NAMES,
    st.sampled_from(["ready", "notReady", "", "x" * 33, "réady"]),
    st.sampled_from(["", ',readerType="rtspSession"', ',readerType=""', ",x=1"]),
    METRIC_VALUES,
    st.sampled_from(["", "", " ", "\r"]),
)
OTHER_LINES = st.sampled_from(
    ['rtsp_conns{id="c0"} 1', "# HELP x y", "", "not a sample line", "a:b 1", "9bad 1",
     'hls_muxers{name="cam1"} 1', "x" * 5000]
) | st.text(max_size=30)  # fmt: skip


@PROPERTIES
@given(st.lists(MEDIAMTX_LINES | OTHER_LINES, max_size=30), st.sampled_from(["\n", "\r\n"]))
def test_metrics_read_the_same_as_line_by_line(lines: list[str], newline: str) -> None:
    assert_same_metrics(newline.join(lines))
    assert_same_metrics(newline.join(lines) + newline)


# The path-line pattern as first written (capturing groups, plain repeats, one flat
# alternation): the rewritten ones must split and remove exactly what it does.
FORMER_PATH_LINE = re.compile(
    r"^(paths(?:_readers|_inbound_bytes|_outbound_bytes|_bytes_received|_bytes_sent"
    r'|_inbound_frames_in_error)?)\{name="([0-9A-Za-z_\-/.~:]{1,255})",state="([0-9A-Za-z]{1,32})"'
    r'(?:,readerType="[0-9A-Za-z]{1,64}")?\} (0|[1-9][0-9]{0,18})$',
    re.MULTILINE,
)


@PROPERTIES
@given(
    st.lists(MEDIAMTX_LINES | OTHER_LINES | st.text(max_size=60), max_size=30),
    st.sampled_from(["\n", "\r\n", "\x0b"]),
)
def test_the_path_line_patterns_take_what_the_former_one_took(
    lines: list[str], newline: str
) -> None:
    text = newline.join(lines)
    assert metrics_patterns().path_line.split(text) == FORMER_PATH_LINE.split(text)
    # the check's pattern takes the same lines, with their newline
    with_newline = re.compile(FORMER_PATH_LINE.pattern + r"\n?", re.MULTILINE)
    assert metrics_patterns().path_line_match.sub("", text) == with_newline.sub("", text)


@PROPERTIES
@given(st.text(max_size=500))
def test_any_metrics_text_reads_the_same(text: str) -> None:
    assert_same_metrics(text)


@pytest.mark.parametrize("name", ["metrics-v1.9.txt", "metrics-v1.20.txt"])
def test_metrics_fixtures_read_the_same(name: str) -> None:
    assert_same_metrics((FIXTURES / name).read_text())


def test_deprecated_and_new_families_in_any_order_read_the_same() -> None:
    new = 'paths_inbound_bytes{name="cam1",state="ready"} 5'
    old = 'paths_bytes_received{name="cam1",state="ready"} 7'
    other = 'paths_readers{name="cam1",state="notReady",readerType="hlsSession"} 2'
    for order in ([new, old, other], [old, new, other], [old, old, new, new], [other, other]):
        assert_same_metrics("\n".join(order))
    # the one-pass reader takes these: the answer is its own, not the fallback's
    assert parse_metrics("\n".join([old, new])).paths["cam1"].inbound_bytes == 5


def test_the_structs_of_a_decoded_page_are_not_tracked_by_the_cyclic_gc() -> None:
    # ~20,000 of them a poll at 10,000 paths: tracked, the collector counts and rescans
    # them though they hold no cycle (a JSON tree) and reference counting frees them.
    body = json.dumps(fake_page("v1.20", 3)).encode()
    page = mediamtx_fast._DECODER.decode(body)
    structs = [page, *page.items, *(item.source for item in page.items)]
    assert all(item.source is not None and item.readers for item in page.items[1:])
    assert [gc.is_tracked(struct) for struct in structs] == [False] * 7


@pytest.mark.parametrize("tracks", ["5", '"H264"', "[1]", '["H264", null]', "{}"])
def test_tracks_beside_tracks2_is_never_read_as_the_reference_never_reads_it(
    tracks: str,
) -> None:
    # The reference parser reads tracks only without tracks2 (before v1.17): the fast
    # reader keeps it as text and reads it only then, so a v1.20 page stays on the fast
    # path whatever tracks holds, and a v1.9 page with such a tracks goes to the
    # reference, which refuses it.
    page = fake_page("v1.20", 2)
    page["items"][1]["tracks"] = "@"
    body = json.dumps(page).encode().replace(b'"@"', tracks.encode())
    fast = assert_same(body)
    assert fast is not None
    assert [path.codec for path in fast.items] == ["H264", "H264"]
    old = fake_page("v1.9", 2)
    old["items"][1]["tracks"] = "@"
    old_body = json.dumps(old).encode().replace(b'"@"', tracks.encode())
    assert assert_same(old_body) is None
    assert isinstance(decoded(old_body), tuple)


def test_pages_of_successive_polls_share_their_name_strings() -> None:
    # A history of a dozen snapshots holds each name once, not once per poll.
    body = json.dumps(fake_page("v1.20", 3)).encode()
    first, second = fast_paths_page(body), fast_paths_page(bytes(body))
    assert first is not None
    assert second is not None
    assert first == second
    for old, new in zip(first.items, second.items, strict=True):
        assert old.name is new.name
        assert old.source_type is new.source_type


def test_a_source_type_never_makes_a_bad_name_pass() -> None:
    # Strings are shared across polls: a hostile source type seen first must not let
    # the same text through as a path name later.
    item = {"name": "cam1", "online": False, "source": {"type": "../x"}}
    first = {"items": [item] * 200}
    then = {"items": [{"name": "../x"}] * 200}
    for document in (first, then):
        assert_same(json.dumps(document).encode())
    later = fast_paths_page(json.dumps(then).encode())
    assert later is not None
    assert later.rejected == 200


# tracks2 values as MediaMTX writes them and as it never does: each page's layouts are
# read once per distinct JSON text and remembered across pages.
TRACKS2 = st.sampled_from(
    [
        None,
        [],
        [{"codec": "H264", "codecProps": {"width": 1280, "height": 720, "level": "3.1"}}],
        [{"codec": "H264"}, {"codec": "Opus", "codecProps": {"channelCount": 2}}],
        [{"codec": "H265", "codecProps": None}],
        [{"codec": "H264", "codecProps": {"width": "1280"}}],
        [{"codec": 5}],
        [{"codec": "\x1b[2J"}],
        "H264",
    ]
) | st.lists(
    st.fixed_dictionaries(
        {"codec": st.sampled_from(["H264", "VP9", "", "MPEG-4 Audio"])},
        optional={
            "codecProps": st.fixed_dictionaries(
                {},
                optional={
                    "width": st.integers(-1, 100_001) | st.none(),
                    "height": st.integers(-1, 100_001) | st.none(),
                },
            )
        },
    ),
    max_size=3,
)


@PROPERTIES
@given(
    st.sampled_from(GENERATIONS),
    st.lists(st.lists(TRACKS2, min_size=1, max_size=4), max_size=4),
    st.booleans(),
)
def test_track_layouts_read_once_read_the_same_on_later_pages(
    generation: str, pages: list[list[Any]], compact: bool
) -> None:
    # The same text on a later page (or later in the page) gets the remembered answer;
    # a spaced-out twin is another text with the same reading; a refused one stays refused.
    for layouts in pages:
        document = fake_page(generation, len(layouts))
        for item, tracks2 in zip(document["items"], layouts, strict=True):
            item["tracks2"] = tracks2
        assert_same(json.dumps(document, separators=(",", ":") if compact else None).encode())
        assert_same(json.dumps(document).encode())


def test_layouts_past_the_bound_still_read_the_same() -> None:
    # A flood of distinct layouts empties the remembered ones; every page still reads
    # as the reference reads it.
    for start in range(0, MAX_LAYOUTS * 3, 500):
        document = fake_page("v1.20", 500)
        for offset, item in enumerate(document["items"]):
            item["tracks2"] = [{"codec": "H264", "codecProps": {"width": start + offset}}]
        fast = assert_same(json.dumps(document).encode())
        assert fast is not None
    document = fake_page("v1.20", 2)
    first, again = (fast_paths_page(json.dumps(document).encode()) for _ in range(2))
    assert first is not None
    assert again is not None
    assert first.items[0].tracks is again.items[1].tracks  # one value per layout


@pytest.mark.parametrize("bad", [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"])
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("availableTime", "MARK"),  # a field the fast reader skips
        ("source", {"type": "rtspSession", "id": "MARK"}),
        ("readers", [{"type": "rtspSession", "id": "MARK"}]),  # counted, never decoded
        ("tracks2", [{"codec": "H264", "codecProps": {"profile": "MARK"}}]),
    ],
)
@pytest.mark.parametrize("rejected", [False, True])
def test_bad_utf8_in_any_field_reads_the_same(
    bad: bytes, field: str, value: object, rejected: bool
) -> None:
    # json.loads refuses a page with bad UTF-8 anywhere; msgspec does not look at what
    # it skips, so the fast reader must not answer such a page (failed on the code
    # before: a skipped field's, or a rejected item's tracks2, bad bytes were accepted).
    document = fake_page("v1.20", 2)
    document["items"][0][field] = value
    if rejected:
        document["items"][0]["name"] = "bad name"
    body = json.dumps(document).encode().replace(b"MARK", bad)
    assert_same(body)
