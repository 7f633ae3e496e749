"""The viewer in real headless Chromium.

Against real Caddy: ffmpeg encodes testsrc2 into HLS (MPEG-TS segments, like MediaMTX's
mpegts variant) in a directory a stand-in serves as MediaMTX's HLS server; stand-ins
answer the MediaMTX API (two pages) and the monitor's /status. The control panel is
driven against tests/support/fake_control_api.py, which serves the built viewer and the
monitor's control API from one origin (Caddy forwards control POSTs only when control is
enabled there; that path is the end-to-end test's). docs/viewer.png comes from
`just screenshot` (the demo), not from here.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from server.server_harness import Reply, caddy_env, run_caddy
from support.browser import Browser, browser
from support.fake_control_api import ControlAPI, serve_control_api
from support.processes import REPO, require_binary, running, wait_until

VIEWER = REPO / "server" / "viewer"

# Two pages: the viewer must follow pageCount, not stop at page 0 (GUIDE §4).
PAGE_0: dict[str, Any] = {
    "itemCount": 2,
    "pageCount": 2,
    "items": [
        {
            "name": "cam1",
            "confName": "cam1",
            "online": True,
            "onlineTime": "2026-01-01T00:00:00Z",
            "available": True,
            "ready": True,
            "tracks2": [{"codec": "H264", "codecProps": {"width": 640, "height": 360}}],
            "inboundBytes": 1000,
            "readers": [{"type": "hlsMuxer", "id": "x"}],
        }
    ],
}
PAGE_1: dict[str, Any] = {
    "itemCount": 3,
    "pageCount": 2,
    "items": [
        # MediaMTX before v1.16 has no `online`: the viewer falls back to `ready`.
        {
            "name": "cam0-old",
            "confName": "cam0-old",
            "ready": False,
            "readyTime": None,
            "tracks": [],
            "bytesReceived": 0,
            "readers": [],
        },
        {
            "name": "cam2",
            "confName": "cam2",
            "online": False,
            "onlineTime": None,
            "available": False,
            "ready": False,
            "tracks2": [],
            "inboundBytes": 0,
            "readers": [],
        },
        # A hostile name from whatever answers on the API: never a tile, never a URL.
        {
            "name": "../../api/v3/config/global/get",
            "online": True,
            "tracks2": [],
            "inboundBytes": 0,
            "readers": [],
        },
    ],
}
STATUS = {
    "generated_at": 1763700000.0,
    "mediamtx": {"reachable": True, "error": None},
    "summary": {"ok": 1, "degraded": 0, "down": 1, "parked": 0},
    "cameras": [
        {
            "name": "cam1",
            "state": "ok",
            "reasons": [],
            "online": True,
            "codec": "H264",
            "resolution": "640x360",
            "inbound_bytes_per_second": 40000.0,
            "readers": 1,
            "frames_in_error": 0,
            "online_since": 1763699000.0,
            "agent": None,
        },
        {
            "name": "cam2",
            "state": "down",
            "reasons": ["no_publisher", "agent_offline"],
            "online": False,
            "codec": None,
            "resolution": None,
            "inbound_bytes_per_second": 0.0,
            "readers": 0,
            "frames_in_error": 0,
            "online_since": None,
            "agent": None,
        },
    ],
}


def build_viewer(target: Path) -> Path:
    node = require_binary("node")
    if not (VIEWER / "node_modules" / "hls.js").is_dir():
        pytest.fail("hls.js is not installed: run scripts/setup (npm ci in server/viewer)")
    subprocess.run([node, str(VIEWER / "build.mjs"), str(target)], check=True, capture_output=True)
    return target


def segments(playlist: Path) -> int:
    return playlist.read_text().count(".ts") if playlist.exists() else 0


BITRATE = "return document.querySelector('.tile[data-path=\"cam1\"] .bitrate').textContent"

BANNER = "const b = document.getElementById('banner'); return !b.hidden && b.textContent"

TILE_FACTS = """
return [...document.querySelectorAll('#wall .tile')].map(t => ({
  path: t.dataset.path, live: t.dataset.live, state: t.dataset.state, shown: !t.hidden,
  name: t.querySelector('.name').textContent,
  placeholder: t.querySelector('.placeholder').textContent,
  reasons: t.querySelector('.reasons').textContent,
  fps: t.querySelector('.fps').textContent,
  changed: t.querySelector('.changed').textContent,
  codec: t.querySelector('.codec').textContent,
  viewers: t.querySelector('.viewers').textContent,
  uptime: t.querySelector('.uptime').textContent,
  stale: t.classList.contains('stale'),
  thumbnail: !t.querySelector('.thumbnail').hidden,
  time: t.querySelector('video').currentTime,
}));
"""


def agent(
    fps: float | None, target: float, last_state_at: float | None = None, stream: str = "streaming"
) -> dict[str, Any]:
    return {
        "online": True, "stream_state": stream, "fps": fps, "target_fps": target,
        "black": False, "frozen": False, "restarts": 0, "last_state_at": last_state_at,
    }  # fmt: skip


def camera(name: str, state: str, reasons: list[str], **extra: Any) -> dict[str, Any]:
    """One camera of the monitor's /api/status document (docs/monitor.md)."""
    return {
        "name": name, "state": state, "reasons": reasons, "online": state != "down",
        "codec": None, "resolution": None, "inbound_bytes_per_second": None,
        "inbound_bytes": 0, "readers": 0, "frames_in_error": 0, "online_since": None,
        "last_inbound_at": None, "agent": None, **extra,
    }  # fmt: skip


def status_of(*cameras: dict[str, Any]) -> dict[str, Any]:
    counts = {state: 0 for state in ("ok", "degraded", "down", "parked")}
    for entry in cameras:
        counts[entry["state"]] += 1
    return {
        "generated_at": time.time(),
        "mediamtx": {"reachable": False, "error": "connection refused", "metrics_error": None},
        "summary": counts,
        "cameras": list(cameras),
    }


def tile_facts(chromium: Browser, count: int) -> list[dict[str, Any]]:
    facts: list[dict[str, Any]] = wait_until(
        lambda: (found := chromium.script(TILE_FACTS)) and len(found) == count and found,
        timeout=30,
        what=f"{count} tiles",
    )
    return facts


@pytest.fixture
def built_viewer(tmp_path: Path) -> Path:
    return build_viewer(tmp_path / "viewer")


@pytest.fixture
def control_api(built_viewer: Path) -> Iterator[ControlAPI]:
    with serve_control_api(ControlAPI(viewer=built_viewer)) as api:
        yield api


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[Browser]:
    with browser(tmp_path) as session:
        yield session


def hls_encoder(playlist: Path) -> list[str]:
    """ffmpeg encoding testsrc2 into live HLS, as MediaMTX's mpegts variant serves it."""
    return [
        require_binary("ffmpeg"), "-hide_banner", "-loglevel", "error", "-re",
        "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=15",
        "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
        "-pix_fmt", "yuv420p", "-g", "15",
        "-f", "hls", "-hls_time", "1", "-hls_list_size", "6",
        "-hls_flags", "delete_segments+independent_segments", str(playlist),
    ]  # fmt: skip


def serve_two_pages_and_the_status(api: Any, monitor: Any) -> dict[str, Any]:
    """The API's two pages (cam1 online for 2 h 1 min) and the monitor's /status; returns
    page 0 as served."""
    two_hours_ago = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 7260))
    page_0 = {**PAGE_0, "items": [{**PAGE_0["items"][0], "onlineTime": two_hours_ago}]}
    api.routes["/v3/paths/list?page=0&itemsPerPage=100"] = Reply(body=json.dumps(page_0).encode())
    api.routes["/v3/paths/list?page=1&itemsPerPage=100"] = Reply(body=json.dumps(PAGE_1).encode())
    monitor.routes["/api/status"] = Reply(body=json.dumps(STATUS).encode())
    return page_0


def assert_mediamtx_merged_with_the_monitor(chromium: Browser) -> None:
    old, cam1, cam2 = tile_facts(chromium, 3)
    assert (old["path"], old["live"], old["placeholder"]) == (
        "cam0-old",
        "false",
        "no producer",
    )
    assert (old["state"], old["reasons"]) == ("", "")  # the monitor knows nothing of it
    assert (cam1["path"], cam1["live"], cam1["state"]) == ("cam1", "true", "ok")
    assert (cam1["codec"], cam1["viewers"], cam1["uptime"]) == ("H264 640×360", "1", "2h 1m")
    assert (cam2["path"], cam2["live"], cam2["state"]) == ("cam2", "false", "down")
    assert cam2["placeholder"] == "no producer"
    assert cam2["reasons"] == "no producer · agent offline"
    state = chromium.script("return window.trashmonitorViewer")
    assert state["ignoredNames"] == 1
    assert state["pollMs"] == 1000


def assert_the_video_plays(chromium: Browser, api: Any, hls: Any) -> None:
    """Its clock advances past a second of stream, fetched through Caddy, no `..` path."""
    wait_until(
        lambda: chromium.script(TILE_FACTS)[1]["time"] > 1.0, timeout=45, what="video playing"
    )
    assert any(path.endswith(".ts") for path in hls.seen), hls.seen
    assert not [path for path in hls.seen + api.seen if ".." in path]


def assert_bitrate_from_growing_bytes(chromium: Browser, api: Any, page_0: dict[str, Any]) -> None:
    """Bitrate comes from inboundBytes growing between two polls."""
    grown = {**page_0, "items": [{**page_0["items"][0], "inboundBytes": 1000 + 250_000}]}
    api.routes["/v3/paths/list?page=0&itemsPerPage=100"] = Reply(body=json.dumps(grown).encode())
    bitrate = wait_until(
        lambda: (text := chromium.script(BITRATE)) != "0 kbit/s" and text,
        timeout=15,
        what="bitrate from growing inboundBytes",
    )
    assert str(bitrate).endswith(("kbit/s", "Mbit/s"))


def assert_fullscreen_button_works(chromium: Browser) -> None:
    """The fullscreen button (a real, trusted click) puts its tile in fullscreen."""
    chromium.click('.tile[data-path="cam1"] .fullscreen')
    wait_until(
        lambda: chromium.script("return document.fullscreenElement?.dataset.path") == "cam1",
        timeout=10,
        what="cam1 fullscreen",
    )
    chromium.script("return document.exitFullscreen()")


def assert_tiles_kept_as_the_sources_go_away(chromium: Browser, api: Any, monitor: Any) -> None:
    # The monitor goes away: MediaMTX's tiles stay, their states marked as unknown.
    monitor.routes.clear()
    wait_until(
        lambda: chromium.script(
            "return document.getElementById('monitor-banner').textContent"
        ).startswith("monitor status unavailable (HTTP 404)"),
        timeout=15,
        what="monitor unavailable banner",
    )
    assert {t["state"] for t in tile_facts(chromium, 3)} == {""}

    # Both gone: the last tiles are kept, marked stale.
    api.routes.clear()
    wait_until(
        lambda: chromium.script("return document.querySelectorAll('.tile.stale').length") == 3,
        timeout=15,
        what="stale tiles",
    )
    assert str(chromium.script(BANNER)).startswith("MediaMTX API unreachable (HTTP 404)")


@pytest.mark.slow
def test_viewer_plays_hls_and_merges_mediamtx_with_the_monitor(
    tmp_path: Path, standins: Any, built_viewer: Path
) -> None:
    hls_dir = tmp_path / "hls"
    (hls_dir / "cam1").mkdir(parents=True)
    playlist = hls_dir / "cam1" / "index.m3u8"
    api, hls, monitor = standins("api"), standins("hls"), standins("monitor")
    hls.directory = hls_dir
    page_0 = serve_two_pages_and_the_status(api, monitor)
    env, ports = caddy_env(api, hls, monitor, built_viewer, tls=None)

    with (
        running(hls_encoder(playlist), log_path=tmp_path / "ffmpeg.log"),
        run_caddy(env, ports, tmp_path / "caddy.log"),
        browser(tmp_path) as chromium,
    ):
        wait_until(lambda: segments(playlist) >= 2, timeout=30, what="ffmpeg HLS segments")
        chromium.open(f"{ports.base}/?interval=1")
        assert_mediamtx_merged_with_the_monitor(chromium)
        assert_the_video_plays(chromium, api, hls)
        assert_bitrate_from_growing_bytes(chromium, api, page_0)
        assert_fullscreen_button_works(chromium)
        assert_tiles_kept_as_the_sources_go_away(chromium, api, monitor)


THREE_CAMERAS = status_of(
    camera("cam1", "ok", [], agent=agent(9.8, 10, 1763699000.0)),
    camera("cam2", "degraded", ["low_fps"], agent=agent(4.0, 10)),
    # Its publish failing (as in the demo without MediaMTX): no fps, its state in words.
    camera(
        "cam3", "degraded", ["black_image", "frozen_image"], agent=agent(None, 10, stream="backoff")
    ),
)


@pytest.mark.slow
def test_tiles_stay_from_the_monitor_with_a_banner_when_mediamtx_is_down(
    tmp_path: Path, standins: Any, built_viewer: Path
) -> None:
    """Today's demo without MediaMTX: the monitor knows three cameras, MediaMTX does not
    answer. The wall shows them all, through the real Caddy, under one banner."""
    api, hls, monitor = standins("api"), standins("hls"), standins("monitor")
    monitor.routes["/api/status"] = Reply(body=json.dumps(THREE_CAMERAS).encode())
    env, ports = caddy_env(api, hls, monitor, built_viewer, tls=None)
    with run_caddy(env, ports, tmp_path / "caddy.log"), browser(tmp_path) as chromium:
        chromium.open(f"{ports.base}/?interval=1")
        cam1, cam2, cam3 = tile_facts(chromium, 3)
        banner = wait_until(lambda: chromium.script(BANNER), timeout=15, what="banner")
        assert str(banner).startswith("MediaMTX API unreachable (HTTP 404)")
        assert (cam1["state"], cam1["fps"], cam1["reasons"]) == ("ok", "9.8 / 10", "")
        assert cam1["changed"].endswith(" ago")  # the agent's last state change
        assert (cam2["state"], cam2["fps"], cam2["reasons"]) == ("degraded", "4.0 / 10", "low fps")
        assert cam3["reasons"] == "black image · frozen image"
        assert cam3["fps"] == "– / 10 (not publishing, retrying)"
        for tile in (cam1, cam2, cam3):
            assert tile["placeholder"] == "no live video: MediaMTX unreachable"
            assert tile["live"] == "false"
            assert not tile["stale"]  # the monitor vouches for them
            assert not tile["thumbnail"]  # no snapshot route yet: 404, placeholder only
        # The snapshot was asked for through Caddy (404 until the monitor serves it).
        assert wait_until(
            lambda: chromium.script(
                "return performance.getEntriesByType('resource')"
                ".filter(e => e.name.includes('/api/cameras/cam3/snapshot')).length"
            ),
            timeout=10,
            what="snapshot requested",
        )


def open_wall(chromium: Browser, api: ControlAPI, query: str = "interval=1") -> None:
    chromium.open(f"{api.base}/?{query}")


@pytest.mark.slow
def test_summary_counts_sort_and_filter_by_state(
    control_api: ControlAPI, chromium: Browser
) -> None:
    control_api.status = status_of(
        camera("alpha", "ok", []),
        camera("bravo", "down", ["no_publisher"]),
        camera("charlie", "degraded", ["low_fps"]),
        camera("delta", "parked", []),
        camera("echo", "down", ["agent_without_publisher"]),
    )
    open_wall(chromium, control_api)
    tile_facts(chromium, 5)
    counts = chromium.script(
        "return Object.fromEntries([...document.querySelectorAll('#counts li')]"
        ".map(li => [li.dataset.count, li.querySelector('b').textContent]))"
    )
    assert counts == {"ok": "1", "degraded": "1", "down": "2", "parked": "1"}

    chromium.script(
        "const s = document.getElementById('sort'); s.value = 'state';"
        "s.dispatchEvent(new Event('change'))"
    )
    order = [t["path"] for t in chromium.script(TILE_FACTS)]
    assert order == ["bravo", "echo", "charlie", "alpha", "delta"]

    chromium.script(
        "const f = document.getElementById('filter'); f.value = 'down';"
        "f.dispatchEvent(new Event('change'))"
    )
    shown = [t["path"] for t in chromium.script(TILE_FACTS) if t["shown"]]
    assert shown == ["bravo", "echo"]
    assert "2 shown" in str(
        chromium.script("return document.getElementById('summary').textContent")
    )

    # A state change is announced in the live region, and the filter follows it.
    control_api.status = status_of(
        camera("alpha", "down", ["no_publisher"]),
        camera("bravo", "down", ["no_publisher"]),
        camera("charlie", "degraded", ["low_fps"]),
        camera("delta", "parked", []),
        camera("echo", "down", ["agent_without_publisher"]),
    )
    announced = wait_until(
        lambda: chromium.script("return document.getElementById('announcer').textContent"),
        timeout=15,
        what="state change announced",
    )
    assert announced == "alpha: ok → down (no producer)"
    assert (
        chromium.script("return document.getElementById('announcer').getAttribute('aria-live')")
        == "polite"
    )
    shown = [t["path"] for t in chromium.script(TILE_FACTS) if t["shown"]]
    assert shown == ["alpha", "bravo", "echo"]

    # Filter and sort are also URL parameters (a bookmarkable "problems" wall).
    open_wall(chromium, control_api, "interval=1&state=problems&sort=name")
    facts = tile_facts(chromium, 5)
    assert [t["path"] for t in facts if t["shown"]] == ["alpha", "bravo", "charlie", "echo"]


@pytest.mark.slow
def test_phone_width_has_no_horizontal_scroll(control_api: ControlAPI, chromium: Browser) -> None:
    control_api.status = status_of(
        camera("a-rather-long-camera-name-without-any-break-in-it-at-all-0123456789", "ok", []),
        camera("cam2", "degraded", ["black_image", "frozen_image", "low_fps"], agent=agent(3, 10)),
    )
    chromium.set_window(360, 740)
    open_wall(chromium, control_api)
    tile_facts(chromium, 2)
    widths = chromium.script(
        "const d = document.documentElement;"
        "return {scroll: d.scrollWidth, client: d.clientWidth, inner: window.innerWidth}"
    )
    assert widths["inner"] <= 360, widths
    assert widths["scroll"] <= widths["client"], widths
    # Every control is reachable by keyboard, in the order the tiles are shown.
    focusable = chromium.script(
        "return [...document.querySelectorAll('select, button:not([hidden])')]"
        ".map(e => e.getAttribute('aria-label') || e.id)"
    )
    assert focusable == [
        "filter",
        "sort",
        "a-rather-long-camera-name-without-any-break-in-it-at-all-0123456789: fullscreen",
        "cam2: fullscreen",
    ]


HOSTILE = '<img src=x onerror="window.pwned=1">'


@pytest.mark.slow
def test_hostile_names_reasons_and_messages_are_shown_as_text(
    control_api: ControlAPI, chromium: Browser
) -> None:
    control_api.status = status_of(camera(HOSTILE, "degraded", [HOSTILE]))
    control_api.controls[HOSTILE] = controls_document(
        HOSTILE,
        events=[{"request": "x", "ok": False, "message": HOSTILE, "ts": 1.0, "file": HOSTILE}],
    )
    open_wall(chromium, control_api)
    (tile,) = tile_facts(chromium, 1)
    assert (tile["name"], tile["reasons"]) == (HOSTILE, HOSTILE)
    open_panel(chromium, HOSTILE)
    events = wait_until(lambda: event_texts(chromium), timeout=15, what="events")
    assert events == [f"error{HOSTILE}{HOSTILE}"]
    # Not one element was made from those strings, and nothing ran.
    assert (
        chromium.script("return document.querySelectorAll('#wall img:not(.thumbnail)').length") == 0
    )
    assert chromium.script("return window.pwned === undefined") is True
    # The one URL built from the name keeps it in one path segment.
    assert HOSTILE in control_api.snapshot_requests


INCIDENT_FACTS = """
return Object.fromEntries([...document.querySelectorAll('#wall .tile')].map(t => [
  t.dataset.path, {
    quality: t.querySelector('.quality').textContent,
    availability: t.querySelector('.availability').textContent,
    incidents: [...t.querySelectorAll('.incidents li')].map(li => li.textContent),
  }]));
"""


def incident(
    camera_name: str, start: float, seconds: float | None, reasons: list[str]
) -> dict[str, Any]:
    """One entry of the monitor's GET /api/incidents (docs/contracts.md)."""
    return {
        "camera": camera_name, "start": start, "end": None if seconds is None else start + seconds,
        "ongoing": seconds is None, "duration_seconds": seconds or 12.0, "reasons": reasons,
    }  # fmt: skip


@pytest.mark.slow
def test_tiles_show_quality_availability_and_the_last_incidents(
    control_api: ControlAPI, chromium: Browser
) -> None:
    quality = {"grade": "fair", "reconnects_last_hour": 2, "stalls_last_hour": 0}
    control_api.status = status_of(
        camera("cam1", "down", ["black_image"], quality=quality,
               availability={"1h": 0.5, "1d": 0.9876, "30d": 0.999, "incidents_last_day": 4}),
        camera("cam2", "ok", [], quality=None, availability=None),
    )  # fmt: skip
    start = 1_800_000_000.0
    control_api.incidents = {
        "incidents": [  # newest first, as the monitor answers
            incident("cam1", start + 900, None, ["black_image"]),
            incident("cam1", start + 600, 125.0, ["no_publisher", "agent_offline"]),
            incident("cam1", start + 300, 3700.0, [HOSTILE]),
            incident("cam1", start, 5.0, ["low_fps"]),  # a fourth: not shown
        ],
        "truncated": False,
    }
    open_wall(chromium, control_api)
    tile_facts(chromium, 2)
    facts = wait_until(
        lambda: (found := chromium.script(INCIDENT_FACTS)) and found["cam1"]["incidents"]
        and found["cam1"]["incidents"] != ["none recorded"] and found,
        timeout=30, what="incidents on the tiles",
    )  # fmt: skip
    assert facts["cam1"]["quality"] == "fair"
    assert facts["cam1"]["availability"] == "98.76 %"
    assert (facts["cam2"]["quality"], facts["cam2"]["availability"]) == ("–", "–")
    assert facts["cam2"]["incidents"] == ["none recorded"]
    # Start as the page's local clock shows it, then duration or "ongoing", then the cause.
    starts = chromium.script(
        "const p = (n) => String(n).padStart(2, '0');"
        "return arguments[0].map((s) => { const d = new Date(s * 1000);"
        " return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} `"
        " + `${p(d.getHours())}:${p(d.getMinutes())}`; })",
        [start + 900, start + 600, start + 300],
    )  # fmt: skip
    assert facts["cam1"]["incidents"] == [
        f"{starts[0]} · ongoing · black image",
        f"{starts[1]} · 2m 5s · no producer · agent offline",
        f"{starts[2]} · 1h 1m · {HOSTILE}",
    ]
    # Shown as text: nothing made from the hostile cause; one bounded request for all.
    assert chromium.script("return window.pwned === undefined") is True
    assert control_api.incident_queries[0] == "limit=200"


def controls_document(
    name: str,
    *,
    online: bool = True,
    enabled: bool = True,
    events: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A panel document as the monitor relays it (the agent's V4L2 table, seed pairs)."""

    def control(name: str, kind: str, value: int, **extra: Any) -> dict[str, Any]:
        return {
            "name": name, "type": kind, "min": None, "max": None, "step": None,
            "default": value, "value": value, "menu": [], "inactive": False,
            "auto_pair": None, **extra,
        }  # fmt: skip

    def entries(labels: dict[int, str]) -> list[dict[str, Any]]:
        return [{"index": index, "label": label} for index, label in labels.items()]

    return {
        "camera": name,
        "online": online,
        "control_enabled": enabled,
        "controls": [
            control("brightness", "int", 128, min=0, max=255, step=1),
            control("focus_automatic_continuous", "bool", 1),
            control("focus_absolute", "int", 0, min=0, max=250, step=5, inactive=True,
                    auto_pair="focus_automatic_continuous"),
            control("auto_exposure", "menu", 3,
                    menu=entries({1: "Manual Mode", 3: "Aperture Priority Mode"})),
            control("exposure_time_absolute", "int", 156, min=3, max=2047, step=1,
                    auto_pair="auto_exposure"),
            control("power_line_frequency", "menu", 1,
                    menu=entries({0: "Disabled", 1: "50 Hz", 2: "60 Hz"})),
            control("pan_reset", "button", 0),
        ],
        "events": events or [],
    }  # fmt: skip


def open_panel(chromium: Browser, name: str) -> None:
    selector = f'.tile[data-path="{name}"] .open-panel' if '"' not in name else ".open-panel"
    wait_until(
        lambda: chromium.script(f"return !document.querySelector('{selector}').hidden"),
        timeout=20,
        what="controls button shown",
    )
    chromium.click(selector)
    wait_until(
        lambda: chromium.script("return document.querySelectorAll('.panel .control').length"),
        timeout=15,
        what="panel built",
    )


def event_texts(chromium: Browser) -> list[str]:
    texts: list[str] = chromium.script(
        "return [...document.querySelectorAll('.panel .events li')]"
        ".map(li => [...li.querySelectorAll('.outcome, .message, .file')]"
        ".map(e => e.textContent).join(''))"
    )
    return texts


PANEL_FACTS = """
return [...document.querySelectorAll('.panel .control')].map(row => {
  const input = row.querySelector('.value, .press');
  const auto = row.querySelector('input.auto');
  return {
    name: row.dataset.control, type: row.dataset.type, tag: input.tagName.toLowerCase(),
    kind: input.type, value: input.type === 'checkbox' ? input.checked : input.value,
    disabled: input.disabled, auto: auto ? auto.checked : null,
    options: input.tagName === 'SELECT' ? [...input.options].map(o => o.textContent) : null,
  };
});
"""


def change(chromium: Browser, css: str, value: object) -> None:
    chromium.script(
        "const e = document.querySelector(arguments[0]);"
        "if (e.type === 'checkbox') e.checked = arguments[1]; else e.value = arguments[1];"
        "e.dispatchEvent(new Event('change'))",
        css,
        value,
    )


def assert_one_row_per_control_type(chromium: Browser) -> None:
    rows = {row["name"]: row for row in chromium.script(PANEL_FACTS)}
    # The auto controls are not rows of their own: they are their manual control's toggle.
    assert list(rows) == [
        "brightness", "focus_absolute", "exposure_time_absolute", "power_line_frequency",
        "pan_reset",
    ]  # fmt: skip
    assert rows["brightness"] | {} == {
        "name": "brightness", "type": "int", "tag": "input", "kind": "number", "value": "128",
        "disabled": False, "auto": None, "options": None,
    }  # fmt: skip
    assert (rows["focus_absolute"]["auto"], rows["focus_absolute"]["disabled"]) == (True, True)
    assert (rows["exposure_time_absolute"]["auto"], rows["exposure_time_absolute"]["disabled"]) == (
        True,
        True,
    )
    assert rows["power_line_frequency"]["options"] == ["Disabled", "50 Hz", "60 Hz"]
    assert rows["power_line_frequency"]["value"] == "1"
    assert (rows["pan_reset"]["tag"], rows["pan_reset"]["disabled"]) == ("button", False)


def assert_changes_are_posted_with_the_header(chromium: Browser, control_api: ControlAPI) -> None:
    change(chromium, '.control[data-control="brightness"] .value', "140")
    change(chromium, '.control[data-control="power_line_frequency"] .value', "2")
    change(chromium, '.control[data-control="focus_absolute"] input.auto', False)
    change(chromium, '.control[data-control="exposure_time_absolute"] input.auto', False)
    chromium.click('.control[data-control="pan_reset"] .press')
    wait_until(lambda: len(control_api.posted) == 5, timeout=15, what="five settings posted")
    # Sent one after the other without waiting: they may arrive in any order.
    assert {p.path for p in control_api.posted} == {"/api/cameras/cam1/settings"}
    assert sorted((p.body for p in control_api.posted), key=json.dumps) == sorted(
        [
            {"control": "brightness", "value": 140},
            {"control": "power_line_frequency", "value": 2},
            {"control": "focus_automatic_continuous", "value": 0},  # focus to manual
            {"control": "auto_exposure", "value": 1},  # the menu's "Manual Mode"
            {"control": "pan_reset", "value": 1},
        ],
        key=json.dumps,
    )
    for posted in control_api.posted:
        assert posted.headers["x-trashmon-control"] == "1"
        assert posted.headers["content-type"] == "application/json"
        assert posted.headers["sec-fetch-site"] == "same-origin"


def assert_manual_focus_follows_the_agent(chromium: Browser, control_api: ControlAPI) -> None:
    """The agent switched focus to manual: the manual input comes alive, the toggle follows."""
    document = controls_document("cam1")
    document["controls"][1]["value"] = 0
    document["controls"][2]["inactive"] = False
    control_api.controls["cam1"] = document
    wait_until(
        lambda: chromium.script(
            "return !document.querySelector("
            "'.control[data-control=\"focus_absolute\"] .value').disabled"
        ),
        timeout=15,
        what="manual focus enabled",
    )


def open_cam1_panel(chromium: Browser, control_api: ControlAPI) -> None:
    """One camera whose agent streams, its panel open."""
    control_api.status = status_of(camera("cam1", "ok", [], agent=agent(10, 10)))
    control_api.controls["cam1"] = controls_document("cam1")
    open_wall(chromium, control_api)
    tile_facts(chromium, 1)
    open_panel(chromium, "cam1")


@pytest.mark.slow
def test_panel_renders_each_control_type_and_posts_with_the_header(
    control_api: ControlAPI, chromium: Browser
) -> None:
    open_cam1_panel(chromium, control_api)
    assert_one_row_per_control_type(chromium)
    assert_changes_are_posted_with_the_header(chromium, control_api)
    assert_manual_focus_follows_the_agent(chromium, control_api)


def write_test_picture(path: Path) -> Path:
    subprocess.run(
        [require_binary("ffmpeg"), "-hide_banner", "-loglevel", "error", "-f", "lavfi",
         "-i", "testsrc2=size=160x90", "-frames:v", "1", str(path)],
        check=True,
    )  # fmt: skip
    return path


def assert_picture_brings_the_thumbnail(
    chromium: Browser, control_api: ControlAPI, picture: Path
) -> None:
    """Take a picture: the thumbnail is looked for again and appears."""
    asked = len(control_api.snapshot_requests)
    control_api.snapshots["cam1"] = picture.read_bytes()
    chromium.click('.tile[data-path="cam1"] .actions .picture')
    wait_until(lambda: len(control_api.posted) == 1, timeout=15, what="picture posted")
    wait_until(lambda: tile_facts(chromium, 1)[0]["thumbnail"], timeout=15, what="thumbnail")
    assert len(control_api.snapshot_requests) > asked


def assert_record_and_stop_are_posted(chromium: Browser, control_api: ControlAPI) -> None:
    change(chromium, ".actions .seconds", "3")
    chromium.click(".actions .record")
    chromium.click(".actions .stop")
    wait_until(lambda: len(control_api.posted) == 3, timeout=15, what="record and stop posted")
    assert control_api.posted[0].body == {"action": "picture"}
    assert sorted((p.body for p in control_api.posted[1:]), key=json.dumps) == [
        {"action": "record", "seconds": 3}, {"action": "stop"},
    ]  # fmt: skip
    assert {p.path for p in control_api.posted} == {"/api/cameras/cam1/actions"}
    assert all(p.headers["x-trashmon-control"] == "1" for p in control_api.posted)


def assert_answers_shown_newest_first(
    chromium: Browser, control_api: ControlAPI
) -> list[dict[str, Any]]:
    """The agent's answers arrive as events (the seed's wording); returns those events."""
    events = [
        {"request": "picture", "ok": True, "message": "SUCCESS: Picture saved", "ts": 1763700000.0,
         "file": "cam1-20251121-043000.jpg"},
        {"request": "record 3", "ok": True, "message": "SUCCESS: Recording started for 3 seconds",
         "ts": 1763700001.0, "file": None},
    ]  # fmt: skip
    control_api.controls["cam1"] = controls_document("cam1", events=events)
    texts = wait_until(
        lambda: len(event_texts(chromium)) == 2 and event_texts(chromium), 15, what="events"
    )
    assert texts == [
        "okSUCCESS: Recording started for 3 seconds",
        "okSUCCESS: Picture saved" + "cam1-20251121-043000.jpg",
    ]
    return events


def assert_refusal_in_words_and_offline_disables(
    chromium: Browser, control_api: ControlAPI, events: list[dict[str, Any]]
) -> None:
    """A refusal is said in words; an offline agent disables the commands."""
    control_api.post_status = 409
    chromium.click(".actions .stop")
    wait_until(
        lambda: (
            chromium.script("return document.querySelector('.panel-result').textContent")
            == "refused: the agent is offline"
        ),
        timeout=15,
        what="409 in words",
    )
    control_api.controls["cam1"] = controls_document("cam1", online=False, events=events)
    wait_until(
        lambda: chromium.script("return document.querySelector('.actions .picture').disabled"),
        timeout=15,
        what="commands disabled for an offline agent",
    )


def assert_panel_gone_when_control_is_off(chromium: Browser, control_api: ControlAPI) -> None:
    """Control switched off at the monitor: the panel and its button go away."""
    control_api.controls["cam1"] = controls_document("cam1", enabled=False)
    wait_until(
        lambda: chromium.script(
            "return document.querySelector('.panel').hidden"
            " && document.querySelector('.open-panel').hidden"
        ),
        timeout=15,
        what="panel hidden when control is off",
    )


@pytest.mark.slow
def test_panel_actions_thumbnail_events_and_refusals(
    control_api: ControlAPI, chromium: Browser, tmp_path: Path
) -> None:
    picture = write_test_picture(tmp_path / "snapshot.jpg")
    open_cam1_panel(chromium, control_api)
    assert_picture_brings_the_thumbnail(chromium, control_api, picture)
    assert_record_and_stop_are_posted(chromium, control_api)
    events = assert_answers_shown_newest_first(chromium, control_api)
    assert_refusal_in_words_and_offline_disables(chromium, control_api, events)
    assert_panel_gone_when_control_is_off(chromium, control_api)
