"""MediaMTX's hooks as hints: ``POST /api/hooks/mediamtx`` makes the monitor re-read one path.

``trashmon hook EVENT`` (:mod:`trashmonitor.hook`), run by MediaMTX on a path event,
posts ``{"event", "path", ...}`` here with the shared secret. A notice is a hint, never
the truth: the monitor re-reads that one path at once (``/v3/paths/get/<name>``, the
poll's deadlines and bounds) and re-judges with it; the next poll overrides it, so a lost,
late or forged-but-authenticated hook changes nothing but how soon a change shows.

The route is guarded in this order, each step cheap and counted in
``trashmon_hooks_received_total{event,outcome}``:

1. a body of at most :data:`MAX_NOTICE_BYTES` (413 before it is read, by the server);
2. the shared secret in the ``X-Trashmon-Hook-Secret`` header, compared in constant time
   (403): everything Caddy forwards comes from loopback too, so the peer's address proves
   nothing. Without a secret configured the route does not exist (404);
3. a token bucket (429): a storm of reconnects cannot turn into a storm of re-reads;
4. a JSON object with a known event and a path name in MediaMTX's grammar (400).

Accepted notices (202) are queued, coalesced by path, for one worker thread.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from prometheus_client import Counter

from trashmonitor.hook import EVENTS, MAX_NOTICE_BYTES, ROUTE, SECRET_HEADER
from trashmonitor.monitor.mediamtx_parse import is_valid_path_name
from trashmonitor.monitor.model import PathObservation
from trashmonitor.monitor.sites import SITE_NAME
from trashmonitor.serving import Endpoint, Request, Response

log = logging.getLogger(__name__)

OUTCOMES = ("accepted", "forbidden", "rate_limited", "invalid", "overflow")
REFRESH_OUTCOMES = ("updated", "failed", "skipped")
UNKNOWN_EVENT = "unknown"
MAX_PENDING = 256
"""Paths waiting for a re-read at most; beyond, notices are dropped (``overflow``)."""
MAX_HINTS = 1024


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved; time is a parameter."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._at = now
        self._lock = threading.Lock()

    def take(self, now: float) -> bool:
        with self._lock:
            elapsed = max(0.0, now - self._at)
            self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
            self._at = max(self._at, now)
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True


def burst_for(rate: float) -> float:
    """The bucket's size: two seconds of the rate, and room for a few cameras at once."""
    return max(10.0, 2 * rate)


@dataclass(frozen=True)
class Notice:
    event: str
    path: str
    site: str = ""
    """The site the notice names (``TRASHMON_SITE`` in MediaMTX's environment), "" none."""


def parse_notice(body: bytes) -> Notice:
    """The hook's JSON; ValueError (one line, no input echoed) for anything else."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        document = None  # not a JSON object either: refused below
    # Raised after the except block: the decoder's error holding the whole body
    # (``doc``, hostile input) is no __context__ (``from None`` only hides it).
    if not isinstance(document, dict):
        raise ValueError("expected a JSON object")
    event, path = document.get("event"), document.get("path")
    if event not in EVENTS:
        raise ValueError(f"event: expected one of {', '.join(EVENTS)}")
    if not is_valid_path_name(path):
        raise ValueError("path: not a MediaMTX path name")
    site = document.get("site", "")
    if site != "" and not (isinstance(site, str) and SITE_NAME.fullmatch(site)):
        raise ValueError("site: not a site name")
    return Notice(str(event), path, site)


class PathHints:
    """Paths re-read after a hook, for the poll that was already reading when they came:
    its older view must not undo them. A poll that started after a hint was read saw at
    least as much: it drops the hint (the poll is the source of truth)."""

    def __init__(self, limit: int = MAX_HINTS) -> None:
        self._hints: OrderedDict[str, tuple[float, PathObservation | None]] = OrderedDict()
        self._limit = limit

    def note(self, name: str, observation: PathObservation | None, read_at: float) -> None:
        self._hints[name] = (read_at, observation)
        self._hints.move_to_end(name)
        while len(self._hints) > self._limit:
            self._hints.popitem(last=False)

    def apply(
        self, paths: Mapping[str, PathObservation], read_started: float
    ) -> Mapping[str, PathObservation]:
        """``paths`` as read by a poll that started at ``read_started``, with the hints
        read after that applied; every older hint is forgotten."""
        newer = {name: hint for name, hint in self._hints.items() if hint[0] > read_started}
        self._hints = OrderedDict(newer)
        if not newer:
            return paths
        return patched(paths, {name: observation for name, (_, observation) in newer.items()})


def patched(
    paths: Mapping[str, PathObservation], changes: Mapping[str, PathObservation | None]
) -> dict[str, PathObservation]:
    """``paths`` with each changed path replaced, or removed where MediaMTX had none."""
    result = dict(paths)
    for name, observation in changes.items():
        if observation is None:
            result.pop(name, None)
        else:
            result[name] = observation
    return result


class HookMetrics:
    def __init__(self) -> None:
        self.received = Counter(
            "trashmon_hooks_received",
            "MediaMTX hook notices received, by event and outcome.",
            ("event", "outcome"),
            registry=None,
        )
        for event in (*EVENTS, UNKNOWN_EVENT):
            for outcome in OUTCOMES:
                self.received.labels(event, outcome)
        self.refreshes = Counter(
            "trashmon_hook_refreshes",
            "Re-reads of one path after a hook: updated the state, failed, or skipped "
            "(no successful poll to update yet).",
            ("outcome",),
            registry=None,
        )
        for outcome in REFRESH_OUTCOMES:
            self.refreshes.labels(outcome)


Refresh = Callable[[str], str]
"""Re-read one path and update the state; returns a REFRESH_OUTCOMES value."""


class Refresher:
    """One worker re-reading paths in the order notices came, a path queued once."""

    def __init__(self, refresh: Mapping[str, Refresh], metrics: HookMetrics) -> None:
        self._refresh = refresh
        self._metrics = metrics
        self._pending: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._wake = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="hook-refresh", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()

    def submit(self, name: str, site: str = "") -> bool:
        """Queue a re-read of ``site``'s path ``name``; False when too many paths are
        already waiting."""
        key = (site, name)
        with self._wake:
            if key not in self._pending and len(self._pending) >= MAX_PENDING:
                return False
            self._pending[key] = None
            self._wake.notify()
            return True

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._stopping:
                    self._wake.wait()
                if self._stopping:
                    return
                (site, name), _ = self._pending.popitem(last=False)
            try:
                outcome = self._refresh[site](name)
            except Exception:  # the worker must outlive a bug; the poll heals the state
                log.exception("hook refresh of one path failed")
                outcome = "failed"
            self._metrics.refreshes.labels(outcome).inc()


class HookReceiver:
    """The ``POST /api/hooks/mediamtx`` handler (see the module's docstring)."""

    def __init__(
        self,
        secret: str,
        submit: Callable[[str, str], bool],
        metrics: HookMetrics,
        bucket: TokenBucket,
        clock: Callable[[], float] = time.monotonic,
        *,
        sites: frozenset[str] = frozenset({""}),
    ) -> None:
        self._sites = sites
        self._secret = secret.encode()
        self._submit = submit
        self._metrics = metrics
        self._bucket = bucket
        self._clock = clock

    def endpoint(self) -> Endpoint:
        return Endpoint(frozenset({"POST"}), self.handle, max_body=MAX_NOTICE_BYTES)

    def _count(self, event: str, outcome: str) -> None:
        self._metrics.received.labels(event, outcome).inc()

    def handle(self, request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER.lower(), "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, self._secret):
            self._count(UNKNOWN_EVENT, "forbidden")
            return Response(403, b"forbidden\n")
        if not self._bucket.take(self._clock()):
            self._count(UNKNOWN_EVENT, "rate_limited")
            return Response(429, b"too many hook notices\n", headers=(("Retry-After", "1"),))
        try:
            notice = parse_notice(request.body)
        except ValueError as error:
            self._count(UNKNOWN_EVENT, "invalid")
            return Response(400, f"{error}\n".encode())
        if notice.site not in self._sites:
            self._count(notice.event, "invalid")
            wanted = "a site this monitor watches" if notice.site else "a site (TRASHMON_SITE)"
            return Response(400, f"site: expected {wanted}\n".encode())
        if not self._submit(notice.path, notice.site):
            self._count(notice.event, "overflow")
            return Response(503, b"too many paths waiting for a re-read\n")
        self._count(notice.event, "accepted")
        return Response(202, b"accepted\n")


class HookService:
    """The hook route, its worker and its metrics, for ``trashmon monitor``."""

    def __init__(
        self,
        secret: str,
        rate: float,
        refresh: Refresh | Mapping[str, Refresh],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``refresh``: the one monitor's, or each site's by name."""
        self.metrics = HookMetrics()
        by_site = refresh if isinstance(refresh, Mapping) else {"": refresh}
        self.refresher = Refresher(by_site, self.metrics)
        bucket = TokenBucket(rate, burst_for(rate), clock())
        self.receiver = HookReceiver(
            secret, self.refresher.submit, self.metrics, bucket, clock, sites=frozenset(by_site)
        )

    def collectors(self) -> tuple[Counter, Counter]:
        return self.metrics.received, self.metrics.refreshes

    def routes(self) -> dict[str, Endpoint]:
        return {ROUTE: self.receiver.endpoint()}

    def start(self) -> None:
        self.refresher.start()

    def stop(self) -> None:
        self.refresher.stop()
