"""Render a :class:`HealthReport`: the ``/api/status`` JSON document and the probe table.

Shared by ``trashmon probe`` and the daemon so both print exactly the same shape
(docs/contracts.md, "/api/status").
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from trashmonitor.monitor.model import STATES, CameraHealth, HealthReport

if TYPE_CHECKING:  # agents.py pulls in paho and prometheus-client: not on the probe's path
    from trashmonitor.monitor.model import AgentView


def agent_document(agent: AgentView | None) -> dict[str, Any] | None:
    """The ``agent`` object of a camera in ``/api/status`` (docs/contracts.md)."""
    if agent is None:
        return None
    return {
        "online": agent.online,
        "stream_state": agent.stream_state,
        "fps": agent.fps,
        "target_fps": agent.target_fps,
        "black": agent.black,
        "frozen": agent.frozen,
        "restarts": agent.restarts,
        "last_state_at": agent.last_state_at,
    }


def camera_document(camera: CameraHealth) -> dict[str, Any]:
    rate = camera.inbound_bytes_per_second
    return {
        "name": camera.name,
        "state": camera.state,
        "reasons": list(camera.reasons),
        "online": camera.online,
        "codec": camera.codec,
        "resolution": camera.resolution,
        "inbound_bytes_per_second": None if rate is None else round(rate, 1),
        "inbound_bytes": camera.inbound_bytes,
        "readers": camera.readers,
        "frames_in_error": camera.frames_in_error,
        "online_since": camera.online_since,
        "last_inbound_at": camera.last_inbound_at,
        "agent": agent_document(camera.agent),
    }


def status_document(
    report: HealthReport,
    metrics_error: str | None = None,
    extras: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """``extras``: per camera name, fields only the monitor has (quality, availability)."""
    if extras:
        cameras = [
            {**camera_document(camera), **extras.get(camera.name, {})} for camera in report.cameras
        ]
    else:  # the probe's: no second dict per camera (~3 ms at 10,000)
        cameras = [camera_document(camera) for camera in report.cameras]
    return {
        "generated_at": report.generated_at,
        "mediamtx": {
            "reachable": report.mediamtx_reachable,
            "error": None if report.mediamtx_error is None else report.mediamtx_error.message,
            "metrics_error": metrics_error,
        },
        "summary": report.summary,
        "cameras": cameras,
    }


# What serving.json_response writes: compact, keys in their order.
_ENCODER = json.JSONEncoder(separators=(",", ":"))
_dumps = _ENCODER.encode


def _object_encoder() -> Callable[[Mapping[str, Any]], str]:
    """:data:`_dumps` of a dict, with the C encoder built once: ``JSONEncoder.encode``
    builds one at every call (~2 µs of the ~3 µs of a camera's fields; a camera new or
    changed is written in four such calls). The same text: it is the encoder
    ``JSONEncoder`` builds, with its settings; without the C module, :data:`_dumps`."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return _dumps
    encode = make(
        None, _ENCODER.default, json.encoder.encode_basestring_ascii, None, ":", ",",
        False, False, True,
    )  # fmt: skip
    return lambda value: "".join(encode(value, 0))


_dumps_object = _object_encoder()
# The fields of a camera's object that move at every poll of a streaming camera, in
# the order camera_document writes them.
_MOVING = ("inbound_bytes_per_second", "inbound_bytes", "last_inbound_at")


class CameraExtras(Protocol):
    """Where a camera's extra fields (quality, availability, … : only the monitor has
    them) come from: the inputs they are written from, compared between states, and
    the fields themselves, built only when those inputs changed."""

    def inputs(self, name: str) -> tuple[object, ...]: ...

    def fields(self, name: str) -> Mapping[str, Any]: ...


class StatusText:
    """:func:`status_document` of successive reports as the JSON text ``json_response``
    writes, byte for byte, keeping each camera's object between reports: a streaming
    camera's object changes at every poll in three numbers only (:data:`_MOVING`), so
    the rest of it is kept as ready text and only those are written again (at 10,000
    cameras ``json.dumps`` of the whole document and ``round`` of every rate cost
    ~0.1 s a poll). Not thread-safe: the monitor renders one state at a time."""

    def __init__(self) -> None:
        self._kept: dict[str, _KeptCamera] = {}

    def render(
        self,
        report: HealthReport,
        metrics_error: str | None = None,
        extras: CameraExtras | None = None,
    ) -> bytes:
        kept = self._kept
        fresh: dict[str, _KeptCamera] = {}
        objects: list[str] = []
        append = objects.append
        inputs_of = _no_inputs if extras is None else extras.inputs
        for camera in report.cameras:
            # One unpacking (a single C operation) rather than a dozen field reads:
            # 10,000 cameras a render.
            (name, state, reasons, online, codec, resolution, inbound_bytes, rate, readers,
             frames_in_error, online_since, last_inbound_at, agent) = camera  # fmt: skip
            inputs = inputs_of(name)
            # Every input of the camera's own fields but the moving numbers.
            fixed = (state, reasons, online, codec, resolution, readers, frames_in_error,
                     online_since, agent)  # fmt: skip
            entry = kept.get(name)
            if entry is None or entry.fixed != fixed:
                entry = _KeptCamera(fixed, _pieces(camera_document(camera)))
            if entry.inputs != inputs or entry.extra_text is None:
                entry.extra_text = _extra_text({} if extras is None else extras.fields(name))
            # The current inputs, even when equal: the old ones are not kept alive.
            entry.inputs = inputs
            fresh[name] = entry
            head, after_rate, after_bytes, tail = entry.pieces
            # _number inlined for the usual int and finite float (the same text).
            bytes_text = (
                int.__repr__(inbound_bytes) if type(inbound_bytes) is int
                else _number(inbound_bytes)
            )  # fmt: skip
            last_text = (
                float.__repr__(last_inbound_at)
                if type(last_inbound_at) is float and -_FINITE < last_inbound_at < _FINITE
                else _number(last_inbound_at)
            )  # fmt: skip
            append(
                f"{head}{_json_rate(rate)}{after_rate}{bytes_text}{after_bytes}"
                f"{last_text}{tail}{entry.extra_text}"
            )
        self._kept = fresh
        document = status_document(report._replace(cameras=()), metrics_error)
        document["summary"] = report.summary
        text = _dumps(document)  # "cameras" is its last field: ...,"cameras":[]}
        return (text[:-2] + ",".join(objects) + "]}").encode()


# Below this a float is finite (inf and nan compare False): what float.__repr__ writes
# is then what json.dumps writes.
_FINITE = float("inf")


def _no_inputs(name: str) -> tuple[object, ...]:
    return ()


class _KeptCamera:
    """A camera's object as text: ``pieces`` around the moving numbers, written from
    the ``fixed`` fields, then its extra fields (written from ``inputs``) and the
    closing brace. Extras add fields after the camera's own (:func:`status_document`)."""

    __slots__ = ("extra_text", "fixed", "inputs", "pieces")

    def __init__(self, fixed: tuple[Any, ...], pieces: tuple[str, ...]) -> None:
        self.fixed = fixed
        self.pieces = pieces
        self.inputs: tuple[object, ...] = ()
        self.extra_text: str | None = None


# Texts of camera objects that many cameras share (the fields between the moving
# numbers, common extras): one str each, up to this many kept.
_SHARED_TEXTS: dict[str, str] = {}
_SHARED_TEXTS_KEPT = 4096


def _shared(text: str) -> str:
    """``text``, or an equal str already kept (10,000 cameras hold one copy)."""
    kept = _SHARED_TEXTS.get(text)
    if kept is not None:
        return kept
    if len(_SHARED_TEXTS) < _SHARED_TEXTS_KEPT:
        _SHARED_TEXTS[text] = text
    return text


def _extra_text(fields: Mapping[str, Any]) -> str:
    """``,"quality":…,"availability":…}``: the extra fields and the closing brace."""
    text = _dumps_object(fields)[1:-1]
    return _shared(("," + text if text else "") + "}")


def _pieces(document: Mapping[str, Any]) -> tuple[str, ...]:
    """The text of a camera's own fields around its :data:`_MOVING` values (no closing
    brace: the extras follow). The fields between two moving ones are written by one
    ``json.dumps`` (a new or changed camera costs three calls, not two per field)."""
    pieces: list[str] = []
    text = "{"
    run: dict[str, Any] = {}
    separator = ""
    for key, value in document.items():
        if key not in _MOVING:
            run[key] = value
            continue
        if run:
            text += separator + _dumps_object(run)[1:-1]
            separator, run = ",", {}
        text += separator + _key_text(key)
        separator = ","
        # The first piece holds the name; the ones after it are often shared.
        pieces.append(_shared(text) if pieces else text)
        text = ""
    if run:
        text += separator + _dumps_object(run)[1:-1]
    pieces.append(_shared(text))
    return tuple(pieces)


@functools.cache
def _key_text(key: str) -> str:
    """``"key":``, as json.dumps writes an object's key (the few field names, once)."""
    return _dumps(key) + ":"


def _json_rate(rate: float | None) -> str:
    """``_dumps(round(rate, 1))``: both write the correctly rounded decimal, and below
    1e14 the one-decimal text is also the shortest repr of the rounded float."""
    if type(rate) is float and -1e14 < rate < 1e14:
        return f"{rate:.1f}"
    return _dumps(None if rate is None else round(rate, 1))


def _number(value: float | None) -> str:
    """``_dumps(value)`` for a number or None, shorter for finite ones."""
    kind: type = type(value)
    if kind is int:
        return int.__repr__(value)
    if kind is float and math.isfinite(value):  # type: ignore[arg-type]
        return float.__repr__(value)
    return _dumps(value)


def unpolled_document(error: str) -> dict[str, Any]:
    """A site's document before its first poll (or when the probe could not read it)."""
    return {
        "generated_at": None,
        "mediamtx": {"reachable": False, "error": error, "metrics_error": None},
        "summary": dict.fromkeys(STATES, 0),
        "cameras": [],
    }


def sites_document(documents: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """Named sites' documents (:func:`status_document`) as one: every camera gains its
    ``site``, ``sites`` holds each site's ``mediamtx`` object and summary, and the
    top-level ``mediamtx`` says whether every site answered (errors prefixed by site)."""
    times = [doc["generated_at"] for _, doc in documents if doc["generated_at"] is not None]
    summary: dict[str, int] = dict.fromkeys(STATES, 0)
    for _, document in documents:
        for state, count in document["summary"].items():
            summary[state] += count

    def joined(field: str) -> str | None:
        errors = [f"{site}: {doc['mediamtx'][field]}" for site, doc in documents
                  if doc["mediamtx"][field] is not None]  # fmt: skip
        return "; ".join(errors) or None

    return {
        "generated_at": max(times, default=None),
        "mediamtx": {
            "reachable": all(doc["mediamtx"]["reachable"] for _, doc in documents),
            "error": joined("error"),
            "metrics_error": joined("metrics_error"),
        },
        "sites": {site: {**doc["mediamtx"], "summary": doc["summary"]} for site, doc in documents},
        "summary": summary,
        "cameras": [
            {"site": site, **camera} for site, doc in documents for camera in doc["cameras"]
        ],
    }


def printable(text: str) -> str:
    """``text`` safe to print on a terminal or in a CI log: control and format characters
    (newlines, ESC sequences, C1 controls, bidirectional overrides, …) and the backslash
    become Python-style escapes (``\\n``, ``\\x1b``, ``\\u202e``, ``\\\\``), so a path
    name can neither rewrite the screen nor forge a table row."""
    if text.isprintable() and "\\" not in text:  # every real camera name
        return text
    return "".join(_escape(char) for char in text)


_SHORT_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    short = _SHORT_ESCAPES.get(char)
    if short is not None:
        return short
    if char.isprintable():
        return char
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _rate(value: float | None) -> str:
    if value is None:
        return "-"
    bits = value * 8
    for unit, scale in (("Mb/s", 1e6), ("kb/s", 1e3)):
        if bits >= scale:
            return f"{bits / scale:.1f} {unit}"
    return f"{bits:.0f} b/s"


def table(report: HealthReport) -> str:
    """One line per camera: state, name, codec and resolution, rate, readers, reasons.

    Every cell from outside (names, codecs, reasons) goes through :func:`printable`."""
    return sites_table([("", report)])


def sites_table(reports: Sequence[tuple[str, HealthReport]]) -> str:
    """:func:`table` of several sites' reports, with a SITE column when a site is named."""
    named = any(site for site, _ in reports)
    header = ("STATE", *(("SITE",) if named else ()), "NAME", "VIDEO", "INBOUND", "READERS",
              "REASONS")  # fmt: skip
    rows = [header]
    for site, report in reports:
        for camera in report.cameras:
            video = " ".join(part for part in (camera.codec, camera.resolution) if part) or "-"
            rows.append(
                (
                    camera.state,
                    *((site,) if named else ()),
                    printable(camera.name),
                    printable(video),
                    _rate(camera.inbound_bytes_per_second),
                    "-" if camera.readers is None else str(camera.readers),
                    printable(",".join(camera.reasons)) or "-",
                )
            )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header) - 1)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True))
        + "  "
        + row[-1]
        for row in rows
    ]
    summary: dict[str, int] = dict.fromkeys(STATES, 0)
    for _, report in reports:
        for state, count in report.summary.items():
            summary[state] += count
    lines.append(
        f"{len(rows) - 1} cameras: "
        + ", ".join(f"{count} {state}" for state, count in summary.items())
    )
    return "\n".join(lines)
