"""Read MediaMTX's answers into the monitor's values: pure functions, no I/O.

``/v3/paths/list`` pages become :class:`~trashmonitor.monitor.model.PathsPage` values and
``/metrics`` text becomes :class:`~trashmonitor.monitor.model.MediaMTXMetrics`; anything
not in the documented shape raises :class:`~trashmonitor.errors.MalformedResponseError`.
The probe's stdin mode and the client (:mod:`trashmonitor.monitor.mediamtx`) share them.

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

import json
import math
import re
from collections.abc import Mapping
from datetime import datetime
from functools import cache, lru_cache
from typing import Any, TypeGuard

from trashmonitor.errors import MalformedResponseError
from trashmonitor.monitor.mediamtx_http import reason_of
from trashmonitor.monitor.model import (
    MAX_PATH_NAME_LENGTH,
    MediaMTXMetrics,
    PathMetrics,
    PathObservation,
    PathsPage,
    Track,
    describe_tracks,
    observed_path,
)

# Counters are uint64 in MediaMTX: anything at or above 2**64 is not one of its numbers.
MAX_COUNT = 2**64
# No path-family sample line of MediaMTX comes near this (a name is at most 255
# characters); longer lines are skipped unparsed, keeping the parser linear.
MAX_METRICS_LINE = 4096
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


def rfc3339_timestamp(value: object, where: str) -> float | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedResponseError(f"{where}: expected a time string")
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError as error:
        raise MalformedResponseError(f"{where}: not an RFC 3339 time") from error


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
            if not isinstance(track, dict) or not is_codec(track.get("codec")):
                raise MalformedResponseError(f"{where}.tracks2: expected objects with a codec")
            props = track.get("codecProps") or {}
            width = props.get("width") if isinstance(props, dict) else None
            height = props.get("height") if isinstance(props, dict) else None
            key.append((track["codec"], _dimension(width), _dimension(height)))
        return track_set(tuple(key))
    old = item.get("tracks")
    if old is None:
        return track_set(())
    if not isinstance(old, list) or not all(is_codec(codec) for codec in old):
        raise MalformedResponseError(f"{where}.tracks: expected a list of codec names")
    return track_set(tuple((codec, None, None) for codec in old))


def is_codec(value: object) -> TypeGuard[str]:
    """MediaMTX names codecs itself ("H264", "MPEG-4 Audio"): short printable ASCII."""
    return (
        isinstance(value, str) and 0 < len(value) <= 64 and value.isascii() and value.isprintable()
    )


def _dimension(value: object) -> int | None:
    return value if value.__class__ is int and 0 < value < 100_000 else None


TrackSet = tuple[tuple[Track, ...], str | None, str | None]
"""A path's tracks with what the table shows of them: (tracks, codec, resolution)."""


@lru_cache(maxsize=1024)
def track_set(key: tuple[tuple[str, int | None, int | None], ...]) -> TrackSet:
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
        online_since = rfc3339_timestamp(get(since_key), f"path {name!r}.{since_key}")
    tracks, codec, resolution = _tracks(item, f"path {name!r}")
    return observed_path(
        name=name,
        online=is_online,
        available=is_available,
        inbound_bytes=inbound,
        outbound_bytes=outbound,
        readers=len(readers) if readers else 0,
        frames_in_error=frames,
        online_since=online_since,
        source_type=source_type if isinstance(source_type, str) else None,
        tracks=tracks,
        codec=codec,
        resolution=resolution,
        configured=get("confName") == name,
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


# Below this a page is quicker to read with json.loads than to import msgspec for
# (~9 ms): a probe of a few cameras keeps its cold start.
FAST_DECODE_MIN_BYTES = 64 * 1024


def decode_paths_page(body: bytes | bytearray, source: str) -> PathsPage:
    """A ``/v3/paths/list`` answer as :func:`parse_paths_page` reads it (value or error).
    Large pages are first decoded straight into typed structs
    (:mod:`~trashmonitor.monitor.mediamtx_fast`); what those do not take is read here."""
    if len(body) >= FAST_DECODE_MIN_BYTES:
        from trashmonitor.monitor.mediamtx_fast import fast_paths_page

        page = fast_paths_page(body)
        if page is not None:
            return page
    return parse_paths_page(decode_json(body, source))


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
        # ``from None`` (and below): the decode errors hold the whole answer, hostile
        # input, and a RecursionError's traceback is a thousand frames. That only keeps
        # them out of printed tracebacks: they stay the error's __context__ until the
        # client detaches it (errors.detached).
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
    return {match.group(1): match.group(2) for match in metrics_patterns().label.finditer(text)}


def _mediamtx_path_line(group: str, after: str = "") -> re.Pattern[str]:
    """A path-family line exactly as MediaMTX writes it (labels in its order, a plain
    count): 50,000 of them a poll at 10,000 paths, read in one pass of the regex engine.
    ``group`` opens the family, name, state and value groups: ``(`` to capture them,
    ``(?:`` only to match (quicker). The repeats are possessive (``+``): each is followed
    by a character it cannot take, so giving some back could never match; not keeping
    the positions to give back is quicker (the lines matched are the same). ``after``
    follows the line's end."""
    return re.compile(
        rf"^{group}paths(?:_(?:readers|inbound_(?:bytes|frames_in_error)|outbound_bytes"
        r"|bytes_(?:received|sent)))?)"
        rf'\{{name="{group}[0-9A-Za-z_\-/.~:]{{1,255}}+)",state="{group}[0-9A-Za-z]{{1,32}}+)"'
        rf'(?:,readerType="[0-9A-Za-z]{{1,64}}+")?\}} {group}0|[1-9][0-9]{{0,18}}+)${after}',
        re.MULTILINE,
    )


class MetricsPatterns:
    """The /metrics regexes, compiled at the first read of a /metrics (~1 ms): a probe
    never reads one, and starts without them."""

    def __init__(self) -> None:
        self.sample = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$")
        # MediaMTX does not escape label values, so a value ends at `"` followed by
        # `,name="` or the end of the label set, not at the first quote.
        self.label = re.compile(
            r'([a-zA-Z_][a-zA-Z0-9_]*)="(.*?)"(?=,[a-zA-Z_][a-zA-Z0-9_]*="|,?$)'
        )
        self.path_line = _mediamtx_path_line("(")
        # The same lines, only matched, with their newline (the check removes them):
        # what is left for the line-by-line reader is then the other lines alone, not
        # also 40,000 empty ones at 10,000 paths (~2.5 ms a poll).
        self.path_line_match = _mediamtx_path_line("(?:", r"\n?")


@cache
def metrics_patterns() -> MetricsPatterns:
    return MetricsPatterns()


def parse_metrics(text: str) -> MediaMTXMetrics:
    """MediaMTX's untyped exposition (no ``# TYPE``, unescaped labels) -> per-path values.

    Unknown families are ignored (they are counted in ``families``); lines that are not
    samples at all make the whole answer malformed, since then it is not ``/metrics``.

    The path lines in MediaMTX's own shape are read in one regex pass; the other lines
    by :func:`parse_metrics_lines`, line by line. When those hold a path sample or a
    problem, the whole text is read line by line instead (whose answer, or error with
    its line number, is the answer): either way the value is that of
    :func:`parse_metrics_lines`.
    """
    # One pass: the text between matches, then each match's four groups, repeated.
    parts = metrics_patterns().path_line.split(text)
    if len(parts) == 1:
        return parse_metrics_lines(text)
    try:
        others = parse_metrics_lines("".join(parts[::5]))
    except MalformedResponseError:
        return parse_metrics_lines(text)
    if others.paths or others.rejected_paths:
        return parse_metrics_lines(text)  # their order with the matched lines matters
    families = parts[1::5]
    per_path: dict[str, dict[str, Any]] = {}
    seen_new: set[tuple[str, str]] = set()
    rejected: set[str] = set()
    valid: dict[str, bool] = {}
    for family, name, state, value in zip(
        families, parts[2::5], parts[3::5], parts[4::5], strict=True
    ):
        is_valid = valid.get(name)
        if is_valid is None:
            is_valid = valid[name] = is_valid_path_name(name)
        if not is_valid:
            rejected.add(name)
            continue
        entry = per_path.get(name)
        if entry is None:
            entry = per_path[name] = {"name": name}
        entry["state"] = state
        if family == "paths":
            continue
        # _add_sample, inlined (it is most of the time here); int(float()) above 2**53
        # keeps the reference's rounding.
        count = int(value) if len(value) < 16 else int(float(value))
        key = _PATH_FAMILIES[family]
        if family in _DEPRECATED_FAMILIES:
            if (name, key) in seen_new:
                continue
        elif key in _BYTE_KEYS:
            marker = (name, key)
            if marker not in seen_new:
                entry.pop(key, None)  # a deprecated twin read earlier loses
                seen_new.add(marker)
        entry[key] = entry.get(key, 0) + count
    return MediaMTXMetrics(
        paths={name: PathMetrics(**values) for name, values in per_path.items()},
        families=others.families.union(families),
        rejected_paths=len(rejected),
    )


def check_metrics(text: str) -> None:
    """Raise what :func:`parse_metrics` raises on ``text`` (nothing when it would read
    it), without building its per-path values: the path lines in MediaMTX's own shape
    are accepted by that regex as they are (removed in one pass of the regex engine with
    their newlines, no string per field), the rest is read as :func:`parse_metrics`
    reads it (the same lines: only empty ones fewer, and the line numbers of its errors
    are never shown); only where it would fall back to reading the whole text line by
    line does this do the same.

    A text of the same shape as one already taken that way (:func:`_shape`: the same
    characters, any digit for any other) is taken without the regex: most polls only
    the counters moved, not their lengths."""
    shape = _shape(text)
    if shape is not None and shape in _SHAPES_TAKEN:
        return
    try:
        others = parse_metrics_lines(metrics_patterns().path_line_match.sub("", text))
    except MalformedResponseError:
        others = None
    if others is None or others.paths or others.rejected_paths:
        parse_metrics(text)
    elif shape is not None:
        if len(_SHAPES_TAKEN) >= MAX_SHAPES_TAKEN:
            _SHAPES_TAKEN.clear()
        _SHAPES_TAKEN.add(shape)


# The digests of the shapes of the texts check_metrics took with nothing left for the
# line reader to read per path (at most one a site, most of the time). Bounded: a
# flood of new shapes empties it.
_SHAPES_TAKEN: set[bytes] = set()
MAX_SHAPES_TAKEN = 64
_DIGITS_AS_ONE = bytes.maketrans(b"0123456789", b"1111111111")


def _shape(text: str) -> bytes | None:
    """The SHA-256 of ``text`` with every digit written ``1`` (None: not ASCII).

    Why a text ``b`` of the shape of a text ``a`` that :func:`check_metrics` took with
    nothing left to read per path (every path-family line removed by the MediaMTX-line
    regex, or without a ``name`` label) is taken too: they differ only in digits, at the
    same places. Every test of the line reader (line breaks, ``#``, ``{``,
    ``isidentifier``, its sample regex, ``parse_labels``, the line length) and of the
    family and label names (none holds a digit) takes any digit alike, and so does the
    MediaMTX-line regex but for its count's first digit (``0|[1-9]…``). So ``b``'s
    other lines take ``a``'s branches, and ``b`` loses ``a``'s lines but those whose
    count starts with ``0`` and has more digits: those are then named path samples, so
    ``parse_metrics`` reads ``b`` in full, where the only readings of a digit's value
    are counts (at most 19 digits here, as in ``a``'s lines: always a count) and path
    names (rejected, never refused). Either way ``b`` is taken. In C: ~3 ms at 10,000
    paths (2 MiB) where the regex pass takes ~10 ms."""
    if not text.isascii():  # O(1) for a str; not ASCII: never taken as a shape
        return None
    import hashlib  # only when /metrics is read: the probe never does

    return hashlib.sha256(text.encode("ascii").translate(_DIGITS_AS_ONE)).digest()


def parse_metrics_lines(text: str) -> MediaMTXMetrics:
    """:func:`parse_metrics`, line by line (the reference it equals)."""
    families: set[str] = set()
    per_path: dict[str, dict[str, Any]] = {}
    seen_new: set[tuple[str, str]] = set()
    rejected: set[str] = set()
    sample = metrics_patterns().sample
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
        match = sample.match(line)
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
        # ``from None``: float()'s error quotes the value, hostile text from /metrics,
        # kept out of printed tracebacks (the client detaches the __context__ too).
        raise MalformedResponseError(
            f"metrics line {number}: {family} value is not a number"
        ) from None
    if not (math.isfinite(value) and 0 <= value < MAX_COUNT):
        raise MalformedResponseError(
            f"metrics line {number}: {family} is {value_text[:40]!r}, not a count"
        )
    return int(value)


_DEPRECATED_FAMILIES = frozenset({"paths_bytes_received", "paths_bytes_sent"})
_BYTE_KEYS = frozenset({"inbound_bytes", "outbound_bytes"})


def _add_sample(
    entry: dict[str, Any], family: str, value: int, seen_new: set[tuple[str, str]]
) -> None:
    name, key = entry["name"], _PATH_FAMILIES[family]
    is_deprecated = family in _DEPRECATED_FAMILIES
    if is_deprecated and (name, key) in seen_new:
        return
    if not is_deprecated and key in _BYTE_KEYS:
        if (name, key) not in seen_new:
            entry.pop(key, None)  # a deprecated twin read earlier loses
        seen_new.add((name, key))
    # paths_readers comes once per reader type: sum them.
    entry[key] = entry.get(key, 0) + value


def with_metrics(
    paths: Mapping[str, PathObservation], metrics: MediaMTXMetrics | None
) -> Mapping[str, PathObservation]:
    """``paths`` completed with what only ``/metrics`` says: the frames in error of a
    MediaMTX older than v1.17, whose API does not report them. Paths the API already
    describes fully are kept as they are (the same mapping when none needs it)."""
    if metrics is None or not metrics.paths:
        return paths
    lacking = [
        name
        for name, path in paths.items()
        if path.frames_in_error is None
        and name in metrics.paths
        and metrics.paths[name].frames_in_error is not None
    ]
    if not lacking:
        return paths
    completed = dict(paths)
    for name in lacking:
        completed[name] = paths[name]._replace(frames_in_error=metrics.paths[name].frames_in_error)
    return completed
