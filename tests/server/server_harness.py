"""Real Caddy in front of loopback stand-ins for MediaMTX (API, HLS) and the monitor.

MediaMTX cannot run here (GUIDE §4), so small HTTP servers take its place and record the
paths they were asked for; Caddy itself is Debian's real binary with server/Caddyfile.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from support.browser import Browser, browser
from support.http import serve_in_thread
from support.loopback_server import QuietHandler
from support.processes import REPO, free_port, require_binary, running, wait_until

from trashmonitor.pki import certificate_builder

__all__ = ["Browser", "browser"]  # re-exported: the viewer tests import them from here

CADDYFILE = REPO / "server" / "Caddyfile"
# user:password of the MediaMTX read user, as in TRASHMON_MEDIAMTX_CREDENTIALS_FILE.
READER_CREDENTIALS = "trashmon-reader:s3cret-Reader-Pass"


@dataclass
class Reply:
    status: int = 200
    content_type: str = "application/json"
    body: bytes = b"{}"


@dataclass(frozen=True)
class Seen:
    """One request as the upstream received it (what a test asserts never arrived)."""

    method: str
    path: str
    headers: dict[str, str]


@dataclass
class StandIn:
    """A loopback HTTP server answering from ``routes`` and recording every request.

    ``seen`` lists the paths of GET requests; ``requests`` every request of any method,
    with its headers.
    """

    name: str
    routes: dict[str, Reply] = field(default_factory=dict)
    directory: Path | None = None
    seen: list[str] = field(default_factory=list)
    requests: list[Seen] = field(default_factory=list)
    # path -> (first chunk, rest, event the test sets to let the rest go)
    streams: dict[str, tuple[bytes, bytes, threading.Event]] = field(default_factory=dict)
    port: int = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


class StandInHandler(QuietHandler):
    """Answers from :attr:`standin`'s routes (bound per server), recording every request."""

    standin: StandIn
    # Headers and body go out in separate writes; without TCP_NODELAY each small
    # reply waits ~40 ms on the client's delayed ACK.
    disable_nagle_algorithm = True

    def _record(self) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.standin.requests.append(Seen(self.command, self.path, headers))

    def _accept_anything(self) -> None:
        """Writes answer 200 here: a write that got through must be visible as such."""
        self._record()
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _accept_anything

    def do_HEAD(self) -> None:
        self._record()
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        standin = self.standin
        self._record()
        standin.seen.append(self.path)
        path = self.path.split("?", 1)[0]
        if path in standin.streams:
            self._stream(*standin.streams[path])
            return
        reply = (
            standin.routes.get(self.path) or standin.routes.get(path) or self._from_directory(path)
        )
        self.send_body(reply.status, reply.body, reply.content_type)

    def _from_directory(self, path: str) -> Reply:
        directory = self.standin.directory
        if directory is not None:
            candidate = (directory / path.lstrip("/")).resolve()
            if candidate.is_file() and directory.resolve() in candidate.parents:
                kind = "application/vnd.apple.mpegurl" if path.endswith(".m3u8") else "video/mp2t"
                return Reply(200, kind, candidate.read_bytes())
        return Reply(404, "text/plain", b"no such stand-in route")

    def _stream(self, first: bytes, rest: bytes, release: threading.Event) -> None:
        """A body whose second half waits for the test: proves nothing buffers it.

        With a Content-Length, as MediaMTX sends for segments: a proxy only passes the
        first bytes on before the end if it flushes immediately (a chunked body would
        be flushed by Caddy anyway and prove nothing).
        """
        self.send_response(200)
        self.send_header("Content-Type", "video/mp2t")
        self.send_header("Content-Length", str(len(first) + len(rest)))
        self.end_headers()
        self.wfile.write(first)
        self.wfile.flush()
        release.wait(20)
        self.wfile.write(rest)


@contextlib.contextmanager
def serve_standin(standin: StandIn) -> Iterator[StandIn]:
    handler = type("Handler", (StandInHandler,), {"standin": standin})
    with serve_in_thread(handler, standin.name) as port:
        standin.port = port
        try:
            yield standin
        finally:
            # A held stream would keep its handler thread (and the shutdown) waiting.
            for _, _, release in standin.streams.values():
                release.set()


@dataclass(frozen=True)
class CaddyPorts:
    http: int
    https: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http}"


def caddy_env(
    api: StandIn, hls: StandIn, monitor: StandIn, viewer_root: Path, tls: tuple[Path, Path] | None
) -> tuple[dict[str, str], CaddyPorts]:
    """Caddy's environment for the stand-ins; MediaMTX read credentials as the entrypoint
    passes them (``TRASHMON_MEDIAMTX_BASIC_AUTH``, see ``READER_CREDENTIALS``)."""
    ports = CaddyPorts(http=free_port(), https=free_port())
    env = {
        "TRASHMON_MEDIAMTX_BASIC_AUTH": base64.b64encode(READER_CREDENTIALS.encode()).decode(),
        "TRASHMON_HTTP_PORT": str(ports.http),
        "TRASHMON_HTTPS_PORT": str(ports.https),
        "TRASHMON_MEDIAMTX_API_UPSTREAM": api.address,
        "TRASHMON_MEDIAMTX_HLS_UPSTREAM": hls.address,
        "TRASHMON_MONITOR_UPSTREAM": monitor.address,
        "TRASHMON_VIEWER_ROOT": str(viewer_root),
        "TRASHMON_TLS": "on" if tls else "off",
    }
    if tls:
        env["TRASHMON_TLS_CERT"], env["TRASHMON_TLS_KEY"] = str(tls[0]), str(tls[1])
    return env, ports


def assert_promtool_accepts(config: Path) -> None:
    """The real ``promtool check config`` loads ``config`` (and the files it names)."""
    result = subprocess.run(
        [require_binary("promtool"), "check", "config", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


@contextlib.contextmanager
def run_caddy(env: dict[str, str], ports: CaddyPorts, log_path: Path) -> Iterator[CaddyPorts]:
    caddy = require_binary("caddy")
    # XDG dirs under the test's tmp: Caddy writes its autosave/storage there, as the
    # image points them at /tmp for a read-only root filesystem.
    scratch = log_path.parent / "caddy-home"
    env = {
        **env,
        "XDG_CONFIG_HOME": str(scratch),
        "XDG_DATA_HOME": str(scratch),
        "HOME": str(scratch),
    }
    argv = [caddy, "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"]
    with running(argv, env=env, log_path=log_path) as proc:

        def answers() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"caddy exited: {log_path.read_text()[-2000:]}")
            return httpx.get(f"{ports.base}/metrics", timeout=2).status_code == 404

        wait_until(answers, timeout=20, what="caddy listening")
        yield ports


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 standing in for the one cert-manager mounts."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "trashmonitor test")])
    cert = (
        certificate_builder(name, key, None, days=1)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def bcrypt_hash(password: str) -> str:
    """The bcrypt hash Caddy's basicauth takes, from the real ``caddy hash-password``
    (the password on its stdin, as the demo does)."""
    done = subprocess.run(
        [require_binary("caddy"), "hash-password"],
        input=f"{password}\n", capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return done.stdout.strip().splitlines()[-1]
