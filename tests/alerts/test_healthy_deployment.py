"""A real Prometheus with the shipped rules and scrape layout over the real processes.

The stack of tests/support/stack.py (mosquitto with a `trashmon pki` config, a real
``trashmon capture`` publishing testsrc to an RTSP peer and announcing itself over MQTT,
a real ``trashmon monitor`` with MQTT and the DNS reconcile loop, the fake MediaMTX)
scraped by Debian's ``prometheus`` as docs/observability.md configures it: the monitor
and MediaMTX as static targets, the agents' own /metrics through the monitor's HTTP
service discovery (``/api/sd/agents``).

* Issue 14 §1 "no alert fires by design in a healthy deployment": the agent binds its
  /metrics to loopback (the default), so Prometheus never reaches the capture host, as in
  Kubernetes; beside the shipped rules Prometheus loads a render with every ``for`` at
  0s, so any alert whose expression is true at any evaluation would be firing. Once the
  deployment is up, several evaluation cycles pass with no alert pending or firing.
* Where Prometheus can reach the capture host, it finds the agent through the monitor:
  the agent binds to a non-loopback address of this machine, announces it, and the
  target appears with its ``camera`` label and is scraped; when the agent stops
  (``offline``), the target goes away.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import pytest
from capture.harness import stop_agent_process
from support.http import get_json
from support.processes import host_address, wait_until
from support.prometheus import (
    SHIPPED_RULES,
    Prometheus,
    render_rules,
    running_prometheus,
)
from support.stack import CAMERA, running_stack

from trashmonitor.alerts.config import DEFAULT_CONFIG, MixinConfig
from trashmonitor.monitor.agents import SD_PATH

pytestmark = pytest.mark.slow

INSTANT: MixinConfig = DEFAULT_CONFIG.with_overrides(
    **{name: "0s" for name in DEFAULT_CONFIG.__dataclass_fields__ if name.endswith("_for")}
)
"""Every alert fires at the first evaluation its expression is true."""
CYCLES = 5


def _active_alerts(prometheus: Prometheus) -> list[dict[str, Any]]:
    return [
        {"file": group["file"], "alert": rule["name"], **alert}
        for group in prometheus.api("/api/v1/rules?type=alert")["groups"]
        for rule in group["rules"]
        for alert in rule["alerts"]
    ]


def _evaluations(prometheus: Prometheus) -> tuple[str, ...]:
    """The last evaluation time of every rule group (changes once per cycle)."""
    return tuple(group["lastEvaluation"] for group in prometheus.api("/api/v1/rules")["groups"])


def _all_advanced(before: tuple[str, ...], after: tuple[str, ...]) -> bool:
    return len(before) == len(after) and all(a != b for a, b in zip(before, after, strict=True))


def test_a_healthy_deployment_fires_no_alert(tmp_path: Path) -> None:
    instant = render_rules(tmp_path / "instant.rules.yaml", INSTANT)
    with (
        running_stack(tmp_path) as stack,
        running_prometheus(
            tmp_path, stack.scrape_targets(), (SHIPPED_RULES, instant)
        ) as prometheus,
    ):
        # The agent is on loopback: announced as nothing, so discovery lists nothing and
        # Prometheus has no agent to scrape (as in Kubernetes).
        assert get_json(f"http://{stack.monitor_address}{SD_PATH}") == []
        up = {DEFAULT_CONFIG.monitor_job: True, DEFAULT_CONFIG.mediamtx_job: True}
        wait_until(lambda: prometheus.targets_up() == up, 30, 0.25, "monitor and MediaMTX up")
        assert prometheus.active_targets(DEFAULT_CONFIG.capture_job) == []
        # Up: the agent's announced health reached Prometheus through the monitor alone,
        # streaming at its target rate, and the DNS loop converged.
        settled = (
            f'trashmon_agent_online{{camera="{CAMERA}"}} == 1',
            f'trashmon_agent_state{{camera="{CAMERA}",state="streaming"}} == 1',
            f'camera:trashmon_agent_fps_target:ratio{{camera="{CAMERA}"}} >= 0.8',
            f'trashmon_camera_state{{camera="{CAMERA}",state="ok"}} == 1',
            "min(trashmon_dns_in_sync) == 1",
        )
        for expr in settled:
            wait_until(partial(prometheus.query, expr), 60, 0.25, expr)

        seen: list[tuple[str, ...]] = [_evaluations(prometheus)]
        while len(seen) <= CYCLES:
            # Every group evaluated again (groups run on their own clocks): an alert left
            # firing by an evaluation before the deployment was up must have had its
            # chance to resolve before it counts.
            wait_until(
                lambda: _all_advanced(seen[-1], _evaluations(prometheus)),
                15, 0.1, "every rule group's next evaluation",
            )  # fmt: skip
            seen.append(_evaluations(prometheus))
            active = _active_alerts(prometheus)
            assert active == [], f"alerts in a healthy deployment: {active}\n{stack.logs()}"
        assert not prometheus.unhealthy_rules()
        assert prometheus.api("/api/v1/alerts")["alerts"] == []


def test_prometheus_discovers_the_agents_through_the_monitor(tmp_path: Path) -> None:
    address = host_address()
    with (
        running_stack(tmp_path, agent_metrics_host=address) as stack,
        running_prometheus(tmp_path, stack.scrape_targets(), (SHIPPED_RULES,)) as prometheus,
    ):
        job = DEFAULT_CONFIG.capture_job
        discovered = wait_until(
            lambda: [t for t in prometheus.active_targets(job) if t["health"] == "up"],
            30, 0.25, "the agent discovered and scraped",
        )  # fmt: skip
        assert [target["labels"]["instance"] for target in discovered] == [stack.agent_address]
        assert discovered[0]["labels"]["camera"] == CAMERA
        assert discovered[0]["scrapeUrl"] == f"http://{stack.agent_address}/metrics"
        assert not address.startswith("127.")
        assert stack.agent_address.startswith(address + ":")
        # The agent's own series, scraped through the discovered target.
        speed = wait_until(
            lambda: prometheus.query(f'trashcam_speed_ratio{{job="{job}",camera="{CAMERA}"}}'),
            30, 0.25, "the agent's own series",
        )  # fmt: skip
        assert speed[0]["metric"]["instance"] == stack.agent_address
        assert "exported_camera" not in speed[0]["metric"]
        # A family without its own camera label gets the discovered one.
        build = prometheus.query(f'trashcam_build_info{{job="{job}"}}')
        assert [series["metric"]["camera"] for series in build] == [CAMERA]
        assert prometheus.alerts("TrashmonCaptureScrapeFailing") == []

        # A clean stop says `offline`: the agent leaves the discovery and the target goes.
        stop_agent_process(stack.agent.proc)
        wait_until(
            lambda: get_json(f"http://{stack.monitor_address}{SD_PATH}") == [],
            30, 0.25, "the agent gone from /api/sd/agents",
        )  # fmt: skip
        wait_until(lambda: prometheus.active_targets(job) == [] or None, 30, 0.25, "target dropped")
