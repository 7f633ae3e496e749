"""/metrics rendered by the poll thread ahead of an expected scrape (issue 17 §3): when
(``ScrapeForecast``), that the scrape then serves that rendering, equal to the
reference, and that a scrape during a rendering never gets a mix of two states."""

from __future__ import annotations

import re
import sys
import threading
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import CollectorRegistry

from trashmonitor.monitor.daemon import Monitor
from trashmonitor.monitor.export import PerState, ScrapeForecast, state_document
from trashmonitor.monitor.mediamtx import MediaMTXClient
from trashmonitor.monitor.mediamtx_http import UrllibTransport
from trashmonitor.monitor.model import CameraHealth, HealthReport, MonitorState
from trashmonitor.monitor.multisite import Sites
from trashmonitor.serving import json_response

NOW = 1_763_700_000.0
INTERVAL = 1.0


def forecast_after(*scrapes: float) -> ScrapeForecast:
    forecast = ScrapeForecast()
    for at in scrapes:
        forecast.scraped(at)
    return forecast


def test_no_forecast_before_two_scrapes() -> None:
    assert not forecast_after().due(100.0, INTERVAL)
    assert not forecast_after(99.0).due(100.0, INTERVAL)


def test_a_scraper_every_15_s_is_forecast_for_the_polls_just_before_its_scrape() -> None:
    forecast = forecast_after(100.0, 115.0)  # next expected at 130
    due = [at for at in range(116, 131) if forecast.due(float(at), INTERVAL)]
    assert due == [129, 130]  # the states current at 130, not the thirteen before


def test_a_late_scrape_is_still_expected_until_the_scraper_looks_gone() -> None:
    forecast = forecast_after(100.0, 115.0)
    assert forecast.due(133.0, INTERVAL)  # three seconds late
    assert forecast.due(146.0, INTERVAL)
    assert not forecast.due(146.5, INTERVAL)  # silent for over two gaps: not rendered


def test_scrapes_more_often_than_polls_get_every_state_rendered() -> None:
    forecast = forecast_after(100.0, 100.4)
    assert all(forecast.due(100.5 + step / 10, INTERVAL) for step in range(10))
    # the same instant twice (two scrapers at once) is a scrape due now
    assert forecast_after(100.0, 100.0).due(100.2, INTERVAL)


def served_ahead(
    forecast: ScrapeForecast, scrapers: dict[str, float], polls: int
) -> tuple[int, int, int]:
    """Polls at whole seconds from 100, each scraper every 15 s from its own phase
    (seconds after 100); a scrape serves the poll just before it. (scrapes after each
    scraper's first two, how many of them found their poll rendered ahead, polls
    rendered ahead)."""
    expected = served = rendered = 0
    seen: dict[str, int] = dict.fromkeys(scrapers, 0)
    for poll in range(100, 100 + polls):
        ahead = forecast.due(float(poll), INTERVAL)
        rendered += ahead
        for name, phase in scrapers.items():
            at = 100 + phase + 15 * seen[name]
            if poll <= at < poll + 1:
                if seen[name] >= 2:
                    expected += 1
                    served += ahead
                forecast.scraped(at, name)
                seen[name] += 1
    return expected, served, rendered


def test_two_scrapers_at_different_phases_each_keep_their_forecast() -> None:
    """Reproduction: one forecast over both scrapers' scrapes saw gaps of 1.3 s and
    13.7 s, neither scraper's, and rendered ahead for neither (every scrape of one of
    them rendered on demand, behind the poll)."""
    expected, served, rendered = served_ahead(
        ScrapeForecast(), {"prometheus-a": 0.3, "prometheus-b": 1.6}, 120
    )
    assert expected == 12
    assert served == expected
    assert rendered <= 2 * expected + 4  # about one state per scrape, not every poll


def test_one_scraper_alone_is_forecast_as_before() -> None:
    expected, served, rendered = served_ahead(ScrapeForecast(), {"prometheus": 0.3}, 120)
    assert (expected, served) == (6, 6)
    assert rendered <= 2 * expected + 2


def test_the_scrapers_followed_are_bounded_the_longest_silent_dropped() -> None:
    forecast = ScrapeForecast(max_scrapers=2)
    forecast.scraped(100.0, "prometheus")
    forecast.scraped(115.0, "prometheus")  # next expected at 130
    forecast.scraped(116.0, "curl")
    assert forecast.due(129.0, INTERVAL)
    forecast.scraped(117.0, "another")  # a third: the longest silent goes
    assert not forecast.due(129.0, INTERVAL)
    assert len(forecast._scrapers) == 2


CAMERAS = 500


def state(poll: int, cameras: int = CAMERAS) -> MonitorState:
    """Every number of poll ``poll`` is ``poll`` (inbound bytes, timestamps): a text
    holding two polls' numbers would be a torn mix."""
    report = HealthReport(
        NOW + poll,
        tuple(
            CameraHealth(f"cam{number:03d}", "ok", (), True, inbound_bytes=poll,
                         last_inbound_at=NOW + poll)
            for number in range(cameras)
        ),
    )  # fmt: skip
    return MonitorState(report=report, last_success_at=NOW + poll)


def monitor() -> Monitor:
    return Monitor(
        MediaMTXClient("http://127.0.0.1:9", transport=UrllibTransport()), clock=lambda: NOW
    )


def reference(watched: Monitor, current: MonitorState) -> bytes:
    registry = CollectorRegistry(auto_describe=False)

    class Reference:
        def collect(self) -> list[object]:
            # the registry's order: the poll's timings and errors, then the collector
            return [
                *(family for c in watched.poll_collectors() for family in c.collect()),
                *watched.collector.families(current),
            ]

    registry.register(Reference())  # type: ignore[arg-type]
    return generate_latest(registry)


def test_the_scrape_serves_what_the_poll_thread_rendered() -> None:
    watched = monitor()
    watched.state = state(1)
    watched.exposition(), watched.exposition()  # two scrapes back to back: one due now
    renders: list[MonitorState] = []
    render = watched.collector._per_state._render

    def counted(rendered: MonitorState) -> list[Metric]:
        renders.append(rendered)
        return render(rendered)

    watched.collector._per_state._render = counted
    watched.state = state(2)
    watched.prerender()
    assert renders == [watched.state]  # rendered by the "poll thread"
    assert watched.exposition() == reference(watched, watched.state)
    assert renders == [watched.state]  # the scrape rendered nothing


def test_no_rendering_ahead_without_a_scraper() -> None:
    watched = monitor()
    watched.state = state(1)
    watched.prerender()
    assert watched.collector._per_state._last is None


def test_sites_share_one_forecast() -> None:
    client = MediaMTXClient("http://127.0.0.1:9", transport=UrllibTransport())
    monitors = [Monitor(client, clock=lambda: NOW, site=site) for site in ("home", "garage")]
    sites = Sites(monitors)
    for watched in monitors:
        watched.state = state(1)
    sites.exposition(), sites.exposition()
    assert all(watched.scrapes is sites.scrapes for watched in monitors)
    for watched in monitors:
        watched.state = state(2)
        watched.prerender()
        assert watched.collector._per_state._last is not None
        assert watched.collector._per_state._last[0] is watched.state


NUMBERS = re.compile(
    rb"^trashmon_camera_(?:inbound_bytes_total|last_inbound_timestamp_seconds)\{[^}]*\} (\S+)$",
    re.MULTILINE,
)


def test_a_scrape_during_the_rendering_gets_one_whole_state() -> None:
    """The poll thread publishes state after state and renders each ahead; scrapes
    running meanwhile each get every number from one poll, never two."""
    watched = monitor()
    watched.state = state(0)
    watched.exposition(), watched.exposition()
    polls = 20

    def poll_thread() -> None:
        for poll in range(1, polls + 1):
            watched.state = state(poll)
            watched.prerender()
            watched.exposition()  # keeps the forecast saying "due" (a scraper at poll rate)

    thread = threading.Thread(target=poll_thread)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # the threads take turns within each other's renderings
    thread.start()
    scrapes = 0
    try:
        while thread.is_alive() or scrapes == 0:
            found = NUMBERS.findall(watched.exposition())
            assert len(found) == 2 * CAMERAS  # every camera's two numbers
            numbers = {float(value) for value in found}
            polls_in_text = {int(n - NOW) if n >= NOW else int(n) for n in numbers}
            assert len(polls_in_text) == 1, f"numbers of polls {sorted(polls_in_text)} in one text"
            scrapes += 1
    finally:
        thread.join(60)
        sys.setswitchinterval(switch)
    assert not thread.is_alive()
    assert watched.exposition() == reference(watched, state(polls))


def kept_state(per_state: PerState[Any]) -> MonitorState | None:
    """The state whose rendering ``per_state`` keeps (None: none kept)."""
    return None if per_state._last is None else per_state._last[0]


def test_a_published_state_lets_go_of_the_renderings_of_older_ones() -> None:
    """Memory (issue 17 §3): /api/status and /metrics renderings of a state the poll has
    replaced are never served again; kept, they held that state and the 4 MiB answer
    at 10,000 cameras (~9 MiB RSS). The next poll's prerender drops them."""
    watched = monitor()
    watched.state = state(1)
    first = watched.status().body
    watched.exposition()  # one scrape: no forecast, the scrape renders itself
    assert kept_state(watched._status) is watched.state
    assert kept_state(watched.collector._per_state) is watched.state
    watched.state = state(2)
    watched.prerender()
    assert kept_state(watched._status) is None
    assert kept_state(watched.collector._per_state) is None
    # Nothing changes for the routes: the new state is rendered on demand.
    assert watched.status().body != first
    assert watched.status().body == json_response(state_document(watched.state)).body
    assert watched.exposition() == reference(watched, watched.state)


def test_the_renderings_of_the_published_state_are_kept() -> None:
    watched = monitor()
    watched.state = state(1)
    answer = watched.status()
    watched.prerender()  # the poll thread, again, with no new state
    assert watched.status() is answer


def test_letting_go_never_waits_for_a_rendering_in_progress() -> None:
    """The poll thread's :meth:`PerState.keep_only` returns at once while a request
    renders (it holds the lock), and leaves that rendering in place."""
    started, release = threading.Event(), threading.Event()

    def slow(rendered: MonitorState) -> int:
        started.set()
        release.wait(60)
        return rendered.rejected

    per_state: PerState[int] = PerState(slow)
    current = state(1)
    reader = threading.Thread(target=per_state, args=(current,))
    reader.start()
    try:
        assert started.wait(60)
        per_state.keep_only(state(2))  # returns although the lock is held
        assert reader.is_alive()
    finally:
        release.set()
        reader.join(60)
    assert per_state._last is not None
    assert per_state._last[0] is current
