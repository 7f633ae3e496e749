"""A stand-in for the monitor's camera control API, serving the built viewer beside it.

The shapes follow the API the monitor documents (docs/monitor.md, "Camera control API"):
``GET api/cameras/<id>/controls`` and ``/snapshot``, ``GET api/incidents``,
``POST api/cameras/<id>/settings`` and ``/actions`` (202 ``{"sent": true}``). It also
answers ``/status`` and, when given pages, the MediaMTX list, so one loopback origin is
the whole page for a browser test of the control panel (the real Caddy keeps POSTs out
unless control is enabled there). Every POST is recorded with its headers and JSON
body; a test can change the answer.
"""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from support.http import serve_in_thread

TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}


@dataclass(frozen=True)
class Posted:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class ControlAPI:
    """What the stand-in answers; tests mutate it while the page runs."""

    viewer: Path
    status: dict[str, Any] = field(default_factory=dict)
    paths_pages: list[dict[str, Any]] | None = None  # None: MediaMTX API answers 404
    controls: dict[str, dict[str, Any]] = field(default_factory=dict)
    snapshots: dict[str, bytes] = field(default_factory=dict)
    post_status: int = 202
    posted: list[Posted] = field(default_factory=list)
    snapshot_requests: list[str] = field(default_factory=list)
    incidents: dict[str, Any] | None = None  # GET /api/incidents; None: 404 (older monitor)
    incident_queries: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _camera_route(path: str) -> tuple[str, str] | None:
    parts = path.split("/")
    if len(parts) == 5 and parts[:3] == ["", "api", "cameras"]:
        return urllib.parse.unquote(parts[3]), parts[4]
    return None


class _Handler(BaseHTTPRequestHandler):
    """The stand-in's answers, read from ``api`` (set per server by :func:`_handler`)."""

    api: ControlAPI
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: tests look at ``posted``."""

    def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, document: object) -> None:
        self._send(status, json.dumps(document).encode())

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        camera = _camera_route(path)
        with self.api.lock:
            if path == "/status":
                self._json(200, self.api.status)
            elif path == "/api/incidents":
                self.api.incident_queries.append(query)
                if self.api.incidents is None:
                    self._json(404, {"error": "no such API route"})
                else:
                    self._json(200, self.api.incidents)
            elif path == "/api/v3/paths/list":
                self._paths(urllib.parse.parse_qs(query))
            elif camera and camera[1] == "controls" and camera[0] in self.api.controls:
                self._json(200, self.api.controls[camera[0]])
            elif camera and camera[1] == "snapshot":
                self.api.snapshot_requests.append(camera[0])
                picture = self.api.snapshots.get(camera[0])
                if picture is None:
                    self._json(404, {"error": "no snapshot yet"})
                else:
                    self._send(200, picture, "image/jpeg")
            else:
                self._static(path)

    def _paths(self, query: dict[str, list[str]]) -> None:
        if self.api.paths_pages is None:
            self._send(404, b"no such API route", "text/plain")
            return
        page = int(query.get("page", ["0"])[0])
        if 0 <= page < len(self.api.paths_pages):
            self._json(200, self.api.paths_pages[page])
        else:
            self._json(200, {"itemCount": 0, "pageCount": len(self.api.paths_pages), "items": []})

    def _static(self, path: str) -> None:
        name = "index.html" if path == "/" else path.lstrip("/")
        candidate = (self.api.viewer / name).resolve()
        if candidate.is_file() and self.api.viewer.resolve() in candidate.parents:
            self._send(200, candidate.read_bytes(), TYPES.get(candidate.suffix, "text/plain"))
        else:
            self._send(404, b"not found", "text/plain")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        with self.api.lock:
            self.api.posted.append(Posted(self.path, headers, body))
            status = self.api.post_status
        if status == 202:
            self._json(202, {"sent": True})
        else:
            self._json(status, {"error": f"stand-in answers {status}"})


def _handler(api: ControlAPI) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (_Handler,), {"api": api})


@contextlib.contextmanager
def serve_control_api(api: ControlAPI) -> Iterator[ControlAPI]:
    with serve_in_thread(_handler(api), "control-api") as port:
        api.port = port
        yield api
