"""Observe MediaMTX: the ``/v3/paths/list`` API (every page) and its ``/metrics`` text.

Observers only: they do HTTP and return frozen values (:class:`PathObservation`,
:class:`PathsSnapshot`, :class:`MediaMTXMetrics`), raising only errors from
:mod:`trashmonitor.errors`. Judging health is :mod:`trashmonitor.monitor.health`'s job.

Three API schema generations are read into one shape (field names from MediaMTX's
OpenAPI specs):

* v1.9-v1.15: ``ready``/``readyTime``, ``bytesReceived``/``bytesSent``, ``tracks`` (codec
  names).
* v1.16: adds ``available``/``availableTime`` and ``online``/``onlineTime``. ``available``
  is also true for an ``alwaysAvailable`` placeholder ("stream is offline" picture);
  only ``online`` says a real source is attached, so it wins over ``available``/``ready``.
* v1.17+: adds ``inboundBytes``/``outboundBytes``/``inboundFramesInError`` and
  ``tracks2`` (``codec`` + ``codecProps`` with the video resolution), deprecating the
  old fields.
"""

from __future__ import annotations

import contextvars
import http.client
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeGuard
from urllib.parse import urlencode, urlsplit, urlunsplit

from trashmonitor.errors import (
    AuthError,
    MalformedResponseError,
    UnreachableError,
    UpstreamHTTPError,
)

if TYPE_CHECKING:  # imported when a client is built: the probe does without it
    import httpx

PATHS_LIST = "/v3/paths/list"
# MediaMTX defaults to 100 items per page; asking for large pages keeps 10,000 paths
# at ten round trips instead of a hundred.
ITEMS_PER_PAGE = 1000
# Pages in flight at once after the first: enough to hide parsing behind the server.
PARALLEL_PAGES = 4
METRICS_PORT = 9998
VIDEO_CODECS = frozenset(
    {"AV1", "VP9", "VP8", "H265", "H264", "MPEG-4 Video", "MPEG-1/2 Video", "M-JPEG"}
)


@dataclass(frozen=True, slots=True)
class Track:
    codec: str
    width: int | None = None
    height: int | None = None

    @property
    def is_video(self) -> bool:
        return self.codec in VIDEO_CODECS


# slots: 10,000 of these per poll, a dozen polls kept: smaller and quicker to build.
@dataclass(frozen=True, slots=True)
class PathObservation:
    """One path as MediaMTX lists it, whatever the schema generation."""

    name: str
    online: bool
    """A real source is attached (``online``; ``ready`` before v1.16)."""
    available: bool
    """Readers can connect: online, or an ``alwaysAvailable`` placeholder."""
    inbound_bytes: int
    outbound_bytes: int
    readers: int
    frames_in_error: int | None = None
    """``inboundFramesInError`` (v1.17+); None when the server does not report it."""
    online_since: float | None = None
    source_type: str | None = None
    tracks: tuple[Track, ...] = ()
    codec: str | None = None
    """The video track's codec (else the first track's): what the table shows."""
    resolution: str | None = None
    """``WIDTHxHEIGHT`` of the video track when MediaMTX reports it (v1.17+)."""
    configured: bool = False
    """MediaMTX's configuration names this path (``confName`` equals its name), rather
    than an ad-hoc publisher matching ``all_others`` or a regex entry."""

    @property
    def placeholder(self) -> bool:
        return self.available and not self.online


def describe_tracks(tracks: tuple[Track, ...]) -> tuple[str | None, str | None]:
    """(codec, resolution) of the video track, computed once per poll, not per use."""
    video = next((track for track in tracks if track.is_video), None)
    if video is None:
        return (tracks[0].codec if tracks else None), None
    if video.width is None or video.height is None:
        return video.codec, None
    return video.codec, f"{video.width}x{video.height}"


@dataclass(frozen=True, slots=True)
class PathMetrics:
    """What MediaMTX's ``/metrics`` says about one path (families summed over labels)."""

    name: str
    state: str | None = None
    inbound_bytes: int | None = None
    outbound_bytes: int | None = None
    frames_in_error: int | None = None
    readers: int | None = None


@dataclass(frozen=True)
class MediaMTXMetrics:
    paths: Mapping[str, PathMetrics] = field(default_factory=dict)
    families: frozenset[str] = frozenset()


@dataclass(frozen=True)
class PathsSnapshot:
    """Every path at one moment, plus the metrics read in the same poll (if any)."""

    at: float
    paths: Mapping[str, PathObservation]
    metrics: MediaMTXMetrics | None = None


@dataclass(frozen=True)
class PathsPage:
    items: tuple[PathObservation, ...]
    item_count: int
    page_count: int


# --------------------------------------------------------------------------- parsing


def _rfc3339(value: object, where: str) -> float | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedResponseError(f"{where}: expected a time string")
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise MalformedResponseError(f"{where}: invalid time {value[:40]!r}") from None


def _count(item: Mapping[str, Any], key: str, where: str) -> int | None:
    value = item.get(key)
    if value.__class__ is int and value >= 0:  # the common case first: 10,000 paths a poll
        return value
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedResponseError(f"{where}.{key}: expected a non-negative integer")
    return value


def _tracks(item: Mapping[str, Any], where: str) -> TrackSet:
    tracks2 = item.get("tracks2")
    if isinstance(tracks2, list):
        key: list[tuple[str, int | None, int | None]] = []
        for track in tracks2:
            if not isinstance(track, dict) or not isinstance(track.get("codec"), str):
                raise MalformedResponseError(f"{where}.tracks2: expected objects with a codec")
            props = track.get("codecProps") or {}
            width = props.get("width") if isinstance(props, dict) else None
            height = props.get("height") if isinstance(props, dict) else None
            key.append(
                (
                    track["codec"],
                    width if isinstance(width, int) else None,
                    height if isinstance(height, int) else None,
                )
            )
        return _track_set(tuple(key))
    old = item.get("tracks")
    if old is None:
        return _track_set(())
    if not isinstance(old, list) or not all(isinstance(codec, str) for codec in old):
        raise MalformedResponseError(f"{where}.tracks: expected a list of codec names")
    return _track_set(tuple((codec, None, None) for codec in old))


TrackSet = tuple[tuple[Track, ...], str | None, str | None]
"""A path's tracks with what the table shows of them: (tracks, codec, resolution)."""


@lru_cache(maxsize=1024)
def _track_set(key: tuple[tuple[str, int | None, int | None], ...]) -> TrackSet:
    """Cameras share a handful of track layouts: build (and keep) one value per layout,
    not per path and poll."""
    tracks = tuple(Track(codec, width, height) for codec, width, height in key)
    return (tracks, *describe_tracks(tracks))


def parse_path(item: object, where: str = "items[]") -> PathObservation:
    """One element of ``items``, any schema generation."""
    if not isinstance(item, dict):
        raise MalformedResponseError(f"{where}: expected an object")
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise MalformedResponseError(f"{where}.name: expected a path name")
    get = item.get
    ready, online, available = get("ready"), get("online"), get("available")
    if not (_is_bool_or_none(ready) and _is_bool_or_none(online) and _is_bool_or_none(available)):
        for key in ("ready", "online", "available"):
            if not _is_bool_or_none(get(key)):
                raise MalformedResponseError(f"path {name!r}.{key}: expected true or false")
    # Prefer `online` (v1.16+): `available`/`ready` are also true for a placeholder.
    is_online = online if online is not None else bool(ready)
    is_available = available if available is not None else bool(ready) or is_online
    inbound, outbound = get("inboundBytes"), get("outboundBytes")
    frames = get("inboundFramesInError")
    if not (_is_count(inbound) and _is_count(outbound) and _is_count(frames)):
        inbound, outbound, frames = _older_counts(item, f"path {name!r}")
    readers = get("readers")
    if readers is not None and not isinstance(readers, list):
        raise MalformedResponseError(f"path {name!r}.readers: expected a list")
    source = get("source")
    source_type = source.get("type") if isinstance(source, dict) else None
    online_since = None
    if is_online:
        since_key = "onlineTime" if online is not None else "readyTime"
        online_since = _rfc3339(get(since_key), f"path {name!r}.{since_key}")
    tracks, codec, resolution = _tracks(item, f"path {name!r}")
    return PathObservation(
        name,
        is_online,
        is_available,
        inbound,
        outbound,
        len(readers) if readers else 0,
        frames,
        online_since,
        source_type if isinstance(source_type, str) else None,
        tracks,
        codec,
        resolution,
        get("confName") == name,
    )


def _older_counts(item: Mapping[str, Any], where: str) -> tuple[int, int, int | None]:
    """(inbound, outbound, frames in error) before v1.17, or with a bad value."""
    inbound = _count(item, "inboundBytes", where)
    outbound = _count(item, "outboundBytes", where)
    frames = _count(item, "inboundFramesInError", where)
    if inbound is None:
        inbound = _count(item, "bytesReceived", where) or 0
    if outbound is None:
        outbound = _count(item, "bytesSent", where) or 0
    return inbound, outbound, frames


def _is_bool_or_none(value: object) -> bool:
    return value is None or value is True or value is False


def _is_count(value: object) -> TypeGuard[int]:
    """A present, valid count (the v1.17+ common case); anything else takes the slow path."""
    return value.__class__ is int and value >= 0


def parse_paths_page(document: object) -> PathsPage:
    """A decoded ``/v3/paths/list`` answer (``PathList`` in the specs)."""
    if not isinstance(document, dict):
        raise MalformedResponseError("paths list: expected a JSON object")
    items = document.get("items")
    if items is None:
        raise MalformedResponseError("paths list: 'items' is missing or null")
    if not isinstance(items, list):
        raise MalformedResponseError("paths list: 'items' is not a list")
    item_count = document.get("itemCount", len(items))
    page_count = document.get("pageCount", 1)
    for key, value in (("itemCount", item_count), ("pageCount", page_count)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise MalformedResponseError(f"paths list: '{key}' is not a count")
    parsed = tuple(parse_path(item, f"items[{index}]") for index, item in enumerate(items))
    return PathsPage(parsed, item_count, page_count)


def decode_json(body: bytes, source: str) -> object:
    """JSON or a MalformedResponseError that says what came instead."""
    head = body.lstrip()[:1]
    if head == b"<":
        raise MalformedResponseError(f"{source}: got HTML instead of JSON (wrong URL?)")
    if not head:
        raise MalformedResponseError(f"{source}: empty answer instead of JSON")
    try:
        return json.loads(body)
    except json.JSONDecodeError as error:
        cut = error.pos >= len(body.rstrip()) or error.msg.startswith("Unterminated")
        problem = "truncated JSON" if cut else "invalid JSON"
        raise MalformedResponseError(
            f"{source}: {problem} ({error.msg}, char {error.pos})"
        ) from None
    except UnicodeDecodeError:
        raise MalformedResponseError(f"{source}: answer is not UTF-8 JSON") from None


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$")
# MediaMTX does not escape label values, so a value ends at `"` followed by `,name="` or
# the end of the label set, not at the first quote.
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="(.*?)"(?=,[a-zA-Z_][a-zA-Z0-9_]*="|,?$)')

# family -> PathMetrics field; the deprecated names are read when the new ones are absent.
_PATH_FAMILIES = {
    "paths_inbound_bytes": "inbound_bytes",
    "paths_bytes_received": "inbound_bytes",
    "paths_outbound_bytes": "outbound_bytes",
    "paths_bytes_sent": "outbound_bytes",
    "paths_inbound_frames_in_error": "frames_in_error",
    "paths_readers": "readers",
}


def parse_labels(text: str) -> dict[str, str]:
    """``a="x",b="y"`` -> dict. Splitting is enough unless a value holds ``",``; only
    then (checked: every piece must be ``identifier="…``) the slower regex decides."""
    if text.endswith('"'):
        pairs = [piece.split('="', 1) for piece in text[:-1].split('",')]
        if all(len(pair) == 2 and pair[0].isidentifier() for pair in pairs):
            return dict(pairs)
    return {match.group(1): match.group(2) for match in _LABEL.finditer(text)}


def parse_metrics(text: str) -> MediaMTXMetrics:
    """MediaMTX's untyped exposition (no ``# TYPE``, unescaped labels) -> per-path values.

    Unknown families are ignored (they are counted in ``families``); lines that are not
    samples at all make the whole answer malformed, since then it is not ``/metrics``.
    """
    families: set[str] = set()
    per_path: dict[str, dict[str, Any]] = {}
    seen_new: set[tuple[str, str]] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        # Cheap split first (10,000 paths = 50,000 lines a poll); the regex validates
        # only the lines we keep and lines that do not split cleanly.
        brace = line.find("{")
        family = line[:brace] if brace > 0 else line.partition(" ")[0]
        if family not in _PATH_FAMILIES and family != "paths" and family.isidentifier():
            families.add(family)
            continue
        match = _SAMPLE.match(line)
        if match is None:
            raise MalformedResponseError(f"metrics line {number}: not a sample: {line[:60]!r}")
        family, label_text, value_text = match.groups()
        families.add(family)
        if family != "paths" and family not in _PATH_FAMILIES:
            continue
        labels = parse_labels(label_text or "")
        name = labels.get("name")
        if name is None:
            continue
        try:
            value = float(value_text)
        except ValueError:
            raise MalformedResponseError(
                f"metrics line {number}: bad value {value_text!r}"
            ) from None
        entry = per_path.setdefault(name, {"name": name})
        if "state" in labels:
            entry["state"] = labels["state"]
        if family == "paths":
            continue
        key = _PATH_FAMILIES[family]
        is_deprecated = family in ("paths_bytes_received", "paths_bytes_sent")
        if is_deprecated and (name, key) in seen_new:
            continue
        if not is_deprecated and key in ("inbound_bytes", "outbound_bytes"):
            if (name, key) not in seen_new:
                entry.pop(key, None)  # a deprecated twin read earlier loses
            seen_new.add((name, key))
        # paths_readers comes once per reader type: sum them.
        entry[key] = entry.get(key, 0) + int(value)
    return MediaMTXMetrics(
        paths={name: PathMetrics(**values) for name, values in per_path.items()},
        families=frozenset(families),
    )


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


RequestHook = Callable[[str, Mapping[str, int] | None], AbstractContextManager[object]]


class MediaMTXClient:
    """Reads MediaMTX over HTTP. ``client`` is injectable (tests pass a MockTransport).

    ``api_url`` is MediaMTX's API (``http://host:9997``) or the seed's Caddy prefix
    (``http://host/api``, which strips ``/api``): both end up at ``…/v3/paths/list``.

    ``stdlib=True`` reads with urllib instead of httpx, for one-shot callers (the probe):
    importing httpx and building its client costs ~65 ms, a third of a probe of 10,000
    paths, and a probe needs neither its connection pool nor its transports.
    """

    def __init__(
        self,
        api_url: str,
        metrics_url: str | None = None,
        *,
        timeout: float = 5.0,
        client: httpx.Client | None = None,
        items_per_page: int = ITEMS_PER_PAGE,
        parallel_pages: int = PARALLEL_PAGES,
        stdlib: bool = False,
        request_hook: RequestHook | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.request_hook = request_hook
        """Wraps each HTTP request (the monitor opens a trace span per request with it)."""
        self.metrics_url = metrics_url
        self.timeout = timeout
        self.items_per_page = items_per_page
        self.parallel_pages = parallel_pages
        self._owns_client = client is None and not stdlib
        self._client = client
        if self._owns_client:
            import httpx

            # An http:// MediaMTX needs no TLS context; building the default one loads
            # the CA bundle (~30 ms) for nothing.
            needs_tls = any(
                url is not None and url.startswith("https:") for url in (self.api_url, metrics_url)
            )
            self._client = httpx.Client(follow_redirects=False, verify=needs_tls)

    def close(self) -> None:
        if self._owns_client and self._client is not None:
            self._client.close()

    def __enter__(self) -> MediaMTXClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _get(self, url: str, params: Mapping[str, int] | None, deadline: float | None) -> bytes:
        timeout = self.timeout
        if deadline is not None:
            timeout = min(timeout, deadline - time.monotonic())
            if timeout <= 0:
                raise UnreachableError(f"{url}: gave up, the time budget is spent")
        with self.request_hook(url, params) if self.request_hook else nullcontext():
            if self._client is None:
                status, reason, body = _urllib_get(url, params, timeout)
            else:
                status, reason, body = _httpx_get(self._client, url, params, timeout)
        if status in (401, 403):
            raise AuthError(f"{url}: HTTP {status} (MediaMTX authentication)")
        if status != 200:
            raise UpstreamHTTPError(f"{url}: HTTP {status} {reason}".rstrip(), status)
        return body

    def _page(self, number: int, deadline: float | None) -> bytes:
        params = {"page": number, "itemsPerPage": self.items_per_page}
        return self._get(self.api_url + PATHS_LIST, params, deadline)

    def list_paths(self, deadline: float | None = None) -> tuple[PathObservation, ...]:
        """Every path: page 0 says how many pages there are; the rest are fetched
        concurrently so parsing one page overlaps with the server rendering the next."""
        url = self.api_url + PATHS_LIST
        first = parse_paths_page(decode_json(self._page(0, deadline), url))
        pages = [first]
        page_count = first.page_count
        if page_count > 1 and first.items:
            from concurrent.futures import ThreadPoolExecutor

            workers = min(self.parallel_pages, page_count - 1)
            with ThreadPoolExecutor(workers, thread_name_prefix="mediamtx-page") as pool:
                # Each page runs in a copy of this context, so spans opened by the
                # request hook stay children of the caller's span.
                bodies = [
                    pool.submit(contextvars.copy_context().run, self._page, n, deadline)
                    for n in range(1, page_count)
                ]
                try:
                    for body in bodies:
                        pages.append(parse_paths_page(decode_json(body.result(), url)))
                except BaseException:
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
            # Paths added while we read can push the count up: read what appeared.
            next_page = page_count
            while next_page < max(page.page_count for page in pages) and pages[-1].items:
                pages.append(parse_paths_page(decode_json(self._page(next_page, deadline), url)))
                next_page += 1
        # Paths come and go between pages; a name seen twice keeps its later view.
        paths = {path.name: path for page in pages for path in page.items}
        return tuple(paths.values())

    def read_metrics(self, deadline: float | None = None) -> MediaMTXMetrics:
        if self.metrics_url is None:
            raise UnreachableError("MediaMTX metrics: no URL configured")
        body = self._get(self.metrics_url, None, deadline)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedResponseError(f"{self.metrics_url}: not UTF-8 text") from None
        if text.lstrip().startswith("<"):
            raise MalformedResponseError(f"{self.metrics_url}: got HTML instead of metrics")
        return parse_metrics(text)


HTTPAnswer = tuple[int, str, bytes]
"""(status, reason phrase, body) of one GET."""


def _httpx_get(
    client: httpx.Client, url: str, params: Mapping[str, int] | None, timeout: float
) -> HTTPAnswer:
    import httpx

    try:
        response = client.get(url, params=params, timeout=timeout)
    except httpx.TimeoutException:
        raise UnreachableError(f"{url}: timed out after {timeout:.1f}s") from None
    except httpx.ConnectError as error:
        raise UnreachableError(f"{url}: cannot connect ({_reason(error)})") from None
    except httpx.RemoteProtocolError as error:
        raise MalformedResponseError(f"{url}: broken HTTP answer ({_reason(error)})") from None
    except httpx.HTTPError as error:
        raise UnreachableError(f"{url}: {error.__class__.__name__} ({_reason(error)})") from None
    return response.status_code, response.reason_phrase, response.content


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer to report (like httpx's ``follow_redirects=False``)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_URLLIB = urllib.request.build_opener(_NoRedirects)


def _urllib_get(url: str, params: Mapping[str, int] | None, timeout: float) -> HTTPAnswer:
    """The same GET and the same errors as :func:`_httpx_get`, with the standard library
    (which, like httpx, honours the ``*_proxy`` environment variables)."""
    full_url = f"{url}?{urlencode(params)}" if params else url
    try:
        with _URLLIB.open(full_url, timeout=timeout) as response:
            return response.status, response.reason, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, str(error.reason), b""
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            raise UnreachableError(f"{url}: timed out after {timeout:.1f}s") from None
        reason = error.reason if isinstance(error.reason, Exception) else error
        raise UnreachableError(f"{url}: cannot connect ({_reason(reason)})") from None
    except TimeoutError:
        raise UnreachableError(f"{url}: timed out after {timeout:.1f}s") from None
    except (http.client.HTTPException, ConnectionError) as error:
        raise MalformedResponseError(f"{url}: broken HTTP answer ({_reason(error)})") from None
    except OSError as error:
        raise UnreachableError(f"{url}: {error.__class__.__name__} ({_reason(error)})") from None


def _reason(error: Exception) -> str:
    text = " ".join(str(error).split())
    return text[:120] or error.__class__.__name__
