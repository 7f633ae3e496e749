"""The viewer in real headless Chromium, served by real Caddy, playing a real HLS stream.

ffmpeg encodes testsrc2 into HLS (MPEG-TS segments, like MediaMTX's mpegts variant) in
a directory a stand-in serves as MediaMTX's HLS server; stand-ins answer the MediaMTX
API (two pages) and the monitor's /status. Set TRASHMON_UPDATE_SCREENSHOT=1 to refresh
docs/viewer.png from this run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from server.server_harness import Reply, browser, caddy_env, run_caddy
from support.processes import REPO, require_binary, running, wait_until

VIEWER = REPO / "server" / "viewer"

# Two pages: the viewer must follow pageCount, not stop at page 0 (GUIDE §4).
PAGE_0 = {
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
PAGE_1 = {
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
return [...document.querySelectorAll('.tile')].map(t => ({
  path: t.dataset.path, live: t.dataset.live, state: t.dataset.state,
  placeholder: t.querySelector('.placeholder').textContent,
  reasons: t.querySelector('.reasons').textContent,
  codec: t.querySelector('.codec').textContent,
  viewers: t.querySelector('.viewers').textContent,
  uptime: t.querySelector('.uptime').textContent,
  time: t.querySelector('video').currentTime,
}));
"""


@pytest.mark.slow
def test_viewer_shows_tiles_plays_hls_and_reports_offline_and_unreachable(tmp_path, standins):
    hls_dir = tmp_path / "hls"
    (hls_dir / "cam1").mkdir(parents=True)
    playlist = hls_dir / "cam1" / "index.m3u8"
    ffmpeg = [
        require_binary("ffmpeg"), "-hide_banner", "-loglevel", "error", "-re",
        "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=15",
        "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
        "-pix_fmt", "yuv420p", "-g", "15",
        "-f", "hls", "-hls_time", "1", "-hls_list_size", "6",
        "-hls_flags", "delete_segments+independent_segments", str(playlist),
    ]  # fmt: skip
    api, hls, monitor = standins("api"), standins("hls"), standins("monitor")
    hls.directory = hls_dir
    two_hours_ago = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 7260))
    page_0 = {**PAGE_0, "items": [{**PAGE_0["items"][0], "onlineTime": two_hours_ago}]}
    api.routes["/v3/paths/list?page=0&itemsPerPage=100"] = Reply(body=json.dumps(page_0).encode())
    api.routes["/v3/paths/list?page=1&itemsPerPage=100"] = Reply(body=json.dumps(PAGE_1).encode())
    monitor.routes["/api/status"] = Reply(body=json.dumps(STATUS).encode())
    viewer = build_viewer(tmp_path / "viewer")
    env, ports = caddy_env(api, hls, monitor, viewer, tls=None)

    with (
        running(ffmpeg, log_path=tmp_path / "ffmpeg.log"),
        run_caddy(env, ports, tmp_path / "caddy.log"),
        browser(tmp_path) as chromium,
    ):
        wait_until(lambda: segments(playlist) >= 2, timeout=30, what="ffmpeg HLS segments")
        chromium.open(f"{ports.base}/?interval=1")
        tiles = wait_until(
            lambda: (facts := chromium.script(TILE_FACTS)) and len(facts) == 3 and facts,
            timeout=30,
            what="three tiles",
        )
        old, cam1, cam2 = tiles
        assert (old["path"], old["live"], old["placeholder"]) == (
            "cam0-old",
            "false",
            "no producer",
        )
        assert old["state"] == ""  # the monitor knows nothing about it
        assert (cam1["path"], cam1["live"], cam1["state"]) == ("cam1", "true", "ok")
        assert cam1["codec"] == "H264 640×360"
        assert cam1["viewers"] == "1"
        assert cam1["uptime"] == "2h 1m"
        assert (cam2["path"], cam2["live"], cam2["state"]) == ("cam2", "false", "down")
        assert cam2["placeholder"] == "no producer"
        assert cam2["reasons"] == "no producer · agent offline"
        state = chromium.script("return window.trashmonitorViewer")
        assert state["ignoredNames"] == 1  # type: ignore[index]
        assert state["pollMs"] == 1000  # type: ignore[index]

        # The video really plays: its clock advances past a second of stream.
        wait_until(
            lambda: chromium.script(TILE_FACTS)[1]["time"] > 1.0, timeout=45, what="video playing"
        )
        assert any(path.endswith(".ts") for path in hls.seen), hls.seen
        assert not [path for path in hls.seen + api.seen if ".." in path]

        # Bitrate comes from inboundBytes growing between two polls.
        grown = {**page_0, "items": [{**page_0["items"][0], "inboundBytes": 1000 + 250_000}]}
        api.routes["/v3/paths/list?page=0&itemsPerPage=100"] = Reply(
            body=json.dumps(grown).encode()
        )
        bitrate = wait_until(
            lambda: (text := chromium.script(BITRATE)) != "0 kbit/s" and text,
            timeout=15,
            what="bitrate from growing inboundBytes",
        )
        assert str(bitrate).endswith(("kbit/s", "Mbit/s"))
        shot = tmp_path / "viewer.png"
        chromium.screenshot(shot)
        assert shot.read_bytes().startswith(b"\x89PNG")
        if os.environ.get("TRASHMON_UPDATE_SCREENSHOT") == "1":
            shutil.copyfile(shot, REPO / "docs" / "viewer.png")

        # A click on a tile puts it in fullscreen.
        chromium.click('.tile[data-path="cam1"]')
        wait_until(
            lambda: chromium.script("return document.fullscreenElement?.dataset.path") == "cam1",
            timeout=10,
            what="cam1 fullscreen",
        )
        chromium.script("return document.exitFullscreen()")

        # The monitor goes away: video stays, its states are marked as unknown.
        monitor.routes.clear()
        wait_until(
            lambda: "monitor status unavailable (HTTP 404)" in str(chromium.script(BANNER)),
            timeout=15,
            what="monitor unavailable banner",
        )
        assert {t["state"] for t in chromium.script(TILE_FACTS)} == {""}

        # MediaMTX's API goes away: a clear banner, the last tiles kept but marked stale.
        api.routes.clear()
        banner = wait_until(
            lambda: "MediaMTX" in str(chromium.script(BANNER)) and chromium.script(BANNER),
            timeout=15,
            what="API unreachable banner",
        )
        assert str(banner).startswith("MediaMTX API unreachable (HTTP 404)")
        assert chromium.script("return document.querySelectorAll('.tile.stale').length") == 3
