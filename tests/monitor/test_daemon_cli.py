"""``trashmon monitor``'s assembly (``monitor/daemon_cli.py``): the settings read into one
monitor or several sites served as one, the incident history opened (or refused with
one line naming the setting), and what is refused before anything starts. The daemon
as a process is in ``tests/monitor/test_daemon_e2e.py``."""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from trashmonitor.errors import ConfigError
from trashmonitor.monitor import config
from trashmonitor.monitor.daemon import Monitor
from trashmonitor.monitor.daemon_cli import _play_watcher, build_monitor, configure, open_history
from trashmonitor.monitor.model import AgentView, CameraHealth, HealthReport
from trashmonitor.monitor.multisite import Sites


def parse(*args: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure(parser)
    return parser.parse_args(args)


class ExtraCollector(Collector):
    """What another observer (DNS, MQTT) hands the monitor to serve."""

    def collect(self) -> Iterable[Metric]:
        gauge = GaugeMetricFamily("trashmon_dns_in_sync", "test", labels=["resource", "name"])
        gauge.add_metric(["a_record", "cams.example"], 1)
        yield gauge


def test_build_monitor_reads_the_settings() -> None:
    def single(*args: str, **kwargs: Any) -> Monitor:
        watched, _ = build_monitor(parse(*args), **kwargs)
        assert isinstance(watched, Monitor)  # no site named: the one MediaMTX, as before
        return watched

    monitor = single(
        "--api", "http://cams.example/api", "--listen", ":0", collectors=[ExtraCollector()]
    )
    _, listen = build_monitor(parse("--listen", ":0"))
    assert monitor.client.metrics_url == "http://cams.example:9998/metrics"
    assert (listen.host, listen.port) == ("127.0.0.1", 0)
    assert (
        monitor.registry.get_sample_value(
            "trashmon_dns_in_sync", {"resource": "a_record", "name": "cams.example"}
        )
        == 1
    )
    off = single("--metrics-url", "off", "--interval", "250ms")
    assert off.client.metrics_url is None
    assert off.interval == 0.25
    assert off.stale_after == 0.75  # three intervals
    assert off.max_cameras == 20_000
    bounded = single("--stale-after", "10", "--max-cameras", "7")
    assert (bounded.stale_after, bounded.max_cameras) == (10, 7)
    explicit = single("--metrics-url", "http://m:9998")
    assert explicit.client.metrics_url == "http://m:9998/metrics"


def agents() -> Mapping[str, AgentView]:
    return {"cam1": AgentView("cam1", online=True, status_changed_at=0.0)}


def test_one_mediamtx_gets_the_agents_as_they_are_heard() -> None:
    watched, _ = build_monitor(parse("--api", "http://127.0.0.1:9"), agent_views=agents)
    assert isinstance(watched, Monitor)
    assert watched.site == ""
    assert watched.agent_views is agents


def test_named_sites_are_one_monitor_each_sharing_one_history_served_as_one() -> None:
    watched, _ = build_monitor(
        parse("--site", "home=http://127.0.0.1:9", "--site", "garage=http://127.0.0.2:9,off"),
        agent_views=agents,
        collectors=[ExtraCollector()],
    )
    assert isinstance(watched, Sites)
    home, garage = watched.monitors
    assert (home.site, home.client.api_url, home.client.metrics_url) == (
        "home", "http://127.0.0.1:9", "http://127.0.0.1:9998/metrics"
    )  # fmt: skip
    assert (garage.site, garage.client.metrics_url) == ("garage", None)
    assert home.history is not None
    assert garage.history is not None
    assert watched.history is home.history
    # One database: garage's incident is in what /api/incidents reads (home's store).
    camera = CameraHealth("cam1", "down", ("no_publisher",), online=False)
    garage.history.observe(HealthReport(200.0, (camera,)))
    assert garage.history.flush()
    page = home.history.incidents(now=300.0, since=0.0, until=300.0)
    assert [(i.site, i.camera, i.start) for i in page.incidents] == [("garage", "cam1", 200.0)]
    # The agents go through the router: nothing listed yet, every agent is the first site's.
    assert home.agent_views is not None
    assert home.agent_views is not agents
    assert garage.agent_views is not None
    assert set(home.agent_views()) == {"cam1"}
    assert set(garage.agent_views()) == set()
    # The extra collector is served once, on the merged page, not once per site.
    assert watched.exposition().decode().count("trashmon_dns_in_sync{") == 1


def test_a_history_sqlite_cannot_open_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    (tmp_path / "history.sqlite3").write_bytes(b"not a database, " * 512)
    settings = config.SETTINGS.read(parse("--state-dir", str(tmp_path)), config.MONITOR, {})
    with pytest.raises(ConfigError) as raised:
        open_history(settings)
    message = str(raised.value)
    assert message.startswith("--state-dir: incident history: ")
    assert "\n" not in message


def test_the_periodic_playback_check_is_refused_with_sites_before_anything_starts() -> None:
    play = ("--play-interval", "60", "--play-camera", "cam1")
    settings = config.SETTINGS.read(
        parse("--site", "home=http://127.0.0.1:9", *play), config.MONITOR, {}
    )
    with pytest.raises(ConfigError, match=r"^--play-interval: not with sites yet"):
        _play_watcher(settings)
    alone = config.SETTINGS.read(parse(*play), config.MONITOR, {})
    assert _play_watcher(alone) is not None
