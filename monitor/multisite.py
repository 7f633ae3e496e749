"""Several sites under one monitor: one :class:`~trashmonitor.monitor.daemon.Monitor` per
MediaMTX, each polling on its own thread with its own deadline, served as one.

A site that is slow or down holds up nothing but its own polls: its cameras alone turn
``mediamtx_unreachable`` (its ``trashmon_mediamtx_up{site=…}`` 0), from its own staleness
clock. The routes merge the sites' views: every series of a site's registry gains the
``site`` label (``trashmon_build_info`` is shown once, unlabelled), ``/api/status`` is
:func:`~trashmonitor.monitor.status.sites_document`, ``/healthz`` is ``ok`` only while
every site is seen.

Which site a camera heard only from its MQTT agent belongs to: the first site (in the
order declared) whose MediaMTX lists its path; once listed it stays with that site while
no other lists it (a site that goes down keeps its cameras); never listed anywhere, the
first site.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from trashmonitor.monitor.daemon import AgentViews, Monitor
from trashmonitor.monitor.export import (
    NO_POLL_YET,
    SITELESS,
    PrerenderedFamily,
    ScrapeForecast,
    exposition,
    with_site,
)
from trashmonitor.monitor.export import state_document as site_status
from trashmonitor.monitor.model import AgentView, MonitorState
from trashmonitor.monitor.status import sites_document, unpolled_document
from trashmonitor.serving import Response, json_response


class AgentRouter:
    """Hands each site the agents whose camera belongs to it (the module's rule).

    Owners are decided for every agent at once, under one lock, and kept while no
    site's listing (:attr:`Monitor.listed`, the same object while its names stay the
    same) and no agent's name changes: each site's poll then only picks its own agents,
    rather than deciding every agent's owner (agents x sites, a lock each) per site and
    poll."""

    def __init__(self, agent_views: AgentViews, monitors: Sequence[Monitor]) -> None:
        self._views = agent_views
        self._monitors = monitors
        self._owner: dict[str, Monitor] = {}
        self._lock = threading.Lock()
        self._decided: tuple[tuple[Collection[str], ...], frozenset[str]] | None = None
        self._owned: tuple[frozenset[str], ...] = ()

    def owned(self, names: frozenset[str]) -> tuple[frozenset[str], ...]:
        """The names each site owns among ``names`` (every agent heard), in the order
        of the sites."""
        listings = tuple(monitor.listed for monitor in self._monitors)
        with self._lock:
            decided = self._decided
            if (
                decided is not None
                and decided[1] == names
                and all(old is new for old, new in zip(decided[0], listings, strict=True))
            ):
                return self._owned
        owners = self._decide(names, listings)
        owned: list[set[str]] = [set() for _ in self._monitors]
        for name, index in owners.items():
            owned[index].add(name)
        with self._lock:
            self._owned = tuple(frozenset(part) for part in owned)
            self._decided = (listings, names)
            return self._owned

    def _decide(
        self, names: Collection[str], listings: tuple[Collection[str], ...]
    ) -> dict[str, int]:
        """Each name's site, by its index (monitors compare by value: not hashable)."""
        owners: dict[str, int] = {}
        moved: list[tuple[Monitor, str]] = []
        with self._lock:
            for name in names:
                listing = next(
                    (
                        m
                        for m, listed in zip(self._monitors, listings, strict=True)
                        if name in listed
                    ),
                    None,
                )
                previous = self._owner.get(name)
                owner = listing or previous or self._monitors[0]
                self._owner[name] = owner
                owners[name] = next(i for i, m in enumerate(self._monitors) if m is owner)
                if previous is not None and previous is not owner:
                    moved.append((previous, name))
        for previous, name in moved:
            previous.forget(name)  # its site no longer lists it: no "down" ghost there
        return owners

    def for_site(self, monitor: Monitor) -> AgentViews:
        index = next(i for i, m in enumerate(self._monitors) if m is monitor)

        def views() -> Mapping[str, AgentView]:
            heard = self._views()
            mine = self.owned(frozenset(heard))[index]
            return {name: view for name, view in heard.items() if name in mine}

        return views


class SitesCollector(Collector):
    """Every site's families, each sample labelled with its site, the families of one
    name merged (:data:`SITELESS` ones shown once, from the first site). A site's
    families change only when its state does: its collector renders them once per state,
    the camera lines kept across states (``MonitorCollector(site=…)``); a merged family
    is those texts as they are (:class:`JoinedFamily`), copied once, into the page.

    While the sites poll (``polling`` set) and a scrape is expected, each site's poll
    renders the state it publishes (:meth:`Monitor.prerender`): a scrape then takes a
    site's latest finished rendering rather than render or wait for the newest itself
    (:meth:`_state_families`). With ten sites polling at their own pace, some site
    has nearly always just published: the scrape rendered or waited for it, behind the
    GIL with every site's poll (at 50,000 paths over 10 sites, first /metrics of a
    poll ~2.4 s, against ~40 ms for one site)."""

    def __init__(self, monitors: Sequence[Monitor]) -> None:
        self._monitors = monitors
        self.polling = threading.Event()
        self._scrape = threading.local()  # what expect() found, for the same thread's scrape

    def describe(self) -> Iterable[Metric]:
        return ()

    def collect(self) -> Iterable[Metric]:
        by_name: dict[str, list[tuple[Metric, bool]]] = {}
        for monitor in self._monitors:
            for family in self._state_families(monitor):
                if family.name not in SITELESS or family.name not in by_name:
                    by_name.setdefault(family.name, []).append((family, True))
            for collector in monitor.poll_collectors():
                for family in collector.collect():
                    part = with_site(monitor.site, family), False
                    by_name.setdefault(family.name, []).append(part)
        return [_merge(parts) for parts in by_name.values()]

    def _state_families(self, monitor: Monitor) -> list[Metric]:
        """The site's families of its newest state; of the one before while its own poll
        renders the newest (at most one interval old: a scrape, one poll earlier)."""
        view = monitor.view()
        last = monitor.collector.last_rendered()
        if last is not None and (last[0] is view or self._poll_renders(monitor, view)):
            return last[1]  # not waiting for the site's poll, rendering a newer state
        return monitor.collector.rendered(view)

    def _poll_renders(self, monitor: Monitor, view: MonitorState) -> bool:
        """Whether the site's poll renders ``view`` itself: the sites poll, ``view`` is
        the state a poll published (not a blind view, which no poll renders), and
        :meth:`expect` found a scrape was due when it was published. Not once the next
        poll is late (its render failed, or the poll hangs): then the scrape renders."""
        published = view.last_cycle_at
        late = 2 * monitor.interval + monitor.client.timeout
        return (
            self.polling.is_set()
            and published is not None
            and time.monotonic() - published < late
            and any(view is state for state in getattr(self._scrape, "prerendered", ()))
        )

    def expect(self, scrapes: ScrapeForecast) -> None:
        """Note, for this thread's next :meth:`collect`, the sites' states whose polls
        render them (:meth:`Monitor.prerender`): a scrape was due when each was
        published, as its poll found (``scrapes`` as it was then: before this scrape)."""
        self._scrape.prerendered = tuple(
            monitor.state
            for monitor in self._monitors
            if monitor.state.last_cycle_at is not None
            and scrapes.due(monitor.state.last_cycle_at, monitor.interval)
        )


def _merge(parts: list[tuple[Metric, bool]]) -> Metric:
    """One family of that name: the sites' kept texts joined in the page, or (timings,
    errors: they change every scrape) its samples, rendered now."""
    families = tuple(family for family, _ in parts)
    if len(families) == 1:
        return families[0]
    kept = [family for family in families if isinstance(family, PrerenderedFamily)]
    if not all(stable for _, stable in parts) or len(kept) < len(families):
        return _joined(families)
    return JoinedFamily(kept)


class JoinedFamily(PrerenderedFamily):
    """Families of one name (every site's part, each a :class:`PrerenderedFamily`) as one:
    the first one's text, then the others' without their ``# HELP``/``# TYPE`` lines
    (:func:`~trashmonitor.monitor.export.joined_text`, byte for byte). Kept as those
    ``parts``, views of the sites' own texts: at 50,000 cameras over 10 sites, joining
    them into one more copy per family on every new site state (each site polls on its
    own: nearly every scrape) copied the page twice per scrape and kept one more."""

    def __init__(self, families: Sequence[PrerenderedFamily]) -> None:
        first = families[0]
        Metric.__init__(self, first.name, first.documentation, first.type, first.unit)
        self._samples_of = lambda: _joined(families).samples
        texts = [family.text for family in families]
        header = _header_length(texts[0])
        self.parts: tuple[bytes | memoryview, ...] = (
            texts[0],
            *(memoryview(text)[header:] for text in texts[1:]),
        )

    @property
    def text(self) -> bytes:
        """The joined text, for a reader that wants it whole (:func:`page` does not)."""
        return b"".join(self.parts)

    @text.setter
    def text(self, value: bytes) -> None:
        self.parts = (value,)


def _header_length(text: bytes) -> int:
    """The length of the ``# HELP`` and ``# TYPE`` lines that open a family's text
    (``generate_latest`` writes both, always, and escapes newlines in the help)."""
    return text.index(b"\n", text.index(b"\n") + 1) + 1


def page(registry: Collector) -> bytes:
    """:func:`exposition` of ``registry``, each :class:`JoinedFamily` copied straight from
    its parts: the page is the only copy made of the sites' texts."""
    parts: list[bytes | memoryview] = []
    for family in registry.collect():
        if isinstance(family, JoinedFamily):
            parts.extend(family.parts)
        elif isinstance(family, PrerenderedFamily):
            parts.append(family.text)
        else:
            parts.append(exposition(_Single(family)))
    return b"".join(parts)


class _Single(Collector):
    def __init__(self, family: Metric) -> None:
        self._family = family

    def collect(self) -> Iterable[Metric]:
        return (self._family,)


def _joined(families: Sequence[Metric]) -> Metric:
    first = families[0]
    joined = Metric(first.name, first.documentation, first.type, first.unit)
    joined.samples = [sample for family in families for sample in family.samples]
    return joined


class SitesForecast(ScrapeForecast):
    """:class:`ScrapeForecast` expecting a scrape up to :data:`EARLY` intervals before
    the scraper's last gap says. One scrape that was slow stretches that gap: the polls
    of the sites (each at its own phase) then stopped rendering ahead of the next scrape,
    which rendered them, was slow in turn, and so on (one first /metrics in two took
    ~1.5 s at 50,000 paths over 10 sites). Costs up to EARLY renders of a site's state
    per scrape rather than one."""

    def due(self, now: float, interval: float) -> bool:
        return super().due(now, EARLY * interval)


EARLY = 3


class Sites:
    """The site monitors as one monitor for the routes and the loop."""

    def __init__(self, monitors: Sequence[Monitor]) -> None:
        self.monitors = tuple(monitors)
        # Each site's poll renders its families ahead of the scrapes of the merged text.
        self.scrapes: ScrapeForecast = SitesForecast()
        for monitor in self.monitors:
            monitor.scrapes = self.scrapes
        self.registry = CollectorRegistry(auto_describe=True)
        self.collector = SitesCollector(self.monitors)
        self.registry.register(self.collector)
        self.clock = self.monitors[0].clock
        self.history = self.monitors[0].history
        self._rendered: tuple[tuple[MonitorState, ...], Response] | None = None
        self._render_lock = threading.Lock()

    def register(self, collector: Collector) -> None:
        self.registry.register(collector)

    def exposition(self, scraper: str = "") -> bytes:
        self.collector.expect(self.scrapes)
        self.scrapes.scraped(time.monotonic(), scraper)
        return page(self.registry)

    def run(self, stop: threading.Event) -> None:
        """Every site polls on its own thread until ``stop``; returns once it is set."""
        threads = [
            threading.Thread(target=monitor.run, args=(stop,), name=f"site {monitor.site}",
                             daemon=True)
            for monitor in self.monitors
        ]  # fmt: skip
        for thread in threads:
            thread.start()
        self.collector.polling.set()
        try:
            for thread in threads:
                thread.join()
        finally:
            self.collector.polling.clear()

    def close(self) -> None:
        for monitor in self.monitors:
            monitor.close()

    def status(self) -> Response:
        views = tuple(monitor.view() for monitor in self.monitors)
        with self._render_lock:
            last = self._rendered
            if last is not None and all(a is b for a, b in zip(last[0], views, strict=True)):
                return last[1]
            documents = [
                (monitor.site, site_status(view) or unpolled_document(NO_POLL_YET))
                for monitor, view in zip(self.monitors, views, strict=True)
            ]
            if all(view.report is None for view in views):
                response = json_response({"error": NO_POLL_YET}, 503)
            else:
                response = json_response(sites_document(documents))
            self._rendered = (views, response)
            return response

    def healthz(self) -> Response:
        """``stuck`` (503) when any site's polls stop completing, ``blind`` while any site
        is not seen, else ``ok``; each site's own document under ``sites``."""
        documents = {monitor.site: monitor.health_document() for monitor in self.monitors}
        statuses = {document["status"] for document in documents.values()}
        status = "stuck" if "stuck" in statuses else "blind" if "blind" in statuses else "ok"
        document: dict[str, Any] = {
            "status": status,
            "sees_mediamtx": all(doc["sees_mediamtx"] for doc in documents.values()),
            "history": None if self.history is None else self.history.describe(),
            "sites": documents,
        }
        return json_response(document, 503 if status == "stuck" else 200)


def route_agents(monitors: Sequence[Monitor], agent_views: AgentViews | None) -> None:
    """Give each site monitor the agents of its cameras (the module's rule)."""
    if agent_views is None:
        return
    router = AgentRouter(agent_views, monitors)
    for monitor in monitors:
        monitor.agent_views = router.for_site(monitor)
