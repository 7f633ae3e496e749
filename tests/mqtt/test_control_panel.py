"""Camera control end to end (issue 15 §2): the real `trashmon monitor` process, a real
mosquitto with mutual TLS and the real agent process on a live segment buffer with the
C920's recorded control table. The monitor reads with its monitor identity and sends
with a controller identity of its own (``operator``)."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.fake_mediamtx import FakeMediaMTX
from support.http import http_get
from support.mosquitto import Broker, ControlAgent, client_settings, recorder
from support.processes import TRASHMON, free_port, run_trashmon, running, wait_until

from trashmonitor.mqtt import CameraTopics
from trashmonitor.pki import Layout

HEADERS = {"X-Trashmon-Control": "1"}


class Monitor:
    def __init__(self, base: str, log: Path) -> None:
        self.base, self.log = base, log

    def panel(self, camera: str = "camA") -> dict[str, Any] | None:
        code, body = http_get(f"{self.base}/api/cameras/{camera}/controls", timeout=5)
        return json.loads(body) if code == 200 else None

    def post(
        self, leaf: str, document: object, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return httpx.post(
            f"{self.base}/api/cameras/camA/{leaf}",
            content=json.dumps(document).encode(),
            headers=HEADERS if headers is None else headers,
            timeout=10,
        )

    def event_answering(self, fragment: str, timeout: float = 30) -> dict[str, Any]:
        """The first event whose request mentions ``fragment`` (the viewer polls the same)."""

        def found() -> dict[str, Any] | None:
            panel = self.panel() or {"events": []}
            return next((e for e in panel["events"] if fragment in e["request"]), None)

        return wait_until(found, timeout, interval=0.2, what=f"an event answering {fragment}")


@contextlib.contextmanager
def monitor_process(
    pki: Layout, broker: Broker, tmp_path: Path, *, control: bool
) -> Iterator[Monitor]:
    listen = free_port()
    with FakeMediaMTX() as mediamtx:
        mediamtx.set_path("camA", online=True, rate=50_000)
        argv = [
            *TRASHMON, "monitor", "--api", mediamtx.url, "--metrics-url", "off",
            "--listen", f"127.0.0.1:{listen}", "--interval", "0.5",
            "--mqtt-url", f"mqtts://127.0.0.1:{broker.port}", "--mqtt-ca", str(pki.chain),
            "--mqtt-cert", str(pki.client_cert("monitor")),
            "--mqtt-key", str(pki.client_key("monitor")),
        ]  # fmt: skip
        if control:
            argv += ["--control-cert", str(pki.client_cert("operator")),
                     "--control-key", str(pki.client_key("operator"))]  # fmt: skip
        log = tmp_path / "monitor.log"
        with running(argv, cwd=tmp_path, log_path=log) as proc:
            yield Monitor(f"http://127.0.0.1:{listen}", log)
            assert proc.poll() is None, log.read_text()[-2000:]
        assert "Traceback" not in log.read_text()


@pytest.fixture
def agent(control_agent: ControlAgent) -> subprocess.Popen[bytes]:
    return control_agent("--snapshot-interval", "1")


@pytest.fixture
def monitor(pki: Layout, broker: Broker, agent: object, tmp_path: Path) -> Iterator[Monitor]:
    with monitor_process(pki, broker, tmp_path, control=True) as process:
        wait_until(lambda: (p := process.panel()) and p["online"] and p["controls"], 30,
                   interval=0.2, what="the agent's control table at the monitor")  # fmt: skip
        yield process


def _control(panel: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in panel["controls"] if c["name"] == name)


def test_the_panel_shows_the_real_agents_controls_and_thumbnail(monitor: Monitor) -> None:
    panel = monitor.panel()
    assert panel is not None
    assert (panel["camera"], panel["online"], panel["control_enabled"]) == ("camA", True, True)
    assert _control(panel, "focus_absolute") == {
        "name": "focus_absolute", "type": "int", "min": 0, "max": 250, "step": 5,
        "default": 0, "value": 0, "menu": [], "inactive": True,
        "auto_pair": "focus_automatic_continuous",
    }  # fmt: skip
    assert _control(panel, "white_balance_temperature")["auto_pair"] == ("white_balance_automatic")
    assert _control(panel, "auto_exposure")["menu"] == [
        {"index": 1, "label": "Manual Mode"}, {"index": 3, "label": "Aperture Priority Mode"}
    ]  # fmt: skip
    assert _control(panel, "focus_automatic_continuous")["type"] == "bool"
    # The thumbnail the agent takes every SNAPSHOT_INTERVAL while streaming.
    _, jpeg = wait_until(
        lambda: (r := http_get(f"{monitor.base}/api/cameras/camA/snapshot"))[0] == 200 and r,
        30, interval=0.2, what="a thumbnail",
    )  # fmt: skip
    assert jpeg.startswith(b"\xff\xd8")
    assert len(jpeg) <= 8192
    assert http_get(f"{monitor.base}/api/cameras/nobody/controls")[0] == 404


def test_a_setting_and_actions_reach_the_agent_and_the_events_come_back(
    monitor: Monitor, captures: Path
) -> None:
    answer = monitor.post("settings", {"control": "focus_automatic_continuous", "value": False})
    assert (answer.status_code, answer.json()) == (202, {"sent": True})
    event = monitor.event_answering("focus_automatic_continuous")
    assert event["ok"] is True
    assert event["message"].startswith("Manual focus on.")
    # The agent republished its table: focus_absolute is usable now.
    wait_until(lambda: not _control(monitor.panel() or {}, "focus_absolute")["inactive"], 15,
               interval=0.2, what="focus_absolute active in the panel")  # fmt: skip

    assert monitor.post("actions", {"action": "picture"}).status_code == 202
    picture = monitor.event_answering("picture", timeout=60)
    assert picture["ok"] is True, picture
    assert Path(picture["file"]).parent == captures / "camA"

    assert monitor.post("actions", {"action": "record", "seconds": 3}).status_code == 202
    recorded = wait_until(
        lambda: next((e for e in (monitor.panel() or {"events": []})["events"]
                      if e["message"].startswith("Recording saved")), None),
        60, interval=0.2, what="the recording's event with its file",
    )  # fmt: skip
    assert recorded["ok"] is True, recorded
    assert Path(recorded["file"]).is_file()
    log = monitor.log.read_text()
    assert "control camA actions from 127.0.0.1: record 3 -> 202 sent" in log


def test_cross_site_and_headerless_posts_are_refused_and_never_reach_the_agent(
    monitor: Monitor,
) -> None:
    hostile: tuple[dict[str, str], ...] = (
        {},
        {**HEADERS, "Origin": "http://evil.example"},
        {**HEADERS, "Sec-Fetch-Site": "cross-site"},
    )
    refused = [
        monitor.post("actions", {"action": "record", "seconds": 7}, headers=headers)
        for headers in hostile
    ]
    assert [r.status_code for r in refused] == [403, 403, 403]
    assert all("cross-site" in r.json()["error"] for r in refused)
    # The agent answers requests in order: once the later one is answered, an earlier
    # refused one would have been too.
    assert monitor.post("actions", {"action": "stop"}).status_code == 202
    monitor.event_answering("stop")
    requests = [e["request"] for e in (monitor.panel() or {"events": []})["events"]]
    assert not [r for r in requests if "record" in r], requests
    assert "refused as cross-site" in monitor.log.read_text()


def test_the_rate_limit_answers_429_after_a_burst(monitor: Monitor) -> None:
    statuses = [monitor.post("actions", {"action": "stop"}).status_code for _ in range(20)]
    assert statuses[:5] == [202] * 5
    assert 429 in statuses
    assert monitor.post("actions", {"action": "x" * 2000}).status_code == 413


def test_an_offline_agent_is_409(monitor: Monitor, agent: Any) -> None:
    agent.send_signal(signal.SIGTERM)  # a clean stop says "offline" (retained)
    agent.wait(15)
    wait_until(lambda: (monitor.panel() or {"online": True})["online"] is False, 15,
               interval=0.2, what="the panel offline")  # fmt: skip
    answer = monitor.post("actions", {"action": "picture"})
    assert (answer.status_code, answer.json()) == (409, {"error": "agent offline"})


def test_control_off_by_default_is_403(
    pki: Layout, broker: Broker, agent: object, tmp_path: Path
) -> None:
    with monitor_process(pki, broker, tmp_path, control=False) as monitor:
        panel = wait_until(lambda: (p := monitor.panel()) and p["controls"] and p, 30,
                           interval=0.2, what="the panel")  # fmt: skip
        assert panel["control_enabled"] is False
        answer = monitor.post("actions", {"action": "picture"})
        assert answer.status_code == 403
        assert answer.json() == {"error": "camera control is off on this monitor"}


def test_the_monitor_identity_cannot_send_control_requests(
    pki: Layout, broker: Broker, agent: object
) -> None:
    """The ACL keeps the monitor's read identity read-only: a request it publishes never
    reaches the agent, while a controller's does."""
    topics = CameraTopics("camA")
    watched = (topics.events, topics.status)
    with (
        recorder(client_settings(pki, "watcher", broker.port), "watcher", watched) as watcher,
        recorder(client_settings(pki, "controller", broker.port), "controller", ()) as ctl,
    ):
        assert watcher.wait_for(lambda m: m.payload == b"online", 15) is not None
        sent = time.monotonic()
        watcher.publish(topics.action, b"record 9")  # the monitor role, as the monitor
        ctl.publish(topics.action, b"stop")
        answer = watcher.wait_for(lambda m: m.topic == topics.events, 15, after=sent)
        assert answer is not None
        assert json.loads(answer.payload)["request"] == "stop"
        assert "Denied PUBLISH from watcher" in broker.log()


def test_a_monitor_without_mqtt_refuses_a_control_identity(tmp_path: Path) -> None:
    cert = tmp_path / "c.crt"
    cert.write_text("x")
    result = run_trashmon("monitor", "--control-cert", str(cert), "--control-key", str(cert))
    assert result.returncode == 2
    assert "needs the MQTT settings" in result.stderr
    assert "Traceback" not in result.stderr
