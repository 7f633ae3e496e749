"""The monitor daemon: poll MediaMTX on an interval, judge, export the latest snapshot.

One poll cycle = observe (API pages + ``/metrics``, agent views) -> evaluate (the pure
health model over a short history) -> publish an immutable :class:`MonitorState` that
``/metrics`` (:class:`MonitorCollector`), ``/api/status`` and ``/healthz`` read. A failed
poll is a state (``trashmon_mediamtx_up 0``, reason ``mediamtx_unreachable``), never a
crash, and so is a poll that does not end: all three routes read the state through
:meth:`Monitor.view`, which turns it blind from the clock at read time once no poll has
succeeded for ``stale_after`` seconds. Other observers plug in without touching this
module: ``agent_views`` (the MQTT observer) and extra collectors registered on
:attr:`Monitor.registry`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import Status, StatusCode, Tracer
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.registry import Collector

from trashmonitor.errors import (
    AuthError,
    ObservationError,
    TrashmonError,
    UnreachableError,
    metric_kind,
)
from trashmonitor.monitor.config import (
    DEFAULT_FORGET_AFTER,
    DEFAULT_MAX_CAMERAS,
    DEFAULT_STALE_POLLS,
)
from trashmonitor.monitor.export import (
    MonitorCollector,
    PerState,
    ScrapeForecast,
    StatusResponse,
    exposition,
)
from trashmonitor.monitor.health import Evaluator, Judging, blind, evaluate
from trashmonitor.monitor.history import CameraAvailability, HistoryStore
from trashmonitor.monitor.hooks import PathHints, patched
from trashmonitor.monitor.mediamtx import MediaMTXClient
from trashmonitor.monitor.model import (
    AgentView,
    HealthReport,
    MediaMTXObservation,
    MonitorState,
    PathObservation,
    PathsSnapshot,
    Thresholds,
)
from trashmonitor.monitor.observe import MediaMTXObserver, as_error
from trashmonitor.monitor.past_polls import past_poll
from trashmonitor.monitor.quality import CameraQuality, QualityTracker

if TYPE_CHECKING:
    from trashmonitor.monitor.play_watch import PlayCheck
from trashmonitor.runtime import run_every
from trashmonitor.serving import Response, json_response

log = logging.getLogger(__name__)

AgentViews = Callable[[], Mapping[str, AgentView]]
PlayChecks = Callable[[], Mapping[str, "tuple[PlayCheck, ...]"]]
POLL_ERROR_KINDS = ("unreachable", "http", "malformed")
"""The ``kind`` labels a failed read of MediaMTX is counted under, besides ``internal``."""
# How long close() gives a poll in flight to notice the stop before leaving it behind.
STOP_GRACE = 0.1


def error_kind(error: BaseException) -> str:
    """The ``kind`` label of ``trashmon_poll_errors_total``; ``internal`` for anything the
    observers do not anticipate (a parser's bug on hostile input, RecursionError, …)."""
    # The label set is a contract (docs/contracts.md): any other refusal of the source
    # (a kind the MediaMTX client does not raise today) counts with the HTTP ones.
    return metric_kind(error, (*POLL_ERROR_KINDS, "internal"), "http")


def blind_at(last_success_at: float | None, started_at: float, stale_after: float) -> float:
    """When the monitor stops seeing: ``stale_after`` seconds after the last successful
    poll, or after it started if none has succeeded yet."""
    return (started_at if last_success_at is None else last_success_at) + stale_after


def track(
    paths: Mapping[str, PathObservation], keep: Collection[str], limit: int
) -> tuple[Mapping[str, PathObservation], int]:
    """The paths judged this poll and how many were dropped to stay within ``limit``
    cameras in all.

    ``keep`` (expected, parked and remembered cameras) always takes its room first; the
    rest is filled with configured paths, then paths with a publisher, then by name —
    so a flood of ad-hoc names cannot push out a real camera.
    """
    if len(paths) + len(keep) <= limit:  # the common case: nothing to choose
        return paths, 0
    tracked = {name: path for name, path in paths.items() if name in keep}
    others = sorted(
        (path for name, path in paths.items() if name not in keep),
        key=lambda path: (not path.configured, not path.online, path.name),
    )
    room = max(0, limit - len(keep))
    tracked.update((path.name, path) for path in others[:room])
    return tracked, max(0, len(others) - room)


@dataclass
class Monitor:
    client: MediaMTXClient
    tracer: Tracer | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    parked: frozenset[str] = frozenset()
    expected: frozenset[str] = frozenset()
    """Cameras that must exist, reported down while MediaMTX does not list them."""
    interval: float = 1.0
    agent_views: AgentViews | None = None
    forget_after: float = DEFAULT_FORGET_AFTER
    stale_after: float | None = None
    """Seconds without a successful poll that make the monitor blind (default: 3 intervals)."""
    max_cameras: int = DEFAULT_MAX_CAMERAS
    clock: Callable[[], float] = time.time
    history: HistoryStore | None = None
    """Incident history and availability (issue 16 §3); None: not kept."""
    play_checks: PlayChecks | None = None
    """The periodic playback checks' latest results (issue 16 §5); None: off."""
    registry: CollectorRegistry = field(
        default_factory=lambda: CollectorRegistry(auto_describe=True)
    )
    site: str = ""
    """The site this MediaMTX is (monitor/sites.py); "" for the one unnamed MediaMTX."""
    scrapes: ScrapeForecast = field(default_factory=ScrapeForecast)
    """When /metrics is scraped (one forecast shared by the sites served as one)."""

    def __post_init__(self) -> None:
        self._observer = MediaMTXObserver(self.client, self.tracer, self.clock)
        if self.stale_after is None:
            self.stale_after = DEFAULT_STALE_POLLS * self.interval
        self._stale_after: float = self.stale_after
        self.state = MonitorState()
        self.started_at = self.clock()
        self._history: deque[PathsSnapshot] = deque()
        self._known: dict[str, float] = {}
        """Configured cameras (and agents) seen, by when: remembered once they vanish."""
        self._blind_view: tuple[MonitorState, MonitorState] | None = None
        self._hints = PathHints()
        self._listed_since = float("-inf")
        """When (monotonic) the poll behind the last snapshot started reading."""
        self._forget_lock = threading.Lock()
        self._forgetting: set[str] = set()
        self.listed: Collection[str] = ()
        """The path names of the last successful poll (which site an agent belongs to)."""
        # A hook's update and a poll's judgement publish one after the other, never
        # interleaved (the later one would drop the other's news).
        self._judging = threading.Lock()
        self._logged_errors: dict[str, str] = {}
        self._poller: threading.Thread | None = None
        self._quality = QualityTracker()
        self._evaluator = Evaluator()
        self._poll_duration = Histogram(
            "trashmon_poll_duration_seconds",
            "One poll cycle: MediaMTX API pages and metrics.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self._poll_errors = Counter(
            "trashmon_poll_errors",
            "Failed reads of MediaMTX, by source and kind.",
            ("source", "kind"),
            registry=self.registry,
        )
        for source in ("api", "metrics"):
            for kind in (*POLL_ERROR_KINDS, "internal"):
                self._poll_errors.labels(source, kind)
        self._poll_errors.labels("judge", "internal")
        self.collector = MonitorCollector(self.view, self.site)
        self.registry.register(self.collector)
        # Changes only when a poll publishes a new state: rendered once per state,
        # whoever asks first, from each camera's object kept between states.
        self._status = PerState(StatusResponse())

    def register(self, collector: Collector) -> None:
        """Add another component's collector (e.g. the DNS reconciler's) to /metrics."""
        self.registry.register(collector)

    def poll_collectors(self) -> tuple[Collector, ...]:
        """The families that move between polls (timings, errors): the rest of the
        registry is :attr:`collector`'s, fixed per state."""
        return (self._poll_duration, self._poll_errors)

    def exposition(self, scraper: str = "") -> bytes:
        """The /metrics body: what ``generate_latest(self.registry)`` renders
        (:func:`~trashmonitor.monitor.export.exposition`); ``scraper``: who asks."""
        self.scrapes.scraped(time.monotonic(), scraper)
        return exposition(self.registry)

    def prerender(self) -> None:
        """Render the state just published for /metrics now, on the poll thread, when a
        scrape is expected before the next poll (:class:`ScrapeForecast`): the scrape
        then serves kept text. A scrape arriving meanwhile waits for this rendering and
        serves it whole (:class:`PerState`), never part of it."""
        state = self.view()
        # Renderings of older states are never served again: not kept (memory). The
        # /metrics one is kept while the new one renders, and then replaced: meanwhile a
        # scrape over sites serves it rather than wait (multisite._state_families).
        self._status.keep_only(state)
        if self.scrapes.due(time.monotonic(), self.interval):
            self.collector.rendered(state)
        else:
            self.collector.keep_only(state)

    # ---------------------------------------------------------------- one cycle

    def _record_error(self, source: str, error: TrashmonError, *, quiet: bool = False) -> None:
        """Count a failed read or judgement and log it once (one line; the traceback of an
        unexpected one at debug level)."""
        kind = error_kind(error)
        self._poll_errors.labels(source, kind).inc()
        if not quiet and self._logged_errors.get(source) != error.message:
            # Once per new error, not once per poll: an outage at 1 s must not flood the log.
            self._logged_errors[source] = error.message
            log.warning("poll (%s%s) failed: %s", self._where, source, error.message)
        if kind == "internal":
            log.debug("%s: unexpected error", source, exc_info=error.__cause__ or error)

    def _recovered(self, source: str) -> None:
        if self._logged_errors.pop(source, None) is not None:
            log.info("poll (%s%s) works again", self._where, source)

    @property
    def _where(self) -> str:
        return f"site {self.site}: " if self.site else ""

    def poll_once(self) -> MonitorState:
        """One cycle: observe, judge, publish. Nothing it raises escapes: an unexpected
        error is a failed poll, counted in ``trashmon_poll_errors_total{kind="internal"}``."""
        started = time.monotonic()
        deadline = started + max(self.client.timeout, self.interval)
        api = {"mediamtx.api": self.client.api_url}
        with self._observer.span("trashmon.poll", **api) as cycle:
            observation = self._observer.observe(deadline)
            self._count(observation)
            agents = self._agents()
            with self._judging:
                now = self.clock()
                report, dropped, judge_error = self._judge(
                    observation, now=now, agents=agents, read_started=started
                )
                failure = observation.error or judge_error
                snapshot = observation.snapshot
                if snapshot is not None:
                    self._listed_since = started
                    if self.listed != snapshot.paths.keys():
                        # The same object while the names stay (the agents' router decides
                        # owners again only when a listing changes), holding no snapshot.
                        self.listed = frozenset(snapshot.paths)
                quality, availability = self._follow(report)
                elapsed = time.monotonic() - started
                self.state = MonitorState(
                    report=report,
                    metrics_error=observation.metrics_error,
                    metrics_up=observation.metrics_up,
                    last_success_at=now if failure is None else self.state.last_success_at,
                    last_cycle_at=time.monotonic(),
                    cycle_seconds=elapsed,
                    dropped=dropped,
                    rejected=0 if snapshot is None else snapshot.rejected,
                    quality=quality,
                    availability=availability,
                    play=self._play(),
                )
            if cycle is not None:
                cycle.set_attribute("cameras", len(report.cameras))
                if failure is not None:
                    cycle.set_status(Status(StatusCode.ERROR, failure.message))
        self._poll_duration.observe(elapsed)
        return self.state

    def _follow(
        self, report: HealthReport
    ) -> tuple[Mapping[str, CameraQuality], Mapping[str, CameraAvailability]]:
        """Quality and history follow each report (issue 16 §2, §3): the history's writes
        happen on its own thread."""
        quality = self._quality.observe(report, report.generated_at)
        if self.history is None:
            return quality, {}
        self.history.observe(report)
        return quality, self.history.availability

    def _play(self) -> Mapping[str, tuple[PlayCheck, ...]]:
        if self.play_checks is None:
            return {}
        try:
            return self.play_checks()
        except Exception as error:  # a bug there must not stop the MediaMTX monitoring
            self._record_error("judge", as_error(error))
            return self.state.play

    def _count(self, observation: MediaMTXObservation) -> None:
        if observation.error is None:
            self._recovered("api")
        else:
            self._record_error("api", observation.error)
        if observation.metrics_error is not None:
            # Behind Caddy /metrics is often not exposed: not worth a log line.
            quiet = isinstance(observation.metrics_error, (ObservationError, AuthError))
            self._record_error("metrics", observation.metrics_error, quiet=quiet)

    def _judge(
        self,
        observation: MediaMTXObservation,
        *,
        now: float,
        agents: Mapping[str, AgentView] | None,
        read_started: float = 0.0,
    ) -> tuple[HealthReport, int, TrashmonError | None]:
        """(report, paths dropped over the cap, why judging failed). Paths re-read after
        a hook since ``read_started`` (monotonic) replace this poll's older view of them."""
        dropped = 0
        api_error = observation.error
        try:
            snapshot = observation.snapshot
            if snapshot is not None:
                listed = self._hints.apply(snapshot.paths, read_started)
                tracked, dropped = track(listed, self._keep(), self.max_cameras)
                if dropped:
                    log.debug("tracking %d cameras, %d more dropped", len(tracked), dropped)
                self._remember(snapshot._replace(paths=tracked), now, agents)
            report = self._evaluator.evaluate(
                tuple(self._history), self._judging_at(now, agents, api_error)
            )
        except Exception as error:  # a judging bug must not freeze the last state
            failure = as_error(error)
            self._record_error("judge", failure)
            report = evaluate(
                (),
                Judging(
                    now=now,
                    parked=self.parked,
                    known=self.expected.union(self._known),
                    mediamtx_error=failure,
                ),
            )
            return report, dropped, failure
        self._recovered("judge")
        return report, dropped, None

    def _judging_at(
        self,
        now: float,
        agents: Mapping[str, AgentView] | None,
        mediamtx_error: TrashmonError | None = None,
    ) -> Judging:
        return Judging(
            now, self.thresholds, self.parked, agents, self.expected.union(self._known),
            mediamtx_error,
        )  # fmt: skip

    def refresh_path(self, name: str) -> str:
        """Re-read one path now (a MediaMTX hook's hint) and re-judge with it: the last
        poll's snapshot with that path replaced. ``updated``, ``failed`` (the read did
        not work: the poll will tell), or ``skipped`` (no successful poll to update yet,
        a poll that started after this read already published, or a new path while the
        camera cap is full)."""
        read_at = time.monotonic()
        try:
            observation = self.client.read_path(name, read_at + self.client.timeout)
        except Exception as error:  # one hint less; the poll stays the source of truth
            log.debug("hook re-read of a path failed: %s", as_error(error).message)
            return "failed"
        with self._judging:
            state = self.state
            if not self._history or state.report is None or not state.report.mediamtx_reachable:
                return "skipped"
            if read_at < self._listed_since:
                return "skipped"  # a poll that started reading later already said more
            last = self._history[-1]
            if name not in last.paths and len(last.paths) >= self.max_cameras:
                return "skipped"
            self._hints.note(name, observation, read_at)
            self._history[-1] = last._replace(paths=patched(last.paths, {name: observation}))
            if observation is not None and observation.configured:
                self._known[name] = self.clock()
            try:
                report = self._evaluator.evaluate(
                    tuple(self._history), self._judging_at(self.clock(), self._agents())
                )
            except Exception as error:
                self._record_error("judge", as_error(error))
                return "failed"
            quality, availability = self._follow(report)
            self.state = state._replace(report=report, quality=quality, availability=availability)
        return "updated"

    def forget(self, name: str) -> None:
        """Stop remembering camera ``name`` from the next poll on: another site's MediaMTX
        lists it now. Never waits for a poll (it is called from inside one, any site's)."""
        with self._forget_lock:
            self._forgetting.add(name)

    def _keep(self) -> frozenset[str]:
        return self.expected.union(self.parked, self._known)

    def close(self) -> None:
        """Release the client, unless a poll is still stuck in it (the process is ending:
        its daemon thread is left behind rather than waited for)."""
        poller = self._poller
        if poller is not None:
            poller.join(STOP_GRACE)
            if poller.is_alive():
                return
        self.client.close()

    def _agents(self) -> Mapping[str, AgentView] | None:
        if self.agent_views is None:
            return None
        try:
            return dict(self.agent_views())
        except Exception as error:  # an observer's bug must not stop the MediaMTX monitoring
            message = as_error(error).message
            log.warning("agent views failed (%s); judging without agents", message)
            log.debug("agent view source failed", exc_info=error)
            return None

    def _remember(
        self, snapshot: PathsSnapshot, now: float, agents: Mapping[str, AgentView] | None
    ) -> None:
        with self._forget_lock:
            forgetting, self._forgetting = self._forgetting, set()
        for name in forgetting:
            self._known.pop(name, None)
        history = self._history
        history.append(snapshot)
        if len(history) >= 3:
            # Past the previous poll, judging reads three numbers per path (past_polls.py).
            history[-3] = past_poll(history[-3], history[-4] if len(history) >= 4 else None)
        keep_since = now - self.thresholds.history_seconds - 2 * self.interval
        while len(self._history) > 2 and self._history[0].at < keep_since:
            self._history.popleft()
        # Only configured cameras and agents are remembered once gone: an ad-hoc name is
        # forgotten as soon as MediaMTX stops listing it (a peer publishing to fifty new
        # names a second must not make fifty "down" cameras a second).
        for name, path in snapshot.paths.items():
            if path.configured:
                self._known[name] = now
        for name in agents or ():
            self._known[name] = now
        forget_before = now - self.forget_after
        for name in [name for name, seen in self._known.items() if seen < forget_before]:
            del self._known[name]
        excess = len(self._known) - self.max_cameras
        if excess > 0:  # the longest unseen go first
            for name in sorted(self._known, key=self._known.__getitem__)[:excess]:
                del self._known[name]

    # ---------------------------------------------------------------- the loop

    def run(self, stop: threading.Event) -> None:
        """Poll every ``interval`` until ``stop`` is set. The polls run in a daemon
        thread, so this returns as soon as ``stop`` is set, even while a request hangs."""
        self._poller = threading.Thread(target=self._loop, args=(stop,), name="poll", daemon=True)
        self._poller.start()
        while not stop.wait(1.0):
            pass

    def _loop(self, stop: threading.Event) -> None:
        run_every(self.interval, self._poll_guarded, stop)

    def _poll_guarded(self) -> None:
        try:
            self.poll_once()
        except Exception as error:  # poll_once catches its own: this is the last net
            self._record_error("judge", as_error(error))
        try:
            self.prerender()
        except Exception:  # a scrape renders on demand and reports the error itself
            log.debug("rendering /metrics ahead of a scrape failed", exc_info=True)

    # ---------------------------------------------------------------- reading

    def view(self) -> MonitorState:
        """The state as every route must read it now: blind once no poll has succeeded
        for ``stale_after`` seconds, whether the polls fail or never end."""
        state = self.state
        since = blind_at(state.last_success_at, self.started_at, self._stale_after)
        if self.clock() < since:
            return state
        if state.report is not None and not state.report.mediamtx_reachable:
            return state  # the last poll failed: its report already says so, and why
        cached = self._blind_view
        if cached is not None and cached[0] is state:
            return cached[1]  # one blind state per poll state: rendered once, like the rest
        error = UnreachableError(f"MediaMTX API: no successful poll for {self._stale_after:g} s")
        if state.report is None:
            report = evaluate(
                (),
                Judging(now=since, parked=self.parked, known=self.expected, mediamtx_error=error),
            )
        else:
            report = blind(state.report, at=since, error=error)
        # The /metrics read belongs to the same stuck cycle: its last answer is as old.
        metrics_up = None if state.metrics_up is None else False
        seen = state._replace(report=report, metrics_up=metrics_up)
        self._blind_view = (state, seen)
        return seen

    def healthz(self) -> Response:
        """200 while poll cycles keep completing, 503 when they stop (``stuck``); the body
        says whether the monitor can see MediaMTX, as /metrics and /api/status do."""
        document = self.health_document()
        return json_response(document, 200 if document["status"] != "stuck" else 503)

    def health_document(self) -> dict[str, Any]:
        """The /healthz document (``status``: ok, blind or stuck)."""
        state, view = self.state, self.view()
        last = state.last_cycle_at
        limit = 3 * self.interval + self.client.timeout
        age = None if last is None else time.monotonic() - last
        looping = age is not None and age <= limit
        sees = view.report is not None and view.report.mediamtx_reachable
        success = state.last_success_at
        return {
            "status": "stuck" if not looping else "ok" if sees else "blind",
            "sees_mediamtx": sees,
            "last_poll_age_seconds": age,
            "last_successful_poll_age_seconds": None if success is None else self.clock() - success,
            "history": None if self.history is None else self.history.describe(),
        }

    def status(self) -> Response:
        return self._status(self.view())
