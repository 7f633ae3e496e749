"""The viewer's bounds (server/viewer/src/limits.js), run by the real node.

Whatever answers on the viewer's origin must not make it poll faster than once a
second, read pages without end, hang on a request, or build a URL from a path name
that climbs out of its own path (issue 11 §4).
"""

from __future__ import annotations

import json
import subprocess
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.processes import REPO, require_binary
from support.sockets import silent_server as accepting_and_silent

LIMITS = REPO / "server" / "viewer" / "src" / "limits.js"

RUNNER = """
const limits = require(process.argv[1]);
const calls = JSON.parse(process.argv[2]);
(async () => {
  const results = [];
  for (const [name, args] of calls) {
    try {
      results.push({ value: await limits[name](...args) ?? null });
    } catch (error) {
      results.push({ error: String(error.message) });
    }
  }
  process.stdout.write(JSON.stringify({ results, constants: limits }));
})();
"""


def call_all(calls: list[tuple[str, list[Any]]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Each (function, arguments) evaluated by limits.js in one node process."""
    result = subprocess.run(
        [require_binary("node"), "-e", RUNNER, str(LIMITS), json.dumps(calls)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    document = json.loads(result.stdout)
    return document["results"], document["constants"]


def values(name: str, inputs: list[Any]) -> list[Any]:
    results, _ = call_all([(name, [item]) for item in inputs])
    return [result["value"] for result in results]


def test_the_poll_interval_is_clamped() -> None:
    assert values(
        "pollIntervalMs",
        ["5", "0", "-3", "0.01", "1", "2.5", "300", "301", "1e9", "Infinity", "NaN", "x", "", None],
    ) == [5000, 1000, 1000, 1000, 1000, 2500, 300000, 300000, 300000, 5000, 5000, 5000, 5000, 5000]


@settings(max_examples=20, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=12), st.none()), min_size=1, max_size=40))
def test_no_interval_leaves_the_bounds(raw: list[str | None]) -> None:
    assert all(1000 <= ms <= 300000 for ms in values("pollIntervalMs", raw))


def test_pages_read_are_capped() -> None:
    _, constants = call_all([])
    assert values("pagesToRead", [0, 1, 2, 50, 51, 10**9, -1, 2.5, "7", None]) == [
        1, 1, 2, 50, constants["MAX_PAGES"], constants["MAX_PAGES"], 1, 1, 1, 1
    ]  # fmt: skip
    assert constants["MAX_PAGES"] == 50


@pytest.mark.parametrize(
    "name",
    ["..", ".", "../cam1", "cam1/..", "a/../b", "a/./b", "/cam1", "cam1/", "a//b",
     "a\\..\\b", "cam\n1", "", "x" * 257],
)  # fmt: skip
def test_path_names_with_dot_segments_are_not_shown(name: str) -> None:
    assert values("isShowableName", [name]) == [False]
    assert values("playlistURL", [name]) == [None]


def test_non_strings_are_not_shown() -> None:
    assert values("isShowableName", [None, 5, ["cam1"], {"name": "cam1"}]) == [False] * 4


def test_playlist_urls_escape_every_segment() -> None:
    assert values("playlistURL", ["cam1", "site/cam 2", "a?b#c", "..a/b..", "%2e%2e"]) == [
        "cam1/index.m3u8",
        "site/cam%202/index.m3u8",
        "a%3Fb%23c/index.m3u8",
        "..a/b../index.m3u8",
        "%252e%252e/index.m3u8",
    ]


@settings(max_examples=20, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from("ab./%?#\\ \n"), max_size=10), max_size=40))
def test_a_playlist_url_never_leaves_its_path(names: list[str]) -> None:
    for name, url in zip(names, values("playlistURL", names), strict=True):
        if url is None:
            continue
        segments = url.removesuffix("/index.m3u8").split("/")
        assert [urllib.parse.unquote(s) for s in segments] == name.split("/")
        # What a browser resolves: no segment is "." or ".." and nothing is a query.
        assert all(s not in (".", "..", "") for s in segments)
        assert "?" not in url
        assert "#" not in url


def test_camera_urls_keep_the_id_in_one_segment_and_name_only_known_routes() -> None:
    results, _ = call_all(
        [
            ("cameraURL", ["cam1", "snapshot"]),
            ("cameraURL", ["site/cam 2", "controls"]),
            ("cameraURL", ["../x", "snapshot"]),
            ("cameraURL", ["cam1", "../v3/config/global/get"]),
            ("cameraURL", ["cam1", "settings"]),
        ]
    )
    assert [r["value"] for r in results] == [
        "api/cameras/cam1/snapshot",
        "api/cameras/site%2Fcam%202/controls",
        None,
        None,
        "api/cameras/cam1/settings",
    ]


@settings(max_examples=20, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from('ab./%?#\\ \n<>"'), max_size=10), max_size=40))
def test_a_camera_url_never_leaves_its_camera(names: list[str]) -> None:
    results, _ = call_all([("cameraURL", [name, "snapshot"]) for name in names])
    for name, result in zip(names, results, strict=True):
        url = result["value"]
        if url is None:
            continue
        prefix, camera, leaf = url.split("/")[:2], url.split("/")[2:-1], url.split("/")[-1]
        assert (prefix, leaf) == (["api", "cameras"], "snapshot")
        assert [urllib.parse.unquote(segment) for segment in camera] == [name]
        assert "?" not in url
        assert "#" not in url


def test_record_seconds_and_shown_text_are_bounded() -> None:
    assert values("recordSeconds", ["3", 1, "0", "-1", "2.5", "3601", "x", None, 3600]) == [
        3, 1, None, None, None, None, None, None, 3600
    ]  # fmt: skip
    clipped = values("clip", ["a" * 1000, "<b>", None, 7])
    assert [len(clipped[0]), *clipped[1:]] == [301, "<b>", "", "7"]


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections and never answers: a hung upstream."""
    with accepting_and_silent() as port:
        yield port


def test_a_fetch_that_gets_no_answer_times_out(silent_server: int) -> None:
    url = f"http://127.0.0.1:{silent_server}/api/v3/paths/list"
    results, constants = call_all([("fetchWithTimeout", [url, {}, 300])])
    assert results == [{"error": "timed out"}]
    assert constants["FETCH_TIMEOUT_MS"] == 10000
