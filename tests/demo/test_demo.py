"""`trashmon demo` as a user runs it: everything starts, the monitor hears the agents and
flags the camera that goes black, Prometheus loads the rules and scrapes every target,
and Ctrl-C leaves nothing running."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from support.browser import browser
from support.http import get_json, http_get
from support.processes import TRASHMON, stop_process, wait_until

from trashmonitor.mediamtx_release import RELEASES_URL_ENV

pytestmark = pytest.mark.slow


def _free_block(size: int = 16) -> int:
    for _ in range(50):
        base = random.randrange(20000, 60000)
        with contextlib.ExitStack() as stack:
            try:
                for port in range(base, base + size):
                    sock = stack.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return base
    raise AssertionError("no block of free ports")


def _processes_mentioning(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    base = _free_block()
    state = tmp_path / "state"
    log = tmp_path / "demo.out"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*TRASHMON, "demo", "--port-base", str(base), "--state-dir", str(state)],
            stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path,
            # No network for the MediaMTX download: refused at once, said in one line.
            env={**os.environ, RELEASES_URL_ENV: f"http://127.0.0.1:{_closed_port()}"},
        )  # fmt: skip
    try:
        wait_until(lambda: b"Ctrl-C stops everything" in log.read_bytes(), 120, what="demo up")
        yield proc, base, log
    finally:
        stop_process(proc, grace=60)


def test_demo_runs_the_stack_and_stops_cleanly(
    demo: tuple[subprocess.Popen[bytes], int, Path],
) -> None:
    proc, base, log = demo
    monitor, prometheus = base + 5, base + 6
    status_url = f"http://127.0.0.1:{monitor}/api/status"

    def cameras() -> dict[str, Any]:
        return {camera["name"]: camera for camera in get_json(status_url)["cameras"]}

    wait_until(
        lambda: all((c.get("agent") or {}).get("online") for c in cameras().values())
        and len(cameras()) == 3,
        30, what="three agents online at the monitor",
    )  # fmt: skip
    # cam3 is black 10 s out of every 20 s.
    wait_until(lambda: "black_image" in cameras()["cam3"]["reasons"], 40, what="cam3 black")
    assert "black_image" not in cameras()["cam1"]["reasons"]
    if "mediamtx ready" not in log.read_text():  # none here: the download is refused
        _cameras_capture_without_mediamtx(cameras, f"http://127.0.0.1:{monitor}", log.parent)

    rules = get_json(f"http://127.0.0.1:{prometheus}/api/v1/rules")["data"]["groups"]
    assert rules, "Prometheus loaded no rule groups"
    assert any(rule["name"] == "TrashmonCameraDown" for g in rules for rule in g["rules"])

    def targets_up() -> bool:
        active = get_json(f"http://127.0.0.1:{prometheus}/api/v1/targets")["data"]["activeTargets"]
        jobs = {t["labels"]["job"] for t in active}
        return jobs >= {"trashmon-monitor", "trashcam"} and all(t["health"] == "up" for t in active)

    wait_until(targets_up, 30, what="every Prometheus target up")
    # Prometheus sends its alerts to the demo's Alertmanager (after the agents' ports).
    alertmanager = base + 7 + 1 + 3
    assert get_json(f"http://127.0.0.1:{alertmanager}/api/v2/status")["cluster"]["status"]
    senders = get_json(f"http://127.0.0.1:{prometheus}/api/v1/alertmanagers")["data"]
    assert [a["url"] for a in senders["activeAlertmanagers"]] == [
        f"http://127.0.0.1:{alertmanager}/api/v2/alerts"
    ]
    viewer = urllib.request.urlopen(f"http://127.0.0.1:{base + 7}/", timeout=3)
    assert b"<html" in viewer.read().lower()
    password_file = log.parent / "state" / "secrets" / "control-password"
    password = password_file.read_text().strip()
    assert password_file.stat().st_mode & 0o077 == 0
    assert log.read_text().count(password) == 1  # said once, to the person who ran it
    assert _processes_mentioning(password) == []  # never in any process' argv
    _viewer_shows_the_three_cameras(f"http://127.0.0.1:{base + 7}/?interval=1", log.parent)
    _viewer_takes_a_picture(f"http://127.0.0.1:{base + 7}/?interval=1", log.parent, password)

    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 0
    output = log.read_text()
    assert "MediaMTX not found" in output or "mediamtx ready" in output
    if "mediamtx ready" not in output:  # none installed here: the download was refused
        refused = [line for line in output.splitlines() if "not downloaded" in line]
        assert len(refused) == 1, output
        assert "Connection refused" in refused[0]
    for name in ("mosquitto", "agent-cam1", "monitor", "prometheus", "alertmanager", "caddy"):
        assert f"stopped {name}" in output
    assert _processes_mentioning(str(log.parent / "state")) == []


def _cameras_capture_without_mediamtx(
    cameras: Callable[[], dict[str, Any]], monitor: str, scratch: Path
) -> None:
    """Nowhere to publish, and the states say so; yet every camera captures into its
    buffer: thumbnails keep coming through the monitor's API, cam3's black and frozen
    are seen, and the buffers stay within a few MB."""
    for camera in cameras().values():
        assert "mediamtx_unreachable" in camera["reasons"], camera
        # The publish fails: never "streaming" (backoff, or starting a retry).
        assert camera["agent"]["stream_state"] in {"backoff", "starting"}, camera

    def thumbnail(name: str) -> bytes | None:
        code, body = http_get(f"{monitor}/api/cameras/{name}/snapshot")
        return body if code == 200 and body.startswith(b"\xff\xd8") else None

    first = {
        name: wait_until(partial(thumbnail, name), 60, what=f"a thumbnail of {name}")
        for name in ("cam1", "cam2", "cam3")
    }
    # Recent: the agents keep sending them (every 5 s in the demo), the picture moves.
    wait_until(lambda: thumbnail("cam1") not in (None, first["cam1"]), 30, what="a newer one")
    wait_until(
        lambda: {"black_image", "frozen_image"} & set(cameras()["cam3"]["reasons"]),
        40, what="cam3 black or frozen while its publish fails",
    )  # fmt: skip
    buffers = scratch / "state" / "buffer"
    used = sum(path.stat().st_size for path in buffers.rglob("*") if path.is_file())
    assert 0 < used < 3 * 1024 * 1024, used  # ten 1 s segments at 300 kbit/s per camera


TILES = """
return [...document.querySelectorAll('#wall .tile')].map(t => ({
  name: t.dataset.path, state: t.dataset.state,
  reasons: t.querySelector('.reasons').textContent, fps: t.querySelector('.fps').textContent,
  thumbnail: !t.querySelector('.thumbnail').hidden,
}));
"""


def _viewer_shows_the_three_cameras(url: str, scratch: Path) -> None:
    """The page a person opens: one tile per camera the monitor knows, with or without
    MediaMTX, cam3 flagged black in words, the agents' fps against their target."""
    with browser(scratch) as chromium:
        chromium.open(url)

        def tiles() -> dict[str, dict[str, str]] | None:
            found = {t["name"]: t for t in chromium.script(TILES)}
            ready = len(found) == 3 and "black image" in found.get("cam3", {}).get("reasons", "")
            return found if ready else None

        shown = wait_until(tiles, 60, what="three tiles, cam3 black, in the viewer")
        assert sorted(shown) == ["cam1", "cam2", "cam3"]
        # down while there is no MediaMTX to publish to (no_publisher), degraded with one
        assert shown["cam3"]["state"] in {"down", "degraded"}
        # Against the demo's FPS=10 (the measured part is "–" while nothing streams).
        assert all(" / 10" in tile["fps"] for tile in shown.values()), shown
        # Every tile shows its camera's thumbnail, with or without MediaMTX (the page asks
        # on its first poll, then every 30 s).
        wait_until(
            lambda: all(t["thumbnail"] for t in chromium.script(TILES)) or None,
            60, what="a thumbnail in every tile",
        )  # fmt: skip


CAM1 = '.tile[data-path="cam1"]'
EVENTS = (
    f"return [...document.querySelectorAll('{CAM1} .panel .events li')].map(li => li.textContent)"
)


def _viewer_takes_a_picture(url: str, scratch: Path, password: str) -> None:
    """Control is on in the demo: the panel shows, and a picture asked from the page goes
    through Caddy (Basic auth), the monitor and MQTT to the agent, whose answer shows."""
    with browser(scratch) as chromium:
        # What a person types into the browser's password prompt (headless has none).
        chromium.basic_auth("operator", password)
        chromium.open(url)
        wait_until(
            lambda: chromium.script(f"return !document.querySelector('{CAM1} .open-panel').hidden"),
            60, what="cam1's controls button (control enabled)",
        )  # fmt: skip
        chromium.click(f"{CAM1} .open-panel")
        wait_until(
            lambda: chromium.script(f"return !!document.querySelector('{CAM1} .actions .picture')"),
            30, what="cam1's panel",
        )  # fmt: skip
        chromium.click(f"{CAM1} .actions .picture")
        answer = wait_until(
            lambda: chromium.script(f"return document.querySelector('{CAM1} .panel-result')"
                                    ".textContent.startsWith('sent') && 'sent'"),
            30, what="the picture request accepted (202)",
        )  # fmt: skip
        assert answer == "sent"
        events = wait_until(
            lambda: [e for e in chromium.script(EVENTS) if "Picture saved" in e],
            60, what="the agent's 'Picture saved' in the panel",
        )  # fmt: skip
        assert events
        # The thumbnail is the picture the agent sent after it (SNAPSHOT_INTERVAL short).
        wait_until(
            lambda: chromium.script(f"return !document.querySelector('{CAM1} .thumbnail').hidden"),
            60, what="cam1's thumbnail",
        )  # fmt: skip


def test_demo_names_a_port_that_is_taken(tmp_path: Path) -> None:
    base = _free_block()
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", base + 5))
        blocker.listen()
        result = subprocess.run(
            [*TRASHMON, "demo", "--port-base", str(base), "--state-dir", str(tmp_path / "s")],
            capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
        )  # fmt: skip
    assert result.returncode == 2
    assert f"port {base + 5} (monitor) is already in use" in result.stderr
    assert "Traceback" not in result.stderr


def _demo_with_only(tools: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`trashmon demo` whose PATH is the folder ``tools`` alone."""
    return subprocess.run(
        [*TRASHMON, "demo", "--state-dir", str(tmp_path / "s")],
        capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
        env={"PATH": str(tools), "HOME": str(tmp_path)},
    )  # fmt: skip


def test_demo_names_a_missing_debian_package(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    result = _demo_with_only(empty, tmp_path)
    assert result.returncode == 2
    assert "ffmpeg: not installed: apt-get install -y ffmpeg" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_names_a_missing_alertmanager_package(tmp_path: Path) -> None:
    """Every other tool is there: the one line names Alertmanager's Debian package."""
    tools = tmp_path / "bin"
    tools.mkdir()
    for binary in ("ffmpeg", "mosquitto", "prometheus"):
        found = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/sbin")
        assert found is not None, binary
        (tools / binary).symlink_to(found)
    result = _demo_with_only(tools, tmp_path)
    assert result.returncode == 2
    expected = "prometheus-alertmanager: not installed: apt-get install -y prometheus-alertmanager"
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
