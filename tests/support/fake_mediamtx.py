"""A fake MediaMTX for tests, demos and benches: ``/v3/paths/list`` and ``/metrics``.

No MediaMTX binary can be installed here, so this follows MediaMTX's documented
behaviour (the OpenAPI specs of v1.9, v1.16 and v1.20, and its paging code):

* ``GET /v3/paths/list?page=N&itemsPerPage=M``: items sorted by name, ``itemsPerPage``
  defaults to 100, ``pageCount`` = ceil(itemCount / itemsPerPage) (0 for no paths), a
  page past the end is an empty ``items`` list, a bad parameter is HTTP 400 with
  ``{"status": "error", "error": …}``.
* Field names per schema generation: ``"v1.9"`` (ready/readyTime/bytesReceived/tracks),
  ``"v1.16"`` (+ available/online and their times), ``"v1.20"`` (+ inboundBytes,
  outboundBytes, inboundFramesInError, tracks2 with codecProps).
* ``GET /v3/paths/get/<name>``: one path, or 404 ``{"status": "error", "error": "path
  not found"}`` (the name may hold slashes, as MediaMTX's ``/paths/get/*name`` route).
* Path hooks (``hooks={"runOnOnline": CMD, "runOnOffline": CMD}``): run the way
  MediaMTX's internal/externalcmd does — the command split like a shell would
  (``$VAR`` expanded from the hook's environment) but executed directly, in its own
  process group, with MediaMTX's environment plus ``MTX_PATH``, ``RTSP_PATH``,
  ``RTSP_PORT``, ``MTX_QUERY``, ``MTX_SOURCE_TYPE`` and ``MTX_SOURCE_ID``. The online
  command gets SIGINT (its whole group) when the path goes offline, then the offline
  command starts. ``runOnAvailable``/``runOnUnavailable`` and the deprecated
  ``runOnReady``/``runOnNotReady`` (mapped to them, as MediaMTX v1.19.3+ does) follow
  ``available``. ``hooks_lost = True`` drops them (a hook MediaMTX never ran).
* ``GET /metrics``: untyped exposition without ``# TYPE`` lines, label values unescaped;
  ``paths_inbound_bytes`` etc. (v1.17+) or ``paths_bytes_received/sent`` (older).

Paths are scriptable from the test while the server runs: :meth:`FakeMediaMTX.set_path`
(bytes can grow on their own at ``rate`` bytes/s, like a live publisher), and a
``fault`` makes every API answer fail in one documented-bad way.

In-process::

    with FakeMediaMTX(generation="v1.20") as fake:
        fake.set_path("cam1", rate=50_000)
        ... fake.url ...

As a process (demo, benches)::

    python -P tests/support/fake_mediamtx.py --port 9997 --paths 3 --rate 50000

and change it with ``POST /_fake/paths/<name>`` (JSON fields of :class:`FakePath`),
``DELETE /_fake/paths/<name>``, ``POST /_fake/fault`` (``{"fault": "html"}``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

if __name__ == "__main__":  # run as a script (python -P): tests/ holds the support package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.loopback_server import LoopbackServer, QuietHandler

GENERATIONS = ("v1.9", "v1.16", "v1.20")
FAULTS = (
    "html",  # a proxy's HTML error page with status 200
    "http500",  # MediaMTX's JSON error document with 500
    "truncated",  # JSON cut in the middle, consistent Content-Length
    "cut_connection",  # Content-Length promises more than is sent
    "no_answer",  # the request read, the connection closed before a status line
    "items_null",  # {"items": null, ...}
    "wrong_shape",  # a JSON list instead of PathList
    "hang",  # accept and never answer (until the server stops)
)
DEFAULT_ITEMS_PER_PAGE = 100
HOOKS = ("runOnOnline", "runOnOffline", "runOnAvailable", "runOnUnavailable")
# Deprecated names MediaMTX still reads (internal/conf/path.go), mapped to the new ones.
DEPRECATED_HOOKS = {"runOnReady": "runOnAvailable", "runOnNotReady": "runOnUnavailable"}
FAKE_RTSP_PORT = "8554"
PATHS_GET = "/v3/paths/get/"


@dataclass(frozen=True)
class HookRun:
    """One hook command MediaMTX started: which, for which path, its exit status."""

    hook: str
    path: str
    process: subprocess.Popen[bytes]


_VARIABLE = re.compile(r"\$(?:\{([^}]*)\}|([A-Za-z0-9_]+))")


def hook_command(command: str, env: dict[str, str]) -> list[str]:
    """MediaMTX's split (go-shellquote: shell-like quoting) and expansion of ``$VAR`` /
    ``${VAR}`` in each part from the hook's environment, else the process's (os.Expand)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) if match.group(1) is not None else match.group(2)
        return env.get(name, os.environ.get(name, ""))

    return [_VARIABLE.sub(value, part) for part in shlex.split(command)]


@dataclass(frozen=True)
class FakePath:
    """One path's state. ``inbound_bytes`` grows by ``rate`` bytes/s while online."""

    name: str
    online: bool = True
    placeholder: bool = False
    """An ``alwaysAvailable`` path without a publisher: available but not online."""
    inbound_bytes: int = 0
    outbound_bytes: int = 0
    rate: float = 0.0
    frames_in_error: int = 0
    readers: int = 0
    codec: str = "H264"
    width: int = 1280
    height: int = 720
    online_since: float = field(default_factory=time.time)
    configured: bool = False
    """Listed under its own name in mediamtx.yml (``confName`` = name), not ``all_others``."""
    rate_since: float = field(default_factory=time.monotonic)

    def bytes_now(self, monotonic_now: float) -> int:
        if not self.online or self.rate <= 0:
            return self.inbound_bytes
        return self.inbound_bytes + int(self.rate * (monotonic_now - self.rate_since))


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def render_path(path: FakePath, generation: str, monotonic_now: float) -> dict[str, Any]:
    """The JSON object MediaMTX ``generation`` lists for ``path``."""
    inbound = path.bytes_now(monotonic_now)
    available = path.online or (path.placeholder and generation != "v1.9")
    since = _rfc3339(path.online_since)
    readers = [{"type": "rtspSession", "id": f"{path.name}-r{i}"} for i in range(path.readers)]
    item: dict[str, Any] = {
        "name": path.name,
        "confName": path.name if path.configured else "all_others",
        "source": {"type": "rtspSession", "id": f"{path.name}-src"} if path.online else None,
        "ready": available,
        "readyTime": since if available else None,
        "tracks": [path.codec] if available else [],
        "bytesReceived": inbound,
        "bytesSent": path.outbound_bytes,
        "readers": readers,
    }
    if generation in ("v1.16", "v1.20"):
        item |= {
            "available": available,
            "availableTime": since if available else None,
            "online": path.online,
            "onlineTime": since if path.online else None,
        }
    if generation == "v1.20":
        item |= {
            "inboundBytes": inbound,
            "outboundBytes": path.outbound_bytes,
            "inboundFramesInError": path.frames_in_error,
            "tracks2": [
                {
                    "codec": path.codec,
                    "codecProps": {
                        "width": path.width,
                        "height": path.height,
                        "profile": "Constrained Baseline",
                        "level": "3.1",
                    },
                }
            ]
            if available
            else [],
        }
    return item


class FakeMediaMTX(LoopbackServer):
    """The fake server; a context manager that serves from a daemon thread."""

    def __init__(
        self,
        generation: str = "v1.20",
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        hooks: dict[str, str] | None = None,
        hook_environ: dict[str, str] | None = None,
    ) -> None:
        if generation not in GENERATIONS:
            raise ValueError(f"generation must be one of {GENERATIONS}")
        self.hooks = {DEPRECATED_HOOKS.get(name, name): cmd for name, cmd in (hooks or {}).items()}
        unknown = set(self.hooks) - set(HOOKS)
        if unknown:
            raise ValueError(f"unknown hooks {sorted(unknown)}")
        self.hook_environ = dict(os.environ if hook_environ is None else hook_environ)
        """MediaMTX's own environment, which every hook command inherits."""
        self.hooks_lost = False
        self.hook_runs: list[HookRun] = []
        self._running_hooks: dict[tuple[str, str], subprocess.Popen[bytes]] = {}
        self.generation = generation
        self.fault: str | None = None
        self.requests = 0
        self._paths: dict[str, FakePath] = {}
        self._lock = threading.Lock()
        # (action, Authorization header or None) -> allowed; None: no authentication.
        self.authorize: Callable[[str, str | None], bool] | None = None
        super().__init__(type("Handler", (FakeHandler,), {"fake": self}), host, port)

    def stop(self) -> None:
        self.stopping.set()
        with self._lock:
            running = list(self._running_hooks.values())
            self._running_hooks.clear()
        for process in running:
            _interrupt(process)
        for run in self.hook_runs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                run.process.wait(5)
            if run.process.poll() is None:
                run.process.kill()
                run.process.wait()
        super().stop()

    # -- scripting
    def set_path(self, name: str, **changes: Any) -> FakePath:
        """Create or change a path. Changing ``rate``/``online`` keeps bytes continuous."""
        with self._lock:
            now = time.monotonic()
            current = self._paths.get(name)
            if current is None:
                path = FakePath(name=name, **changes)
            else:
                # Fold the bytes grown so far into the base before the rate changes.
                folded = replace(current, inbound_bytes=current.bytes_now(now), rate_since=now)
                if changes.get("online") and not current.online:
                    changes.setdefault("online_since", time.time())
                path = replace(folded, **changes)
            self._paths[name] = path
            self._fire_hooks(current, path)
            return path

    def add_paths(self, count: int, prefix: str = "cam", **fields_: Any) -> list[str]:
        """``count`` paths named cam0…, zero-padded so name order is index order."""
        names = list(path_names(count, prefix))
        for name in names:
            self.set_path(name, **fields_)
        return names

    def remove_path(self, name: str) -> None:
        with self._lock:
            removed = self._paths.pop(name, None)
            if removed is not None:
                self._fire_hooks(removed, None)

    # -- hooks (under self._lock, like MediaMTX's path goroutine)
    def _fire_hooks(self, before: FakePath | None, after: FakePath | None) -> None:
        for state, start, end in (
            ("online", "runOnOnline", "runOnOffline"),
            ("available", "runOnAvailable", "runOnUnavailable"),
        ):
            was = before is not None and self._is(before, state)
            now = after is not None and self._is(after, state)
            if was == now:
                continue
            if now:
                assert after is not None
                self._start_hook(start, after, keep=True)
            else:
                assert before is not None
                running = self._running_hooks.pop((start, before.name), None)
                if running is not None:
                    _interrupt(running)
                self._start_hook(end, before, keep=False)

    def _is(self, path: FakePath, state: str) -> bool:
        if state == "online":
            return path.online
        return path.online or (path.placeholder and self.generation != "v1.9")

    def _start_hook(self, hook: str, path: FakePath, *, keep: bool) -> None:
        command = self.hooks.get(hook)
        if not command or self.hooks_lost:
            return
        env = {
            **self.hook_environ,
            "MTX_PATH": path.name,
            "RTSP_PATH": path.name,
            "RTSP_PORT": FAKE_RTSP_PORT,
            "MTX_QUERY": "",
            "MTX_SOURCE_TYPE": "rtspSession",
            "MTX_SOURCE_ID": f"{path.name}-src",
        }
        process = subprocess.Popen(
            hook_command(command, env), env=env, start_new_session=True, stdin=subprocess.DEVNULL
        )
        self.hook_runs.append(HookRun(hook, path.name, process))
        if keep:
            self._running_hooks[(hook, path.name)] = process

    def path(self, name: str) -> FakePath:
        with self._lock:
            return self._paths[name]

    def snapshot(self) -> list[FakePath]:
        with self._lock:
            return [self._paths[name] for name in sorted(self._paths)]

    # -- rendering
    def paths_page(self, page: int, items_per_page: int) -> dict[str, Any]:
        paths = self.snapshot()
        now = time.monotonic()
        count = len(paths)
        page_count = math.ceil(count / items_per_page) if count else 0
        chunk = paths[page * items_per_page : (page + 1) * items_per_page]
        return {
            "itemCount": count,
            "pageCount": page_count,
            "items": [render_path(path, self.generation, now) for path in chunk],
        }

    def metrics_text(self) -> str:
        new_names = self.generation == "v1.20"
        inbound = "paths_inbound_bytes" if new_names else "paths_bytes_received"
        outbound = "paths_outbound_bytes" if new_names else "paths_bytes_sent"
        now = time.monotonic()
        lines = []
        for path in self.snapshot():
            available = path.online or (path.placeholder and self.generation != "v1.9")
            labels = f'name="{path.name}",state="{"ready" if available else "notReady"}"'
            lines.append(f"paths{{{labels}}} 1")
            if path.readers:
                lines.append(f'paths_readers{{{labels},readerType="rtspSession"}} {path.readers}')
            lines.append(f"{inbound}{{{labels}}} {path.bytes_now(now)}")
            lines.append(f"{outbound}{{{labels}}} {path.outbound_bytes}")
            if new_names:
                lines.append(f"paths_inbound_frames_in_error{{{labels}}} {path.frames_in_error}")
        lines.append('rtsp_conns{id="c0"} 1')
        return "\n".join(lines) + "\n"

    # -- control API for process mode
    def control(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        document = json.loads(body or b"{}")
        if path == "/_fake/fault" and method == "POST":
            fault = document.get("fault")
            if fault is not None and fault not in FAULTS:
                return 400, {"error": f"fault must be one of {FAULTS}"}
            self.fault = fault
            return 200, {"fault": fault}
        prefix = "/_fake/paths/"
        if path.startswith(prefix):
            name = path[len(prefix) :]
            if method == "DELETE":
                self.remove_path(name)
                return 200, {"removed": name}
            allowed = {f.name for f in fields(FakePath)} - {"name"}
            unknown = set(document) - allowed
            if unknown:
                return 400, {"error": f"unknown fields {sorted(unknown)}"}
            return 200, asdict(self.set_path(name, **document))
        return 404, {"error": "not found"}


class FakeHandler(QuietHandler):
    """MediaMTX's API and /metrics answered from :attr:`fake` (bound per server)."""

    fake: FakeMediaMTX

    def _json(self, status: int, document: Any) -> None:
        self.send_body(status, json.dumps(document).encode(), "application/json")

    def do_GET(self) -> None:
        fake = self.fake
        if fake.stopping.is_set():
            # A stopped server must not keep answering on kept-alive connections
            # (a proxy in front would otherwise still see it alive).
            self.close_connection = True
            return
        fake.requests += 1
        url = urlsplit(self.path)
        action = "metrics" if url.path == "/metrics" else "api"
        if fake.authorize is not None and not fake.authorize(
            action, self.headers.get("Authorization")
        ):
            # MediaMTX v1.20.1: authHTTPExclude defaults to [], so API and metrics
            # calls are authenticated too.
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="mediamtx"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if url.path == "/metrics":
            self.send_body(200, fake.metrics_text().encode(), "text/plain; version=0.0.4")
        elif url.path != "/v3/paths/list" and not url.path.startswith(PATHS_GET):
            self._json(404, {"status": "error", "error": "not found"})
        elif fake.fault is not None:
            self._fault(fake.fault)
        elif url.path.startswith(PATHS_GET):
            self._path_get(unquote(url.path[len(PATHS_GET) :]))
        else:
            self._paths_list(parse_qs(url.query))

    def _paths_list(self, query: dict[str, list[str]]) -> None:
        try:
            page = int(query.get("page", ["0"])[0])
            items_per_page = int(query.get("itemsPerPage", [str(DEFAULT_ITEMS_PER_PAGE)])[0])
            if page < 0 or items_per_page <= 0:
                raise ValueError
        except ValueError:
            self._json(400, {"status": "error", "error": "invalid pagination parameters"})
            return
        self._json(200, self.fake.paths_page(page, items_per_page))

    def _path_get(self, name: str) -> None:
        with self.fake._lock:
            path = self.fake._paths.get(name)
        if path is None:
            self._json(404, {"status": "error", "error": "path not found"})
            return
        self._json(200, render_path(path, self.fake.generation, time.monotonic()))

    def _fault(self, fault: str) -> None:
        fake = self.fake
        if fault == "html":
            self.send_body(200, b"<!doctype html><title>502</title>", "text/html")
        elif fault == "http500":
            self._json(500, {"status": "error", "error": "internal"})
        elif fault == "truncated":
            body = json.dumps(fake.paths_page(0, DEFAULT_ITEMS_PER_PAGE)).encode()
            self.send_body(200, body[: max(1, len(body) // 2)], "application/json")
        elif fault == "cut_connection":
            body = json.dumps(fake.paths_page(0, DEFAULT_ITEMS_PER_PAGE)).encode()
            self.send_body(200, body[: len(body) // 2], "application/json", len(body))
            self.close_connection = True
        elif fault == "no_answer":
            self.close_connection = True
        elif fault == "items_null":
            self._json(200, {"itemCount": 0, "pageCount": 0, "items": None})
        elif fault == "wrong_shape":
            self._json(200, [{"name": "cam1"}])
        elif fault == "hang":
            fake.stopping.wait(60)

    def _control(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            status, document = self.fake.control(
                method, urlsplit(self.path).path, self.rfile.read(length)
            )
        except (ValueError, TypeError) as error:
            status, document = 400, {"error": str(error)}
        self._json(status, document)

    def do_POST(self) -> None:
        self._control("POST")

    def do_DELETE(self) -> None:
        self._control("DELETE")


def _interrupt(process: subprocess.Popen[bytes]) -> None:
    """What MediaMTX does when the state ends: SIGINT to the command's process group."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)


def path_names(count: int, prefix: str = "cam") -> Iterator[str]:
    width = len(str(count))
    return (f"{prefix}{index:0{width}d}" for index in range(count))


def main() -> None:
    parser = argparse.ArgumentParser(description="Fake MediaMTX API + metrics on one port.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9997)
    parser.add_argument("--generation", choices=GENERATIONS, default="v1.20")
    parser.add_argument("--paths", type=int, default=3, help="online paths cam0, cam1, …")
    parser.add_argument("--rate", type=float, default=50_000.0, help="inbound bytes/s per path")
    for hook in (*HOOKS, *DEPRECATED_HOOKS):
        parser.add_argument(f"--{hook}", metavar="CMD", help=f"MediaMTX's {hook} command")
    args = parser.parse_args()
    hooks = {
        hook: getattr(args, hook) for hook in (*HOOKS, *DEPRECATED_HOOKS) if getattr(args, hook)
    }
    fake = FakeMediaMTX(args.generation, args.host, args.port, hooks=hooks)
    fake.add_paths(args.paths, rate=args.rate)
    fake.serve_until_interrupted(f"fake MediaMTX {args.generation}")


if __name__ == "__main__":
    main()
