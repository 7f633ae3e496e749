"""A tailnet in a box (issue 14 §8): the shipped deployment on network namespaces.

tests/system/box.py builds the hosts and starts the real processes; each test here is
one scenario, run in order on the same deployment, each leaving it healthy again.
"""

from __future__ import annotations

import re

import pytest
from box import CAMERAS, Box
from support.processes import REPO

pytestmark = pytest.mark.slow

CAMERA_DOWN = "TrashmonCameraDown"
EVERY_CAMERA = sorted(CAMERAS.values())


def all_ok(box: Box) -> bool:
    status = box.status()
    return all(status.get(camera, {}).get("state") == "ok" for camera in EVERY_CAMERA)


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in an exposition, or None."""
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
            if all(found.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return None


def probe(box: Box) -> tuple[int, str]:
    """`trashmon probe` on the operator host, through Caddy, as docs/server.md shows."""
    done = box.hosts["operator"].run(
        str(REPO / ".venv" / "bin" / "trashmon"), "probe", "--api", f"{box.viewer_url}/api",
        timeout=60,
    )  # fmt: skip
    return done.returncode, done.stdout + done.stderr


def test_all_healthy_every_camera_ok_and_no_alert_firing(box: Box) -> None:
    box.wait(lambda: all_ok(box), 120, "every camera ok at the monitor")
    code, output = probe(box)
    assert code == 0, output
    for camera in EVERY_CAMERA:
        assert camera in output
    # Every scrape target of the shipped configuration answers, and the fast copy of the
    # rules (every `for` 2 s) has had time to fire anything a healthy deployment trips.
    box.wait(lambda: all(box.prometheus.targets_up().values()), 60, "every target up")
    assert set(box.prometheus.targets_up()) >= {"mediamtx", "trashmon-monitor", "trashcam"}
    box.wait(
        lambda: box.prometheus.query('count(ALERTS{alertstate="pending"}) or vector(0)')
        and box.prometheus.query("up") and True,
        30,
        "rules evaluated",
    )
    assert box.firing() == []
    assert box.prometheus.unhealthy_rules() == []


def test_dns_loop_converges_and_stays_at_zero_writes(box: Box) -> None:
    box.wait(
        lambda: metric(box.monitor_metrics(), "trashmon_dns_in_sync") == 1,
        60,
        "the DNS loop in sync",
    )
    writes = len(box.dns.writes())
    reads = len(box.dns.reads())
    # Several more cycles (TRASHMON_DNS_INTERVAL=2): reads go on, writes do not.
    box.wait(lambda: len(box.dns.reads()) >= reads + 6, 60, "three more DNS cycles")
    assert len(box.dns.writes()) == writes, [str(w) for w in box.dns.writes()[writes:]]
    assert metric(box.monitor_metrics(), "trashmon_dns_in_sync") == 1


def test_a_capture_host_cut_off_goes_down_fires_and_clears(box: Box) -> None:
    host = box.hosts["cap1"]
    host.link(up=False)
    try:
        box.wait(
            lambda: box.status()["cam1"]["state"] == "down", 120, "cam1 down after the cut"
        )
        reasons = box.status()["cam1"]["reasons"]
        assert "agent_offline" in reasons or "offline" in " ".join(reasons), reasons
        assert box.status()["cam2"]["state"] == "ok"
        box.wait(
            lambda: f"{CAMERA_DOWN}{{camera=cam1}}" in box.firing(), 90, "camera-down firing"
        )
    finally:
        host.link(up=True)
    box.wait(lambda: all_ok(box), 180, "every camera ok after the link returned")
    box.wait(lambda: box.firing() == [], 90, "no alert firing after the link returned")


def test_broker_killed_and_restarted_everyone_recovers(box: Box) -> None:
    box.kill("mosquitto")
    box.wait(
        lambda: metric(box.monitor_metrics(), "trashmon_mqtt_connected") == 0,
        60,
        "the monitor sees the broker gone",
    )
    box.start_broker()
    box.wait(
        lambda: metric(box.monitor_metrics(), "trashmon_mqtt_connected") == 1,
        90,
        "the monitor reconnected",
    )
    box.wait(lambda: all_ok(box), 120, "every camera ok with its agent heard again")
    for camera in EVERY_CAMERA:
        assert box.status()[camera]["agent"], box.status()[camera]
    code, output = probe(box)
    assert code == 0, output
