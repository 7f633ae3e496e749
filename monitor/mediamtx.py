"""Observe MediaMTX over HTTP: every page of ``/v3/paths/list`` and its ``/metrics``.

An observer only: :class:`MediaMTXClient` does the requests (through the standard
library's client or httpx, bounded in time and size), hands the answers to the pure
readers of :mod:`trashmonitor.monitor.mediamtx_parse` and returns frozen values
(:class:`~trashmonitor.monitor.model.PathsListing`,
:class:`~trashmonitor.monitor.model.MediaMTXMetrics`), raising only errors from
:mod:`trashmonitor.errors`. Judging health is :mod:`trashmonitor.monitor.health`'s job.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from functools import partial
from urllib.parse import quote, urlsplit, urlunsplit

from trashmonitor.errors import (
    AuthError,
    MalformedResponseError,
    TrashmonError,
    UnreachableError,
    UpstreamHTTPError,
    detached,
)
from trashmonitor.monitor.mediamtx_http import (
    DEFAULT_MAX_BODY_BYTES,
    KeepAliveTransport,
)
from trashmonitor.monitor.mediamtx_parse import (
    check_metrics,
    decode_json,
    decode_paths_page,
    is_valid_path_name,
    parse_metrics,
    parse_path,
)
from trashmonitor.monitor.model import (
    MediaMTXMetrics,
    PathObservation,
    PathsListing,
    PathsPage,
)
from trashmonitor.transport import Credentials, Request, Transport

PATHS_LIST = "/v3/paths/list"
PATHS_GET = "/v3/paths/get/"
# MediaMTX defaults to 100 items per page; asking for large pages keeps 10,000 paths
# at ten round trips instead of a hundred.
ITEMS_PER_PAGE = 1000
# Pages in flight at once after the first: enough to hide parsing behind the server.
PARALLEL_PAGES = 4
# 100 pages of 1,000 = 100,000 paths, ten times the largest deployment measured; a
# pageCount above what itemCount needs, or above this, is never queued.
MAX_PAGES = 100
METRICS_PORT = 9998


# --------------------------------------------------------------------------- HTTP


def default_metrics_url(api_url: str) -> str:
    """MediaMTX's metrics listener: the API's host on port 9998."""
    parts = urlsplit(api_url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"[{host}]:{METRICS_PORT}" if ":" in host else f"{host}:{METRICS_PORT}"
    return urlunsplit((parts.scheme, netloc, "/metrics", "", ""))


def metrics_url(text: str) -> str:
    """A metrics URL as configured: a bare ``http://host:port`` means its ``/metrics``."""
    parts = urlsplit(text)
    return text if parts.path not in ("", "/") else urlunsplit((*parts[:2], "/metrics", "", ""))


class MediaMTXClient:
    """Reads MediaMTX over HTTP through one ``transport`` (tests pass their own).

    ``api_url`` is MediaMTX's API (``http://host:9997``) or the seed's Caddy prefix
    (``http://host/api``, which strips ``/api``): both end up at ``…/v3/paths/list``.

    ``timeout`` bounds each request as a whole (connect, headers and body), and a
    ``deadline`` passed to a read bounds all of its requests together. Bodies over
    ``max_body_bytes`` are malformed answers. ``credentials`` go as HTTP Basic with
    every request (API and /metrics).

    ``transport`` does the GETs (:class:`~trashmonitor.transport.Transport`, the protocol
    the DNS clients take too; tests pass a :class:`~trashmonitor.transport.MockTransport`);
    by default kept-alive standard-library connections
    (:class:`~trashmonitor.monitor.mediamtx_http.KeepAliveTransport`; ``https://`` and
    proxied requests through a pooled httpx one). One-shot callers (the probe) pass
    :class:`~trashmonitor.monitor.mediamtx_http.UrllibTransport`: importing httpx and
    building its client costs ~65 ms, a third of a probe of 10,000 paths, and a probe
    needs no connection pool. An httpx client of one's own goes in as
    ``HttpxTransport(client)`` (:mod:`trashmonitor.monitor.mediamtx_httpx`).
    """

    def __init__(
        self,
        api_url: str,
        metrics_url: str | None = None,
        *,
        timeout: float = 5.0,
        items_per_page: int = ITEMS_PER_PAGE,
        parallel_pages: int = PARALLEL_PAGES,
        max_pages: int = MAX_PAGES,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        credentials: Credentials | None = None,
        transport: Transport | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.metrics_url = metrics_url
        self.timeout = timeout
        self.items_per_page = items_per_page
        self.parallel_pages = max(1, parallel_pages)
        self.max_pages = max_pages
        self.max_body_bytes = max_body_bytes
        self.credentials = credentials
        self.transport = transport or KeepAliveTransport(fallback=self._httpx_transport)

    def _httpx_transport(self) -> Transport:
        from trashmonitor.monitor.mediamtx_httpx import HttpxTransport

        # An http:// MediaMTX needs no TLS context; building the default one loads the
        # CA bundle (~30 ms) for nothing.
        urls = (self.api_url, self.metrics_url)
        needs_tls = any(url is not None and url.startswith("https:") for url in urls)
        return HttpxTransport(verify=needs_tls)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> MediaMTXClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _get(
        self, url: str, params: Mapping[str, int] | None, deadline: float | None
    ) -> bytes | bytearray:
        request_deadline = time.monotonic() + self.timeout
        if deadline is not None:
            if deadline <= time.monotonic():
                raise UnreachableError(f"{url}: gave up, the time budget is spent")
            request_deadline = min(request_deadline, deadline)
        status, reason, _, body = self.transport.send(
            Request("GET", url, params, request_deadline, self.max_body_bytes, self.credentials)
        )
        if status == 401:
            given = "the credentials given were refused" if self.credentials else "no credentials"
            raise AuthError(
                f"{url}: HTTP 401 from MediaMTX ({given}; "
                "set --mediamtx-credentials-file / TRASHMON_MEDIAMTX_CREDENTIALS_FILE)"
            )
        if status == 403:
            raise AuthError(f"{url}: HTTP 403 (the MediaMTX user lacks the api/metrics permission)")
        if status != 200:
            raise UpstreamHTTPError(f"{url}: HTTP {status} {reason}".rstrip(), status)
        return body

    def _page(self, number: int, deadline: float | None) -> bytes | bytearray:
        params = {"page": number, "itemsPerPage": self.items_per_page}
        return self._get(self.api_url + PATHS_LIST, params, deadline)

    def _read_page(self, number: int, deadline: float | None) -> PathsPage:
        return decode_paths_page(self._page(number, deadline), self.api_url + PATHS_LIST)

    def _pages_to_read(self, page: PathsPage, page_size: int) -> int:
        """``pageCount``, no more than ``itemCount`` needs at ``page_size`` a page; above
        ``max_pages`` the list cannot be read whole, and a partial list would be judged
        as if it were whole."""
        pages = min(page.page_count, -(-page.item_count // page_size))
        if pages > self.max_pages:
            raise MalformedResponseError(
                f"{self.api_url + PATHS_LIST}: {page.item_count} paths in {page.page_count} "
                f"pages, more than the {self.max_pages} pages of {page_size} read"
            )
        return pages

    def read_paths(self, deadline: float | None = None) -> PathsListing:
        """Every path: page 0 says how many pages there are; the rest are fetched
        ``parallel_pages`` at a time so parsing one page overlaps with the server
        rendering the next, never more requests queued than that."""
        try:
            return self._read_paths(deadline)
        except TrashmonError as error:
            raise detached(error) from None

    def _read_paths(self, deadline: float | None) -> PathsListing:
        first = self._read_page(0, deadline)
        pages = [first]
        # A server may put fewer items on a page than asked: a full first page says how many.
        page_size = self.items_per_page
        if first.page_count > 1 and first.items:
            page_size = min(page_size, len(first.items) + first.rejected)
        page_count = self._pages_to_read(first, page_size)
        if page_count > 1 and first.items:
            pages += self._read_window(range(1, page_count), deadline)
            # Paths added while we read can push the count up: read what appeared.
            next_page = page_count
            while pages[-1].items and next_page < max(
                self._pages_to_read(page, page_size) for page in pages
            ):
                pages.append(self._read_page(next_page, deadline))
                next_page += 1
        # Paths come and go between pages; a name seen twice keeps its later view.
        paths = {path.name: path for page in pages for path in page.items}
        return PathsListing(paths, sum(page.rejected for page in pages))

    def list_paths(self, deadline: float | None = None) -> tuple[PathObservation, ...]:
        return tuple(self.read_paths(deadline).paths.values())

    def _read_window(self, numbers: range, deadline: float | None) -> list[PathsPage]:
        url = self.api_url + PATHS_LIST
        workers = min(self.parallel_pages, len(numbers))
        pages: list[PathsPage] = []
        in_flight: deque[_PageRead] = deque()
        for number in numbers:
            if deadline is not None and deadline <= time.monotonic():
                raise UnreachableError(f"{url}: gave up, the time budget is spent")
            # Each page runs in a copy of this context, so spans a traced transport
            # opens stay children of the caller's span.
            context = contextvars.copy_context()
            in_flight.append(_PageRead(partial(context.run, self._read_page, number, deadline)))
            if len(in_flight) == workers:
                pages.append(in_flight.popleft().result())
        while in_flight:
            pages.append(in_flight.popleft().result())
        return pages

    def read_path(self, name: str, deadline: float | None = None) -> PathObservation | None:
        """One path (``/v3/paths/get/<name>``), None when MediaMTX has no such path (404),
        with the same time and size bounds as the list. ``name`` must pass MediaMTX's
        path-name grammar: it goes into the URL."""
        if not is_valid_path_name(name):
            raise MalformedResponseError("not a MediaMTX path name")
        url = self.api_url + PATHS_GET + quote(name, safe="/")
        try:
            body = self._get(url, None, deadline)
            observation = parse_path(decode_json(body, url), url)
        except UpstreamHTTPError as error:
            if error.status_code == 404:
                return None
            raise detached(error) from None
        except TrashmonError as error:
            raise detached(error) from None
        if observation.name != name:
            raise detached(MalformedResponseError(f"{url}: answered for another path"))
        return observation

    def read_metrics(self, deadline: float | None = None) -> MediaMTXMetrics:
        """``/metrics`` read into per-path values (:func:`parse_metrics`)."""
        try:
            return parse_metrics(self._metrics_text(deadline))
        except TrashmonError as error:
            raise detached(error) from None

    def read_metrics_text(self, deadline: float | None = None) -> str:
        """``/metrics`` as text, refused exactly when :meth:`read_metrics` would refuse
        it (:func:`check_metrics`) but with nothing built per path: the monitor needs
        per-path values only from a MediaMTX older than v1.17 (``with_metrics``)."""
        try:
            text = self._metrics_text(deadline)
            check_metrics(text)
        except TrashmonError as error:
            raise detached(error) from None
        return text

    def _metrics_text(self, deadline: float | None) -> str:
        if self.metrics_url is None:
            raise UnreachableError("MediaMTX metrics: no URL configured")
        body = self._get(self.metrics_url, None, deadline)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            # ``from None``: the decode error holds the whole answer (hostile bytes);
            # read_metrics and read_metrics_text detach the error from it.
            raise MalformedResponseError(f"{self.metrics_url}: not UTF-8 text") from None
        if text[:1024].lstrip().startswith("<"):
            raise MalformedResponseError(f"{self.metrics_url}: got HTML instead of metrics")
        return text


class _PageRead:
    """One page read in a daemon thread of its own, its page or error kept for
    :meth:`result`. Plain threads, not a ThreadPoolExecutor: concurrent.futures imports
    logging (~10 ms of a probe's start-up), and a read left behind when another page
    failed never holds up the process's exit (a pool's workers are joined at exit)."""

    def __init__(self, read: Callable[[], PathsPage]) -> None:
        self._read = read
        self._page: PathsPage | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="mediamtx-page", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._page = self._read()
        except BaseException as error:  # handed to the reader by result()
            self._error = error

    def result(self) -> PathsPage:
        self._thread.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        assert self._page is not None
        return self._page
