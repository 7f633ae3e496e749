"""A tailnet in a box: the shipped deployment on network namespaces (tests/support/netns.py).

Hosts (one namespace each, all on one bridge; the test itself is the bridge's address):

* ``server``: ``server/entrypoint`` as the image runs it (environment = the Containerfile's
  ``ENV`` + compose.yaml's ``environment``), so Caddy (server/Caddyfile) and ``trashmon
  monitor`` are the real ones; TRASHMON_MEDIAMTX_BIN is the MediaMTX stand-in
  (mediamtx_standin.py, the shipped mediamtx.yml, RTSP ingest on :8554). mosquitto runs
  here too with the config ``trashmon pki create`` wrote, on :8883 as compose publishes it.
* ``prometheus``: Debian's Prometheus with the shipped server/prometheus/prometheus.yml
  ("server" resolved to the server's address as compose's DNS would, rule and target
  paths to their copies here, intervals 1 s) and two rule files: the shipped rules and
  a copy with every ``for`` window 2 s.
* ``cap1``, ``cap2``: one camera each, env files and the unit's credentials rendered by the
  ansible role (tests/provision), ``trashmon capture`` started with the unit's ExecStart
  and Environment=, /etc/trashcam being the role's output (a private mount namespace).
* ``operator``: where ``trashmon probe`` runs against the server through Caddy.

The Cloudflare and Tailscale stand-ins (tests/support/dns_fake.py) answer on the test's
own address: the monitor's DNS loop reaches them over the bridge.
"""

from __future__ import annotations

import configparser
import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from base64 import b64encode
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from secrets import token_urlsafe
from typing import Any

import yaml
from provision.playbooks import FakeHost, run_playbook
from server.server_harness import Browser
from support.dns_fake import FakeAPIs
from support.dns_world import dns_env, seed_world
from support.http import get_json, get_text
from support.netns import Host, Tailnet
from support.processes import REPO, TRASHMON, require_binary, stop_process, wait_until
from support.prometheus import SHIPPED_RULES, Prometheus, render_rules

from trashmonitor.alerts.config import DEFAULT_CONFIG

HERE = Path(__file__).parent
VENV_BIN = Path(sys.executable).parent
CAMERAS = {"cap1": "cam1", "cap2": "cam2"}  # capture host -> camera (declared in mediamtx.yml)
RENDER_ENV = REPO / "tests" / "provision" / "render_env.yml"
UNIT = REPO / "capture" / "systemd" / "trashcam@.service"
# The shipped rules with every `for` window 2 s and the restart-loop look-back 20 s (as
# tests/alerts/test_alerts_end_to_end.py shortens them): expressions otherwise identical.
FAST_RULES = DEFAULT_CONFIG.with_overrides(
    restart_window="20s",
    **{f.name: "2s" for f in dataclasses.fields(DEFAULT_CONFIG) if f.name.endswith("_for")},
)

# /etc/trashcam on a capture host is the role's output: an overlay on /etc (writes go to
# a tmpfs) and a bind mount, in a mount namespace of the agent's own, so the machine's
# /etc is never touched. The overlay shows the machine's /etc underneath: the host's own
# /etc/hosts (ip netns exec's bind mount) is copied in again.
ETC_TRASHCAM = (
    'etc_src=$1 scratch=$2; shift 2; mount -t tmpfs none "$scratch"; '
    'mkdir "$scratch/u" "$scratch/w"; cp /etc/hosts "$scratch/hosts"; '
    'mount -t overlay overlay -o "lowerdir=/etc,upperdir=$scratch/u,workdir=$scratch/w" /etc; '
    'cp "$scratch/hosts" /etc/hosts; '
    'mkdir -p /etc/trashcam; mount --bind "$etc_src" /etc/trashcam; exec "$@"'
)


def container_env(containerfile: Path, base: Mapping[str, str]) -> dict[str, str]:
    """The ``ENV`` instructions of the final stage, ``$VAR`` expanded against ``base``."""
    text = containerfile.read_text().replace("\\\n", " ")
    final = text.split("\nFROM ")[-1]
    env: dict[str, str] = {}
    for line in final.splitlines():
        if line.startswith("ENV "):
            for word in shlex.split(line[4:]):
                key, _, value = word.partition("=")
                env[key] = re.sub(r"\$(\w+)", lambda m: {**base, **env}.get(m.group(1), ""), value)
    return env


COMPOSE = REPO / "server" / "compose.yaml"


def _interpolate(value: str, variables: Mapping[str, str]) -> str:
    """``${VAR}``, ``${VAR:-default}``, ``${VAR:?message}`` as compose resolves them."""

    def one(match: re.Match[str]) -> str:
        name, operator, rest = match.group(1), match.group(2) or "", match.group(3) or ""
        if variables.get(name):
            return variables[name]
        return rest if operator == ":-" else ""

    return re.sub(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}", one, value)


@dataclass(frozen=True)
class ComposeService:
    """One service of server/compose.yaml, resolved with the user's variables."""

    environment: dict[str, str]
    mounts: dict[str, Path]  # path inside the container -> path on the host

    def host_path(self, value: str) -> str:
        """``value`` with a container path a bind mount provides replaced by its source."""
        for target, source in sorted(self.mounts.items(), key=lambda m: -len(m[0])):
            if value == target or value.startswith(target.rstrip("/") + "/"):
                return str(source) + value[len(target) :]
        return value


def compose_service(
    name: str, variables: Mapping[str, str], named_volumes: Path | None = None
) -> ComposeService:
    """The service as compose runs it; a named volume becomes a directory below
    ``named_volumes`` (created empty, as docker does for a new volume)."""
    service = yaml.safe_load(COMPOSE.read_text())["services"][name]
    raw: dict[str, Any] = service.get("environment") or {}
    environment = {key: _interpolate(str(value), variables) for key, value in raw.items()}
    mounts = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            source = _interpolate(str(volume["source"]), variables)
            target = _interpolate(str(volume["target"]), variables)
        else:
            source, target = _interpolate(str(volume), variables).split(":")[:2]
        if source.startswith((".", "/")):  # a bind mount
            mounts[target] = (COMPOSE.parent / source).resolve()
        elif named_volumes is not None:
            mounts[target] = named_volumes / source
            mounts[target].mkdir(parents=True, exist_ok=True)
    return ComposeService(environment, mounts)


def prometheus_yaml(service: ComposeService, rules_dir: Path) -> str:
    """The shipped scrape configuration with every file where compose mounts it from, the
    rules from ``rules_dir`` and intervals of 1 s; target names ("server") resolve
    through each host's /etc/hosts as compose's DNS resolves them."""
    document = yaml.safe_load((REPO / "server" / "prometheus" / "prometheus.yml").read_text())
    document["global"] = {**document.get("global", {}), "scrape_interval": "1s",
                          "evaluation_interval": "1s"}  # fmt: skip
    document["rule_files"] = [str(rules_dir / "*.yaml")]

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(value) for value in node]
        if isinstance(node, str):
            return service.host_path(node)
        return node

    return json.dumps(resolve(document))


def accepting(address: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((address, port), 0.5):
        return True
    return False


@dataclass
class Box:
    directory: Path
    tailnet: Tailnet
    dns: FakeAPIs
    hosts: dict[str, Host] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    pki: Path = Path()
    prometheus: Prometheus = field(default_factory=lambda: Prometheus(9090))

    @property
    def server(self) -> Host:
        return self.hosts["server"]

    @property
    def viewer_url(self) -> str:
        return f"http://{self.server.address}:8080"

    def log(self, name: str) -> Path:
        return self.directory / f"{name}.log"

    def logs(self) -> str:
        parts = []
        for name in self.procs:
            text = self.log(name).read_text(errors="replace") if self.log(name).exists() else ""
            parts.append(f"--- {name}\n{text[-3000:]}")
        return "\n".join(parts)

    def start(self, name: str, host: Host, argv: list[str], env: Mapping[str, str]) -> None:
        self.procs[name] = host.popen(argv, env=env, log_path=self.log(name), cwd=self.directory)

    def stop(self, name: str) -> None:
        proc = self.procs.get(name)
        if proc is not None:
            stop_process(proc, grace=15)

    def kill(self, name: str) -> None:
        self.procs[name].kill()
        self.procs[name].wait(10)

    def status(self) -> dict[str, dict[str, Any]]:
        """camera -> its entry in the monitor's /api/status, read through Caddy (/status)."""
        document = get_json(f"{self.viewer_url}/status")
        return {camera["name"]: camera for camera in document["cameras"]}

    def discovered_agents(self) -> set[str]:
        """Cameras the monitor's HTTP service discovery lists for Prometheus."""
        groups = get_json(f"http://{self.server.address}:9843/api/sd/agents")
        return {group["labels"]["camera"] for group in groups}

    def monitor_metrics(self) -> str:
        return get_text(f"http://{self.server.address}:9843/metrics")

    def firing(self) -> list[str]:
        return sorted(
            f"{a['labels']['alertname']}{{camera={a['labels'].get('camera', '')}}}"
            for a in self.prometheus.api("/api/v1/alerts")["alerts"]
            if a["state"] == "firing"
        )

    def wait(self, predicate: Any, timeout: float, what: str, detail: Any = lambda: "") -> Any:
        """wait_until, failing with ``detail()`` (what was seen instead) and the logs."""
        try:
            return wait_until(predicate, timeout, 0.5, what)
        except AssertionError as error:
            raise AssertionError(f"{error}\nseen: {detail()}\n{self.logs()}") from None

    # -- bring-up, one piece each
    def start_broker(self) -> None:
        conf = self.pki / "broker" / "mosquitto.conf"
        self.start("mosquitto", self.server, [require_binary("mosquitto"), "-c", str(conf)],
                   {"PATH": os.environ["PATH"]})  # fmt: skip
        self.wait(lambda: accepting(self.server.address, 8883), 20, "mosquitto on :8883")

    def compose_variables(self) -> dict[str, str]:
        """server/.env as docs/server.md has the user write it."""
        return {
            "TRASHMON_PKI_DIR": str(self.pki),
            "TRASHMON_BIND_ADDRESS": self.server.address,
            # the name operators use for the server (its MagicDNS name on a real tailnet)
            "TRASHMON_SITE_NAMES": "server",
            "TRASHMON_MEDIAMTX_READER_DIR": str(self.secrets),
            "TRASHMON_UID": str(os.getuid()),
            "TRASHMON_GID": str(os.getgid()),
        }

    def start_server(self, dns_url: str) -> None:
        base = {"PATH": f"{VENV_BIN}:{os.environ['PATH']}"}
        compose = compose_service("server", self.compose_variables(), self.directory / "volumes")
        scratch = self.directory / "server-tmp"
        scratch.mkdir()
        env = {
            **base,
            **container_env(REPO / "server" / "Containerfile", base),
            **{key: compose.host_path(value) for key, value in compose.environment.items()},
            # the image's own files, from this checkout
            "TRASHMON_CADDYFILE": str(REPO / "server" / "Caddyfile"),
            "TRASHMON_VIEWER_ROOT": str(self.viewer_root()),
            "HOME": str(scratch), "TMPDIR": str(scratch),
            "XDG_CONFIG_HOME": str(scratch / "caddy/config"),
            "XDG_DATA_HOME": str(scratch / "caddy/data"),
            # the stand-ins for the binaries the image carries
            "TRASHMON_MEDIAMTX_BIN": str(self.standin_script()),
            "TRASHMON_BIN": str(VENV_BIN / "trashmon"),
            # each camera's publisher, as docs/server.md has the user add them
            **self.publisher_hashes(),
            # the DNS loop, switched on as docs/dns.md says, against the API stand-ins
            "TRASHMON_DNS_INTERVAL": "2",
            **{k: v for k, v in dns_env(dns_url, self.dns).items() if k not in ("PATH", "HOME")},
        }  # fmt: skip
        self.start("server", self.server, [str(REPO / "server" / "entrypoint")], env)
        self.wait(self.status, 60, "the monitor's status through Caddy")

    @property
    def secrets(self) -> Path:
        return self.directory / "secrets"

    def make_secrets(self) -> None:
        """The reader's files as docs/server.md ("Credentials") creates them, and one
        publish password per camera."""
        self.secrets.mkdir(mode=0o700)
        password = token_urlsafe(24)
        (self.secrets / "username").write_text("trashmon-reader")
        (self.secrets / "password").write_text(password)
        (self.secrets / "credentials").write_text(f"trashmon-reader:{password}")
        for name in ("username", "credentials"):
            (self.secrets / name).chmod(0o600)
        (self.secrets / "password").chmod(0o640)
        for camera in CAMERAS.values():
            (self.secrets / f"{camera}-stream-password").write_text(token_urlsafe(24))

    def stream_password(self, camera: str) -> str:
        return (self.secrets / f"{camera}-stream-password").read_text()

    def publisher_hashes(self) -> dict[str, str]:
        """MTX_AUTHINTERNALUSERS_<i>_PASS for each camera's publisher item."""
        config = yaml.safe_load((REPO / "server" / "mediamtx.yml").read_text())
        env = {}
        for index, user in enumerate(config["authInternalUsers"]):
            if user["user"] in CAMERAS.values():
                digest = hashlib.sha256(self.stream_password(user["user"]).encode()).digest()
                env[f"MTX_AUTHINTERNALUSERS_{index}_PASS"] = "sha256:" + b64encode(digest).decode()
        assert len(env) == len(CAMERAS), f"a publisher item per camera: {env.keys()}"
        return env

    def viewer_root(self) -> Path:
        root = self.directory / "viewer"
        if not root.exists():
            node = require_binary("node")
            build = [node, str(REPO / "server/viewer/build.mjs"), str(root)]
            built = subprocess.run(build, capture_output=True, text=True, timeout=120, check=False)
            assert built.returncode == 0, f"viewer build (run scripts/setup): {built.stderr}"
        return root

    def standin_script(self) -> Path:
        script = self.directory / "mediamtx"
        script.write_text(
            f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -P "
            f'{shlex.quote(str(HERE / "mediamtx_standin.py"))} "$@"\n'
        )
        script.chmod(0o755)
        return script

    def start_prometheus(self) -> None:
        host = self.hosts["prometheus"]
        rules_dir = self.directory / "rules"
        rules_dir.mkdir()
        shutil.copy(SHIPPED_RULES, rules_dir / "trashmonitor.rules.yaml")
        render_rules(rules_dir / "fast.rules.yaml", FAST_RULES)
        config = self.directory / "prometheus.yml"
        compose = compose_service("prometheus", self.compose_variables())
        config.write_text(prometheus_yaml(compose, rules_dir))
        argv = [require_binary("prometheus"), f"--config.file={config}",
                f"--storage.tsdb.path={self.directory / 'prometheus-data'}",
                "--web.listen-address=0.0.0.0:9090", "--log.level=warn"]  # fmt: skip
        self.start("prometheus", host, argv, {"PATH": os.environ["PATH"]})
        self.prometheus = Prometheus(9090, host.address)
        self.wait(lambda: self.prometheus.api("/api/v1/status/buildinfo"), 60, "prometheus")

    def render_capture_host(self, host: Host, camera: str) -> FakeHost:
        fake = FakeHost(self.directory / host.name)
        fake.make_system_dirs()
        extra = {
            "trashcam_manage_services": False,
            "trashcam_push_base": "rtsp://server:8554",
            "trashcam_mqtt_url": "mqtts://server:8883",
            "trashcam_mqtt_pki_src": str(self.pki),
            "trashcam_metrics_host": host.address,
        }
        camera_vars = {"id": camera, "device": "testsrc", "fps": 5, "width": 320,
                       "height": 240, "bitrate": "200k", "stream_user": camera,
                       "stream_password": self.stream_password(camera)}  # fmt: skip
        result = run_playbook(fake, [camera_vars], unit_src_dir=UNIT.parent,
                              extra_vars=extra, playbook=RENDER_ENV)  # fmt: skip
        assert result.returncode == 0, result.output
        return fake

    def start_capture(self, host: Host, camera: str, fake: FakeHost) -> None:
        unit = configparser.ConfigParser(strict=False, interpolation=None)
        unit.optionxform = str  # type: ignore[assignment,method-assign]
        unit.read_string(UNIT.read_text())
        exec_start = shlex.split(unit["Service"]["ExecStart"].replace("%i", camera))
        assert exec_start[0] == "/usr/bin/trashmon", exec_start  # the role's link to its venv
        argv = [str(VENV_BIN / "trashmon"), *exec_start[1:]]
        # systemd's environment for the unit: Environment=, and the directories it makes.
        env = {"PATH": os.environ["PATH"]}
        for assignment in shlex.split(unit["Service"].get("Environment", "")):
            key, _, value = assignment.partition("=")
            env[key] = value
        credentials = self.directory / host.name / "credentials" / camera
        credentials.mkdir(parents=True)
        drop_in = fake.systemd_dir / f"trashcam@{camera}.service.d" / "credentials.conf"
        for line in drop_in.read_text().splitlines():
            if line.startswith("LoadCredential="):
                name, _, source = line.removeprefix("LoadCredential=").partition(":")
                shutil.copy(source, credentials / name)
        env["CREDENTIALS_DIRECTORY"] = str(credentials)
        for kind in ("RUNTIME", "STATE"):
            directory = self.directory / host.name / kind.lower() / camera
            directory.mkdir(parents=True)
            env[f"{kind}_DIRECTORY"] = str(directory)
        scratch = self.directory / host.name / "etc-overlay"
        scratch.mkdir(exist_ok=True)
        wrapped = ["unshare", "--mount", "--propagation", "private", "sh", "-ec", ETC_TRASHCAM,
                   "sh", str(fake.etc), str(scratch), *argv]  # fmt: skip
        self.start(camera, host, wrapped, env)


@contextlib.contextmanager
def running_box(directory: Path, tailnet: Tailnet) -> Iterator[Box]:
    """Every host up, every process started, both cameras streaming; all stopped after."""
    box = Box(directory, tailnet, seed_world(FakeAPIs()))
    for name in ("server", "prometheus", *CAMERAS, "operator"):
        box.hosts[name] = tailnet.add_host(name)
    # Names as compose's DNS gives them (mosquitto's port is published on the server
    # host), and each host by its own name as MagicDNS would.
    tailnet.name_hosts({
        **{name: host.address for name, host in box.hosts.items()},
        "mosquitto": box.server.address,
    })  # fmt: skip
    pki = directory / "pki"
    done = subprocess.run(
        [*TRASHMON, "pki", "create", str(pki), *(f"--camera={c}" for c in CAMERAS.values()),
         "--dns=mosquitto", "--dns=server",
         f"--ip={box.server.address}", "--broker-user=root",
         "--no-ca-password"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    box.pki = pki
    box.make_secrets()
    with contextlib.ExitStack() as stack:
        for name in ("server", "mosquitto", "prometheus", *CAMERAS.values()):
            stack.callback(box.stop, name)
        dns_url = stack.enter_context(box.dns.serve(tailnet.harness_address))
        box.start_broker()
        rendered = {h: box.render_capture_host(box.hosts[h], c) for h, c in CAMERAS.items()}
        box.start_server(dns_url)
        for host_name, camera in CAMERAS.items():
            box.start_capture(box.hosts[host_name], camera, rendered[host_name])
        # Prometheus once the agents have announced themselves: its first service
        # discovery request then lists them (the shipped refresh interval is 30 s).
        box.wait(
            lambda: box.discovered_agents() == set(CAMERAS.values()),
            120,
            "every agent listed by the monitor's /api/sd/agents",
            box.status,
        )
        box.start_prometheus()
        yield box


@contextlib.contextmanager
def operator_browser(box: Box) -> Iterator[Browser]:
    """Headless Chromium on the operator host, driven from the test over the tailnet."""
    operator = box.hosts["operator"]
    port = 9515
    argv = [require_binary("chromedriver"), f"--port={port}",
            f"--allowed-ips={box.tailnet.harness_address}", "--allowed-origins=*"]  # fmt: skip
    box.start(
        "chromedriver", operator, argv, {"PATH": os.environ["PATH"], "HOME": str(box.directory)}
    )
    url = f"http://{operator.address}:{port}"
    try:
        box.wait(lambda: get_json(f"{url}/status")["value"]["ready"], 30, "chromedriver")
        session = Browser(url, box.directory / "chromium-profile")
        try:
            yield session
        finally:
            session.close()
    finally:
        box.stop("chromedriver")
