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

import gc
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import Future
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from typing import Any, ParamSpec, TypeVar

from opentelemetry import context as otel_context
from opentelemetry.trace import Status, StatusCode, Tracer
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from trashmonitor.errors import (
    AuthError,
    ObservationError,
    TrashmonError,
)
from trashmonitor.monitor.config import (
    DEFAULT_FORGET_AFTER,
    DEFAULT_MAX_CAMERAS,
    DEFAULT_STALE_POLLS,
)
from trashmonitor.monitor.export import MonitorCollector, PerState, exposition, status_response
from trashmonitor.monitor.health import blind, evaluate
from trashmonitor.monitor.mediamtx import MediaMTXClient
from trashmonitor.monitor.mediamtx_http import TracedTransport
from trashmonitor.monitor.model import (
    AgentView,
    HealthReport,
    MediaMTXMetrics,
    MonitorState,
    PathObservation,
    PathsSnapshot,
    Thresholds,
)
from trashmonitor.monitor.status import printable
from trashmonitor.runtime import run_every
from trashmonitor.serving import Response, json_response

log = logging.getLogger(__name__)

AgentViews = Callable[[], Mapping[str, AgentView]]
POLL_ERROR_KINDS = ("unreachable", "http", "malformed")
"""The ``kind`` labels a failed read of MediaMTX is counted under, besides ``internal``."""
# How long close() gives a poll in flight to notice the stop before leaving it behind.
STOP_GRACE = 0.1


# Young-generation size of the cyclic GC in the daemon (CPython's default is 700).
GC_YOUNG_THRESHOLD = 50_000


def tune_gc_for_polling() -> None:
    """Fewer cyclic-GC passes for a process that holds a history of snapshots.

    Each poll at 10,000 paths allocates hundreds of thousands of short-lived containers
    (JSON, parsed paths, samples) while ~170,000 tracked objects live in the history. At
    the default threshold that is hundreds of young collections a poll, cascading into
    full scans of the whole history (measured: up to a third of the cycle's CPU). The
    snapshots hold no reference cycles: reference counting frees them either way.
    """
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def error_kind(error: BaseException) -> str:
    """The ``kind`` label of ``trashmon_poll_errors_total``; ``internal`` for anything the
    observers do not anticipate (a parser's bug on hostile input, RecursionError, …)."""
    if not isinstance(error, TrashmonError):
        return "internal"
    # The label set is a contract (docs/contracts.md): any other refusal of the source
    # (a kind the MediaMTX client does not raise today) counts with the HTTP ones.
    return error.kind if error.kind in POLL_ERROR_KINDS else "http"


def error_message(error: BaseException) -> str:
    """One printable line: ours as they are, anything else named by its class (its text
    may carry hostile input: escaped and cut)."""
    if isinstance(error, TrashmonError):
        return error.message
    detail = printable(str(error))[:200]
    return f"unexpected {error.__class__.__name__}" + (f": {detail}" if detail else "")


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


P = ParamSpec("P")
R = TypeVar("R")


def in_background(work: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Future[R]:
    """Run ``work`` in a daemon thread: a read stuck past every deadline must never hold
    up the process's exit (a ThreadPoolExecutor's workers are joined at exit)."""
    future: Future[R] = Future()

    def run() -> None:
        try:
            future.set_result(work(*args, **kwargs))
        except BaseException as error:  # handed to whoever waits for the result
            future.set_exception(error)

    threading.Thread(target=run, name=getattr(work, "__name__", "work"), daemon=True).start()
    return future


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
    registry: CollectorRegistry = field(
        default_factory=lambda: CollectorRegistry(auto_describe=True)
    )

    def __post_init__(self) -> None:
        if self.tracer is not None and not isinstance(self.client.transport, TracedTransport):
            self.client.transport = TracedTransport(self.client.transport, self.tracer)
        if self.stale_after is None:
            self.stale_after = DEFAULT_STALE_POLLS * self.interval
        self._stale_after: float = self.stale_after
        self.state = MonitorState()
        self.started_at = self.clock()
        self._history: deque[PathsSnapshot] = deque()
        self._known: dict[str, float] = {}
        """Configured cameras (and agents) seen, by when: remembered once they vanish."""
        self._blind_view: tuple[MonitorState, MonitorState] | None = None
        self._logged_errors: dict[str, str] = {}
        self._poller: threading.Thread | None = None
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
        self.registry.register(MonitorCollector(self.view))
        # Changes only when a poll publishes a new state (~0.15 s of CPU at 10,000
        # cameras): rendered once per state, whoever asks first.
        self._status = PerState(status_response)

    def register(self, collector: Collector) -> None:
        """Add another component's collector (e.g. the DNS reconciler's) to /metrics."""
        self.registry.register(collector)

    def exposition(self) -> bytes:
        """The /metrics body: what ``generate_latest(self.registry)`` renders
        (:func:`~trashmonitor.monitor.export.exposition`)."""
        return exposition(self.registry)

    # ---------------------------------------------------------------- one cycle

    def _span(self, name: str, **attributes: Any) -> AbstractContextManager[Any]:
        if self.tracer is None:
            return nullcontext()
        return self.tracer.start_as_current_span(name, attributes=attributes)

    def _record_error(
        self, span: Any, source: str, error: BaseException, *, quiet: bool = False
    ) -> str:
        """Count a failed read or judgement and log it once (one line; the traceback of an
        unexpected one at debug level); returns its one-line message."""
        kind, message = error_kind(error), error_message(error)
        self._poll_errors.labels(source, kind).inc()
        if span is not None:
            span.set_status(Status(StatusCode.ERROR, message))
            span.set_attribute("error.type", error.__class__.__name__)
        if not quiet and self._logged_errors.get(source) != message:
            # Once per new error, not once per poll: an outage at 1 s must not flood the log.
            self._logged_errors[source] = message
            log.warning("poll (%s) failed: %s", source, message)
        if kind == "internal":
            log.debug("%s: unexpected error", source, exc_info=error)
        return message

    def _recovered(self, source: str) -> None:
        if self._logged_errors.pop(source, None) is not None:
            log.info("poll (%s) works again", source)

    def poll_once(self) -> MonitorState:
        """One cycle: observe, judge, publish. Nothing it raises escapes: an unexpected
        error is a failed poll, counted in ``trashmon_poll_errors_total{kind="internal"}``."""
        started = time.monotonic()
        deadline = started + max(self.client.timeout, self.interval)
        with self._span("trashmon.poll", **{"mediamtx.api": self.client.api_url}) as cycle:
            at = self.clock()
            # /metrics is read alongside the path list: at 10,000 paths each takes a
            # good part of the interval, and neither depends on the other.
            metrics_read = (
                in_background(self._read_metrics, deadline, otel_context.get_current())
                if self.client.metrics_url is not None
                else None
            )
            paths, rejected, api_error = self._read_paths(deadline)
            metrics: MediaMTXMetrics | None = None
            metrics_error: str | None = None
            if metrics_read is not None:
                metrics, metrics_error = metrics_read.result()
            agents = self._agents()
            now = self.clock()
            report, dropped, judge_error = self._judge(
                paths, metrics, at=at, now=now, agents=agents, api_error=api_error
            )
            failure = api_error or judge_error
            if cycle is not None:
                cycle.set_attribute("cameras", len(report.cameras))
                if failure is not None:
                    cycle.set_status(Status(StatusCode.ERROR, failure))
        elapsed = time.monotonic() - started
        self._poll_duration.observe(elapsed)
        self.state = MonitorState(
            report=report,
            metrics_error=metrics_error,
            metrics_up=None if metrics is None and metrics_error is None else metrics is not None,
            last_success_at=now if failure is None else self.state.last_success_at,
            last_cycle_at=time.monotonic(),
            cycle_seconds=elapsed,
            dropped=dropped,
            rejected=rejected,
        )
        return self.state

    def _read_paths(
        self, deadline: float
    ) -> tuple[tuple[PathObservation, ...] | None, int, str | None]:
        """The listed paths (None on failure), how many items were skipped as hostile
        names, and the failure's one-line message."""
        with self._span("mediamtx.paths_list") as span:
            try:
                listing = self.client.read_paths(deadline)
            except Exception as error:  # ours or a bug on hostile input: a failed poll
                return None, 0, self._record_error(span, "api", error)
            self._recovered("api")
            if span is not None:
                span.set_attribute("mediamtx.paths", len(listing.paths))
                span.set_attribute("mediamtx.rejected_paths", listing.rejected)
            return listing.paths, listing.rejected, None

    def _read_metrics(
        self, deadline: float, parent: otel_context.Context
    ) -> tuple[MediaMTXMetrics | None, str | None]:
        # A worker thread does not inherit the cycle's span: attach it explicitly.
        token = otel_context.attach(parent)
        try:
            with self._span("mediamtx.metrics", url=self.client.metrics_url or "") as span:
                try:
                    metrics = self.client.read_metrics(deadline)
                except Exception as error:
                    # Behind Caddy /metrics is often not exposed: not worth a log line.
                    quiet = isinstance(error, (ObservationError, AuthError))
                    return None, self._record_error(span, "metrics", error, quiet=quiet)
                return metrics, None
        finally:
            otel_context.detach(token)

    def _judge(
        self,
        paths: tuple[PathObservation, ...] | None,
        metrics: MediaMTXMetrics | None,
        *,
        at: float,
        now: float,
        agents: Mapping[str, AgentView] | None,
        api_error: str | None,
    ) -> tuple[HealthReport, int, str | None]:
        """(report, paths dropped over the cap, why judging failed)."""
        dropped = 0
        try:
            if paths is not None:
                listed = {path.name: path for path in paths}
                tracked, dropped = track(listed, self._keep(), self.max_cameras)
                if dropped:
                    log.debug("tracking %d cameras, %d more dropped", len(tracked), dropped)
                self._remember(PathsSnapshot(at, tracked, metrics), now, agents)
            report = evaluate(
                tuple(self._history),
                now=now,
                thresholds=self.thresholds,
                parked=self.parked,
                agents=agents,
                known=self.expected.union(self._known),
                mediamtx_error=api_error,
            )
        except Exception as error:  # a judging bug must not freeze the last state
            message = self._record_error(None, "judge", error)
            report = evaluate(
                (),
                now=now,
                parked=self.parked,
                known=self.expected.union(self._known),
                mediamtx_error=message,
            )
            return report, dropped, message
        self._recovered("judge")
        return report, dropped, None

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
            log.warning("agent views failed (%s); judging without agents", error_message(error))
            log.debug("agent view source failed", exc_info=error)
            return None

    def _remember(
        self, snapshot: PathsSnapshot, now: float, agents: Mapping[str, AgentView] | None
    ) -> None:
        self._history.append(snapshot)
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
            self._record_error(None, "judge", error)

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
        error = f"MediaMTX API: no successful poll for {self._stale_after:g} s"
        if state.report is None:
            report = evaluate(
                (), now=since, parked=self.parked, known=self.expected, mediamtx_error=error
            )
        else:
            report = blind(state.report, at=since, error=error)
        # The /metrics read belongs to the same stuck cycle: its last answer is as old.
        metrics_up = None if state.metrics_up is None else False
        seen = replace(state, report=report, metrics_up=metrics_up)
        self._blind_view = (state, seen)
        return seen

    def healthz(self) -> Response:
        """200 while poll cycles keep completing, 503 when they stop (``stuck``); the body
        says whether the monitor can see MediaMTX, as /metrics and /api/status do."""
        state, view = self.state, self.view()
        last = state.last_cycle_at
        limit = 3 * self.interval + self.client.timeout
        age = None if last is None else time.monotonic() - last
        looping = age is not None and age <= limit
        sees = view.report is not None and view.report.mediamtx_reachable
        success = state.last_success_at
        document = {
            "status": "stuck" if not looping else "ok" if sees else "blind",
            "sees_mediamtx": sees,
            "last_poll_age_seconds": age,
            "last_successful_poll_age_seconds": None if success is None else self.clock() - success,
        }
        return json_response(document, 200 if looping else 503)

    def status(self) -> Response:
        return self._status(self.view())


def routes(monitor: Monitor) -> dict[str, Callable[[], Response]]:
    return {
        "/metrics": lambda: Response(200, monitor.exposition(), CONTENT_TYPE_LATEST),
        "/healthz": monitor.healthz,
        "/api/status": monitor.status,
    }
