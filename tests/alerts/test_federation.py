"""Several sites: per-site Prometheus servers federated by a central one (issue 17 §2).

Two real per-site Prometheus servers (Debian's `prometheus`) each scrape a real
``trashmon monitor`` polling its own MediaMTX stand-in, and the stand-in's /metrics;
each names its site in ``external_labels``. A third, central Prometheus runs the
SHIPPED server/prometheus/federation.yml (only its targets pointed at the two servers
and its intervals shortened) and evaluates the shipped rules. Both sites have a camera
named cam1: at home it streams, in the garage it is down.

The two ways a series gets its ``site`` (docs/observability.md, "Several sites"): home's
monitor names no site, so home's Prometheus adds ``site="home"`` from its external
labels; in the garage the series carry ``site="garage"`` before federation (a target
label here, standing where a monitor started with ``--site garage=…`` puts it), and the
external label, the same name, changes nothing.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.fake_mediamtx import FakeMediaMTX
from support.monitor import monitor_process
from support.processes import REPO, wait_until
from support.prometheus import (
    SHIPPED_RULES,
    Prometheus,
    ScrapeTarget,
    running_prometheus,
    running_prometheus_config,
)

from trashmonitor.alerts.config import DEFAULT_CONFIG
from trashmonitor.alerts.rules import RecordedNames

pytestmark = pytest.mark.slow

FEDERATION = REPO / "server" / "prometheus" / "federation.yml"
SCRAPE_CONFIG = REPO / "server" / "prometheus" / "federation-scrapeconfig.yaml"
SITES = {"home": True, "garage": False}  # site -> cam1 streaming?


def central_config(site_servers: list[str]) -> str:
    """The shipped federation.yml, pointed at ``site_servers``, evaluating every second,
    loading the shipped rules (and no Alertmanager)."""
    document: dict[str, Any] = yaml.safe_load(FEDERATION.read_text(encoding="utf-8"))
    document["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    document["rule_files"] = [str(SHIPPED_RULES)]
    del document["alerting"]
    (job,) = document["scrape_configs"]
    job["static_configs"] = [{"targets": site_servers}]
    return json.dumps(document)


@contextlib.contextmanager
def site_prometheus(directory: Path, site: str, streaming: bool) -> Iterator[Prometheus]:
    """One site: its MediaMTX stand-in, its monitor, its Prometheus (no rules)."""
    with contextlib.ExitStack() as stack:
        mediamtx = stack.enter_context(FakeMediaMTX("v1.20"))
        mediamtx.set_path("cam1", online=streaming, rate=40_000.0)
        monitor = stack.enter_context(
            monitor_process(mediamtx, directory / "monitor", TRASHMON_EXPECT="cam1")
        )
        # In the garage the series carry their site before federation.
        labels = (("site", site),) if site == "garage" else ()
        targets = [
            ScrapeTarget(
                DEFAULT_CONFIG.monitor_job, monitor.base.removeprefix("http://"), labels=labels
            ),
            ScrapeTarget(
                DEFAULT_CONFIG.mediamtx_job, mediamtx.url.removeprefix("http://"), labels=labels
            ),
        ]
        yield stack.enter_context(
            running_prometheus(
                directory / "prometheus", targets, [], external_labels={"site": site}
            )
        )


def _by_site(prometheus: Prometheus, expr: str) -> dict[str, float]:
    """``expr``'s value per ``site`` label (a series without one is keyed "")."""
    values: dict[str, float] = {}
    for series in prometheus.query(expr):
        site = series["metric"].get("site", "")
        assert site not in values, f"{expr}: two series for site {site!r}"
        values[site] = float(series["value"][1])
    return values


def test_a_central_prometheus_federates_both_sites_and_its_rules_keep_site(
    tmp_path: Path,
) -> None:
    with contextlib.ExitStack() as stack:
        sites = {
            site: stack.enter_context(site_prometheus(tmp_path / site, site, streaming))
            for site, streaming in SITES.items()
        }
        central = stack.enter_context(
            running_prometheus_config(
                tmp_path / "central", central_config([s.address for s in sites.values()])
            )
        )
        # The central server sees each site's monitor series, with the site.
        ok = 'trashmon_camera_state{job="trashmon-monitor",camera="cam1",state="ok"}'
        wait_until(lambda: _by_site(central, ok) == {"home": 1.0, "garage": 0.0}, 60, 0.25, ok)
        up = f'up{{job="{DEFAULT_CONFIG.monitor_job}"}}'
        wait_until(lambda: _by_site(central, up) == {"home": 1.0, "garage": 1.0}, 60, 0.25, up)
        # The per-site servers' own series have no site (it is an external label) …
        assert set(_by_site(sites["home"], ok)) == {""}
        # … except where the series carried it already.
        assert set(_by_site(sites["garage"], ok)) == {"garage"}
        # MediaMTX's series come along, with their site.
        ready = 'paths{job="mediamtx",name="cam1",state="ready"}'
        wait_until(lambda: _by_site(central, ready).get("home") == 1.0, 60, 0.25, ready)

        # Recording rules evaluated centrally keep the site: one series per (site, camera).
        unavailable = RecordedNames.unavailable(DEFAULT_CONFIG.burn_windows[0])
        wait_until(
            lambda: _by_site(central, unavailable) == {"home": 0.0, "garage": 1.0},
            60, 0.25, unavailable,
        )  # fmt: skip
        parked = RecordedNames(DEFAULT_CONFIG).parked  # the guard every camera alert reads
        wait_until(
            lambda: _by_site(central, parked) == {"home": 0.0, "garage": 0.0}, 60, 0.25, parked
        )

        # So do the alerts: the garage's cam1 is down (pending: the shipped `for` is 2m),
        # home's cam1 of the same name is not.
        pending = 'ALERTS{alertname="TrashmonCameraDown"}'
        wait_until(lambda: _by_site(central, pending) == {"garage": 1.0}, 60, 0.25, pending)
        (alert,) = central.query(pending)
        assert alert["metric"]["camera"] == "cam1"
        assert not central.unhealthy_rules()
        # The federation job itself is healthy on both site servers.
        federate = central.active_targets("trashmon-federate")
        assert sorted(t["health"] for t in federate) == ["up", "up"]


def test_the_operator_scrape_config_federates_like_the_plain_file() -> None:
    """server/prometheus/federation-scrapeconfig.yaml is federation.yml's job, translated."""
    plain = yaml.safe_load(FEDERATION.read_text(encoding="utf-8"))["scrape_configs"][0]
    resource = yaml.safe_load(SCRAPE_CONFIG.read_text(encoding="utf-8"))
    assert resource["apiVersion"] == "monitoring.coreos.com/v1alpha1"
    assert resource["kind"] == "ScrapeConfig"
    spec = resource["spec"]
    assert spec["honorLabels"] is plain["honor_labels"] is True
    assert spec["metricsPath"] == plain["metrics_path"] == "/federate"
    assert spec["params"] == plain["params"]
    assert spec["staticConfigs"][0]["targets"] == plain["static_configs"][0]["targets"]
    assert spec["relabelings"][0]["replacement"] == plain["job_name"]
