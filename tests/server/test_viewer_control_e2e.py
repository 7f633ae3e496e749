"""Camera control end to end in real Chromium (issue 15 §2): the built viewer → the real
Caddy (shipped Caddyfile, control on, bcrypt hash) → the real ``trashmon monitor`` → real
mosquitto with mutual TLS → the real capture agent (MQTT code path, the C920's recorded
V4L2 table, a live testsrc2 segment buffer). MediaMTX is the fake (tests/support)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from server.server_harness import StandIn, bcrypt_hash, caddy_env, run_caddy, serve_standin
from server.test_viewer import PANEL_FACTS, build_viewer, change, event_texts
from support.browser import Browser, browser
from support.fake_mediamtx import FakeMediaMTX
from support.http import http_get
from support.monitor import MonitorProcess, monitor_process
from support.mosquitto import (
    Broker,
    agent_argv,
    make_pki,
    running_agent,
    running_broker,
    segment_writer_argv,
)
from support.processes import free_port, running, wait_until

from trashmonitor.pki import Layout

pytestmark = pytest.mark.slow

C920 = Path(__file__).parents[1] / "capture" / "fixtures" / "c920-list-ctrls-menus.txt"
PASSWORD = "e2e-Control-pass"
TILE = '.tile[data-path="camA"]'


@contextlib.contextmanager
def control_stack(tmp_path: Path) -> Iterator[tuple[Layout, Broker, FakeMediaMTX]]:
    """mosquitto (mTLS), a live segment buffer and the agent for camA, a fake MediaMTX."""
    port = free_port()
    pki = make_pki(tmp_path / "pki", port)
    buffer = tmp_path / "buffer"
    buffer.mkdir()
    with (
        running_broker(pki, port, tmp_path / "mosquitto.log") as broker,
        running(segment_writer_argv(buffer), log_path=tmp_path / "segments.log"),
    ):
        wait_until(lambda: len(list(buffer.glob("*.ts"))) >= 3, 30, what="3 segments")
        argv = agent_argv(pki, "camA", port, "--controls-file", str(C920),
                          "--buffer-dir", str(buffer), "--captures-dir", str(tmp_path / "cap"),
                          "--captures-min-free", "1", "--snapshot-interval", "1")  # fmt: skip
        with running_agent(argv, tmp_path / "agent.log"), FakeMediaMTX() as mediamtx:
            mediamtx.set_path("camA", online=False)
            yield pki, broker, mediamtx


def monitor_settings(pki: Layout, broker: Broker, *, control: bool) -> dict[str, str]:
    settings = {
        "TRASHMON_MQTT_URL": f"mqtts://127.0.0.1:{broker.port}",
        "TRASHMON_MQTT_CA": str(pki.chain),
        "TRASHMON_MQTT_CERT": str(pki.client_cert("monitor")),
        "TRASHMON_MQTT_KEY": str(pki.client_key("monitor")),
    }
    if control:
        settings["TRASHMON_CONTROL_CERT"] = str(pki.client_cert("operator"))
        settings["TRASHMON_CONTROL_KEY"] = str(pki.client_key("operator"))
    return settings


@contextlib.contextmanager
def caddy_for(
    monitor: MonitorProcess, mediamtx: FakeMediaMTX, viewer: Path, tmp_path: Path, *, control: bool
) -> Iterator[str]:
    with serve_standin(StandIn("hls")) as hls:
        env, ports = caddy_env(hls, hls, hls, viewer, None)
        env["TRASHMON_MONITOR_UPSTREAM"] = monitor.base.removeprefix("http://")
        env["TRASHMON_MEDIAMTX_API_UPSTREAM"] = mediamtx.url.removeprefix("http://")
        if control:
            env["TRASHMON_CONTROL"] = "on"
            env["TRASHMON_CONTROL_PASSWORD_HASH"] = bcrypt_hash(PASSWORD)
        with run_caddy(env, ports, tmp_path / "caddy.log"):
            yield ports.base


def agent_events(monitor: MonitorProcess) -> list[dict[str, Any]]:
    code, body = http_get(f"{monitor.base}/api/cameras/camA/controls", timeout=5)
    assert code == 200
    events: list[dict[str, Any]] = json.loads(body)["events"]
    return events


def answered(monitor: MonitorProcess, fragment: str) -> dict[str, Any]:
    """The agent's answer to the request mentioning ``fragment``, as the monitor relays it."""
    found: dict[str, Any] = wait_until(
        lambda: next((e for e in agent_events(monitor) if fragment in e["request"]), None),
        45, what=f"the agent's answer to {fragment}",
    )  # fmt: skip
    return found


def thumbnail(chromium: Browser) -> str:
    """The shown thumbnail's pixels (same origin, so a canvas may read them)."""
    return str(chromium.script(
        f"const i = document.querySelector('{TILE} .thumbnail');"
        "if (i.hidden || !i.complete || !i.naturalWidth) return '';"
        "const c = document.createElement('canvas'); c.width = i.naturalWidth;"
        "c.height = i.naturalHeight; c.getContext('2d').drawImage(i, 0, 0);"
        "return c.toDataURL();"
    ))  # fmt: skip


def open_panel(chromium: Browser) -> dict[str, dict[str, Any]]:
    wait_until(
        lambda: chromium.script(f"return !document.querySelector('{TILE} .open-panel').hidden"),
        60, what="camA's controls button",
    )  # fmt: skip
    chromium.click(f"{TILE} .open-panel")
    rows: list[dict[str, Any]] = wait_until(
        lambda: chromium.script(PANEL_FACTS), 45, what="camA's panel built from the agent's table"
    )  # fmt: skip
    return {row["name"]: row for row in rows}


def result_text(chromium: Browser) -> str:
    return str(
        chromium.script(f"return document.querySelector('{TILE} .panel-result').textContent")
    )


@contextlib.contextmanager
def viewer_wall(tmp_path: Path, *, control: bool) -> Iterator[tuple[MonitorProcess, str, Browser]]:
    """The whole path, with control on or off at both the monitor and Caddy."""
    viewer = build_viewer(tmp_path / "viewer")
    with (
        control_stack(tmp_path) as (pki, broker, mediamtx),
        monitor_process(
            mediamtx, tmp_path / "monitor", **monitor_settings(pki, broker, control=control)
        ) as monitor,
        caddy_for(monitor, mediamtx, viewer, tmp_path, control=control) as base,
        browser(tmp_path) as chromium,
    ):
        yield monitor, base, chromium


def test_the_viewer_controls_a_real_agent_through_caddy_and_the_monitor(tmp_path: Path) -> None:
    with viewer_wall(tmp_path, control=True) as (monitor, base, chromium):
        chromium.basic_auth("operator", PASSWORD)  # what a person types at the prompt
        chromium.open(f"{base}/?interval=1")
        rows = open_panel(chromium)
        # The agent's advertised table (C920), as the panel builds it.
        assert {"brightness", "focus_absolute", "power_line_frequency"} <= set(rows)
        assert rows["brightness"]["kind"] == "number"
        assert rows["power_line_frequency"]["tag"] == "select"
        assert rows["focus_absolute"]["auto"] is True  # the seed's auto/manual pair

        # A number, a menu (sent as an integer) and an auto toggle (a bool, sent as 0/1):
        # each accepted by the monitor and carried out by the agent.
        change(chromium, f'{TILE} .control[data-control="brightness"] .value', "140")
        wait_until(lambda: result_text(chromium).startswith("sent"), 30, what="brightness sent")
        assert answered(monitor, "brightness")["ok"] is True
        change(chromium, f'{TILE} .control[data-control="power_line_frequency"] .value', "2")
        wait_until(lambda: any("power_line" in e["request"] for e in agent_events(monitor)),
                   45, what="the menu setting at the agent")  # fmt: skip
        assert answered(monitor, "power_line_frequency")["ok"] is True
        change(chromium, f'{TILE} .control[data-control="focus_absolute"] input.auto', False)
        assert answered(monitor, "focus_automatic_continuous")["ok"] is True
        sent = [e["request"] for e in agent_events(monitor)]
        assert any('"value": 2' in r or "power_line_frequency 2" in r for r in sent), sent
        # ... and the agent's answers show in the page.
        wait_until(lambda: len(event_texts(chromium)) >= 3, 30, what="events in the page")

        # Take a picture: the agent answers, the thumbnail changes.
        before = wait_until(lambda: thumbnail(chromium), 60, what="a first thumbnail")
        chromium.click(f"{TILE} .actions .picture")
        assert answered(monitor, "picture")["ok"] is True
        wait_until(lambda: any("picture" in t.lower() for t in event_texts(chromium)),
                   30, what="the picture's event in the page")  # fmt: skip
        wait_until(lambda: thumbnail(chromium) not in ("", before), 60, what="a new thumbnail")

        # Record 3 s from the page: the file's event reaches the page.
        change(chromium, f"{TILE} .actions .seconds", "3")
        chromium.click(f"{TILE} .actions .record")
        wait_until(
            lambda: any("Recording saved" in text for text in event_texts(chromium)),
            60, what="the recording's event in the page",
        )  # fmt: skip
        events = agent_events(monitor)
        (recorded,) = [e for e in events if e["message"].startswith("Recording saved")]
        assert recorded["ok"] is True
        assert Path(recorded["file"]).is_file()


def test_with_control_off_the_panel_is_hidden_and_a_forged_post_is_405(tmp_path: Path) -> None:
    with viewer_wall(tmp_path, control=False) as (monitor, base, chromium):
        chromium.open(f"{base}/?interval=1")
        # The tile is there and its controls document was read: control_enabled false.
        wait_until(lambda: chromium.script(f"return !!document.querySelector('{TILE}')"),
                   45, what="camA's tile")  # fmt: skip
        wait_until(lambda: thumbnail(chromium), 60, what="camA's thumbnail")
        wait_until(
            lambda: chromium.script(
                "return performance.getEntriesByType('resource')"
                ".some(e => e.name.endsWith('/api/cameras/camA/controls') && e.responseEnd > 0)"
            ),
            45, what="the page asked whether control is enabled",
        )  # fmt: skip
        assert chromium.script(f"return document.querySelector('{TILE} .open-panel').hidden")
        # A page forging the POST (right header, same origin) meets Caddy's 405.
        status = chromium.script(
            "return fetch('api/cameras/camA/actions', {method: 'POST',"
            " headers: {'Content-Type': 'application/json', 'X-Trashmon-Control': '1'},"
            " body: JSON.stringify({action: 'picture'})}).then(r => r.status)"
        )
        assert status == 405
        assert agent_events(monitor) == []
