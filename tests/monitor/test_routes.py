"""The monitor's routes (``monitor/routes.py``): which path answers with what of the
watched monitor (one :class:`Monitor` or several sites as one), the scraper named on
/metrics, the incident history read when asked, not when the routes are built."""

from __future__ import annotations

import json
from collections.abc import Callable

from prometheus_client.exposition import CONTENT_TYPE_LATEST

from trashmonitor.monitor.export import scraper_of
from trashmonitor.monitor.history import HistoryStore
from trashmonitor.monitor.routes import routes
from trashmonitor.serving import Endpoint, Request, Response

NOW = 1_763_700_000.0


class Watched:
    """What the routes read, answering each call with its own recognisable response."""

    def __init__(self) -> None:
        self.history: HistoryStore | None = None
        self.clock: Callable[[], float] = lambda: NOW
        self.scrapers: list[str] = []
        self.health = Response(200, b'{"status": "ok"}', "application/json")
        self.document = Response(200, b'{"cameras": []}', "application/json")

    def exposition(self, scraper: str = "") -> bytes:
        self.scrapers.append(scraper)
        return f"# scrape {len(self.scrapers)}\n".encode()

    def healthz(self) -> Response:
        return self.health

    def status(self) -> Response:
        return self.document


def get(endpoint: Endpoint, path: str, client: str = "127.0.0.1", **headers: str) -> Response:
    return endpoint.handle(Request("GET", path, {}, headers, b"", client))


def test_the_metrics_route_names_the_scraper_by_address_and_user_agent() -> None:
    watched = Watched()
    metrics = routes(watched)["/metrics"]
    assert isinstance(metrics, Endpoint)
    for client, agent in (("10.0.0.5", "Prometheus/2.53.0"), ("10.0.0.5", "curl/8.5.0"),
                          ("10.0.0.6", "Prometheus/2.53.0"), ("10.0.0.5", None)):  # fmt: skip
        headers = {} if agent is None else {"user-agent": agent}
        answer = metrics.handle(Request("GET", "/metrics", {}, headers, b"", client))
        assert answer.status == 200
    assert len(set(watched.scrapers)) == 4
    assert watched.scrapers[0] == scraper_of(
        Request("GET", "/metrics", {}, {"user-agent": "Prometheus/2.53.0"}, b"", "10.0.0.5")
    )


def test_each_path_answers_with_what_the_watched_monitor_says() -> None:
    watched = Watched()
    table = routes(watched)
    assert set(table) == {"/metrics", "/healthz", "/api/status", "/api/incidents"}
    metrics = table["/metrics"]
    assert isinstance(metrics, Endpoint)
    assert metrics.methods == frozenset({"GET"})
    first, second = get(metrics, "/metrics"), get(metrics, "/metrics")
    assert (first.body, second.body) == (b"# scrape 1\n", b"# scrape 2\n")  # never cached here
    assert first.content_type == CONTENT_TYPE_LATEST
    healthz, status = table["/healthz"], table["/api/status"]
    assert not isinstance(healthz, Endpoint)
    assert not isinstance(status, Endpoint)
    assert healthz() is watched.health
    assert status() is watched.document


def test_the_incident_history_is_the_watched_one_at_the_time_of_the_request() -> None:
    watched = Watched()
    incidents = routes(watched)["/api/incidents"]
    assert isinstance(incidents, Endpoint)
    answer = get(incidents, "/api/incidents")
    assert answer.status == 503
    assert json.loads(answer.body) == {"error": "no incident history in this process"}
    # The daemon opens the history after building the monitor: the route follows it.
    watched.history = HistoryStore(None)
    try:
        answer = get(incidents, "/api/incidents")
        assert answer.status == 200
        document = json.loads(answer.body)
        assert document["until"] == NOW  # the watched monitor's clock
        assert document["incidents"] == []
    finally:
        watched.history.close()
