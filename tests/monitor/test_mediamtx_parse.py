"""Parsing MediaMTX's path list (three schema generations) and its /metrics text."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from trashmonitor.errors import MalformedResponseError
from trashmonitor.monitor.mediamtx import default_metrics_url, metrics_url
from trashmonitor.monitor.mediamtx_parse import (
    decode_json,
    parse_metrics,
    parse_path,
    parse_paths_page,
    with_metrics,
)
from trashmonitor.monitor.model import MediaMTXMetrics, PathMetrics


def fixture(name: str) -> str:
    """A recorded MediaMTX answer from tests/monitor/fixtures/."""
    return (Path(__file__).parent / "fixtures" / name).read_text()


def load(name: str) -> Any:
    return json.loads(fixture(name))


def by_name(document: Any) -> dict[str, Any]:
    return {path.name: path for path in parse_paths_page(document).items}


def test_v1_9_ready_means_online_and_tracks_are_codec_names() -> None:
    paths = by_name(load("paths-v1.9.json"))
    cam1, cam2 = paths["cam1"], paths["cam2"]
    assert cam1.online
    assert cam1.available
    assert not cam1.placeholder
    assert cam1.inbound_bytes == 1048576
    assert cam1.outbound_bytes == 2097152
    assert cam1.readers == 1
    assert cam1.codec == "H264"
    assert cam1.resolution is None  # v1.9 has no codec properties
    assert cam1.frames_in_error is None
    assert cam1.source_type == "rtspSession"
    expected = datetime(2024, 3, 1, 10, 0, 0, 123456, tzinfo=UTC).timestamp()
    assert cam1.online_since == pytest.approx(expected)
    assert not cam2.online
    assert not cam2.available
    assert cam2.online_since is None


def test_v1_16_online_wins_over_available_for_placeholders() -> None:
    paths = by_name(load("paths-v1.16.json"))
    assert paths["cam1"].online
    assert paths["cam1"].codec == "H265"  # the video track, not Opus
    lobby = paths["lobby"]
    assert lobby.available
    assert not lobby.online
    assert lobby.placeholder
    assert lobby.online_since is None
    assert lobby.readers == 2
    assert not paths["cam3"].available
    assert not paths["cam3"].placeholder


def test_v1_20_new_counters_and_resolution_from_codec_props() -> None:
    paths = by_name(load("paths-v1.20.json"))
    cam1 = paths["cam1"]
    assert cam1.online
    assert cam1.inbound_bytes == 7340032
    assert cam1.frames_in_error == 3
    assert cam1.codec == "H264"  # tracks2 lists audio first; the video track is chosen
    assert cam1.resolution == "1280x720"
    assert cam1.online_since == pytest.approx(
        datetime(2025, 6, 1, 10, 0, 0, 500000, tzinfo=UTC).timestamp()
    )
    assert paths["lobby"].placeholder
    assert paths["av1cam"].resolution == "1920x1080"
    assert paths["av1cam"].codec == "AV1"


def test_new_counters_win_over_deprecated_ones() -> None:
    path = parse_path(
        {"name": "x", "online": True, "inboundBytes": 10, "bytesReceived": 999, "ready": True}
    )
    assert path.inbound_bytes == 10


def test_page_counts_are_read() -> None:
    page = parse_paths_page({"itemCount": 250, "pageCount": 3, "items": []})
    assert (page.item_count, page.page_count, page.items) == (250, 3, ())


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ([], "expected a JSON object"),
        ({"itemCount": 0, "pageCount": 0}, "missing or null"),
        ({"items": None}, "missing or null"),
        ({"items": {}}, "not a list"),
        ({"items": [], "pageCount": "2"}, "pageCount"),
        ({"items": [42]}, "expected an object"),
        ({"items": [{"name": ""}]}, "name"),
        ({"items": [{"name": "a", "ready": "yes"}]}, "ready"),
        ({"items": [{"name": "a", "inboundBytes": -1}]}, "inboundBytes"),
        ({"items": [{"name": "a", "readers": 3}]}, "readers"),
        ({"items": [{"name": "a", "tracks": [1]}]}, "tracks"),
        ({"items": [{"name": "a", "tracks2": [{"codecProps": {}}]}]}, "tracks2"),
        ({"items": [{"name": "a", "online": True, "onlineTime": "yesterday"}]}, "time"),
    ],
)
def test_wrong_shapes_are_malformed(document: Any, problem: str) -> None:
    with pytest.raises(MalformedResponseError, match=problem):
        parse_paths_page(document)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"<!doctype html><html>502</html>", "HTML"),
        (b"", "empty"),
        (b'{"items": [{"name": "cam', "truncated"),
        (b'{"items": nope}', "invalid JSON"),
        (b"\xff\xfe{}", "invalid JSON|not UTF-8"),
    ],
)
def test_decode_json_names_the_problem(body: bytes, problem: str) -> None:
    with pytest.raises(MalformedResponseError, match=problem):
        decode_json(body, "src")


def test_metrics_new_families_summed_readers_and_rejected_names() -> None:
    metrics = parse_metrics(fixture("metrics-v1.20.txt"))
    cam1 = metrics.paths["cam1"]
    assert cam1.state == "ready"
    assert cam1.inbound_bytes == 7340032
    assert cam1.outbound_bytes == 14680064
    assert cam1.frames_in_error == 3
    assert cam1.readers == 3  # one sample per readerType
    assert {"paths", "hls_muxers", "rtsp_sessions_inbound_bytes"} <= metrics.families
    assert set(metrics.paths) == {"cam1"}  # rtsp_sessions' `path` ignored
    # An unescaped quote still splits right, but the name is outside MediaMTX's grammar
    # (it could not have been published): counted once, never kept.
    assert metrics.rejected_paths == 1


def test_metrics_deprecated_family_names() -> None:
    metrics = parse_metrics(fixture("metrics-v1.9.txt"))
    assert metrics.paths["cam1"].inbound_bytes == 1048576
    assert metrics.paths["cam1"].outbound_bytes == 2097152
    assert metrics.paths["cam2"].state == "notReady"
    assert metrics.paths["cam1"].frames_in_error is None


def test_metrics_new_name_wins_whatever_the_order() -> None:
    text = (
        'paths_bytes_received{name="a",state="ready"} 5\n'
        'paths_inbound_bytes{name="a",state="ready"} 7\n'
        'paths_inbound_bytes{name="b",state="ready"} 9\n'
        'paths_bytes_received{name="b",state="ready"} 1\n'
    )
    metrics = parse_metrics(text)
    assert metrics.paths["a"].inbound_bytes == 7
    assert metrics.paths["b"].inbound_bytes == 9


@pytest.mark.parametrize("text", ["<html>nope</html>", 'paths{name="a"} many'])
def test_metrics_that_are_not_metrics_are_malformed(text: str) -> None:
    with pytest.raises(MalformedResponseError):
        parse_metrics(text)


def test_metrics_urls() -> None:
    assert default_metrics_url("http://cams.example:9997") == "http://cams.example:9998/metrics"
    assert default_metrics_url("http://cams.example/api") == "http://cams.example:9998/metrics"
    assert default_metrics_url("http://[fd7a::1]:9997") == "http://[fd7a::1]:9998/metrics"
    assert metrics_url("http://h:9998") == "http://h:9998/metrics"
    assert metrics_url("http://h/mtx/metrics") == "http://h/mtx/metrics"


def test_with_metrics_fills_only_what_the_api_lacks() -> None:
    old = parse_path({"name": "old", "ready": True, "bytesReceived": 5})
    new = parse_path({"name": "new", "online": True, "inboundFramesInError": 2})
    metrics = MediaMTXMetrics(
        {
            "old": PathMetrics("old", frames_in_error=7),
            "new": PathMetrics("new", frames_in_error=99),
        }
    )
    paths = {"old": old, "new": new}
    completed = with_metrics(paths, metrics)
    assert completed["old"].frames_in_error == 7  # only /metrics says it before v1.17
    assert completed["new"].frames_in_error == 2  # the API's own count wins
    assert with_metrics(paths, None) is paths
    assert with_metrics({"new": new}, metrics) == {"new": new}
