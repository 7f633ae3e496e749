"""``trashmon demo``: the whole stack on one machine, as plain processes on loopback.

mosquitto with a fresh mTLS PKI, three synthetic cameras (one turns black ten seconds
out of every twenty, so a reason shows), MediaMTX when one can be found, the monitor,
Prometheus with the shipped rules, and Caddy serving the viewer with camera control on
(a password generated for the run, printed once). It prints what starts
and when it is ready, the URLs, then a table of the cameras whenever it changes.
Ctrl-C (or SIGTERM) stops everything it started, newest first, and waits for each.

Nothing is faked: without a MediaMTX binary the cameras have nowhere to publish, and
the table says so (``mediamtx_unreachable``; each agent's state is ``backoff``, its
publish failing). They still capture: each agent's ffmpeg keeps encoding into its
segment buffer (the tee's other branch, the same that carries a camera through a server
outage), so black/frozen detection, thumbnails and pictures keep working, and the viewer
shows all of it under the MediaMTX banner.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import getpass
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from trashmonitor import mediamtx_release
from trashmonitor.alerts.config import DEFAULT_CONFIG, MixinConfig
from trashmonitor.alerts.notifications import alertmanager_config, webhook_receivers
from trashmonitor.children import escalation, start_child, stop_child
from trashmonitor.errors import EXIT_OK, ConfigError, TrashmonError
from trashmonitor.monitor.config import DEFAULT_LISTEN
from trashmonitor.monitor.mediamtx import METRICS_PORT as MEDIAMTX_METRICS_PORT
from trashmonitor.monitor.play import DEFAULT_RTSP_PORT
from trashmonitor.mqtt import DEFAULT_PORT as MQTT_PORT
from trashmonitor.runtime import stop_on_signals
from trashmonitor.settings import (
    SettingsTable,
    option,
    parse_host_port,
    parse_ip,
    parse_positive_int,
)

if TYPE_CHECKING:
    from trashmonitor.pki import Layout

# Debian package for each binary the demo runs (for the one-line install hint).
DEMO_CONTROLLER = "controller"  # the identity allowed to send control requests
# Camera control from the viewer (issue 15 §2): the monitor gets the controller identity
# (--control-cert/--control-key) and Caddy passes the viewer's control POSTs on
# (TRASHMON_CONTROL=on) behind Basic auth with a password generated for this run.
DEMO_CONTROL_ENABLED = True
CONTROL_USER = "operator"  # Caddy's default TRASHMON_CONTROL_USER
# Thumbnails every few seconds, so the demo's tiles fill in at once (default 60 s).
DEMO_SNAPSHOT_INTERVAL = "5"
# Ten 1 s segments per camera (default 30): at the demo's 300 kbit/s about 0.4 MB each,
# enough for a picture or a short recording, while the buffer runs all the time.
DEMO_BUFFER_SEGMENTS = "10"
REQUIRED_BINARIES = {
    "ffmpeg": "ffmpeg",
    "mosquitto": "mosquitto",
    "prometheus": "prometheus",
    "prometheus-alertmanager": "prometheus-alertmanager",
}
OPTIONAL_BINARIES = {"caddy": "caddy"}

# (id, CAMERA_DEV). cam3 is covered by a black box for 10 s of every 20 s.
CAMERAS: tuple[tuple[str, str], ...] = (
    ("cam1", "testsrc"),
    ("cam2", "testsrc"),
    (
        "cam3",
        "lavfi:testsrc2=size=320x240:rate=10,drawbox=color=black:t=fill:enable='gte(mod(t,20),10)'",
    ),
)
STOP_GRACE = 8.0
_STOP_STEPS = escalation(STOP_GRACE)


@dataclass(frozen=True)
class Ports:
    """Where each demo service listens; by default where a deployment has it (the
    components' own defaults, read from their declarations where they have one)."""

    mqtt: int = MQTT_PORT
    rtsp: int = DEFAULT_RTSP_PORT
    api: int = 9997
    mediamtx_metrics: int = MEDIAMTX_METRICS_PORT
    hls: int = 8888
    monitor: int = parse_host_port(DEFAULT_LISTEN).port
    prometheus: int = 9090
    viewer: int = 8080
    agents: tuple[int, ...] = (9844, 9845, 9846)
    alertmanager: int = 9093

    @classmethod
    def from_base(cls, base: int) -> Ports:
        """Consecutive ports from ``base`` (for a second demo or a test)."""
        if not 1024 <= base <= 65535 - 20:
            raise ConfigError("--port-base", "expected a port between 1024 and 65515")
        names = ("mqtt", "rtsp", "api", "mediamtx_metrics", "hls", "monitor", "prometheus")
        fixed = {name: base + offset for offset, name in enumerate(names)}
        viewer = base + len(names)
        agents = tuple(viewer + 1 + index for index in range(len(CAMERAS)))
        # After the agents, so the earlier ports keep their offsets.
        alertmanager = agents[-1] + 1
        return cls(**fixed, viewer=viewer, agents=agents, alertmanager=alertmanager)

    def named(self) -> list[tuple[str, int]]:
        ports = [
            ("mosquitto", self.mqtt),
            ("MediaMTX RTSP", self.rtsp),
            ("MediaMTX API", self.api),
            ("MediaMTX metrics", self.mediamtx_metrics),
            ("MediaMTX HLS", self.hls),
            ("monitor", self.monitor),
            ("Prometheus", self.prometheus),
            ("Alertmanager", self.alertmanager),
            ("viewer", self.viewer),
        ]
        return ports + [
            (f"agent {camera}", port)
            for (camera, _), port in zip(CAMERAS, self.agents, strict=True)
        ]


def port_base(text: str) -> Ports:
    """``--port-base``: consecutive ports from a whole number (its range: Ports.from_base)."""
    return Ports.from_base(parse_positive_int(text))


def executable_or_unset(text: str) -> str | None:
    """An executable file; set but empty means unset, as for every variable."""
    if text and not os.access(text, os.X_OK):
        raise ValueError("expected an executable file")
    return text or None


# One row a setting (trashmonitor.settings.option): usage, env, parser, default, help.
STATE_DIR = option(
    "--state-dir DIR", None, Path, Path("demo-state"),
    "where the PKI, configs, logs and captures go", shown_default="`./demo-state`",
)  # fmt: skip
PORT_BASE = option(
    "--port-base PORT", None, port_base, Ports(),
    "use consecutive ports from PORT (1024 to 65515) instead of the usual ones "
    "(8883 mosquitto, 8554/9997/9998/8888 MediaMTX, 9843 monitor, 9090 Prometheus, "
    "9093 Alertmanager, 8080 viewer, 9844+ agents)", shown_default="the usual ports",
)  # fmt: skip
MEDIAMTX_BIN = option(
    "--mediamtx-bin PATH", "MEDIAMTX_BIN", executable_or_unset, None,
    "the MediaMTX binary to run", shown_default="`mediamtx` on PATH, else the pinned "
    "release in `~/.cache/trashmonitor/mediamtx/` (`$XDG_CACHE_HOME/trashmonitor/mediamtx/` "
    "when set), downloaded there if missing",
)  # fmt: skip
SETTINGS = SettingsTable("demo", (STATE_DIR, PORT_BASE, MEDIAMTX_BIN))
"""``trashmon demo``'s settings: options, ``--help`` and the README's table
(``python -P -m trashmonitor.demo``)."""


@dataclass(frozen=True)
class DemoSettings:
    """The demo's settings, read once (flag > environment > default)."""

    state_dir: Path
    ports: Ports
    mediamtx_bin: str | None


def configure(parser: argparse.ArgumentParser) -> None:
    SETTINGS.add_arguments(parser, "demo")


def read(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> DemoSettings:
    settings = SETTINGS.read(args, "demo", environ)
    return DemoSettings(settings[STATE_DIR], settings[PORT_BASE], settings[MEDIAMTX_BIN])


# --- processes -----------------------------------------------------------------------


@dataclass
class Stack:
    """The processes the demo started, stopped newest first."""

    logs: Path
    out: TextIO
    started: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.say(f"starting {name}")
        with (self.logs / f"{name}.log").open("wb") as log:
            # SIGTERM if the demo itself dies, even by SIGKILL: each piece shuts down cleanly.
            proc = start_child(
                argv,
                die_signal=signal.SIGTERM,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                start_new_session=True,  # Ctrl-C reaches the demo only; it stops the rest
            )
        self.started.append((name, proc))

    def ready(self, name: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
        proc = dict(self.started)[name]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise TrashmonError(
                    f"{name} exited with {proc.returncode}; see {self.logs / (name + '.log')}"
                )
            with contextlib.suppress(OSError):
                if check():
                    self.say(f"{name} ready")
                    return
            time.sleep(0.2)
        raise TrashmonError(f"{name} not ready after {timeout:g}s; see {self.logs / name}.log")

    def exited(self) -> list[str]:
        return [name for name, proc in self.started if proc.poll() is not None]

    def stop(self) -> None:
        for name, proc in reversed(self.started):
            self.say(f"stopped {name} ({stop_child(proc, _STOP_STEPS)})")
        self.started.clear()

    def say(self, text: str) -> None:
        print(f"demo: {text}", file=self.out, flush=True)


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=1) as reply:  # noqa: S310 - loopback http:// only
        return bool(reply.status == 200)


def _accepting(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# --- configuration files ---------------------------------------------------------------

READER_USER = "trashmon-reader"


@dataclass(frozen=True)
class ReaderCredentials:
    """MediaMTX's read identity for this run: the monitor, Prometheus and Caddy use it."""

    credentials_file: Path  # user:password (TRASHMON_MEDIAMTX_CREDENTIALS_FILE)
    password_file: Path  # the password alone (Prometheus' basic_auth password_file)
    user: str
    password: str

    @property
    def sha256(self) -> str:
        """The password as MediaMTX stores it (``sha256:`` + base64 of the digest)."""
        digest = hashlib.sha256(self.password.encode()).digest()
        return "sha256:" + base64.b64encode(digest).decode()

    @property
    def basic(self) -> str:
        """The value after ``Basic `` that Caddy adds (TRASHMON_MEDIAMTX_BASIC_AUTH)."""
        return base64.b64encode(f"{self.user}:{self.password}".encode()).decode()


def _write_private(path: Path, text: str) -> None:
    """Created 0600 from the start (never briefly readable by others)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def generate_reader_credentials(directory: Path) -> ReaderCredentials:
    """A random reader password for this run, in two 0600 files under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    password = secrets.token_urlsafe(32)
    reader = ReaderCredentials(
        directory / "mediamtx-credentials", directory / "mediamtx-password", READER_USER, password
    )
    _write_private(reader.credentials_file, f"{reader.user}:{password}")
    _write_private(reader.password_file, password)
    return reader


def generate_hook_secret(directory: Path) -> Path:
    """A random hook secret for this run (0600): MediaMTX's hooks and the monitor share it."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / "hook-secret"
    _write_private(path, secrets.token_urlsafe(32))
    return path


def _hook_command() -> str:
    # The console script beside this Python (the venv's): MediaMTX runs it without a shell.
    return str(Path(sys.executable).parent / "trashmon-hook")


@dataclass(frozen=True)
class ControlPassword:
    """The viewer's control password for this run (Caddy's Basic auth, bcrypt)."""

    password_file: Path  # the password, 0600, for the user to look up later
    password: str
    bcrypt_hash: str  # TRASHMON_CONTROL_PASSWORD_HASH, Caddy's environment only


def generate_control_password(directory: Path, caddy: str) -> ControlPassword:
    """A random password, hashed by ``caddy hash-password`` from its stdin (never argv)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    password = secrets.token_urlsafe(18)
    try:
        done = subprocess.run(
            [caddy, "hash-password"],
            input=f"{password}\n",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        failure = f"caddy hash-password: {error}"  # names the command, never its stdin
    else:
        bcrypt_hash = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
        failure = ""
        if done.returncode != 0 or not bcrypt_hash.startswith("$2"):
            last = (done.stderr.strip().splitlines() or ["no output"])[-1][:200]
            failure = f"caddy hash-password failed ({done.returncode}): {last}"
    if failure:
        # Raised here, not in the except block, and without the password: the OSError's
        # traceback runs through subprocess.run's frame, which holds the stdin given.
        del password
        raise TrashmonError(failure)
    target = directory / "control-password"
    _write_private(target, f"{password}\n")
    return ControlPassword(target, password, bcrypt_hash)


def _mediamtx_config(ports: Ports, reader: ReaderCredentials) -> str:
    # Only the keys that differ from MediaMTX's defaults (server/mediamtx.yml is the
    # production file; this one keeps everything on loopback and only RTSP/TCP + HLS).
    # As in production nobody anonymous gets `api` or `metrics`: the reader does, with a
    # password generated for this run. The demo's agents publish without credentials,
    # which only loopback can reach here.
    return "\n".join(
        [
            "logLevel: info",
            "authMethod: internal",
            "authInternalUsers:",
            f"  - user: {reader.user}",
            f"    pass: {reader.sha256}",
            "    ips: []",
            "    permissions: [{action: api}, {action: metrics}]",
            "  - user: any",
            "    pass:",
            "    ips: [127.0.0.1/32, '::1/128']",
            "    permissions: [{action: publish}, {action: read}]",
            "apiAllowOrigins: []",
            "hlsAllowOrigins: []",
            "api: yes",
            f"apiAddress: 127.0.0.1:{ports.api}",
            "metrics: yes",
            f"metricsAddress: 127.0.0.1:{ports.mediamtx_metrics}",
            f"rtspAddress: 127.0.0.1:{ports.rtsp}",
            "rtspTransports: [tcp]",
            f"hlsAddress: 127.0.0.1:{ports.hls}",
            "hlsVariant: mpegts",
            "hlsAlwaysRemux: yes",
            "rtmp: no",
            "webrtc: no",
            "srt: no",
            "pathDefaults:",
            f"  runOnOnline: {_hook_command()} online",
            f"  runOnOffline: {_hook_command()} offline",
            "paths:",
            "  all_others:",
            "",
        ]
    )


def _prometheus_config(ports: Ports, rules: Path, reader: ReaderCredentials | None) -> str:
    def job(name: str, targets: Sequence[int], auth: str = "") -> str:
        listed = ", ".join(f"'127.0.0.1:{port}'" for port in targets)
        return f"  - job_name: {name}\n{auth}    static_configs:\n      - targets: [{listed}]\n"

    jobs = job("trashmon-monitor", [ports.monitor]) + job("trashcam", ports.agents)
    if reader is not None:
        auth = (
            f"    basic_auth:\n      username: {reader.user}\n"
            f"      password_file: '{reader.password_file}'\n"
        )
        jobs += job("mediamtx", [ports.mediamtx_metrics], auth)
    return (
        "global:\n  scrape_interval: 5s\n  evaluation_interval: 5s\n"
        f"rule_files:\n  - '{rules}'\n"
        "alerting:\n  alertmanagers:\n"
        f"    - static_configs:\n        - targets: ['127.0.0.1:{ports.alertmanager}']\n"
        f"scrape_configs:\n{jobs}"
    )


def _routing_only(config: MixinConfig) -> list[dict[str, Any]]:
    """The shipped receivers' names without a destination: the demo notifies nobody."""
    return [{"name": receiver["name"]} for receiver in webhook_receivers(config)]


def _alertmanager_config() -> str:
    """The shipped routing, grouping and inhibitions (alerts/alertmanager.yml)."""
    # JSON is YAML: no PyYAML at run time.
    return json.dumps(alertmanager_config(DEFAULT_CONFIG, _routing_only))


def _camera_env(camera: str, device: str, port: int, ports: Ports, state: Path) -> str:
    from trashmonitor.pki import Layout

    pki = Layout(state / "pki")
    lines = {
        "CAMERA_DEV": device,
        "PUSH_URL": f"rtsp://127.0.0.1:{ports.rtsp}/{camera}",
        "FPS": "10",
        "WIDTH": "320",
        "HEIGHT": "240",
        "BITRATE": "300k",
        "METRICS_ADDR": f"127.0.0.1:{port}",
        "BUFFER_DIR": str(state / "buffer" / camera),
        "BUFFER_SEGMENTS": DEMO_BUFFER_SEGMENTS,
        "CAPTURES_DIR": str(state / "captures"),
        "MQTT_URL": f"mqtts://127.0.0.1:{ports.mqtt}",
        "MQTT_CA": str(pki.chain),
        "MQTT_CERT": str(pki.client_cert(camera)),
        "MQTT_KEY": str(pki.client_key(camera)),
        "SNAPSHOT_INTERVAL": DEMO_SNAPSHOT_INTERVAL,
    }
    return "".join(f'{key}="{value}"\n' for key, value in lines.items())


# --- the run ----------------------------------------------------------------------------


def _preflight(ports: Ports, mediamtx_bin: str | None) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for binary, package in REQUIRED_BINARIES.items():
        path = shutil.which(binary) or (shutil.which(binary, path="/usr/sbin:/sbin"))
        if path is None:
            raise ConfigError(binary, f"not installed: apt-get install -y {package}")
        found[binary] = path
    for binary in OPTIONAL_BINARIES:
        found[binary] = shutil.which(binary)
    fetched = mediamtx_release.cached_binary()
    mediamtx = mediamtx_bin or shutil.which("mediamtx") or (str(fetched) if fetched else None)
    if mediamtx and not os.access(mediamtx, os.X_OK):
        raise ConfigError("mediamtx", f"{mediamtx} is not an executable file")
    found["mediamtx"] = mediamtx
    for name, port in ports.named():
        if not _port_free(port):
            raise ConfigError(
                "--port-base",
                f"port {port} ({name}) is already in use: free it or pick another base",
            )
    return found


def _status(port: int) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}/api/status"
    with urllib.request.urlopen(url, timeout=2) as reply:
        document: dict[str, Any] = json.load(reply)
    return document


def status_table(document: dict[str, Any]) -> list[str]:
    """One line per camera: state, name, agent, reasons."""
    lines = []
    for camera in document.get("cameras", []):
        agent = camera.get("agent") or {}
        heard = "agent online" if agent.get("online") else "agent offline"
        if not agent:
            heard = "agent unknown"
        reasons = ", ".join(camera.get("reasons", [])) or "-"
        lines.append(f"  {camera['state']:<9} {camera['name']:<8} {heard:<14} {reasons}")
    return lines


@dataclass(frozen=True)
class ServerAssets:
    """What Caddy serves in the demo, as the package ships it (``trashmonitor._server``:
    server/'s Caddyfile, its caddy/*.caddy imports and the built viewer; setup.py)."""

    caddyfile: Path
    viewer: Path


def server_assets() -> ServerAssets:
    """The installed copies, wherever the package is (a wheel, or an editable checkout's
    links into server/); a missing one is a broken install, said in one line."""
    root = Path(str(resources.files("trashmonitor") / "_server"))
    assets = ServerAssets(root / "Caddyfile", root / "viewer" / "dist")
    for path in (assets.caddyfile, assets.viewer / "index.html"):
        if not path.is_file():
            raise TrashmonError(f"{path} is missing from the installed package: reinstall it")
    return assets


def run(args: argparse.Namespace) -> int:
    settings = read(args)
    ports = settings.ports
    found = _preflight(ports, settings.mediamtx_bin)
    state = settings.state_dir.resolve()
    logs = state / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stack = Stack(logs, sys.stdout)
    with stop_on_signals() as stop:
        try:
            _start_all(stack, found, ports, state)
            _print_urls(stack, ports, state, viewer=found.get("caddy") is not None)
            _watch(stack, ports, stop)
        finally:
            stack.stop()
    return EXIT_OK


def _start_all(stack: Stack, found: dict[str, str | None], ports: Ports, state: Path) -> None:
    stack.say(f"state, logs and captures in {state}")
    layout = _start_broker(stack, str(found["mosquitto"]), ports, state)
    reader = generate_reader_credentials(state / "secrets")
    hook_secret = generate_hook_secret(state / "secrets")
    mediamtx = _start_mediamtx(stack, found, ports, state, reader=reader, hook_secret=hook_secret)
    _start_agents(stack, ports, state)
    _start_monitor(stack, ports, layout, reader, hook_secret)
    scraped = reader if mediamtx is not None else None
    _start_prometheus(stack, str(found["prometheus"]), ports, state, scraped)
    _start_alertmanager(stack, str(found["prometheus-alertmanager"]), ports, state)
    _start_viewer(stack, found, ports, state, reader)


def _start_broker(stack: Stack, mosquitto: str, ports: Ports, state: Path) -> Layout:
    """A throw-away PKI for this machine, and mosquitto with mutual TLS on it."""
    from trashmonitor.pki import CaPassphrase, PkiRequest, create_pki

    layout = create_pki(
        PkiRequest(
            directory=state / "pki",
            cameras=tuple(camera for camera, _ in CAMERAS),
            monitors=("monitor",),
            controllers=(DEMO_CONTROLLER,),
            dns_names=("localhost",),
            ips=(parse_ip("127.0.0.1"),),
            listen_port=ports.mqtt,
            listen_address="127.0.0.1",
            broker_user=getpass.getuser(),
            # A throw-away PKI for one machine: nobody is there to type a passphrase.
            passphrase=CaPassphrase(encrypt=False),
        )
    )
    stack.start("mosquitto", [mosquitto, "-c", str(layout.mosquitto_conf)])
    stack.ready("mosquitto", lambda: _accepting(ports.mqtt))
    return layout


def _start_mediamtx(
    stack: Stack,
    found: dict[str, str | None],
    ports: Ports,
    state: Path,
    *,
    reader: ReaderCredentials,
    hook_secret: Path,
) -> str | None:
    """MediaMTX (found or downloaded), or None when there is none to run."""
    mediamtx = found["mediamtx"] or _download_mediamtx(stack)
    if mediamtx is None:
        return None
    config = state / "mediamtx.yml"
    config.write_text(_mediamtx_config(ports, reader))
    # Its runOn* hooks inherit this environment (docs/monitor.md, "Hooks").
    hook_env = {
        "TRASHMON_HOOK_SECRET_FILE": str(hook_secret),
        "TRASHMON_MONITOR_URL": f"http://127.0.0.1:{ports.monitor}",
    }
    stack.start("mediamtx", [mediamtx, str(config)], env=hook_env)
    stack.ready("mediamtx", lambda: _accepting(ports.api))
    return mediamtx


def _start_agents(stack: Stack, ports: Ports, state: Path) -> None:
    """One capture agent a camera, each with its env file; ready when /metrics answers."""
    for (camera, device), port in zip(CAMERAS, ports.agents, strict=True):
        env_file = state / f"{camera}.env"
        env_file.write_text(_camera_env(camera, device, port, ports, state))
        stack.start(
            f"agent-{camera}",
            [*_trashmon(), "capture", "--id", camera, "--env-file", str(env_file)],
        )
    for (camera, _), port in zip(CAMERAS, ports.agents, strict=True):
        metrics = f"http://127.0.0.1:{port}/metrics"
        stack.ready(f"agent-{camera}", functools.partial(_http_ok, metrics))


def _start_monitor(
    stack: Stack,
    ports: Ports,
    layout: Layout,
    reader: ReaderCredentials,
    hook_secret: Path,
) -> None:
    cameras = ",".join(camera for camera, _ in CAMERAS)
    stack.start(
        "monitor",
        [
            *_trashmon(), "monitor",
            "--api", f"http://127.0.0.1:{ports.api}",
            "--metrics-url", f"http://127.0.0.1:{ports.mediamtx_metrics}/metrics",
            "--listen", f"127.0.0.1:{ports.monitor}",
            "--expect", cameras,
            "--mqtt-url", f"mqtts://127.0.0.1:{ports.mqtt}",
            "--mqtt-ca", str(layout.chain),
            "--mqtt-cert", str(layout.client_cert("monitor")),
            "--mqtt-key", str(layout.client_key("monitor")),
            *_control_flags(layout),
        ],
        env={
            "TRASHMON_MEDIAMTX_CREDENTIALS_FILE": str(reader.credentials_file),
            "TRASHMON_HOOK_SECRET_FILE": str(hook_secret),
        },
    )  # fmt: skip
    stack.ready("monitor", lambda: _http_ok(f"http://127.0.0.1:{ports.monitor}/healthz"))


def _start_prometheus(
    stack: Stack, prometheus: str, ports: Ports, state: Path, reader: ReaderCredentials | None
) -> None:
    """Prometheus with the packaged rules; ``reader`` None: no MediaMTX to scrape."""
    rules = Path(str(resources.files("trashmonitor.alerts") / "trashmonitor.rules.yaml"))
    prometheus_dir = state / "prometheus"
    prometheus_dir.mkdir(exist_ok=True)
    (prometheus_dir / "prometheus.yml").write_text(_prometheus_config(ports, rules, reader))
    stack.start(
        "prometheus",
        [
            prometheus,
            f"--config.file={prometheus_dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={prometheus_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{ports.prometheus}",
        ],
    )
    stack.ready("prometheus", lambda: _http_ok(f"http://127.0.0.1:{ports.prometheus}/-/ready"))


def _start_alertmanager(stack: Stack, alertmanager: str, ports: Ports, state: Path) -> None:
    alertmanager_dir = state / "alertmanager"
    alertmanager_dir.mkdir(exist_ok=True)
    (alertmanager_dir / "alertmanager.yml").write_text(_alertmanager_config())
    stack.start(
        "alertmanager",
        [
            alertmanager,
            f"--config.file={alertmanager_dir / 'alertmanager.yml'}",
            f"--storage.path={alertmanager_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{ports.alertmanager}",
            "--cluster.listen-address=",  # one instance: no gossip port
        ],
    )
    stack.ready("alertmanager", lambda: _http_ok(f"http://127.0.0.1:{ports.alertmanager}/-/ready"))


def _start_viewer(
    stack: Stack,
    found: dict[str, str | None],
    ports: Ports,
    state: Path,
    reader: ReaderCredentials,
) -> None:
    caddy = found.get("caddy")
    if caddy is None:
        stack.say("viewer skipped: needs caddy")
        return
    assets = server_assets()
    control: dict[str, str] = {"TRASHMON_CONTROL": "off"}
    if DEMO_CONTROL_ENABLED:
        password = generate_control_password(state / "secrets", caddy)
        control = {
            "TRASHMON_CONTROL": "on",
            "TRASHMON_CONTROL_USER": CONTROL_USER,
            "TRASHMON_CONTROL_PASSWORD_HASH": password.bcrypt_hash,
        }
        # Said once, here; it stays in a 0600 file for later (never in argv).
        stack.say(
            f"camera control from the viewer: user {CONTROL_USER}, password "
            f"{password.password} (also in {password.password_file})"
        )
    stack.start(
        "caddy",
        [caddy, "run", "--config", str(assets.caddyfile), "--adapter", "caddyfile"],
        env={
            "TRASHMON_TLS": "off",
            "TRASHMON_HTTP_PORT": str(ports.viewer),
            "TRASHMON_HTTP_BIND": "127.0.0.1",
            "TRASHMON_VIEWER_ROOT": str(assets.viewer),
            "TRASHMON_MEDIAMTX_API_UPSTREAM": f"127.0.0.1:{ports.api}",
            "TRASHMON_MEDIAMTX_HLS_UPSTREAM": f"127.0.0.1:{ports.hls}",
            "TRASHMON_MONITOR_UPSTREAM": f"127.0.0.1:{ports.monitor}",
            **control,
            "TRASHMON_MEDIAMTX_BASIC_AUTH": reader.basic,
            "XDG_DATA_HOME": str(state / "caddy"),
            "XDG_CONFIG_HOME": str(state / "caddy"),
        },
    )
    stack.ready("caddy", lambda: _http_ok(f"http://127.0.0.1:{ports.viewer}/"))


def _control_flags(layout: Layout) -> list[str]:
    if not DEMO_CONTROL_ENABLED:
        return []
    return [
        "--control-cert", str(layout.client_cert(DEMO_CONTROLLER)),
        "--control-key", str(layout.client_key(DEMO_CONTROLLER)),
    ]  # fmt: skip


def _download_mediamtx(stack: Stack, cache: Path | None = None) -> str | None:
    """The pinned release, fetched and verified (mediamtx_release); None, said in one
    line, when it cannot be had (no network, or a checksum that does not match): the demo
    then runs without it."""
    stack.say(f"MediaMTX not installed: fetching the pinned release {mediamtx_release.VERSION}")
    try:
        return str(mediamtx_release.obtain(cache))
    except TrashmonError as error:
        stack.say(
            f"MediaMTX not found and not downloaded ({error.message}): running without it, "
            "so the cameras have nowhere to publish and show that; they still capture into "
            "their buffers (thumbnails, black/frozen) (set MEDIAMTX_BIN to use one)"
        )
        return None


def _trashmon() -> list[str]:
    # -P: never import a source folder from the current directory instead of the install.
    return [sys.executable, "-P", "-m", "trashmonitor"]


def _print_urls(stack: Stack, ports: Ports, state: Path, *, viewer: bool) -> None:
    urls = [
        ("monitor status", f"http://127.0.0.1:{ports.monitor}/api/status"),
        ("monitor metrics", f"http://127.0.0.1:{ports.monitor}/metrics"),
        ("Prometheus alerts", f"http://127.0.0.1:{ports.prometheus}/alerts"),
        ("Alertmanager", f"http://127.0.0.1:{ports.alertmanager}/#/alerts"),
    ]
    if viewer:
        urls.insert(0, ("viewer", f"http://127.0.0.1:{ports.viewer}/"))
    stack.say("up. Ctrl-C stops everything.")
    for label, url in urls:
        print(f"  {label:<18} {url}", file=stack.out, flush=True)
    from trashmonitor.pki import Layout

    pki = Layout(state / "pki")
    print(
        f"  take a picture:    mosquitto_pub -p {ports.mqtt} --cafile {pki.chain} "
        f"--cert {pki.client_cert(DEMO_CONTROLLER)} --key {pki.client_key(DEMO_CONTROLLER)} "
        "-t trashcam/cam1/control/action -m picture",
        file=stack.out,
        flush=True,
    )


def _watch(stack: Stack, ports: Ports, stop: threading.Event) -> None:
    shown: list[str] = []
    while not stop.wait(2.0):
        died = stack.exited()
        if died:
            raise TrashmonError(f"{', '.join(died)} exited; see {stack.logs}")
        try:
            table = status_table(_status(ports.monitor))
        except OSError:
            continue
        if table != shown:
            print(time.strftime("%H:%M:%S"), file=stack.out, flush=True)
            for line in table:
                print(line, file=stack.out, flush=True)
            shown = table


if __name__ == "__main__":  # the settings table of README.md
    print(SETTINGS.markdown(meaning=True), end="")
