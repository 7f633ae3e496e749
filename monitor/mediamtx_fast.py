"""A ``/v3/paths/list`` page decoded straight into typed structs with msgspec.

At 10,000 paths ``json.loads`` builds ~40 Python objects per path (every reader, every
codec property) that the parser then walks and drops; msgspec decodes only the fields
read, in C, a third of the time of ``json.loads`` alone. The structs below accept the
well-formed answers of every schema generation (the common case); anything else (a type
the structs do not take, a value out of bounds, a path the parser would refuse) makes
:func:`fast_paths_page` answer None, and the caller reads the page with the reference
parser of :mod:`trashmonitor.monitor.mediamtx_parse`, whose value or error is the
answer. So the result is the reference's whenever this one gives one (a hypothesis test
holds them equal on arbitrary and hostile pages).

Imported only for pages large enough to pay for importing msgspec (~8 ms, with
:mod:`~trashmonitor.monitor.msgspec_lean`'s lean import).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Final

from trashmonitor.errors import MalformedResponseError
from trashmonitor.monitor.mediamtx_parse import (
    TrackSet,
    is_codec,
    is_valid_path_name,
    rfc3339_timestamp,
    track_set,
)
from trashmonitor.monitor.model import PathObservation, PathsPage
from trashmonitor.monitor.msgspec_lean import msgspec


# gc=False on every struct decoded here: the cyclic GC never tracks them (msgspec's
# "gc" option). Safe because they can hold no reference cycle: JSON decodes to a tree,
# their fields are scalars, Raw text, lists of those or other structs of this module,
# and nothing assigns to them after decoding. Tracked, the ~20,000 of them a poll at
# 10,000 paths were counted and rescanned by the collector before being freed by
# reference counting anyway.
#
# Frozen (hashable): a path's tracks are a tuple of these, the key of its layout.
class _Props(msgspec.Struct, frozen=True, gc=False):
    width: int | None = None
    height: int | None = None


class _Track(msgspec.Struct, frozen=True, gc=False):
    codec: str
    codecProps: _Props | None = None  # MediaMTX's own field names


class _Source(msgspec.Struct, gc=False):
    type: str | None = None


# MediaMTX's counters are uint64; msgspec checks bounds only within int64. A count past
# 2**63 is refused here (the reference parser reads it, up to 2**64 as its own bound).
_Count = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]


_ABSENT: Final = msgspec.Raw()  # a field the item does not have (b"")


class _Item(msgspec.Struct, gc=False):
    name: str | None = None
    confName: str | None = None
    source: _Source | None = None
    ready: bool | None = None
    readyTime: str | None = None
    online: bool | None = None
    onlineTime: str | None = None
    available: bool | None = None
    # Kept as its JSON text and read only without tracks2 (before v1.17), where the
    # reference parser reads it: a list and a string per path and poll fewer.
    tracks: msgspec.Raw = _ABSENT
    # Kept as its JSON text: cameras share a handful of layouts, each read once
    # (_LAYOUTS) instead of a struct per track and path every poll.
    tracks2: msgspec.Raw = _ABSENT
    bytesReceived: _Count | None = None
    bytesSent: _Count | None = None
    inboundBytes: _Count | None = None
    outboundBytes: _Count | None = None
    inboundFramesInError: _Count | None = None
    readers: list[msgspec.Raw] | None = None  # counted, never decoded


class _Page(msgspec.Struct, gc=False):
    items: list[_Item]
    itemCount: int | msgspec.UnsetType = msgspec.UNSET
    pageCount: int | msgspec.UnsetType = msgspec.UNSET


_DECODER = msgspec.json.Decoder(_Page)


class _Refused(Exception):
    """Not a shape this reader takes: the reference parser decides."""


def fast_paths_page(body: bytes | bytearray) -> PathsPage | None:
    """The page the reference parser would read from ``body``, or None when this reader
    cannot tell (then the reference must read it: it may be fine, or an error)."""
    try:
        page = _DECODER.decode(body)
        # msgspec does not check the UTF-8 of what it skips (fields not read, readers);
        # json.loads refuses a page with bad UTF-8 anywhere.
        if not body.isascii():
            bytes(body).decode("utf-8", "surrogatepass")
        items = page.items
        item_count = len(items) if page.itemCount is msgspec.UNSET else page.itemCount
        page_count = 1 if page.pageCount is msgspec.UNSET else page.pageCount
        if item_count < 0 or page_count < 0:
            return None
        parsed: list[PathObservation] = []
        rejected = _read_items(items, parsed)
        return PathsPage(tuple(parsed), item_count, page_count, rejected)
    except (
        msgspec.DecodeError,
        RecursionError,
        UnicodeDecodeError,
        _Refused,
        MalformedResponseError,
    ):
        return None


# One string object per path name and source type across polls: a history of a dozen
# snapshots of 10,000 paths otherwise holds a dozen copies of every name. Names are kept
# apart (only names that passed the grammar go there: being found there is passing it).
# Bounded: a flood of new strings empties them.
_NAMES: dict[str, str] = {}
_SOURCE_TYPES: dict[str, str] = {}
MAX_SHARED_STRINGS = 200_000


def _shared(strings: dict[str, str], text: str) -> str:
    shared = strings.get(text)
    if shared is None:
        if len(strings) >= MAX_SHARED_STRINGS:
            strings.clear()
        shared = strings[text] = text
    return shared


def _new_name(name: str) -> str | None:
    """``name`` shared from now on, or None when it breaks MediaMTX's grammar (such a
    name is never kept: it is checked again on the next page)."""
    return _shared(_NAMES, name) if is_valid_path_name(name) else None


def _read_items(items: list[_Item], parsed: list[PathObservation]) -> int:
    """Append the observation of every item with a valid name to ``parsed``; the number
    of the others. One loop, its lookups bound once: a function call per path and field
    was a third of the time spent here."""
    names = _NAMES.get  # only valid names are kept there
    source_types = _SOURCE_TYPES.get
    times = _TIMES.get
    append = parsed.append
    new_observation = tuple.__new__
    rejected = 0
    # The paths of a page mostly share one track layout: the last one read is compared
    # as msgspec's raw text, in C, before its bytes are copied to be looked up.
    last_text, last_layout = _ABSENT, None
    for item in items:
        name = item.name
        if not name:
            raise _Refused
        shared = names(name) or _new_name(name)
        if shared is None:
            rejected += 1
            continue
        ready, online, available = item.ready, item.online, item.available
        if online is not None:
            is_online = online
            since = item.onlineTime if online else None
        else:
            is_online = bool(ready)
            since = item.readyTime if is_online else None
        inbound, outbound = item.inboundBytes, item.outboundBytes  # else v1.9-v1.15 names
        source = item.source
        source_type = None if source is None else source.type
        if source_type is not None:
            source_type = source_types(source_type) or _shared(_SOURCE_TYPES, source_type)
        raw = item.tracks2
        if raw != last_text:
            last_text, last_layout = raw, _layout_of(bytes(raw))
        tracks, codec, resolution = _old_tracks(item) if last_layout is None else last_layout
        # PathObservation's fields in their order: one keyword call per path was ~3 ms of a
        # 10,000-path poll (the tests hold this reader equal to the reference parser).
        append(
            new_observation(
                PathObservation,
                (
                    shared,  # name
                    is_online,  # online
                    available if available is not None else bool(ready) or is_online,  # available
                    (item.bytesReceived or 0) if inbound is None else inbound,  # inbound_bytes
                    (item.bytesSent or 0) if outbound is None else outbound,  # outbound_bytes
                    len(item.readers or ()),  # readers
                    item.inboundFramesInError,  # frames_in_error
                    None if since is None else times(since) or _timestamp(since),  # online_since
                    source_type,
                    tracks,
                    codec,
                    resolution,
                    item.confName == shared,  # configured
                ),
            )
        )
    return rejected


def _layout_of(text: bytes) -> TrackSet | None:
    """The track set of tracks2's JSON text (None for an empty text), read once per layout."""
    if not text:
        return None
    layout = _LAYOUTS.get(text, _UNREAD)
    return _read_layout(text) if layout is _UNREAD else layout


_TRACKS2 = msgspec.json.Decoder(list[_Track] | None)

# tracks2's JSON text -> its track set, or None for a ``null`` (then ``tracks`` is read).
# Bounded: a flood of distinct layouts empties it.
_LAYOUTS: dict[bytes, TrackSet | None] = {}
MAX_LAYOUTS = 1024


_OLD_TRACKS = msgspec.json.Decoder(list[str] | None)


def _old_tracks(item: _Item) -> TrackSet:
    """The track set of ``tracks`` (before v1.17: codec names only); what the structs
    would refuse in it raises as they would have."""
    text = item.tracks
    old = _OLD_TRACKS.decode(text) if text else None
    if old is None:
        return track_set(())
    return _checked_track_set(tuple((codec, None, None) for codec in old))


_UNREAD: Final = ((), "", "")  # not a track set any page gives


def _read_layout(text: bytes) -> TrackSet | None:
    """The track set of one ``tracks2`` text (None for ``null``), remembered; what the
    structs would refuse in it raises as they would have."""
    tracks2 = _TRACKS2.decode(text)
    layout = None if tracks2 is None else _layout(tuple(tracks2))
    if len(_LAYOUTS) >= MAX_LAYOUTS:
        _LAYOUTS.clear()
    _LAYOUTS[text] = layout
    return layout


def _layout(tracks2: tuple[_Track, ...]) -> TrackSet:
    """The track set of a ``tracks2`` list."""
    key = []
    for track in tracks2:
        props = track.codecProps
        width = props.width if props is not None else None
        height = props.height if props is not None else None
        key.append((track.codec, _dimension(width), _dimension(height)))
    return _checked_track_set(tuple(key))


@lru_cache(maxsize=1024)
def _checked_track_set(key: tuple[tuple[str, int | None, int | None], ...]) -> TrackSet:
    """:func:`track_set` once every codec passed the parser's check, checked once per
    layout (cameras share a handful), not per path and poll."""
    if not all(is_codec(codec) for codec, _, _ in key):
        raise _Refused
    return track_set(key)


# An online time string -> its seconds: a publisher's online time stays the same poll
# after poll. Bounded (65,536 entries: ~8 MB at most): a flood of new times empties it.
_TIMES: dict[str, float] = {}
MAX_TIMES = 65_536


def _timestamp(text: str) -> float:
    """:func:`rfc3339_timestamp` of a time string, remembered in :data:`_TIMES`."""
    value = rfc3339_timestamp(text, "onlineTime")
    if value is None:  # only for None, never for a string
        raise _Refused
    if len(_TIMES) >= MAX_TIMES:
        _TIMES.clear()
    _TIMES[text] = value
    return value


def _dimension(value: int | None) -> int | None:
    return value if value is not None and 0 < value < 100_000 else None
