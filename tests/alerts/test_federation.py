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
external label, the same name, changes nothing. Then the garage goes dark and the
central-only alerts/central.rules.yaml names it (TrashmonSiteSilent).
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
REMOTE_WRITE = REPO / "server" / "prometheus" / "site-remote-write.yml"
CENTRAL_RULES = REPO / "alerts" / "central.rules.yaml"
SITES = {"home": True, "garage": False}  # site -> cam1 streaming?


def central_config(site_servers: list[str]) -> str:
    """The shipped federation.yml, pointed at ``site_servers``, evaluating every second,
    loading the shipped rules and the central-only ones (and no Alertmanager)."""
    document: dict[str, Any] = yaml.safe_load(FEDERATION.read_text(encoding="utf-8"))
    document["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    document["rule_files"] = [str(SHIPPED_RULES), str(CENTRAL_RULES)]
    del document["alerting"]
    (job,) = document["scrape_configs"]
    job["static_configs"] = [{"targets": site_servers}]
    return json.dumps(document)


@contextlib.contextmanager
def site_sources(directory: Path, streaming: bool) -> Iterator[dict[str, str]]:
    """One site's MediaMTX stand-in (cam1 streaming or not) and its real monitor:
    job name -> ``host:port`` to scrape."""
    with contextlib.ExitStack() as stack:
        mediamtx = stack.enter_context(FakeMediaMTX("v1.20"))
        mediamtx.set_path("cam1", online=streaming, rate=40_000.0)
        monitor = stack.enter_context(
            monitor_process(mediamtx, directory / "monitor", TRASHMON_EXPECT="cam1")
        )
        yield {
            DEFAULT_CONFIG.monitor_job: monitor.base.removeprefix("http://"),
            DEFAULT_CONFIG.mediamtx_job: mediamtx.url.removeprefix("http://"),
        }


@contextlib.contextmanager
def site_prometheus(directory: Path, site: str, streaming: bool) -> Iterator[Prometheus]:
    """One site: its sources and its Prometheus (no rules), federated by the centre."""
    with site_sources(directory, streaming) as sources:
        # In the garage the series carry their site before federation.
        labels = (("site", site),) if site == "garage" else ()
        targets = [ScrapeTarget(job, address, labels=labels) for job, address in sources.items()]
        external = {"site": site}
        with running_prometheus(
            directory / "prometheus", targets, [], external_labels=external
        ) as prometheus:
            yield prometheus


def pushing_site_config(site: str, sources: dict[str, str], central: Prometheus) -> str:
    """The shipped site-remote-write.yml for ``site``: its targets, the central server's
    receiver, intervals of a second (MediaMTX's stand-in needs no credentials)."""
    document: dict[str, Any] = yaml.safe_load(REMOTE_WRITE.read_text(encoding="utf-8"))
    document["global"].update(scrape_interval="1s", external_labels={"site": site})
    for job in document["scrape_configs"]:
        job.pop("basic_auth", None)
        job["static_configs"] = [{"targets": [sources[job["job_name"]]]}]
    (remote,) = document["remote_write"]
    remote["url"] = f"http://{central.address}/api/v1/write"
    remote["queue_config"] = {"batch_send_deadline": "1s"}
    return json.dumps(document)


def _by_site(prometheus: Prometheus, expr: str) -> dict[str, float]:
    """``expr``'s value per ``site`` label (a series without one is keyed "")."""
    values: dict[str, float] = {}
    for series in prometheus.query(expr):
        site = series["metric"].get("site", "")
        assert site not in values, f"{expr}: two series for site {site!r}"
        values[site] = float(series["value"][1])
    return values


def _rules_and_alerts_keep_site(central: Prometheus) -> str:
    """The central server's recording rules and alerts keep the site; the query of the
    pending CameraDown alerts."""
    # Recording rules evaluated centrally keep the site: one series per (site, camera).
    unavailable = RecordedNames.unavailable(DEFAULT_CONFIG.burn_windows[0])
    wait_until(
        lambda: _by_site(central, unavailable) == {"home": 0.0, "garage": 1.0},
        60, 0.25, unavailable,
    )  # fmt: skip
    parked = RecordedNames(DEFAULT_CONFIG).parked  # the guard every camera alert reads
    wait_until(lambda: _by_site(central, parked) == {"home": 0.0, "garage": 0.0}, 60, 0.25, parked)

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
    return pending


def test_a_central_prometheus_federates_both_sites_and_its_rules_keep_site(
    tmp_path: Path,
) -> None:
    with contextlib.ExitStack() as stack:
        # The garage's Prometheus on a stack of its own: stopped at the end (gone dark).
        garage_stack = stack.enter_context(contextlib.ExitStack())
        sites = {
            site: (garage_stack if site == "garage" else stack).enter_context(
                site_prometheus(tmp_path / site, site, streaming)
            )
            for site, streaming in SITES.items()
        }
        # Federated samples carry their timestamps, so no staleness marker ends a dark
        # site's series: they vanish after the lookback delta (5m by default), shortened
        # here like the intervals.
        central = stack.enter_context(
            running_prometheus_config(
                tmp_path / "central",
                central_config([s.address for s in sites.values()]),
                ["--query.lookback-delta=15s"],
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

        pending = _rules_and_alerts_keep_site(central)

        # The garage goes dark: its series end (after the lookback delta), its CameraDown
        # resolves, and the central-only TrashmonSiteSilent (pending: the shipped `for`
        # is 5m) names it.
        silent = 'ALERTS{alertname="TrashmonSiteSilent"}'
        assert _by_site(central, silent) == {}
        garage_stack.close()
        wait_until(lambda: _by_site(central, silent) == {"garage": 1.0}, 60, 0.25, silent)
        wait_until(lambda: _by_site(central, pending) == {}, 60, 0.25, pending)
        assert not central.unhealthy_rules()


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


def test_sites_remote_writing_to_a_central_prometheus_keep_their_site(tmp_path: Path) -> None:
    """The alternative to federation: each site runs the shipped site-remote-write.yml,
    the centre receives (--web.enable-remote-write-receiver) and evaluates the rules."""
    central_document = {
        "global": {"evaluation_interval": "1s"},
        "rule_files": [str(SHIPPED_RULES)],
    }
    with contextlib.ExitStack() as stack:
        central = stack.enter_context(
            running_prometheus_config(
                tmp_path / "central", json.dumps(central_document),
                ["--web.enable-remote-write-receiver"],
            )
        )  # fmt: skip
        for site, streaming in SITES.items():
            sources = stack.enter_context(site_sources(tmp_path / site, streaming))
            config = pushing_site_config(site, sources, central)
            stack.enter_context(running_prometheus_config(tmp_path / site / "prometheus", config))

        ok = 'trashmon_camera_state{job="trashmon-monitor",camera="cam1",state="ok"}'
        wait_until(lambda: _by_site(central, ok) == {"home": 1.0, "garage": 0.0}, 60, 0.25, ok)
        unavailable = RecordedNames.unavailable(DEFAULT_CONFIG.burn_windows[0])
        wait_until(
            lambda: _by_site(central, unavailable) == {"home": 0.0, "garage": 1.0},
            60, 0.25, unavailable,
        )  # fmt: skip
        pending = 'ALERTS{alertname="TrashmonCameraDown"}'
        wait_until(lambda: _by_site(central, pending) == {"garage": 1.0}, 60, 0.25, pending)
        # Only what the rules read crossed over: no process_*/python_* or scrape_* series.
        names = {
            series["metric"]["__name__"]
            for series in central.query('{job=~"trashmon-monitor|mediamtx"}')
        }
        assert names, "nothing arrived"
        assert {n for n in names if not n.startswith("trashmon_")} <= {"up", "paths"}, names
        assert not central.unhealthy_rules()
