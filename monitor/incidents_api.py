"""``GET /api/incidents?camera=&since=&until=&limit=``: the incident history, newest first.

Query parameters are outside input: each is checked (:func:`parse_query`) and a bad one
is a 400 with a one-line JSON error naming it. The answer is bounded (``limit``, at most
:data:`~trashmonitor.monitor.history.MAX_INCIDENTS`). Shape: docs/contracts.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Final, TypedDict

from trashmonitor.monitor.history import MAX_INCIDENTS, HistoryStore, Incident
from trashmonitor.monitor.model import MAX_PATH_NAME_LENGTH
from trashmonitor.monitor.sites import check_site_name
from trashmonitor.serving import Endpoint, Request, Response, json_response

PATH: Final = "/api/incidents"
DEFAULT_LOOKBACK_SECONDS: Final = 30 * 86400.0
DEFAULT_LIMIT: Final = 100
MAX_TIMESTAMP: Final = 1e11
"""Epoch seconds beyond year 5000 are a typo (milliseconds?), not a time."""
PARAMETERS: Final = frozenset({"camera", "site", "since", "until", "limit"})


class IncidentQuery(TypedDict):
    """One request's checked filters, named as :meth:`HistoryStore.incidents` takes them
    (mypy checks the two against each other where they are passed on)."""

    camera: str | None
    since: float
    until: float
    limit: int
    site: str | None


def _single(query: Mapping[str, tuple[str, ...]], name: str) -> str | None:
    values = query.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise ValueError(f"{name}: given more than once")
    return values[0]


def _timestamp(name: str, text: str) -> float:
    try:
        value: float | None = float(text)
    except ValueError:
        value = None
    # Raised after the except block: float()'s error echoing the query's text (hostile
    # input) is no __context__ (``from None`` would only hide it from the printout).
    if value is None:
        raise ValueError(f"{name}: expected epoch seconds")
    if not math.isfinite(value) or not 0 <= value <= MAX_TIMESTAMP:
        raise ValueError(f"{name}: expected epoch seconds between 0 and {MAX_TIMESTAMP:g}")
    return value


def parse_query(query: Mapping[str, tuple[str, ...]], now: float) -> IncidentQuery:
    """The filters of one request; ValueError (one line naming the parameter) if bad."""
    unknown = sorted(set(query) - PARAMETERS)
    if unknown:
        raise ValueError(
            f"unknown parameter {unknown[0][:40]!r} (camera, site, since, until, limit)"
        )
    camera = _single(query, "camera")
    if camera is not None and len(camera) > MAX_PATH_NAME_LENGTH:
        raise ValueError(f"camera: longer than {MAX_PATH_NAME_LENGTH} characters")
    until_text = _single(query, "until")
    until = now if until_text is None else _timestamp("until", until_text)
    since_text = _single(query, "since")
    since = max(0.0, until - DEFAULT_LOOKBACK_SECONDS)
    if since_text is not None:
        since = _timestamp("since", since_text)
    if since > until:
        raise ValueError("since: later than until")
    limit_text = _single(query, "limit")
    limit = DEFAULT_LIMIT
    if limit_text is not None:
        if not limit_text.isascii() or not limit_text.isdigit() or len(limit_text) > 6:
            raise ValueError(f"limit: expected a whole number from 1 to {MAX_INCIDENTS}")
        limit = int(limit_text)
        if not 1 <= limit <= MAX_INCIDENTS:
            raise ValueError(f"limit: expected a whole number from 1 to {MAX_INCIDENTS}")
    site = _single(query, "site")
    if site:
        try:
            check_site_name(site)
        except ValueError as error:
            raise ValueError(f"site: {error}") from error
    return IncidentQuery(
        camera=camera or None, since=since, until=until, limit=limit, site=site or None
    )


def incident_document(incident: Incident, now: float) -> dict[str, Any]:
    return {
        **({"site": incident.site} if incident.site else {}),
        "camera": incident.camera,
        "start": incident.start,
        "end": incident.end,
        "ongoing": incident.end is None,
        "duration_seconds": round(incident.duration(now), 3),
        "reasons": list(incident.reasons),
    }


def incidents_endpoint(
    history: Callable[[], HistoryStore | None], clock: Callable[[], float]
) -> Endpoint:
    def handle(request: Request) -> Response:
        store = history()
        if store is None:
            return json_response({"error": "no incident history in this process"}, 503)
        now = clock()
        try:
            wanted = parse_query(request.query, now)
        except ValueError as error:
            return json_response({"error": str(error)}, 400)
        page = store.incidents(now=now, **wanted)
        return json_response(
            {
                "since": wanted["since"],
                "until": wanted["until"],
                "incident_min_seconds": store.blip_seconds,
                "incidents": [incident_document(incident, now) for incident in page.incidents],
                "truncated": page.truncated,
                "blips": page.blips,
                "persistent": store.persistent,
            }
        )

    return Endpoint(frozenset({"GET"}), handle)
