"""Real stream sources for the playback probe: HLS written by ffmpeg, served by an origin
behind the real Caddy; RTSP served by GStreamer's RTSP server (support/rtsp_server.py);
the server that never sends is support.sockets.silent_server."""

from __future__ import annotations

import contextlib
import queue
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import unquote

from support.http import serve_in_thread
from support.processes import free_port, require_binary, running, stop_process, wait_until

HEALTHY = "testsrc2=size=320x240:rate=15"
FROZEN = "smptebars=size=320x240:rate=15"  # a still picture, not black
BLACK = "color=c=black:size=320x240:rate=15"


def write_hls(directory: Path, source: str, seconds: float = 8, gop_frames: int = 15) -> Path:
    """A complete HLS stream (H.264, a keyframe every ``gop_frames``, 1 s segments)."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            require_binary("ffmpeg"), "-hide_banner", "-loglevel", "error", "-nostdin",
            "-f", "lavfi", "-i", source, "-t", f"{seconds:g}",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
            "-g", str(gop_frames), "-keyint_min", str(gop_frames), "-sc_threshold", "0",
            "-f", "hls", "-hls_time", "1", "-hls_list_size", "0",
            str(directory / "index.m3u8"),
        ],
        check=True, timeout=120,
    )  # fmt: skip
    return directory


@dataclass
class Origin:
    """Serves files under ``root``; the first segment of a camera in ``delays`` is held
    back that long (a stream slow to its first frame). ``seen`` holds raw request paths."""

    root: Path
    delays: dict[str, float] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)
    port: int = 0


def _origin_handler(origin: Origin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: ``seen`` is what tests look at."""

        def do_GET(self) -> None:
            origin.seen.append(self.path)
            parts = [unquote(part) for part in self.path.split("?", 1)[0].split("/")[1:]]
            candidate = origin.root.joinpath(*parts).resolve() if len(parts) == 2 else None
            if candidate is None or origin.root.resolve() not in candidate.parents:
                candidate = None
            if candidate is None or not candidate.is_file():
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if parts[1].endswith("0.ts") and parts[1][:-4].endswith("index"):
                time.sleep(origin.delays.get(parts[0], 0.0))
            body = candidate.read_bytes()
            self.send_response(200)
            kind = "application/vnd.apple.mpegurl" if parts[1].endswith(".m3u8") else "video/mp2t"
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextlib.contextmanager
def hls_behind_caddy(origin: Origin, scratch: Path) -> Iterator[str]:
    """The origin behind the real Caddy; yields Caddy's base URL (http://127.0.0.1:PORT)."""
    caddy = require_binary("caddy")
    with serve_in_thread(_origin_handler(origin), "hls-origin") as origin_port:
        origin.port = origin_port
        port = free_port()
        caddyfile = scratch / "Caddyfile"
        caddyfile.write_text(
            "{\n\tadmin off\n\tauto_https off\n}\n"
            f"http://127.0.0.1:{port} {{\n"
            f"\treverse_proxy 127.0.0.1:{origin_port} {{\n\t\tflush_interval -1\n\t}}\n}}\n"
        )
        env = {"XDG_DATA_HOME": str(scratch / "data"), "XDG_CONFIG_HOME": str(scratch / "cfg"),
               "HOME": str(scratch)}  # fmt: skip
        argv = [caddy, "run", "--config", str(caddyfile), "--adapter", "caddyfile"]
        with running(argv, env=env, log_path=scratch / "caddy.log"):
            base = f"http://127.0.0.1:{port}"

            def answers() -> bool:
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", port), timeout=1),
                ):
                    return True
                return False

            wait_until(answers, 20, what="caddy listening")
            yield base


# Debian's Python: it has GStreamer's introspection bindings (python3-gi), the venv not.
SYSTEM_PYTHON = Path("/usr/bin/python3")
RTSP_SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")
RTSP_FPS = 15
RTSP_SLOW_SECONDS = 2.5
RTSP_MOUNTS = ("healthy", "black", "frozen", "slow")


@contextlib.contextmanager
def rtsp_server(scratch: Path) -> Iterator[str]:
    """GStreamer's RTSP server as a process (mounts ``RTSP_MOUNTS``, ``RTSP_FPS`` fps, a
    keyframe a second); yields its URL template ``rtsp://127.0.0.1:PORT/{name}``. The
    server picks its own port and says which, so no port can be taken in between."""
    assert SYSTEM_PYTHON.is_file(), "no /usr/bin/python3: run scripts/setup"
    log_path = scratch / "rtsp-server.log"
    argv = [
        str(SYSTEM_PYTHON), str(RTSP_SERVER_SCRIPT),
        "--fps", str(RTSP_FPS), "--slow-seconds", f"{RTSP_SLOW_SECONDS:g}",
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log)
    try:
        assert proc.stdout is not None
        lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(
            target=lambda: lines.put(proc.stdout.readline() if proc.stdout else b""),
            name="rtsp-server-port",
            daemon=True,
        ).start()
        try:
            first = lines.get(timeout=60)
        except queue.Empty:
            first = b""
        if not first.startswith(b"port "):
            raise AssertionError(f"the RTSP server did not start: {log_path.read_text()}")
        yield f"rtsp://127.0.0.1:{int(first.split()[1])}/{{name}}"
    finally:
        stop_process(proc)
        if proc.stdout is not None:
            proc.stdout.close()
