"""Several sites served as one (``monitor/multisite.py``): every series with its site,
the merged /api/status and /healthz, and which site an agent-only camera belongs to.
The spec parser and settings are in ``tests/monitor/test_sites.py``; the sited /metrics
against prometheus-client's rendering in ``tests/monitor/test_export.py``; the real
processes in ``tests/monitor/test_sites_e2e.py``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from support.fake_mediamtx import FakeMediaMTX
from support.processes import promtool_check_metrics

from trashmonitor.monitor.daemon import Monitor
from trashmonitor.monitor.export import (
    PrerenderedFamily,
    ScrapeForecast,
    exposition,
    joined_text,
)
from trashmonitor.monitor.history import HistoryStore
from trashmonitor.monitor.mediamtx import MediaMTXClient
from trashmonitor.monitor.model import AgentView
from trashmonitor.monitor.multisite import (
    AgentRouter,
    JoinedFamily,
    Sites,
    SitesForecast,
    route_agents,
)


@pytest.fixture
def garage() -> Iterator[FakeMediaMTX]:
    with FakeMediaMTX("v1.20") as server:
        yield server


def two_sites(home: FakeMediaMTX, garage: FakeMediaMTX, interval: float = 1.0) -> Sites:
    shared = HistoryStore(None, site="home")
    monitors = [
        Monitor(
            MediaMTXClient(home.url, home.url + "/metrics"),
            site="home",
            history=shared,
            interval=interval,
        ),
        Monitor(
            MediaMTXClient(garage.url, None),
            site="garage",
            history=HistoryStore(None, site="garage", share=shared),
            interval=interval,
        ),
    ]
    return Sites(monitors)


def polled(sites: Sites) -> Sites:
    """``sites`` once every site has polled once."""
    for monitor in sites.monitors:
        monitor.poll_once()
    return sites


def home_and_garage(home: FakeMediaMTX, garage: FakeMediaMTX) -> Sites:
    """Two cameras at home, one in the garage (``cam0`` at both), each site polled."""
    home.add_paths(2, rate=1000)
    garage.add_paths(1, rate=1000)
    return polled(two_sites(home, garage))


def test_every_series_carries_its_site_and_promtool_accepts_the_page(
    fake: FakeMediaMTX, garage: FakeMediaMTX
) -> None:
    sites = home_and_garage(fake, garage)
    page = sites.exposition()
    assert promtool_check_metrics(page)[0] == 0
    samples = [line for line in page.decode().splitlines() if line and not line.startswith("#")]
    unlabelled = [line for line in samples if 'site="' not in line]
    assert [line.split("{")[0] for line in unlabelled] == ["trashmon_build_info"]
    assert 'trashmon_camera_state{camera="cam0",site="garage",state="ok"} 1.0' in samples
    assert 'trashmon_camera_state{camera="cam1",site="home",state="ok"} 1.0' in samples
    assert 'trashmon_mediamtx_metrics_up{site="home"} 1.0' in samples
    assert sites.exposition() == page  # the same polls: the same page (rendered once)

    status = json.loads(sites.status().body)
    assert [(c["site"], c["name"]) for c in status["cameras"]] == [
        ("home", "cam0"), ("home", "cam1"), ("garage", "cam0"),
    ]  # fmt: skip
    assert status["summary"]["ok"] == 3
    assert status["mediamtx"] == {"reachable": True, "error": None, "metrics_error": None}
    assert set(status["sites"]) == {"home", "garage"}
    health = json.loads(sites.healthz().body)
    assert set(health["sites"]) == {"home", "garage"}

    garage.fault = "http500"
    sites.monitors[1].poll_once()
    status = json.loads(sites.status().body)
    assert status["mediamtx"]["reachable"] is False
    assert status["mediamtx"]["error"].startswith("garage: ")
    assert status["sites"]["home"]["reachable"] is True
    garage_cameras = [c for c in status["cameras"] if c["site"] == "garage"]
    assert [c["reasons"] for c in garage_cameras] == [["mediamtx_unreachable"]]
    assert 'trashmon_mediamtx_up{site="garage"} 0.0' in sites.exposition().decode()


def test_a_site_not_polled_yet_is_shown_as_such(fake: FakeMediaMTX, garage: FakeMediaMTX) -> None:
    fake.add_paths(1, rate=1000)
    sites = two_sites(fake, garage)
    assert sites.status().status == 503
    sites.monitors[0].poll_once()
    status = json.loads(sites.status().body)
    assert status["sites"]["garage"]["error"] == "no poll has completed yet"
    assert [c["site"] for c in status["cameras"]] == ["home"]


def agent(name: str) -> AgentView:
    return AgentView(name, online=True, status_changed_at=0.0, last_state_at=0.0)


def test_an_agent_belongs_to_the_site_that_lists_its_path(
    fake: FakeMediaMTX, garage: FakeMediaMTX
) -> None:
    fake.add_paths(1, rate=1000)  # cam0 at home
    garage.set_path("yard", rate=1000)
    agents = {name: agent(name) for name in ("cam0", "yard", "lost")}
    sites = two_sites(fake, garage)
    route_agents(sites.monitors, lambda: agents)
    home, shed = sites.monitors
    assert home.agent_views is not None
    assert shed.agent_views is not None
    # Nothing polled yet: nobody lists anything, every agent goes to the first site.
    assert set(home.agent_views()) == {"cam0", "yard", "lost"}
    home.poll_once()
    shed.poll_once()
    assert set(home.agent_views()) == {"cam0", "lost"}
    assert set(shed.agent_views()) == {"yard"}
    home.poll_once()  # the first site no longer remembers yard: no ghost camera there
    names = {(c["site"], c["name"]) for c in json.loads(sites.status().body)["cameras"]}
    assert names == {("home", "cam0"), ("home", "lost"), ("garage", "yard")}
    garage.fault = "http500"  # a site that goes down keeps its cameras
    shed.poll_once()
    assert set(shed.agent_views()) == {"yard"}


def test_agent_owners_are_decided_again_only_when_a_listing_or_an_agent_changes(
    fake: FakeMediaMTX, garage: FakeMediaMTX
) -> None:
    fake.add_paths(1, rate=1000)
    garage.set_path("yard", rate=1000)
    agents = {name: agent(name) for name in ("cam0", "yard")}
    sites = two_sites(fake, garage)
    home, shed = sites.monitors
    router = AgentRouter(lambda: agents, sites.monitors)
    for monitor in sites.monitors:
        monitor.agent_views = router.for_site(monitor)
    home.poll_once()
    shed.poll_once()
    decided = router.owned(frozenset(agents))
    assert decided == (frozenset({"cam0"}), frozenset({"yard"}))  # home's, garage's
    home.poll_once()  # the same names listed again: the same decision, not made again
    shed.poll_once()
    assert router.owned(frozenset(agents)) is decided
    garage.set_path("cam0", rate=1000)  # a listing changes: decided again
    shed.poll_once()
    assert router.owned(frozenset(agents)) is not decided
    assert router.owned(frozenset({*agents, "lost"}))[0] == {"cam0", "lost"}


def test_a_camera_moving_site_during_a_hook_re_read_does_not_lock_up(
    fake: FakeMediaMTX, garage: FakeMediaMTX
) -> None:
    """The re-read judges with the agents while holding its site's lock; handing a camera
    to another site then must not wait on that same lock (nor on the other site's)."""
    import threading

    fake.add_paths(1, rate=1000)
    sites = two_sites(fake, garage)
    route_agents(sites.monitors, lambda: {"yard": agent("yard")})
    home, shed = sites.monitors
    home.poll_once()  # yard listed nowhere: it is home's
    garage.set_path("yard", rate=1000)
    shed.poll_once()  # now the garage lists it; home learns it at its next look
    outcome: list[str] = []
    worker = threading.Thread(target=lambda: outcome.append(home.refresh_path("cam0")))
    worker.daemon = True
    worker.start()
    worker.join(10)
    assert outcome == ["updated"]
    home.poll_once()
    names = {(c["site"], c["name"]) for c in json.loads(sites.status().body)["cameras"]}
    assert names == {("home", "cam0"), ("garage", "yard")}


def test_healthz_is_the_worst_site_stuck_then_blind_then_ok(
    fake: FakeMediaMTX, garage: FakeMediaMTX
) -> None:
    home, shed = (sites := two_sites(fake, garage)).monitors
    for server in (fake, garage):
        server.add_paths(1, rate=1000)

    def health() -> tuple[int, str, bool, dict[str, str]]:
        answer = sites.healthz()
        document = json.loads(answer.body)
        statuses = {site: doc["status"] for site, doc in document["sites"].items()}
        return answer.status, document["status"], document["sees_mediamtx"], statuses

    # No poll has ended anywhere: not looping, stuck.
    assert health() == (503, "stuck", False, {"home": "stuck", "garage": "stuck"})
    home.poll_once()
    shed.poll_once()
    assert health() == (200, "ok", True, {"home": "ok", "garage": "ok"})
    garage.fault = "http500"
    shed.poll_once()
    assert health() == (200, "blind", False, {"home": "ok", "garage": "blind"})
    # Home's loop stops ending its polls (its last cycle long ago): stuck wins over blind.
    home.state = home.state._replace(last_cycle_at=time.monotonic() - 10_000)
    assert health() == (503, "stuck", False, {"home": "stuck", "garage": "blind"})


def test_the_status_is_rendered_once_per_set_of_site_states(
    fake: FakeMediaMTX, garage: FakeMediaMTX
) -> None:
    fake.add_paths(1, rate=1000)
    sites = two_sites(fake, garage)
    home, shed = sites.monitors
    home.poll_once()
    first = sites.status()
    assert sites.status() is first  # nothing polled since: the same rendered answer
    shed.poll_once()
    second = sites.status()
    assert second is not first
    assert [c["site"] for c in json.loads(second.body)["cameras"]] == ["home"]
    assert json.loads(second.body)["sites"]["garage"]["error"] is None


def test_without_agents_the_sites_keep_their_own_agent_views(
    fake: FakeMediaMTX, garage: FakeMediaMTX
) -> None:
    sites = two_sites(fake, garage)
    route_agents(sites.monitors, None)
    assert [monitor.agent_views for monitor in sites.monitors] == [None, None]


def test_a_merged_family_joins_the_sites_kept_texts_without_copying_them(
    fake: FakeMediaMTX, garage: FakeMediaMTX
) -> None:
    """A family of every site is the sites' texts as views, joined only into the page."""
    sites = home_and_garage(fake, garage)
    merged = {family.name: family for family in sites.registry.collect()}["trashmon_camera_state"]
    parts = [
        family
        for monitor in sites.monitors
        for family in monitor.collector.rendered(monitor.view())
        if family.name == "trashmon_camera_state"
    ]
    assert isinstance(merged, JoinedFamily)
    assert merged.text == joined_text(parts)  # byte for byte what joining them made
    garage_part = merged.parts[1]
    assert isinstance(garage_part, memoryview)
    garage_family = parts[1]
    assert isinstance(garage_family, PrerenderedFamily)
    assert garage_part.obj is garage_family.text  # a view of the garage's own text, no copy
    # The page as joining every family's whole text makes it.
    assert sites.exposition() == exposition(sites.registry)


def test_a_scrape_takes_a_sites_last_rendering_while_its_poll_renders_the_newest(
    fake: FakeMediaMTX, garage: FakeMediaMTX
) -> None:
    """While the sites poll, a scrape does not render (or wait for) a state its site's poll
    renders: it serves that site's previous rendering, one poll old, until the poll's."""
    fake.add_paths(1, rate=1000)
    sites = polled(two_sites(fake, garage, interval=30.0))  # nothing expires meanwhile
    home, _ = sites.monitors
    sites.collector.polling.set()  # as Sites.run does
    sites.exposition("prometheus")
    before = sites.exposition("prometheus")  # two scrapes: the next one is expected
    fake.add_paths(1, prefix="new", rate=1000)
    home.poll_once()  # published; its poll thread renders it next (Monitor.prerender)
    assert b'camera="new0"' not in sites.exposition("prometheus")
    assert home.collector.last_rendered() is not None
    home.prerender()
    after = sites.exposition("prometheus")
    assert b'camera="new0",site="home"' in after
    assert after != before

    sites.collector.polling.clear()  # not polling: no poll renders; the scrape does
    fake.add_paths(1, prefix="newer", rate=1000)
    home.poll_once()
    assert b'camera="newer0",site="home"' in sites.exposition("prometheus")


def test_the_sites_forecast_still_expects_the_scrape_after_a_slow_one() -> None:
    """Scrapes 1.1 s apart, one of which took 1.3 s: the gap it leaves (2.4 s) made the
    plain forecast expect the next scrape too late, so the polls before it rendered
    nothing ahead (and that scrape rendered every site itself)."""
    plain, sites = ScrapeForecast(), SitesForecast()
    for forecast in (plain, sites):
        forecast.scraped(0.0)
        forecast.scraped(2.4)  # the next comes 1.16 s later (this one fast)
    published = 2.6  # a site's poll publishes before that scrape
    assert not plain.due(published, 1.0)
    assert sites.due(published, 1.0)
