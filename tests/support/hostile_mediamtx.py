"""A hostile or sick MediaMTX for tests and benches: standard library only (and
support/loopback_server.py), a real HTTP server (in-process, or as a process with ``python -P``).

It answers ``/v3/paths/list`` and ``/metrics`` like MediaMTX v1.20 (the shapes of
:mod:`support.fake_mediamtx`) while ``mode`` is ``healthy``, and otherwise in one bad way:

* ``trickle``: the whole answer, status line included, one byte per ``trickle_interval``
  (a read never times out, the request never ends);
* ``endless``: a 200 answer with no length whose body never ends (``endless_limit``
  bytes at most, so a broken client cannot eat the machine);
* ``nested``: 200 000 nested JSON arrays;
* ``nonfinite``: ``/metrics`` values ``NaN``, ``+Inf`` and ``1e400``;
* ``huge_pages``: ``itemCount`` and ``pageCount`` of 1 000 000 000;
* ``giant_name``: one more path with a 10 MB name (in the list and in ``/metrics``);
* ``control_name``: one more path whose name holds escape sequences and newlines;
* ``flapping``: healthy and HTTP 503 in turn, ``flap_period`` seconds each.

``credentials`` (``user:password``) makes every request need that HTTP Basic login
(401 otherwise), like MediaMTX with ``authHTTPExclude: []``.

As a process::

    python -P tests/support/hostile_mediamtx.py --port 0 --mode trickle

prints ``hostile MediaMTX on http://127.0.0.1:PORT`` once listening; ``POST
/_hostile/mode/<mode>`` switches the mode while it runs.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

if __name__ == "__main__":  # run as a script (python -P): tests/ holds the support package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.loopback_server import LoopbackServer, QuietHandler

MODES = (
    "healthy",
    "trickle",
    "endless",
    "nested",
    "nonfinite",
    "huge_pages",
    "giant_name",
    "control_name",
    "flapping",
)
GIANT_NAME = "g" * (10 * 1024 * 1024)
CONTROL_NAME = "evil\x1b[2J\x1b]0;owned\x07\nFAKE ok line\r"
# Names that would rewrite a terminal or forge a table row if printed raw (the probe's
# table and `trashmon probe -` must escape them): ESC and CSI sequences, a newline, a
# bidirectional override, CR with a C1 control.
TERMINAL_NAMES = ("cam1\x1b[2J\x1b[Hok", "cam2\nok     cam9", "cam3\u202edecaf", "cam4\r\x9b31m")
NESTING = 200_000


class HostileMediaMTX(LoopbackServer):
    """The server; a context manager that serves from daemon threads."""

    def __init__(
        self,
        mode: str = "healthy",
        *,
        cameras: int = 3,
        trickle_interval: float = 1.0,
        flap_period: float = 2.0,
        endless_limit: int = 256 * 1024 * 1024,
        credentials: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.mode = mode
        self.cameras = [f"cam{index}" for index in range(cameras)]
        self.trickle_interval = trickle_interval
        self.flap_period = flap_period
        self.endless_limit = endless_limit
        self.authorization = (
            "Basic " + base64.b64encode(credentials.encode()).decode() if credentials else None
        )
        self.requests = 0
        self.started = time.monotonic()
        super().__init__(type("Handler", (HostileHandler,), {"hostile": self}), host, port)

    # -- what is served
    def effective_mode(self) -> str:
        if self.mode != "flapping":
            return self.mode
        phase = int((time.monotonic() - self.started) / self.flap_period)
        return "healthy" if phase % 2 == 0 else "down"

    def names(self, mode: str) -> list[str]:
        extra = {"giant_name": [GIANT_NAME], "control_name": [CONTROL_NAME]}.get(mode, [])
        return self.cameras + extra

    def page(self, mode: str) -> bytes:
        if mode == "nested":
            return b"[" * NESTING + b"]" * NESTING
        now = time.time()
        since = datetime.fromtimestamp(now - 60, UTC).isoformat().replace("+00:00", "Z")
        growing = int((time.monotonic() - self.started) * 50_000)
        items = [_item(name, since, growing) for name in self.names(mode)]
        count = 1_000_000_000 if mode == "huge_pages" else len(items)
        document = {"itemCount": count, "pageCount": count if mode == "huge_pages" else 1}
        return json.dumps({**document, "items": items}).encode()

    def metrics(self, mode: str) -> bytes:
        value = {"nonfinite": "NaN"}.get(mode)
        lines = []
        for index, name in enumerate(self.names(mode)):
            labels = f'name="{name}",state="ready"'
            inbound = value or ("+Inf" if mode == "nonfinite" and index else "1000")
            lines += [f"paths{{{labels}}} 1", f"paths_inbound_bytes{{{labels}}} {inbound}"]
        if mode == "nonfinite":
            lines.append('paths_outbound_bytes{name="cam0",state="ready"} 1e400')
        return ("\n".join(lines) + "\n").encode()


def _item(name: str, since: str, inbound: int) -> dict[str, Any]:
    return {
        "name": name,
        "confName": "all_others",
        "source": {"type": "rtspSession", "id": "1"},
        "ready": True,
        "readyTime": since,
        "available": True,
        "availableTime": since,
        "online": True,
        "onlineTime": since,
        "tracks": ["H264"],
        "tracks2": [{"codec": "H264", "codecProps": {"width": 1280, "height": 720}}],
        "inboundBytes": inbound,
        "outboundBytes": 0,
        "inboundFramesInError": 0,
        "bytesReceived": inbound,
        "bytesSent": 0,
        "readers": [],
    }


class HostileHandler(QuietHandler):
    """Answers from :attr:`hostile` (bound per server) in its current mode."""

    hostile: HostileMediaMTX

    def do_POST(self) -> None:
        prefix = "/_hostile/mode/"
        mode = self.path[len(prefix) :] if self.path.startswith(prefix) else ""
        if mode not in MODES:
            self._answer(400, b'{"error": "unknown mode"}')
            return
        self.hostile.mode = mode
        self._answer(200, json.dumps({"mode": mode}).encode())

    def do_GET(self) -> None:
        hostile = self.hostile
        hostile.requests += 1
        if hostile.authorization and self.headers.get("Authorization") != hostile.authorization:
            self._answer(401, b'{"status": "error", "error": "authentication error"}')
            return
        mode = hostile.effective_mode()
        path = urlsplit(self.path).path
        if mode == "down":
            self._answer(503, b'{"status": "error", "error": "unavailable"}')
        elif mode == "endless":
            self._endless(path)
        elif path == "/metrics":
            self._answer(200, hostile.metrics(mode), "text/plain; version=0.0.4", mode)
        elif path == "/v3/paths/list":
            self._answer(200, hostile.page(mode), "application/json", mode)
        else:
            self._answer(404, b'{"status": "error", "error": "not found"}')

    def _answer(
        self, status: int, body: bytes, content_type: str = "application/json", mode: str = ""
    ) -> None:
        if mode == "trickle":
            self._trickle(status, body, content_type)
        else:
            self.send_body(status, body, content_type)

    def _trickle(self, status: int, body: bytes, content_type: str) -> None:
        head = (
            f"HTTP/1.1 {status} OK\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.close_connection = True
        for byte in _bytes_of(head + body):
            if self.hostile.stopping.wait(self.hostile.trickle_interval):
                return
            try:
                self.wfile.write(byte)
                self.wfile.flush()
            except OSError:  # the client gave up: what a bounded client does
                return

    def _endless(self, path: str) -> None:
        self.close_connection = True
        self.send_response(200)
        is_metrics = path == "/metrics"
        self.send_header("Content-Type", "text/plain" if is_metrics else "application/json")
        self.end_headers()
        start = b"" if is_metrics else b'{"itemCount": 1, "pageCount": 1, "items": [{"name": "'
        chunk = b'rtsp_conns{id="c"} 1\n' * 3000 if is_metrics else b"a" * 65536
        sent = 0
        try:
            self.wfile.write(start)
            while sent < self.hostile.endless_limit and not self.hostile.stopping.is_set():
                self.wfile.write(chunk)
                sent += len(chunk)
        except OSError:
            return


def _bytes_of(data: bytes) -> Iterator[bytes]:
    return (data[index : index + 1] for index in range(len(data)))


def main() -> None:
    parser = argparse.ArgumentParser(description="A hostile MediaMTX (API + /metrics).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--mode", choices=MODES, default="healthy")
    parser.add_argument("--cameras", type=int, default=3)
    parser.add_argument("--trickle-interval", type=float, default=1.0)
    parser.add_argument("--flap-period", type=float, default=2.0)
    parser.add_argument("--credentials", help="user:password every request must carry")
    # Each option is the constructor's keyword of the same name.
    server = HostileMediaMTX(**vars(parser.parse_args()))
    server.serve_until_interrupted("hostile MediaMTX")


if __name__ == "__main__":
    main()
