"""The MediaMTX stand-in the system test hands to server/entrypoint as TRASHMON_MEDIAMTX_BIN.

Run as ``mediamtx_standin.py CONFIG`` (what the entrypoint runs: ``mediamtx CONFIG``). It
reads the shipped mediamtx.yml and, like MediaMTX v1.20 (GUIDE §4):

* serves the Control API on ``apiAddress`` and ``/metrics`` on ``metricsAddress``
  (tests/support/fake_mediamtx.py renders both);
* accepts RTSP/TCP publishers on ``rtspAddress`` (OPTIONS, ANNOUNCE, SETUP, RECORD, then
  interleaved RTP), for any path the config declares or ``all_others`` allows; the
  path is ``online`` while its publisher's session lasts and its inbound bytes are the
  bytes actually received; a publisher that sends nothing for ``readTimeout`` is
  dropped, and the path goes offline (as MediaMTX does);
* lists every declared path even while nobody publishes to it;
* authenticates as MediaMTX v1.20.1 with ``authMethod: internal`` does: publishing needs
  a user granted ``publish`` (on that path, when the grant names one), the API and
  /metrics a user granted ``api``/``metrics`` (``authHTTPExclude`` is empty by default);
  user ``any`` needs no credentials; Basic credentials are checked against plain or
  ``sha256:`` passwords; ``MTX_AUTHINTERNALUSERS_<i>_USER``/``_PASS`` in the environment
  override the file, as the entrypoint sets them.

No HLS: the viewer's tiles come from the API and the monitor's status.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import socket
import socketserver
import sys
import threading
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.fake_mediamtx import FakeMediaMTX

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m)$")


def seconds(text: str) -> float:
    match = _DURATION.match(str(text))
    if not match:
        raise SystemExit(f"mediamtx stand-in: readTimeout: cannot read {text!r}")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "ms" else value * 60 if unit == "m" else value


def host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "0.0.0.0", int(port)


def password_matches(stored: str, given: str) -> bool:
    if stored.startswith("sha256:"):
        digest = base64.b64encode(hashlib.sha256(given.encode()).digest()).decode()
        return digest == stored.removeprefix("sha256:")
    return stored == given


def with_environment(config: dict[str, Any], environ: dict[str, str]) -> dict[str, Any]:
    """``MTX_AUTHINTERNALUSERS_<i>_<FIELD>`` overrides applied, as MediaMTX reads them."""
    users = config.get("authInternalUsers") or []
    for key, value in environ.items():
        match = re.fullmatch(r"MTX_AUTHINTERNALUSERS_(\d+)_(USER|PASS)", key)
        if match and int(match.group(1)) < len(users):
            users[int(match.group(1))][match.group(2).lower()] = value
    return config


def basic_credentials(header: str | None) -> tuple[str | None, str | None]:
    if header and header.lower().startswith("basic "):
        decoded = base64.b64decode(header[6:]).decode(errors="replace")
        user, _, password = decoded.partition(":")
        return user, password
    return None, None


class Ingest:
    """The RTSP side: keeps the fake's path state in step with the publishers."""

    def __init__(self, config: dict[str, Any], mediamtx: FakeMediaMTX) -> None:
        self.mediamtx = mediamtx
        self.read_timeout = seconds(config.get("readTimeout", "10s"))
        self.users: list[dict[str, Any]] = config.get("authInternalUsers") or []
        paths = config.get("paths") or {}
        self.declared = [name for name in paths if name != "all_others"]
        self.any_path = "all_others" in paths
        self.sessions: dict[str, int] = {}  # path -> session counter (latest wins)
        self.lock = threading.Lock()
        for name in self.declared:
            mediamtx.set_path(name, online=False, configured=True)

    def allowed(
        self, action: str, user: str | None, password: str | None, path: str | None = None
    ) -> bool:
        """Whether ``authInternalUsers`` grants ``action`` (on ``path``) to these credentials."""
        for entry in self.users:
            grants = [
                p
                for p in entry.get("permissions") or []
                if p.get("action") == action and (p.get("path") in (None, "", path))
            ]
            if not grants:
                continue
            if entry.get("user") == "any":
                return True
            if user == entry.get("user") and password_matches(
                str(entry.get("pass") or ""), password or ""
            ):
                return True
        return False

    def authorize_http(self, action: str, header: str | None) -> bool:
        return self.allowed(action, *basic_credentials(header))

    def attach(self, path: str) -> int:
        with self.lock:
            token = self.sessions.get(path, 0) + 1
            self.sessions[path] = token
        self.mediamtx.set_path(path, online=True, configured=path in self.declared, rate=0.0)
        return token

    def received(self, path: str, count: int) -> None:
        current = self.mediamtx.path(path)
        self.mediamtx.set_path(path, inbound_bytes=current.inbound_bytes + count)

    def detach(self, path: str, token: int) -> None:
        with self.lock:
            if self.sessions.get(path) != token:
                return  # a newer publisher replaced this one (overridePublisher)
        if path in self.declared:
            self.mediamtx.set_path(path, online=False)
        else:
            self.mediamtx.remove_path(path)


def _handler(ingest: Ingest) -> type[socketserver.StreamRequestHandler]:
    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            self.request.settimeout(ingest.read_timeout)
            path: str | None = None
            token = 0
            try:
                while True:
                    first = self.rfile.read(1)
                    if not first:
                        return
                    if first == b"$":  # interleaved RTP/RTCP frame
                        header = self.rfile.read(3)
                        size = int.from_bytes(header[1:3], "big")
                        payload = self.rfile.read(size)
                        if path is not None and token:
                            ingest.received(path, 4 + len(payload))
                        continue
                    request = first + self.rfile.readline()
                    headers: dict[str, str] = {}
                    while (line := self.rfile.readline()) not in (b"\r\n", b"\n", b""):
                        key, _, value = line.decode(errors="replace").partition(":")
                        headers[key.strip().lower()] = value.strip()
                    body_size = int(headers.get("content-length", "0"))
                    if body_size:
                        self.rfile.read(body_size)
                    method, url = request.decode(errors="replace").split()[:2]
                    path = path or url.split("://", 1)[-1].split("/", 1)[-1].split("/")[0]
                    reply = self._answer(method, headers, path)
                    if method == "RECORD" and reply.startswith("200"):
                        token = ingest.attach(path)
                    self._send(reply, headers)
                    if method == "TEARDOWN":
                        return
            except (TimeoutError, OSError, ValueError, IndexError):
                return
            finally:
                if path is not None and token:
                    ingest.detach(path, token)

        def _answer(self, method: str, headers: dict[str, str], path: str) -> str:
            if path not in ingest.declared and not ingest.any_path:
                return "404 Not Found"
            if method in ("ANNOUNCE", "RECORD", "SETUP"):
                user, password = basic_credentials(headers.get("authorization"))
                if not ingest.allowed("publish", user, password, path):
                    return "401 Unauthorized"
            return "200 OK"

        def _send(self, status: str, headers: dict[str, str]) -> None:
            lines = [f"RTSP/1.0 {status}", f"CSeq: {headers.get('cseq', '0')}"]
            if status.startswith("401"):
                lines.append('WWW-Authenticate: Basic realm="mediamtx"')
            if "transport" in headers:
                lines.append(f"Transport: {headers['transport']}")
                lines.append("Session: 1")
            lines.append("Public: OPTIONS, ANNOUNCE, SETUP, RECORD, TEARDOWN")
            self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    return Handler


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    address_family = socket.AF_INET


def main() -> None:
    config = with_environment(yaml.safe_load(Path(sys.argv[1]).read_text()), dict(os.environ))
    api_host, api_port = host_port(config.get("apiAddress", ":9997"))
    mediamtx = FakeMediaMTX("v1.20", api_host, api_port)
    ingest = Ingest(config, mediamtx)
    mediamtx.authorize = ingest.authorize_http
    mediamtx.start()
    metrics_host, metrics_port = host_port(config.get("metricsAddress", ":9998"))
    mediamtx.serve_also(metrics_host, metrics_port)
    rtsp = _Server(host_port(config.get("rtspAddress", ":8554")), _handler(ingest))
    print(f"mediamtx stand-in: api :{api_port} metrics :{metrics_port} rtsp", flush=True)
    threading.Thread(target=rtsp.serve_forever, daemon=True).start()
    stop = threading.Event()
    import signal

    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(1):
        time.sleep(0)
    rtsp.shutdown()
    mediamtx.stop()


if __name__ == "__main__":
    main()
