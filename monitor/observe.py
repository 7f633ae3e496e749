"""Observe MediaMTX once per poll: the path list and ``/metrics`` side by side, each read
in its own trace span, returned as one finished
:class:`~trashmonitor.monitor.model.MediaMTXObservation`.

The snapshot's paths are keyed by name as the client read them, completed with what
only ``/metrics`` says (:func:`~trashmonitor.monitor.mediamtx_parse.with_metrics`), so
the health model reads one shape whatever the MediaMTX version. ``/metrics`` is always
read and checked (``metrics_up``, a malformed answer refused), but read per path only
when the API leaves some path's frames in error unknown (a MediaMTX before v1.17): at
10,000 paths that per-path read was ~40 % of a poll's CPU, for nothing on a v1.17+.

A failed read is a typed error in the observation (:mod:`trashmonitor.errors`; anything
unanticipated, a parser's bug on hostile input say, becomes a
:class:`~trashmonitor.errors.TrashmonError` of kind ``internal`` chained to it), never an
exception out of :meth:`observe`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from typing import Any, ParamSpec, TypeVar

from opentelemetry import context as otel_context
from opentelemetry.trace import Span, Status, StatusCode, Tracer

from trashmonitor.errors import TrashmonError
from trashmonitor.monitor.mediamtx import MediaMTXClient
from trashmonitor.monitor.mediamtx_http import TracedTransport
from trashmonitor.monitor.mediamtx_parse import parse_metrics, with_metrics
from trashmonitor.monitor.model import MediaMTXObservation, PathsSnapshot
from trashmonitor.monitor.status import printable
from trashmonitor.telemetry import span

P = ParamSpec("P")
R = TypeVar("R")


def as_error(error: BaseException) -> TrashmonError:
    """``error`` as one of ours: as it is if it is, else a :class:`TrashmonError` (kind
    ``internal``) named by its class, whose text may carry hostile input (escaped and
    cut), chained to it so ``--debug`` shows where it came from."""
    if isinstance(error, TrashmonError):
        return error
    detail = printable(str(error))[:200]
    message = f"unexpected {error.__class__.__name__}" + (f": {detail}" if detail else "")
    wrapped = TrashmonError(message)
    wrapped.__cause__ = error
    return wrapped


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


class MediaMTXObserver:
    """Reads MediaMTX through ``client``; with a ``tracer``, one span per read and one
    ``http.get`` span per request (the client's transport is wrapped for it)."""

    def __init__(
        self,
        client: MediaMTXClient,
        tracer: Tracer | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.tracer = tracer
        self.clock = clock
        if tracer is not None and not isinstance(client.transport, TracedTransport):
            client.transport = TracedTransport(client.transport, tracer)

    def span(self, name: str, **attributes: Any) -> AbstractContextManager[Span | None]:
        """A child of the current span, or nothing without a tracer."""
        return span(self.tracer, name, **attributes)

    def observe(self, deadline: float) -> MediaMTXObservation:
        """Every path and, alongside (at 10,000 paths each read takes a good part of the
        interval, and neither depends on the other), ``/metrics``."""
        at = self.clock()
        metrics_read = (
            in_background(self._read_metrics, deadline, otel_context.get_current())
            if self.client.metrics_url is not None
            else None
        )
        snapshot, error = self._read_paths(at, deadline)
        metrics_text: str | None = None
        metrics_error: TrashmonError | None = None
        if metrics_read is not None:
            metrics_text, metrics_error = metrics_read.result()
        if snapshot is not None and metrics_text is not None and _lacks_frames(snapshot):
            # Already refused by then if it were malformed: this parse cannot fail.
            paths = with_metrics(snapshot.paths, parse_metrics(metrics_text))
            if paths is not snapshot.paths:
                snapshot = PathsSnapshot(snapshot.at, paths, snapshot.rejected)
        return MediaMTXObservation(
            snapshot,
            error,
            metrics_up=None if metrics_read is None else metrics_text is not None,
            metrics_error=metrics_error,
        )

    def _read_paths(
        self, at: float, deadline: float
    ) -> tuple[PathsSnapshot | None, TrashmonError | None]:
        with self.span("mediamtx.paths_list") as current:
            try:
                listing = self.client.read_paths(deadline)
            except Exception as error:  # ours or a bug on hostile input: a failed poll
                return None, _failed(current, as_error(error))
            if current is not None:
                current.set_attribute("mediamtx.paths", len(listing.paths))
                current.set_attribute("mediamtx.rejected_paths", listing.rejected)
            return PathsSnapshot(at, listing.paths, listing.rejected), None

    def _read_metrics(
        self, deadline: float, parent: otel_context.Context
    ) -> tuple[str | None, TrashmonError | None]:
        """The ``/metrics`` text once checked (:meth:`MediaMTXClient.read_metrics_text`):
        it is parsed per path only when the API leaves a path's frames in error unknown.
        """
        # A worker thread does not inherit the cycle's span: attach it explicitly.
        token = otel_context.attach(parent)
        try:
            url = self.client.metrics_url or ""
            with self.span("mediamtx.metrics", url=url) as current:
                try:
                    return self.client.read_metrics_text(deadline), None
                except Exception as error:
                    return None, _failed(current, as_error(error))
        finally:
            otel_context.detach(token)


def _lacks_frames(snapshot: PathsSnapshot) -> bool:
    """Some path's frames in error are unknown to the API (a MediaMTX before v1.17):
    only then is ``/metrics`` read per path."""
    return any(path.frames_in_error is None for path in snapshot.paths.values())


def _failed(current: Span | None, error: TrashmonError) -> TrashmonError:
    if current is not None:
        # An unanticipated error is named by its own class, not by our wrapper's.
        unwrapped = error.__cause__ if type(error) is TrashmonError else None
        current.set_status(Status(StatusCode.ERROR, error.message))
        current.set_attribute("error.type", (unwrapped or error).__class__.__name__)
    return error
