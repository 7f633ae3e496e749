"""Incident history and availability: every state change with its cause, kept in SQLite.

Two halves:

* :class:`Follower` (pure, time is an input): compares each report with the last one and
  returns the :class:`Transition`\\ s, and adds each camera's time to per-minute
  availability buckets (time ``ok`` or ``degraded`` is available; ``down`` is not;
  ``parked`` counts neither way). It runs on the poll thread and costs a dict lookup
  per camera.
* :class:`HistoryStore`: a writer thread takes the transitions and finished buckets from
  a queue and commits them (WAL; a transition is committed within milliseconds, so a
  ``kill -9`` loses at most the one in flight and the current minute's availability),
  prunes by age and row count, and recomputes the availability snapshot the routes read.
  With no state directory the same database lives in memory (lost on restart).

An incident is a period ``down``; one shorter than ``blip_seconds`` is a blip: recorded,
counted, but not listed as an incident (docs/monitor.md, "Incident history").
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from trashmonitor.monitor.model import DEFAULT_INCIDENT_MIN_SECONDS, HealthReport

log = logging.getLogger(__name__)

DATABASE_NAME: Final = "history.sqlite3"
AVAILABLE_STATES: Final = frozenset({"ok", "degraded"})
"""Viewers can watch the camera: degraded (low fps, no agent, …) still plays."""
COUNTED_STATES: Final = AVAILABLE_STATES | {"down"}
"""Parked time counts neither as available nor as unavailable."""
WINDOWS: Final = (("1h", 3600.0), ("1d", 86400.0), ("30d", 30 * 86400.0))
BUCKET_SECONDS: Final = 60
RETENTION_SECONDS: Final = 31 * 86400.0
MAX_ROWS: Final = 2_000_000
"""Rows kept at most per table (oldest go first): 30 days of minutes for ~45 cameras
fit; beyond that the 30-day availability covers less (docs/monitor.md)."""
MAX_GAP_SECONDS: Final = 60.0
"""A longer gap between two polls (a suspended process) is not counted for either side."""
REFRESH_SECONDS: Final = 5.0
"""How often the availability snapshot is recombined (in memory, cheap)."""
QUERY_SECONDS: Final = 60.0
"""How often the database is summed over the windows (the costly part)."""
MAX_INCIDENTS: Final = 1000
MAX_SHARED_AVAILABILITY: Final = 4096
"""Distinct availability values kept for the next refresh to share (the rest are new)."""
MAX_QUEUED: Final = 600
"""Polls' worth of writes waiting at most (10 minutes at 1 s) before new ones are dropped."""


@dataclass(frozen=True, slots=True)
class Transition:
    camera: str
    at: float
    previous: str | None
    """None: the camera was not known before."""
    state: str
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Incident:
    camera: str
    start: float
    end: float | None
    """None while it lasts."""
    reasons: tuple[str, ...]
    """The cause: the reasons when the camera went down."""
    site: str = ""

    def duration(self, now: float) -> float:
        return (now if self.end is None else self.end) - self.start


@dataclass(frozen=True)
class CameraAvailability:
    ratios: Mapping[str, float | None]
    """Window name (1h, 1d, 30d) -> available time / counted time; None: nothing counted."""
    incidents_1d: int
    """Incidents (not blips) that started in the last day."""


@dataclass(frozen=True)
class IncidentPage:
    incidents: tuple[Incident, ...]
    blips: int
    truncated: bool


Bucket = tuple[str, int]
"""(camera, minute start)."""
Seconds = dict[Bucket, list[float]]
"""[available, counted] seconds per bucket."""
_Work = tuple[list["Transition"], Seconds, tuple[float, Seconds, frozenset[str]] | None]
"""Transitions, finished buckets, and (now, the current minute) when the availability
and the cameras reported now, when the availability is due for a refresh."""


class Follower:
    """Turns successive reports into transitions and availability seconds (pure)."""

    def __init__(self, states: Mapping[str, str] | None = None) -> None:
        self._states: dict[str, str] = dict(states or {})
        self._last_at: float | None = None
        self._minutes: dict[int, dict[str, list[float]]] = {}
        """The buckets held, by minute and camera: keyed by name within a minute, so a
        poll makes no (camera, minute) key per camera."""

    def observe(self, report: HealthReport) -> tuple[list[Transition], dict[Bucket, list[float]]]:
        """The transitions in ``report`` and the buckets finished by it (``[available,
        counted]`` seconds each); the states held since the last report get the time."""
        now = report.generated_at
        elapsed = 0.0 if self._last_at is None else now - self._last_at
        self._last_at = now
        minute = int(now // BUCKET_SECONDS) * BUCKET_SECONDS
        count_time = 0 < elapsed <= MAX_GAP_SECONDS
        transitions: list[Transition] = []
        states = self._states
        buckets = self._minutes.get(minute)
        for camera in report.cameras:
            name = camera.name
            previous = states.get(name)
            if count_time and previous in COUNTED_STATES:
                if buckets is None:
                    buckets = self._minutes[minute] = {}
                bucket = buckets.get(name)
                if bucket is None:
                    bucket = buckets[name] = [0.0, 0.0]
                bucket[1] += elapsed
                if previous in AVAILABLE_STATES:
                    bucket[0] += elapsed
            if previous != camera.state:
                transitions.append(Transition(name, now, previous, camera.state, camera.reasons))
                states[name] = camera.state
        finished: dict[Bucket, list[float]] = {}
        if any(held < minute for held in self._minutes):
            for held in [held for held in self._minutes if held < minute]:
                finished.update(
                    ((name, held), seconds) for name, seconds in self._minutes.pop(held).items()
                )
        if len(states) > len(report.cameras):  # forgotten cameras go
            current = {camera.name for camera in report.cameras}
            for name in [name for name in states if name not in current]:
                del states[name]
        return transitions, finished

    def cameras(self) -> frozenset[str]:
        """The cameras of the last report."""
        return frozenset(self._states)

    def pending(self) -> Seconds:
        """A copy of the current minute's buckets (not finished yet)."""
        return {
            (name, minute): list(seconds)
            for minute, buckets in self._minutes.items()
            for name, seconds in buckets.items()
        }


# Every camera is keyed by (site, camera): site "" is the one unnamed MediaMTX.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS transitions (
    id INTEGER PRIMARY KEY, camera TEXT NOT NULL, at REAL NOT NULL,
    previous TEXT, state TEXT NOT NULL, reasons TEXT NOT NULL, site TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS transitions_at ON transitions (at);
CREATE TABLE IF NOT EXISTS incidents (
    id INTEGER PRIMARY KEY, camera TEXT NOT NULL, start REAL NOT NULL, end REAL,
    reasons TEXT NOT NULL, site TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS incidents_start ON incidents (start);
CREATE TABLE IF NOT EXISTS current (
    site TEXT NOT NULL, camera TEXT NOT NULL, state TEXT NOT NULL,
    PRIMARY KEY (site, camera));
CREATE TABLE IF NOT EXISTS availability (
    site TEXT NOT NULL, camera TEXT NOT NULL, minute INTEGER NOT NULL,
    available REAL NOT NULL, counted REAL NOT NULL,
    PRIMARY KEY (site, camera, minute)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS availability_minute ON availability (minute);
"""
_INDEXES = """
CREATE INDEX IF NOT EXISTS incidents_open ON incidents (site, camera) WHERE end IS NULL;
"""
# A database from before sites (issue 17): its rows are site "".
_MIGRATION = """
ALTER TABLE transitions ADD COLUMN site TEXT NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN site TEXT NOT NULL DEFAULT '';
DROP INDEX IF EXISTS incidents_open;
DROP INDEX IF EXISTS availability_minute;
ALTER TABLE current RENAME TO current_before_sites;
ALTER TABLE availability RENAME TO availability_before_sites;
"""
_MIGRATION_COPY = """
INSERT INTO current (site, camera, state) SELECT '', camera, state FROM current_before_sites;
INSERT INTO availability (site, camera, minute, available, counted)
    SELECT '', camera, minute, available, counted FROM availability_before_sites;
DROP TABLE current_before_sites;
DROP TABLE availability_before_sites;
"""


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


def open_schema(db: sqlite3.Connection) -> None:
    """Create the tables, or migrate a database written before sites (one transaction)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        old = _columns(db, "transitions")
        if old and "site" not in old:
            for statement in filter(str.strip, _MIGRATION.split(";")):
                db.execute(statement)
            for statement in filter(str.strip, _SCHEMA.split(";")):
                db.execute(statement)
            for statement in filter(str.strip, _MIGRATION_COPY.split(";")):
                db.execute(statement)
            log.info("history: migrated to per-site keys (existing rows: site '')")
        for statement in filter(str.strip, (_SCHEMA + _INDEXES).split(";")):
            db.execute(statement)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


class HistoryStore:
    """The database, its writer thread and the latest availability snapshot."""

    def __init__(
        self,
        state_dir: Path | None,
        *,
        blip_seconds: float = DEFAULT_INCIDENT_MIN_SECONDS,
        refresh_seconds: float = REFRESH_SECONDS,
        max_rows: int = MAX_ROWS,
        retention_seconds: float = RETENTION_SECONDS,
        site: str = "",
        share: HistoryStore | None = None,
    ) -> None:
        """``site``: the cameras this store follows; ``share``: another site's store whose
        database (connection and lock) this one uses, so one query sees every site."""
        self.site = site
        self.location = ":memory:" if state_dir is None else str(state_dir / DATABASE_NAME)
        self.persistent = state_dir is not None
        self.blip_seconds = blip_seconds
        self._refresh_seconds = refresh_seconds
        self._max_rows = max_rows
        self._retention = retention_seconds
        # One connection shared by the writer and the readers, under a lock: an
        # in-memory database exists only within its connection.
        self._db: sqlite3.Connection
        self._lock: threading.Lock
        if share is not None:
            self._db, self._lock = share._db, share._lock
        else:
            self._db = sqlite3.connect(self.location, check_same_thread=False, isolation_level=None)
            self._lock = threading.Lock()
            with self._lock:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                open_schema(self._db)
        with self._lock:
            states = dict(
                self._db.execute("SELECT camera, state FROM current WHERE site = ?", (site,))
            )
        self.follower = Follower(states)
        self.availability: Mapping[str, CameraAvailability] = {}
        self._queue: queue.Queue[_Work | threading.Event | None] = queue.Queue(MAX_QUEUED)
        self.dropped = 0
        """Work items dropped because the writer fell MAX_QUEUED behind."""
        self._refreshed_at: float | None = None
        # The writer's: database sums per camera and window as of the last query, and
        # what was written since (so a finished minute never drops out in between).
        self._queried_at: float | None = None
        self._sums: dict[str, dict[str, tuple[float, float]]] = {}
        self._counts: dict[str, int] = {}
        self._written: Seconds = {}
        self._shared: dict[tuple[tuple[float | None, ...], int], CameraAvailability] = {}
        """The availability values of the last refresh, by their figures."""
        self._writer = threading.Thread(target=self._write_loop, name="history", daemon=True)
        self._writer.start()

    def describe(self) -> str:
        """Where the history lives, for /healthz and the log."""
        return f"sqlite:{self.location}" if self.persistent else "memory (no --state-dir)"

    # ------------------------------------------------------------ poll thread

    def observe(self, report: HealthReport) -> None:
        """Cheap: the comparison on the calling thread, the writes on the writer's."""
        transitions, finished = self.follower.observe(report)
        now = report.generated_at
        due = self._refreshed_at is None or now - self._refreshed_at >= self._refresh_seconds
        if due:
            self._refreshed_at = now
        if transitions or finished or due:
            refresh = (now, self.follower.pending(), self.follower.cameras()) if due else None
            try:
                self._queue.put_nowait((transitions, finished, refresh))
            except queue.Full:  # a stuck disk must not grow the monitor's memory, nor block it
                self.dropped += 1
                if self.dropped == 1:
                    log.warning("history (%s): writer behind, dropping changes", self.location)

    def close(self) -> None:
        with contextlib.suppress(queue.Full):  # a stuck writer is left behind (a daemon)
            self._queue.put(None, timeout=5.0)
        self._writer.join(5.0)

    # ------------------------------------------------------------ writer thread

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, threading.Event):
                item.set()
                continue
            transitions, finished, refresh = item
            try:
                self.write(transitions, finished)
                if refresh is not None:
                    self.refresh(*refresh)
            except Exception as error:  # a full disk (or a bug) must not stop the history
                log.warning("history (%s): write failed: %s", self.location, error)

    def write(
        self, transitions: Iterable[Transition], finished: Mapping[Bucket, list[float]]
    ) -> None:
        with self._lock, self._db:
            self._db.execute("BEGIN")
            for change in transitions:
                self._write_transition(change)
            self._db.executemany(
                "INSERT INTO availability VALUES (?, ?, ?, ?, ?) ON CONFLICT (site, camera, "
                "minute) DO UPDATE SET available = available + excluded.available, "
                "counted = counted + excluded.counted",
                [(self.site, camera, minute, seconds[0], seconds[1])
                 for (camera, minute), seconds in finished.items()],
            )  # fmt: skip
        for key, seconds in finished.items():
            written = self._written.setdefault(key, [0.0, 0.0])
            written[0] += seconds[0]
            written[1] += seconds[1]

    def _write_transition(self, change: Transition) -> None:
        reasons = ",".join(change.reasons)
        self._db.execute(
            "INSERT INTO transitions (camera, at, previous, state, reasons, site) "
            "VALUES (?,?,?,?,?,?)",
            (change.camera, change.at, change.previous, change.state, reasons, self.site),
        )
        self._db.execute(
            "INSERT INTO current VALUES (?, ?, ?) ON CONFLICT (site, camera) DO UPDATE SET "
            "state = excluded.state",
            (self.site, change.camera, change.state),
        )
        if change.previous == "down":
            self._db.execute(
                "UPDATE incidents SET end = ? WHERE site = ? AND camera = ? AND end IS NULL",
                (change.at, self.site, change.camera),
            )
        if change.state == "down":
            self._db.execute(
                "INSERT INTO incidents (camera, start, end, reasons, site) "
                "VALUES (?, ?, NULL, ?, ?)",
                (change.camera, change.at, reasons, self.site),
            )

    def refresh(
        self, now: float, pending: Seconds | None = None, cameras: frozenset[str] | None = None
    ) -> None:
        """Recompute the availability and incident count of ``cameras`` (default: every
        camera in the database; the monitor passes the ones it reports, so names seen
        once and gone cost no memory): from the database (pruned first) every
        QUERY_SECONDS, plus what was written since and ``pending`` (the current minute)."""
        if self._queried_at is None or now - self._queried_at >= QUERY_SECONDS:
            self._query(now)
        # What is not in the database sums yet is at most a couple of minutes old: inside
        # every window. One [available, counted] per camera, added to each window.
        recent: dict[str, list[float]] = {}
        for (camera, _), (available, counted) in [*self._written.items(), *(pending or {}).items()]:
            total = recent.get(camera)
            if total is None:
                recent[camera] = [available, counted]
            else:
                total[0] += available
                total[1] += counted
        nothing = (0.0, 0.0)
        availability: dict[str, CameraAvailability] = {}
        # Equal figures share one object, kept from one refresh to the next: most
        # cameras have the same few (1.0 in every window, no incident), and the readers
        # (/metrics, /api/status) keep a camera's object for as long as their text of
        # it holds: at 10,000 cameras each distinct generation cost ~3 MiB.
        shared = self._shared
        kept: dict[tuple[tuple[float | None, ...], int], CameraAvailability] = {}
        counted_cameras = self._sums.keys() | recent.keys()
        for camera in counted_cameras if cameras is None else counted_cameras & cameras:
            windows = self._sums.get(camera, {})
            extra = recent.get(camera, nothing)
            figures: list[float | None] = []
            for window, _ in WINDOWS:
                available, counted = windows.get(window, nothing)
                available += extra[0]
                counted += extra[1]
                figures.append(available / counted if counted > 0 else None)
            key = (tuple(figures), self._counts.get(camera, 0))
            value = kept.get(key) or shared.get(key)
            if value is None:
                ratios = {
                    window: figure for (window, _), figure in zip(WINDOWS, figures, strict=True)
                }
                value = CameraAvailability(ratios, key[1])
            if len(kept) < MAX_SHARED_AVAILABILITY:
                kept[key] = value
            availability[camera] = value
        self._shared = kept
        self.availability = availability

    def _query(self, now: float) -> None:
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._prune(now)
            sums: dict[str, dict[str, tuple[float, float]]] = {}
            for window, seconds in WINDOWS:
                rows = self._db.execute(
                    "SELECT camera, SUM(available), SUM(counted) FROM availability "
                    "WHERE site = ? AND minute >= ? GROUP BY camera",
                    (self.site, now - seconds),
                )
                for camera, available, counted in rows:
                    sums.setdefault(camera, {})[window] = (available, counted)
            # Kept until the next query: cameras with equal sums share one mapping (most
            # cameras streamed the same minutes; 10,000 distinct ones held ~5 MiB).
            shared: dict[
                tuple[tuple[str, tuple[float, float]], ...], dict[str, tuple[float, float]]
            ] = {}
            for camera, windows in sums.items():
                sums[camera] = shared.setdefault(tuple(windows.items()), windows)
            counts = dict(
                self._db.execute(
                    "SELECT camera, COUNT(*) FROM incidents WHERE site = ? AND start >= ? "
                    "AND COALESCE(end, ?) - start >= ? GROUP BY camera",
                    (self.site, now - 86400.0, now, self.blip_seconds),
                ).fetchall()
            )
        self._queried_at = now
        self._sums, self._counts, self._written = sums, counts, {}

    def _prune(self, now: float) -> None:
        before = now - self._retention
        self._db.execute("DELETE FROM transitions WHERE at < ?", (before,))
        self._db.execute("DELETE FROM incidents WHERE end IS NOT NULL AND end < ?", (before,))
        self._db.execute("DELETE FROM availability WHERE minute < ?", (before,))
        for table, order in (("transitions", "at"), ("incidents", "start"),
                             ("availability", "minute")):  # fmt: skip
            (rows,) = self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()  # noqa: S608
            excess = rows - self._max_rows
            if excess > 0:
                self._db.execute(
                    f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} "  # noqa: S608
                    f"ORDER BY {order} LIMIT ?)"
                    if table != "availability"
                    else "DELETE FROM availability WHERE (site, camera, minute) IN (SELECT "
                    "site, camera, minute FROM availability ORDER BY minute LIMIT ?)",
                    (excess,),
                )
        # A camera whose every transition is gone is forgotten (hostile names included).
        self._db.execute(
            "DELETE FROM current WHERE (site, camera) NOT IN (SELECT site, camera FROM transitions)"
        )

    # ------------------------------------------------------------ readers

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far is written (tests, shutdown)."""
        written = threading.Event()
        try:
            self._queue.put(written, timeout=timeout)
        except queue.Full:
            return False
        return written.wait(timeout)

    def incidents(
        self,
        *,
        now: float,
        camera: str | None = None,
        since: float,
        until: float,
        limit: int = MAX_INCIDENTS,
        site: str | None = None,
    ) -> IncidentPage:
        """Incidents overlapping [since, until], newest first, at most ``limit``; of
        every site sharing the database unless ``site`` is given."""
        where = "WHERE start <= ? AND (end IS NULL OR end >= ?)"
        params: list[object] = [until, since]
        if camera is not None:
            where += " AND camera = ?"
            params.append(camera)
        if site is not None:
            where += " AND site = ?"
            params.append(site)
        lasting = "COALESCE(end, ?) - start >= ?"
        with self._lock:
            rows = self._db.execute(
                f"SELECT camera, start, end, reasons, site FROM incidents {where} AND {lasting} "  # noqa: S608
                "ORDER BY start DESC LIMIT ?",
                [*params, now, self.blip_seconds, limit + 1],
            ).fetchall()
            (blips,) = self._db.execute(
                f"SELECT COUNT(*) FROM incidents {where} AND NOT ({lasting})",  # noqa: S608
                [*params, now, self.blip_seconds],
            ).fetchone()
        found = tuple(
            Incident(name, start, end, tuple(filter(None, reasons.split(","))), site)
            for name, start, end, reasons, site in rows[:limit]
        )
        return IncidentPage(found, blips, len(rows) > limit)

    def transitions(self, camera: str | None = None) -> list[Transition]:
        query = "SELECT camera, at, previous, state, reasons FROM transitions WHERE site = ?"
        params: tuple[str, ...] = (self.site,)
        if camera is not None:
            query += " AND camera = ?"
            params = (self.site, camera)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id", params).fetchall()
        return [
            Transition(name, at, previous, state, tuple(filter(None, reasons.split(","))))
            for name, at, previous, state, reasons in rows
        ]
