"""Property tests (issue 12 §9): every parser of what MediaMTX or a pipe sends us answers
arbitrary input with a value or an error of the project's tree, nothing else, in bounded
time. Hypothesis generates the input; the deadline is per example."""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.properties import JSON_VALUES, KEYS

from trashmonitor.cli import build_parser
from trashmonitor.errors import TrashmonError
from trashmonitor.monitor import mediamtx_parse, probe_cli
from trashmonitor.monitor.mediamtx_parse import (
    check_metrics,
    decode_json,
    is_valid_path_name,
    parse_metrics,
    parse_paths_page,
)
from trashmonitor.monitor.model import HealthReport, MediaMTXMetrics, PathsPage

T = TypeVar("T")
R = TypeVar("R")

BOUNDED = settings(
    max_examples=300,
    deadline=timedelta(seconds=2),  # generous: the machine is shared
    suppress_health_check=[HealthCheck.too_slow],
)


def value_or_error(parse: Callable[[T], R], source: T) -> R | TrashmonError:
    """``parse(source)``, or the error from trashmonitor's tree it raised: anything else
    escaping fails the test."""
    try:
        return parse(source)
    except TrashmonError as error:
        return error


def page_or_error(document: Any) -> PathsPage | TrashmonError:
    return value_or_error(parse_paths_page, document)


@BOUNDED
@given(JSON_VALUES)
def test_page_parser_takes_any_json_document(document: Any) -> None:
    result = page_or_error(document)
    if isinstance(result, PathsPage):
        # Whatever came in, only names MediaMTX could have listed come out.
        assert all(is_valid_path_name(path.name) for path in result.items)
        assert result.rejected >= 0
    else:
        assert "\n" not in str(result)


@BOUNDED
@given(
    st.dictionaries(KEYS, JSON_VALUES, max_size=6).map(
        lambda extra: {"itemCount": 1, "pageCount": 1, "items": [extra]}
    )
)
def test_page_parser_takes_any_item(document: dict[str, Any]) -> None:
    result = page_or_error(document)
    assert isinstance(result, (PathsPage, TrashmonError))


def decoded_page_or_error(body: bytes) -> PathsPage | TrashmonError:
    return value_or_error(lambda raw: parse_paths_page(decode_json(raw, "src")), body)


@BOUNDED
@given(st.binary(max_size=2000))
def test_json_decoding_takes_any_bytes(body: bytes) -> None:
    assert isinstance(decoded_page_or_error(body), (PathsPage, TrashmonError))


@BOUNDED
@given(JSON_VALUES.map(lambda value: json.dumps(value).encode()))
def test_json_decoding_takes_any_json_text(body: bytes) -> None:
    assert isinstance(decoded_page_or_error(body), (PathsPage, TrashmonError))


# /metrics: arbitrary text, and lines shaped like MediaMTX's with arbitrary parts.
FAMILIES = st.sampled_from(
    [
        "paths",
        "paths_readers",
        "paths_inbound_bytes",
        "paths_bytes_received",
        "paths_outbound_bytes",
        "paths_bytes_sent",
        "paths_inbound_frames_in_error",
        "rtsp_conns",
    ]
)
VALUES = st.sampled_from(["0", "1", "NaN", "+Inf", "-Inf", "1e400", "-1", "1.5", "x", ""]) | (
    st.integers(min_value=-(2**70), max_value=2**70).map(str)
)
SAMPLE_LINES = st.builds(
    lambda family, name, state, value: f'{family}{{name="{name}",state="{state}"}} {value}',
    FAMILIES,
    st.text(max_size=20) | st.sampled_from(["cam1", "a/b"]),
    st.text(max_size=10) | st.just("ready"),
    VALUES,
)


def metrics_or_error(text: str) -> MediaMTXMetrics | TrashmonError:
    return value_or_error(parse_metrics, text)


@BOUNDED
@given(st.text(max_size=2000))
def test_metrics_parser_takes_any_text(text: str) -> None:
    assert isinstance(metrics_or_error(text), (MediaMTXMetrics, TrashmonError))


@BOUNDED
@given(st.lists(SAMPLE_LINES | st.text(max_size=40), max_size=30).map("\n".join))
def test_metrics_parser_takes_any_sample_lines(text: str) -> None:
    result = metrics_or_error(text)
    if isinstance(result, MediaMTXMetrics):
        assert all(is_valid_path_name(name) for name in result.paths)
        for path in result.paths.values():
            for count in (path.inbound_bytes, path.outbound_bytes, path.readers):
                assert count is None or count >= 0


def verdict(check: Callable[[str], object], text: str) -> str | None:
    """None when ``check`` takes ``text``, else the message it refuses it with."""
    result = value_or_error(check, text)
    return str(result) if isinstance(result, TrashmonError) else None


# Lines around MediaMTX's own (which the check removes with their newline), the
# refused ones among them, after any line break.
NEIGHBOUR_LINES = st.sampled_from(
    ["9bad 1", "not a sample", "x", "", " ", '{name="cam1"} 1', 'rtsp_conns{id="c"} 1']
)
LINE_BREAKS = st.sampled_from(["\n", "\n", "\n\n", "\r\n", "\r", "\x0b", "\x1c"])
MEDIAMTX_SHAPED = st.builds(
    lambda family, value: f'{family}{{name="cam1",state="ready"}} {value}',
    FAMILIES,
    st.sampled_from(["0", "7", "7", "01", "-1"]),
)
# Each MediaMTX-shaped line followed by another line.
MEDIAMTX_AND_NEIGHBOURS = st.lists(
    st.tuples(MEDIAMTX_SHAPED, NEIGHBOUR_LINES | SAMPLE_LINES | MEDIAMTX_SHAPED), max_size=15
).map(lambda pairs: [line for pair in pairs for line in pair])


@BOUNDED
@given(
    st.text(max_size=2000)
    | st.lists(SAMPLE_LINES | st.text(max_size=40), max_size=30).map("\n".join)
    | st.lists(SAMPLE_LINES, max_size=30).map("\n".join)
)
def test_the_metrics_check_refuses_what_the_parser_refuses(text: str) -> None:
    # The monitor only checks /metrics on a v1.17+ MediaMTX: same verdict, same message.
    assert verdict(check_metrics, text) == verdict(parse_metrics, text)


@BOUNDED
@given(LINE_BREAKS, MEDIAMTX_AND_NEIGHBOURS)
def test_the_metrics_check_removes_mediamtx_lines_and_nothing_after_them(
    line_break: str, lines: list[str]
) -> None:
    # The check removes MediaMTX's lines with their newline: whatever line follows one,
    # after whatever line break, is still read (a refused one still refuses the text).
    text = line_break.join(lines)
    assert verdict(check_metrics, text) == verdict(parse_metrics, text)


# The stdin probe (`curl …/v3/paths/list | trashmon probe -`): the whole command path.
def probe_stdin(monkeypatch: pytest.MonkeyPatch, body: bytes) -> HealthReport | TrashmonError:
    args: argparse.Namespace = build_parser("probe").parse_args(["probe", "-"])
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(body)))
    try:
        return probe_cli.probe(args)
    except TrashmonError as error:
        return error


@BOUNDED
@given(body=st.binary(max_size=2000) | JSON_VALUES.map(lambda v: json.dumps(v).encode()))
def test_stdin_probe_takes_any_input(body: bytes) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        result = probe_stdin(monkeypatch, body)
    assert isinstance(result, (HealthReport, TrashmonError))


# /metrics texts the check takes without a path sample left for the line reader (the
# ones whose shape it keeps), and what may change between two polls' texts.
TAKEN_TEXTS = st.lists(
    st.builds(
        lambda family, name, value: f'{family}{{name="{name}",state="ready"}} {value}',
        FAMILIES,
        st.sampled_from(["cam1", "cam20", "a/b"]),
        st.sampled_from(["0", "7", "10", "205", "10000000000000000000"]),  # 1e19: < 2**64
    )
    | NEIGHBOUR_LINES,
    max_size=12,
).map("\n".join)
DIGIT_MAPS = st.lists(st.sampled_from("0123456789"), min_size=10, max_size=10).map(
    lambda digits: str.maketrans("0123456789", "".join(digits))
)
CHANGED_CHARACTERS = st.sampled_from(list('0159az{}",= \n#._-'))


@BOUNDED
@given(TAKEN_TEXTS, DIGIT_MAPS, st.lists(st.tuples(st.integers(0), CHANGED_CHARACTERS), max_size=3))
def test_the_metrics_check_gives_a_text_the_verdict_of_one_of_its_shape(
    text: str, digits: dict[int, str], changes: list[tuple[int, str]]
) -> None:
    # A poll's text after the last one's: its digits moved (the same shape, most polls),
    # maybe a character changed too (another shape). The verdict stays the parser's.
    verdict(check_metrics, text)  # its shape kept when taken by the regex and line reader
    later = list(text.translate(digits))
    for position, character in changes:
        if later:
            later[position % len(later)] = character
    after = "".join(later)
    assert verdict(check_metrics, after) == verdict(parse_metrics, after)


def test_a_metrics_text_of_a_shape_taken_is_not_read_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lines = [f'paths_inbound_bytes{{name="cam{n}",state="ready"}} {n * 9}' for n in range(1, 9)]
    check_metrics("\n".join(lines))
    monkeypatch.setattr(mediamtx_parse, "parse_metrics_lines", None)  # read: TypeError
    # The counters moved, none changed its length: the same shape.
    check_metrics("\n".join(line.replace("9", "8").replace("cam1", "cam2") for line in lines))
    check_metrics("\n".join(line.replace("} 1", "} 0") for line in lines))  # "} 08"
    # A count one digit longer is another shape: read again.
    with pytest.raises(TypeError):
        check_metrics("\n".join(line.replace("} 9", "} 10") for line in lines))
