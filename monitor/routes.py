"""The monitor's HTTP routes over what it watches: ``/metrics``, ``/healthz``,
``/api/status`` and ``/api/incidents``, for one :class:`~trashmonitor.monitor.daemon.Monitor`
or several sites served as one (:class:`~trashmonitor.monitor.multisite.Sites`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from prometheus_client.exposition import CONTENT_TYPE_LATEST

from trashmonitor.monitor.export import scraper_of
from trashmonitor.monitor.history import HistoryStore
from trashmonitor.monitor.incidents_api import PATH as INCIDENTS_PATH
from trashmonitor.monitor.incidents_api import incidents_endpoint
from trashmonitor.serving import Endpoint, Response


class Watched(Protocol):
    """What the routes read: one :class:`Monitor`, or several sites served as one."""

    @property
    def history(self) -> HistoryStore | None: ...

    @property
    def clock(self) -> Callable[[], float]: ...

    def exposition(self, scraper: str = "") -> bytes: ...

    def healthz(self) -> Response: ...

    def status(self) -> Response: ...


def routes(monitor: Watched) -> dict[str, Callable[[], Response] | Endpoint]:
    return {
        # Reads only who scrapes: a scrape config's ``params:`` (any number of query
        # fields) and a body are ignored, as before /metrics read the request.
        "/metrics": Endpoint(
            frozenset({"GET"}),
            lambda request: Response(
                200, monitor.exposition(scraper_of(request)), CONTENT_TYPE_LATEST
            ),
            reads_input=False,
        ),
        "/healthz": monitor.healthz,
        "/api/status": monitor.status,
        INCIDENTS_PATH: incidents_endpoint(lambda: monitor.history, monitor.clock),
    }
