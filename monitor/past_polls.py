"""The monitor's past polls kept as numbers: what judging reads from a poll once it is
neither the current nor the previous one.

The history window (stall and frames-in-error, ~12 polls at 1 s) held every poll's whole
:class:`PathObservation`s: at 10,000 paths 13-18 MiB of tuples and numbers where the
judgement of a camera reads three values per path per past poll (``online``,
``inbound_bytes``, ``frames_in_error``: :mod:`~trashmonitor.monitor.health`'s
``_present``, ``_stop_estimate`` and ``_frames_rising``). :class:`PastPaths` keeps those
three as arrays (17 bytes a path), the names' positions shared by the polls that list
the same names. The current poll and the one before it stay whole (the previous one is
read for every streaming camera at every poll, and a hook's re-read patches the current
one).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Mapping
from operator import itemgetter
from typing import TypeVar, overload

from trashmonitor.monitor.model import PathObservation, PathsSnapshot

# frames_in_error None (a MediaMTX before v1.17): no counter can take this value.
_NO_FRAMES = -(2**63)
_online = itemgetter(PathObservation._fields.index("online"))
_inbound = itemgetter(PathObservation._fields.index("inbound_bytes"))
_frames = itemgetter(PathObservation._fields.index("frames_in_error"))
_new_tuple = tuple.__new__
_T = TypeVar("_T")


class PastPaths(Mapping[str, PathObservation]):
    """A past poll's paths by name, holding only ``online``, ``inbound_bytes`` and
    ``frames_in_error``: each path read from it is a :class:`PathObservation` with those
    three and its name, the other fields their empty values (not available, no bytes
    out, no readers, no tracks)."""

    __slots__ = ("_frames", "_inbound", "_lowest_frames", "_online", "_positions")
    _online: bytes
    _frames: array[int]
    _lowest_frames: int | None

    def __init__(
        self,
        positions: dict[str, int],
        online: bytes,
        inbound: array[int],
        frames: array[int],
        like: PastPaths | None = None,
    ) -> None:
        """``like``: the poll kept before; when it lists the same names (``positions``
        shared), its equal columns are shared too: online and frames in error stay the
        same poll after poll (~90 KiB a poll at 10,000 paths, ~10 polls kept)."""
        self._positions = positions
        self._inbound = inbound
        if like is not None and like._positions is positions:
            online = like._online if online == like._online else online
            if frames == like._frames:  # compared in C
                frames = like._frames
        self._online = online
        self._frames = frames
        if like is not None and frames is like._frames:
            self._lowest_frames = like._lowest_frames
        # Once per poll kept (~0.1 ms at 10,000 paths): the window's floor (health.py).
        elif _NO_FRAMES not in frames:  # every count reported (most polls): in C
            self._lowest_frames = min(frames, default=None)
        else:
            self._lowest_frames = min((n for n in frames if n != _NO_FRAMES), default=None)

    @property
    def positions(self) -> dict[str, int]:
        """Each name's index in the arrays (shared with the polls listing the same names)."""
        return self._positions

    @overload
    def get(self, name: str, /) -> PathObservation | None: ...
    @overload
    def get(self, name: str, default: PathObservation | _T, /) -> PathObservation | _T: ...
    def get(self, name: str, default: object = None, /) -> object:
        # Read for each camera whose history is walked (a stall): no exception, no
        # further call.
        index = self._positions.get(name)
        if index is None:
            return default
        frames = self._frames[index]
        return _new_tuple(
            PathObservation,
            (name, self._online[index] == 1, False, self._inbound[index], 0, 0,
             None if frames == _NO_FRAMES else frames, None, None, (), None, None, False),
        )  # fmt: skip

    def frames_in_error(self, name: str) -> int | None:
        """``name``'s frames-in-error count, None when not listed or not reported: the one
        number the frames-in-error window reads, without a :class:`PathObservation` built."""
        index = self._positions.get(name)
        if index is None:
            return None
        frames = self._frames[index]
        return None if frames == _NO_FRAMES else frames

    @property
    def lowest_frames_in_error(self) -> int | None:
        """The least frames-in-error count reported in this poll (None: none reported).

        Derivable from the array, and kept for speed: judging reads the floor of every
        poll in the frames-in-error window at every poll (health.py's
        ``frames_rise_from``), ~10 past polls at 1 s; worked out once when the poll is
        kept (~0.1 ms at 10,000 paths, an array that never changes) instead of ~10 times
        a poll, for one number of memory."""
        return self._lowest_frames

    def __getitem__(self, name: str) -> PathObservation:
        path = self.get(name)
        if path is None:
            raise KeyError(name)
        return path

    def __iter__(self) -> Iterator[str]:
        return iter(self._positions)

    def __len__(self) -> int:
        return len(self._positions)

    def __contains__(self, name: object) -> bool:
        return name in self._positions


def lowest_frames_in_error(paths: Mapping[str, PathObservation]) -> int | None:
    """The least frames-in-error count a poll reports (None: none reported); a past
    poll's was worked out when it was kept."""
    if isinstance(paths, PastPaths):
        return paths.lowest_frames_in_error
    try:  # every count reported (MediaMTX v1.17+): compared in C
        return min(map(_frames, paths.values()), default=None)
    except TypeError:  # a None among them
        counts = map(_frames, paths.values())
        return min((count for count in counts if count is not None), default=None)


def past_poll(snapshot: PathsSnapshot, like: PathsSnapshot | None = None) -> PathsSnapshot:
    """``snapshot`` keeping only what judging reads from a past poll (:class:`PastPaths`).
    ``like`` is the poll compacted before it: when both list the same names in the same
    order they share one index. A snapshot with a counter out of 64-bit range stays
    whole (the arrays cannot hold it)."""
    paths = snapshot.paths
    if isinstance(paths, PastPaths):
        return snapshot
    observations = paths.values()
    try:
        inbound = array("q", map(_inbound, observations))
        try:  # every count reported (MediaMTX v1.17+): made in C
            frames = array("q", map(_frames, observations))
        except TypeError:  # a None among them
            frames = array(
                "q",
                [_NO_FRAMES if count is None else count for count in map(_frames, observations)],
            )
    except OverflowError:
        return snapshot
    if _NO_FRAMES in frames and any(_frames(path) == _NO_FRAMES for path in observations):
        return snapshot  # a counter equal to the "none" mark: keep it as it was read
    positions = _shared_positions(paths, like)
    before = like.paths if like is not None and isinstance(like.paths, PastPaths) else None
    online = bytes(map(_online, observations))
    return snapshot._replace(paths=PastPaths(positions, online, inbound, frames, before))


def _shared_positions(
    paths: Mapping[str, PathObservation], like: PathsSnapshot | None
) -> dict[str, int]:
    if like is not None and isinstance(like.paths, PastPaths):
        positions = like.paths.positions
        # The same names in the same order (most polls): the strings are shared across
        # polls (mediamtx_fast's names), so the lists compare pointers, in C.
        if len(positions) == len(paths) and list(positions) == list(paths):
            return positions
    return {name: index for index, name in enumerate(paths)}
