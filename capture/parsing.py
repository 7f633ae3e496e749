"""Pure parsers for what ffmpeg writes: ``-progress`` blocks and stderr events.

Both take already-split text lines. Anything unexpected (unknown keys, ``N/A``,
garbage, replacement characters from non-UTF-8 bytes) is ignored rather than raised:
ffmpeg's output is an observation, and a strange line must never stop the supervisor.
:func:`iter_lines` turns a byte stream into bounded lines for them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO

from trashmonitor.capture.model import EventKind, ProgressBlock, StderrEvent

MAX_LINE_BYTES = 4096
INT64_MAX = 2**63 - 1
"""ffmpeg's counters are int64: anything larger is garbage, and a huge Python int
would overflow ``float()`` when a counter or gauge renders it."""


def _int(text: str) -> int | None:
    try:
        value = int(text.strip())
    except ValueError:  # also for more than 4300 digits (Python's own limit)
        return None
    return value if 0 <= value <= INT64_MAX else None


def _float(text: str) -> float | None:
    cleaned = text.strip().rstrip("x").removesuffix("kbits/s").strip()
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return value if value >= 0 and value != float("inf") else None


class ProgressParser:
    """Accumulates ``key=value`` lines; a ``progress=...`` line completes a block."""

    def __init__(self) -> None:
        self._fields: dict[str, str] = {}

    def feed(self, line: str) -> ProgressBlock | None:
        key, sep, value = line.strip().partition("=")
        if not sep or not key:
            return None
        if key != "progress":
            if len(self._fields) < 64:  # bounded even if ffmpeg never ends a block
                self._fields[key] = value
            return None
        fields, self._fields = self._fields, {}
        return ProgressBlock(
            frame=_int(fields.get("frame", "")),
            fps=_float(fields.get("fps", "")),
            speed=_float(fields.get("speed", "")),
            total_size=_int(fields.get("total_size", "")),
            # out_time_ms is µs too (a historical ffmpeg bug); prefer the honest key.
            out_time_us=_int(fields.get("out_time_us", fields.get("out_time_ms", ""))),
            dup_frames=_int(fields.get("dup_frames", "")),
            drop_frames=_int(fields.get("drop_frames", "")),
            bitrate_kbps=_float(fields.get("bitrate", "")),
            ended=value.strip() == "end",
        )


_BLACK = re.compile(r"lavfi\.black_(start|end)=")
_FREEZE = re.compile(r"lavfi\.freezedetect\.freeze_(start|end):")
_TEE_FAIL = re.compile(r"Slave muxer #(\d+) failed: (.*?)(?:, continuing|$)")
_DEVICE = re.compile(
    r"\[video4linux2,v4l2 @ [^\]]*\] .*(No such device|No such file|"
    r"Input/output error|Device or resource busy)"
)


def parse_stderr_line(line: str) -> StderrEvent | None:
    """The one event a stderr line carries, or None for everything else."""
    if "lavfi." in line:
        match = _BLACK.search(line)
        if match:
            return StderrEvent(
                EventKind.BLACK_START if match.group(1) == "start" else EventKind.BLACK_END
            )
        match = _FREEZE.search(line)
        if match:
            return StderrEvent(
                EventKind.FREEZE_START if match.group(1) == "start" else EventKind.FREEZE_END
            )
        return None
    match = _TEE_FAIL.search(line)
    if match:  # slave 0 is the RTSP branch, slave 1 the buffer (command.py)
        kind = EventKind.PUBLISH_FAILED if match.group(1) == "0" else EventKind.BUFFER_FAILED
        return StderrEvent(kind, match.group(2)[:200])
    match = _DEVICE.search(line)
    if match:
        return StderrEvent(EventKind.DEVICE_ERROR, match.group(1))
    return None


def iter_lines(stream: IO[bytes], limit: int = MAX_LINE_BYTES) -> Iterator[str]:
    """Lines of a byte stream, decoded leniently, each at most ``limit`` bytes.

    The tail of an overlong line is dropped (not yielded as a fake new line), so a
    1 MB line costs one bounded read per ``limit`` bytes and nothing more. ``\\r`` also
    ends a line: ffmpeg ends some status lines with it.
    """
    discarding = False
    while True:
        chunk = stream.readline(limit)
        if not chunk:
            return
        complete = chunk.endswith(b"\n")
        if not discarding:
            text = chunk.decode("utf-8", errors="replace")
            for piece in text.replace("\r", "\n").splitlines():
                if piece:
                    yield piece
        discarding = not complete
