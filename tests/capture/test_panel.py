"""capture/panel.py: the control table a panel is built from, and the thumbnail loop's
decisions, without a broker (the round trip is tests/mqtt/test_control_panel.py)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.mosquitto import segment_writer_argv
from support.processes import stop_process, wait_until
from support.properties import PROPERTIES, bounded

from trashmonitor.capture.media import newest_live_segment
from trashmonitor.capture.panel import (
    MAX_SNAPSHOT_INTERVAL,
    SnapshotLoop,
    controls_document,
    controls_payload,
    parse_snapshot_interval,
)
from trashmonitor.capture.v4l2 import Control, parse_controls
from trashmonitor.mqtt import MAX_MESSAGE_BYTES

C920 = Path(__file__).parent / "fixtures" / "c920-list-ctrls-menus.txt"


def test_the_c920_table_as_a_panel_sees_it() -> None:
    document = controls_document("camA", parse_controls(C920.read_text()), 5.0)
    by_name = {c["name"]: c for c in document["controls"]}
    assert by_name["exposure_time_absolute"]["auto_pair"] == "auto_exposure"
    assert by_name["white_balance_temperature"] == {
        "name": "white_balance_temperature", "type": "int", "min": 2000, "max": 6500,
        "step": 1, "default": 4000, "value": 4000, "menu": [], "inactive": True,
        "auto_pair": "white_balance_automatic",
    }  # fmt: skip
    assert by_name["white_balance_automatic"]["auto_pair"] is None
    assert len(controls_payload("camA", parse_controls(C920.read_text()), 5.0)) < 4096


def test_read_only_and_unsettable_controls_are_left_out() -> None:
    controls = [
        Control(1, "gain", "int", 0, 10, 1, 0, 0),
        Control(2, "sensor_id", "int", 0, 9, 1, 0, 0, frozenset({"read-only"})),
        Control(3, "roi", "bitmask"),
        Control(4, "reset", "button"),
        Control(5, "freq", "intmenu", 0, 1, 1, 0, 0, menu={0: "50", 1: "60"}),
    ]
    document = controls_document("camA", controls, 1.0)
    assert [(c["name"], c["type"]) for c in document["controls"]] == [
        ("gain", "int"), ("reset", "button"), ("freq", "menu")
    ]  # fmt: skip


def test_a_table_too_long_for_one_message_is_cut_and_says_so() -> None:
    many = [Control(i, f"control_{i:04d}", "int", 0, 1, 1, 0, 0) for i in range(400)]
    payload = controls_payload("camA", many, 1.0)
    assert len(payload) <= MAX_MESSAGE_BYTES
    document = json.loads(payload)
    assert document["truncated"] is True
    assert 0 < len(document["controls"]) < 400


@PROPERTIES
@given(st.text(max_size=30))
def test_snapshot_interval_is_off_or_bounded_or_refused(text: str) -> None:
    def attempt() -> float | str:
        try:
            return parse_snapshot_interval(text)
        except ValueError as error:
            return str(error)

    result = bounded(attempt)
    if isinstance(result, str):
        assert result.startswith("expected")
    else:
        assert result == 0 or 1 <= result <= MAX_SNAPSHOT_INTERVAL


@pytest.mark.parametrize("text", ["-1", "0.5", "nan", "inf", "1e9", "soon", ""])
def test_bad_snapshot_intervals_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="expected"):
        parse_snapshot_interval(text)


def test_no_thumbnail_while_disconnected_or_without_a_live_segment(tmp_path: Path) -> None:
    published: list[bytes] = []
    idle = SnapshotLoop(60, lambda: tmp_path / "x.ts", lambda: False, published.append)
    assert idle.take() is False
    empty = SnapshotLoop(60, lambda: None, lambda: True, published.append)
    assert empty.take() is False
    assert newest_live_segment(tmp_path, now=1e9) is None
    assert published == []


def test_a_thumbnail_of_the_newest_live_segment_fits_one_message(tmp_path: Path) -> None:
    proc = subprocess.Popen(segment_writer_argv(tmp_path, size="1280x720"),
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        segment = wait_until(lambda: newest_live_segment(tmp_path, now=time.time()), 30,
                             interval=0.2, what="a finished live segment")  # fmt: skip
    finally:
        stop_process(proc)
    published: list[bytes] = []
    loop = SnapshotLoop(60, lambda: segment, lambda: True, published.append)
    assert loop.take() is True
    assert published[0].startswith(b"\xff\xd8")
    assert len(published[0]) <= MAX_MESSAGE_BYTES
    assert newest_live_segment(tmp_path, now=time.time() + 60) is None  # the stream stopped
