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
import json
import math
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeGuard
from urllib.parse import urlsplit, urlunsplit

from trashmonitor.monitor.mediamtx_http import (
    DEFAULT_MAX_BODY_BYTES,
    Credentials,
    reason_of,
    urllib_get,
)

from trashmonitor.errors import (
    AuthError,
    MalformedResponseError,
    TrashmonError,
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
# 100 pages of 1,000 = 100,000 paths, ten times the largest deployment measured; a
# pageCount above what itemCount needs, or above this, is never queued.
MAX_PAGES = 100
# MediaMTX has no length limit on path names; recordings put the name in a file path
# (255 bytes a component), and the table and metrics labels must stay readable.
MAX_PATH_NAME_LENGTH = 255
# Counters are uint64 in MediaMTX: anything at or above 2**64 is not one of its numbers.
MAX_COUNT = 2**64
# No path-family sample line of MediaMTX comes near this (a name is at most 255
# characters); longer lines are skipped unparsed, keeping the parser linear.
MAX_METRICS_LINE = 4096
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
    rejected_paths: int = 0
    """Path samples skipped: a name outside MediaMTX's grammar or length bound."""


@dataclass(frozen=True)
class PathsSnapshot:
    """Every path at one moment, plus the metrics read in the same poll (if any)."""

    at: float
    paths: Mapping[str, PathObservation]
    metrics: MediaMTXMetrics | None = None
    rejected_paths: int = 0
    """Items MediaMTX listed that were skipped: a name outside MediaMTX's path-name
    grammar or over :data:`MAX_PATH_NAME_LENGTH` (:attr:`PathsListing.rejected`)."""


@dataclass(frozen=True)
class PathsPage:
    items: tuple[PathObservation, ...]
    item_count: int
    page_count: int
    rejected: int = 0
    """Items skipped for a name MediaMTX itself would refuse (never shown raw)."""


# MediaMTX's own check (internal/conf/path.go, IsValidPathName): not empty, no leading or
# trailing slash, no "." or ".." segment (v1.17.1+), and these characters; "~" was
# allowed up to v1.17.0 and ":" from v1.12.3 to v1.17.0, so a listing from any
# supported version passes.
_PATH_NAME = re.compile(r"[0-9A-Za-z_\-/.~:]+")


def is_valid_path_name(name: object) -> TypeGuard[str]:
    """A path name MediaMTX could have listed: its grammar, and at most
    :data:`MAX_PATH_NAME_LENGTH` characters. Anything else is never rendered."""
    if not isinstance(name, str) or len(name) > MAX_PATH_NAME_LENGTH:
        return False
    if _PATH_NAME.fullmatch(name) is None or name[0] == "/" or name[-1] == "/":
        return False
    return "." not in name or all(part not in (".", "..") for part in name.split("/"))


# --------------------------------------------------------------------------- parsing


def _rfc3339(value: object, where: str) -> float | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedResponseError(f"{where}: expected a time string")
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise MalformedResponseError(f"{where}: not an RFC 3339 time") from None


def _count(item: Mapping[str, Any], key: str, where: str) -> int | None:
    value = item.get(key)
    if value.__class__ is int and 0 <= value < MAX_COUNT:  # the common case first
        return value
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_COUNT:
        raise MalformedResponseError(f"{where}.{key}: expected a count below 2**64")
    return value


def _tracks(item: Mapping[str, Any], where: str) -> TrackSet:
    tracks2 = item.get("tracks2")
    if isinstance(tracks2, list):
        key: list[tuple[str, int | None, int | None]] = []
        for track in tracks2:
            if not isinstance(track, dict) or not _is_codec(track.get("codec")):
                raise MalformedResponseError(f"{where}.tracks2: expected objects with a codec")
            props = track.get("codecProps") or {}
            width = props.get("width") if isinstance(props, dict) else None
            height = props.get("height") if isinstance(props, dict) else None
            key.append((track["codec"], _dimension(width), _dimension(height)))
        return _track_set(tuple(key))
    old = item.get("tracks")
    if old is None:
        return _track_set(())
    if not isinstance(old, list) or not all(_is_codec(codec) for codec in old):
        raise MalformedResponseError(f"{where}.tracks: expected a list of codec names")
    return _track_set(tuple((codec, None, None) for codec in old))


def _is_codec(value: object) -> TypeGuard[str]:
    """MediaMTX names codecs itself ("H264", "MPEG-4 Audio"): short printable ASCII."""
    return (
        isinstance(value, str) and 0 < len(value) <= 64 and value.isascii() and value.isprintable()
    )


def _dimension(value: object) -> int | None:
    return value if value.__class__ is int and 0 < value < 100_000 else None


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
    if not is_valid_path_name(name):
        raise MalformedResponseError(f"{where}.name: not a MediaMTX path name")
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
    return value.__class__ is int and 0 <= value < MAX_COUNT


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
    parsed: list[PathObservation] = []
    rejected = 0
    for index, item in enumerate(items):
        name = item.get("name") if isinstance(item, dict) else None
        if isinstance(name, str) and name and not is_valid_path_name(name):
            rejected += 1  # a publisher chose it: data to count, not a broken answer
            continue
        parsed.append(parse_path(item, f"items[{index}]"))
    return PathsPage(tuple(parsed), item_count, page_count, rejected)


def decode_json(body: bytes | bytearray, source: str) -> object:
    """JSON or a MalformedResponseError that says what came instead."""
    head = body[:1024].lstrip()[:1]  # not body.lstrip(): no copy of a 16 MiB answer
    if head == b"<":
        raise MalformedResponseError(f"{source}: got HTML instead of JSON (wrong URL?)")
    if not head and len(body) <= 1024:
        raise MalformedResponseError(f"{source}: empty answer instead of JSON")
    try:
        return json.loads(body, parse_constant=_no_constant)
    except json.JSONDecodeError as error:
        cut = error.pos >= len(body.rstrip()) or error.msg.startswith("Unterminated")
        problem = "truncated JSON" if cut else "invalid JSON"
        raise MalformedResponseError(
            f"{source}: {problem} ({error.msg}, char {error.pos})"
        ) from None
    except UnicodeDecodeError:
        raise MalformedResponseError(f"{source}: answer is not UTF-8 JSON") from None
    except RecursionError:
        raise MalformedResponseError(f"{source}: JSON nested too deeply") from None
    except ValueError as error:  # e.g. an integer of more than 4,300 digits
        raise MalformedResponseError(f"{source}: invalid JSON ({reason_of(error)})") from None


def _no_constant(name: str) -> object:
    """NaN and Infinity are not JSON, and no MediaMTX number is one."""
    raise MalformedResponseError(f"JSON holds {name}, not a number MediaMTX sends")


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
    rejected: set[str] = set()
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
        if len(line) > MAX_METRICS_LINE:
            rejected.add(line[:MAX_METRICS_LINE])  # only a bad name makes a line this long
            continue
        match = _SAMPLE.match(line)
        if match is None:
            # The line is not quoted: it may carry whatever a hostile server sent.
            raise MalformedResponseError(f"metrics line {number}: not a sample")
        family, label_text, value_text = match.groups()
        families.add(family)
        if family != "paths" and family not in _PATH_FAMILIES:
            continue
        labels = parse_labels(label_text or "")
        name = labels.get("name")
        if name is None:
            continue
        value = _sample_count(value_text, family, number)
        if not is_valid_path_name(name):
            rejected.add(name)
            continue
        entry = per_path.setdefault(name, {"name": name})
        state = labels.get("state")
        if state is not None and state.isalnum() and len(state) <= 32:
            entry["state"] = state
        if family != "paths":
            _add_sample(entry, family, value, seen_new)
    return MediaMTXMetrics(
        paths={name: PathMetrics(**values) for name, values in per_path.items()},
        families=frozenset(families),
        rejected_paths=len(rejected),
    )


def _sample_count(value_text: str, family: str, number: int) -> int:
    """A path family's sample value: a finite count, or the answer is malformed."""
    try:
        value = float(value_text)
    except ValueError:
        raise MalformedResponseError(
            f"metrics line {number}: {family} value is not a number"
        ) from None
    if not (math.isfinite(value) and 0 <= value < MAX_COUNT):
        raise MalformedResponseError(
            f"metrics line {number}: {family} is {value_text[:40]!r}, not a count"
        )
    return int(value)


def _add_sample(
    entry: dict[str, Any], family: str, value: int, seen_new: set[tuple[str, str]]
) -> None:
    name, key = entry["name"], _PATH_FAMILIES[family]
    is_deprecated = family in ("paths_bytes_received", "paths_bytes_sent")
    if is_deprecated and (name, key) in seen_new:
        return
    if not is_deprecated and key in ("inbound_bytes", "outbound_bytes"):
        if (name, key) not in seen_new:
            entry.pop(key, None)  # a deprecated twin read earlier loses
        seen_new.add((name, key))
    # paths_readers comes once per reader type: sum them.
    entry[key] = entry.get(key, 0) + value


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


@dataclass(frozen=True)
class PathsListing:
    """Every path MediaMTX listed, and how many items were skipped for a bad name."""

    paths: tuple[PathObservation, ...]
    rejected: int = 0


class MediaMTXClient:
    """Reads MediaMTX over HTTP. ``client`` is injectable (tests pass a MockTransport).

    ``api_url`` is MediaMTX's API (``http://host:9997``) or the seed's Caddy prefix
    (``http://host/api``, which strips ``/api``): both end up at ``…/v3/paths/list``.

    ``timeout`` bounds each request as a whole (connect, headers and body), and a
    ``deadline`` passed to a read bounds all of its requests together. Bodies over
    ``max_body_bytes`` are malformed answers. ``credentials`` go as HTTP Basic with
    every request (API and /metrics).

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
        max_pages: int = MAX_PAGES,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        credentials: Credentials | None = None,
        stdlib: bool = False,
        request_hook: RequestHook | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.request_hook = request_hook
        """Wraps each HTTP request (the monitor opens a trace span per request with it)."""
        self.metrics_url = metrics_url
        self.timeout = timeout
        self.items_per_page = items_per_page
        self.parallel_pages = max(1, parallel_pages)
        self.max_pages = max_pages
        self.max_body_bytes = max_body_bytes
        self.credentials = credentials
        self._owns_client = client is None and not stdlib
        self._client = client
        if self._owns_client:
            from trashmonitor.monitor.mediamtx_httpx import deadline_client

            # An http:// MediaMTX needs no TLS context; building the default one loads
            # the CA bundle (~30 ms) for nothing.
            needs_tls = any(
                url is not None and url.startswith("https:") for url in (self.api_url, metrics_url)
            )
            self._client = deadline_client(verify=needs_tls)

    def close(self) -> None:
        if self._owns_client and self._client is not None:
            self._client.close()

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
        with self.request_hook(url, params) if self.request_hook else nullcontext():
            if self._client is None:
                status, reason, body = urllib_get(
                    url,
                    params,
                    deadline=request_deadline,
                    max_bytes=self.max_body_bytes,
                    credentials=self.credentials,
                )
            else:
                from trashmonitor.monitor.mediamtx_httpx import httpx_get

                status, reason, body = httpx_get(
                    self._client,
                    url,
                    params,
                    deadline=request_deadline,
                    max_bytes=self.max_body_bytes,
                    credentials=self.credentials,
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
        return parse_paths_page(
            decode_json(self._page(number, deadline), self.api_url + PATHS_LIST)
        )

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
            raise _detached(error) from None

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
        return PathsListing(tuple(paths.values()), sum(page.rejected for page in pages))

    def list_paths(self, deadline: float | None = None) -> tuple[PathObservation, ...]:
        return self.read_paths(deadline).paths

    def _read_window(self, numbers: range, deadline: float | None) -> list[PathsPage]:
        from concurrent.futures import Future, ThreadPoolExecutor

        url = self.api_url + PATHS_LIST
        workers = min(self.parallel_pages, len(numbers))
        pages: list[PathsPage] = []
        in_flight: deque[Future[PathsPage]] = deque()
        queue = iter(numbers)
        with ThreadPoolExecutor(workers, thread_name_prefix="mediamtx-page") as pool:
            try:
                for number in queue:
                    if deadline is not None and deadline <= time.monotonic():
                        raise UnreachableError(f"{url}: gave up, the time budget is spent")
                    # Each page runs in a copy of this context, so spans opened by the
                    # request hook stay children of the caller's span.
                    context = contextvars.copy_context()
                    in_flight.append(pool.submit(context.run, self._read_page, number, deadline))
                    if len(in_flight) == workers:
                        pages.append(in_flight.popleft().result())
                while in_flight:
                    pages.append(in_flight.popleft().result())
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
        return pages

    def read_metrics(self, deadline: float | None = None) -> MediaMTXMetrics:
        try:
            return self._read_metrics(deadline)
        except TrashmonError as error:
            raise _detached(error) from None

    def _read_metrics(self, deadline: float | None) -> MediaMTXMetrics:
        if self.metrics_url is None:
            raise UnreachableError("MediaMTX metrics: no URL configured")
        body = self._get(self.metrics_url, None, deadline)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedResponseError(f"{self.metrics_url}: not UTF-8 text") from None
        if text[:1024].lstrip().startswith("<"):
            raise MalformedResponseError(f"{self.metrics_url}: got HTML instead of metrics")
        return parse_metrics(text)


def _detached(error: TrashmonError) -> TrashmonError:
    """``error`` without the frames it was raised through: they hold up to
    ``max_body_bytes`` of answer, and a caller keeping the error in a reference cycle
    (``except … as error`` stored in a local) would keep that until a full collection."""
    error.__traceback__ = None
    error.__context__ = None
    error.__cause__ = None
    return error
