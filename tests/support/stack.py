"""The project's own processes wired together on loopback, as a deployment runs them.

* mosquitto with a `trashmon pki` configuration (mutual TLS);
* an RTSP peer (``ffmpeg -rtsp_flags listen``) standing where MediaMTX's RTSP port is;
* ``trashmon capture`` (synthetic testsrc picture, small size, MQTT) publishing to it;
* the fake MediaMTX (API + /metrics), kept in step with the peer by :class:`PublisherBridge`;
* the fake Cloudflare + Tailscale APIs, so the monitor's DNS reconcile loop runs;
* ``trashmon monitor`` polling the fake MediaMTX, hearing the agent over MQTT and
  reconciling DNS, expecting the one camera.

Used by the alert tests: the metric-name contract scrapes the real ``/metrics`` of the
monitor and the agent, and the end-to-end test points a real Prometheus at them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capture.harness import SMALL, AgentProcess, Peer, start_agent_process, stop_agent_process

from support.background import BackgroundLoop
from support.dns_fake import FakeAPIs
from support.dns_world import dns_env, seed_world
from support.fake_mediamtx import FakeMediaMTX
from support.http import get_json, get_text
from support.mosquitto import make_pki, running_broker
from support.processes import TRASHMON, free_port, running, wait_until
from support.prometheus import ScrapeTarget
from trashmonitor.alerts.config import DEFAULT_CONFIG
from trashmonitor.monitor.agents import SD_PATH

CAMERA = "cam1"  # the id start_agent_process gives the agent (= the MediaMTX path)
INGEST_RATE = 40_000.0  # bytes/s the fake MediaMTX counts while the publisher is attached


def _established_on(port: int) -> bool:
    """Whether a TCP connection to ``port`` (server side) is established on loopback."""
    port_hex = f":{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as handle:
            for line in handle:
                fields = line.split()
                if len(fields) > 3 and fields[1].endswith(port_hex) and fields[3] == "01":
                    return True
    return False


class PublisherBridge(BackgroundLoop):
    """Stands in for MediaMTX knowing whether its publisher is attached.

    No MediaMTX runs here: the agent publishes to an ffmpeg RTSP peer instead, and the
    monitor reads the fake MediaMTX. This thread keeps the fake's path ``online`` (bytes
    growing) exactly while the peer is alive with a connection from the publisher, and
    offline otherwise, as MediaMTX reports a path whose publisher left.
    """

    def __init__(self, mediamtx: FakeMediaMTX, peer: Peer, interval: float = 0.1) -> None:
        super().__init__()
        self._mediamtx, self._peer, self._interval = mediamtx, peer, interval
        self.changes: list[bool] = []

    def attached(self) -> bool:
        proc = self._peer.proc
        return proc is not None and proc.poll() is None and _established_on(self._peer.port)

    def run(self) -> None:
        online: bool | None = None
        while not self.stopping.is_set():
            now = self.attached()
            if now != online:
                self._mediamtx.set_path(CAMERA, online=now, rate=INGEST_RATE)
                self.changes.append(now)
                online = now
            self.stopping.wait(self._interval)


@dataclass
class Stack:
    directory: Path
    mediamtx: FakeMediaMTX
    peer: Peer
    agent: AgentProcess
    monitor_address: str
    monitor_log: Path

    @property
    def agent_address(self) -> str:
        return f"{self.agent.metrics_host}:{self.agent.metrics_port}"

    def scrape_targets(self) -> list[ScrapeTarget]:
        """The scrape layout of docs/observability.md: the monitor and MediaMTX as static
        targets, the agents' own /metrics discovered through the monitor's
        /api/sd/agents (with ``honor_labels``: their series carry ``camera`` themselves,
        the same value as the discovered label, so no ``exported_camera``)."""
        return [
            ScrapeTarget(DEFAULT_CONFIG.monitor_job, self.monitor_address),
            ScrapeTarget(DEFAULT_CONFIG.mediamtx_job, self.mediamtx.url.removeprefix("http://")),
            ScrapeTarget(
                DEFAULT_CONFIG.capture_job, self.monitor_address, discovery=SD_PATH,
                honor_labels=True,
            ),
        ]  # fmt: skip

    def monitor_metrics(self) -> str:
        return get_text(f"http://{self.monitor_address}/metrics")

    def agent_metrics(self) -> str:
        return get_text(f"http://{self.agent_address}/metrics")

    def camera(self) -> dict[str, Any]:
        status = get_json(f"http://{self.monitor_address}/api/status")
        cameras: dict[str, dict[str, Any]] = {c["name"]: c for c in status["cameras"]}
        return cameras[CAMERA]

    def logs(self) -> str:
        return f"--- monitor\n{self.monitor_log.read_text(errors='replace')}\n--- agent\n" + (
            self.agent.log()
        )


STACK_HOOK_SECRET = "stack-hook-secret-0123456789"


@contextlib.contextmanager
def running_stack(directory: Path, agent_metrics_host: str = "127.0.0.1") -> Iterator[Stack]:
    """Everything above, up and streaming; stopped (by PID) when the block ends. The
    agent's /metrics is on loopback (not announced for discovery) unless
    ``agent_metrics_host`` names another address of this machine."""
    broker_port = free_port()
    pki = make_pki(directory / "pki", broker_port, cameras=(CAMERA,))
    mqtt_url = f"mqtts://127.0.0.1:{broker_port}"
    dns = seed_world(FakeAPIs())
    with contextlib.ExitStack() as stack:
        stack.enter_context(running_broker(pki, broker_port, directory / "mosquitto.log"))
        mediamtx = stack.enter_context(FakeMediaMTX("v1.20"))
        dns_url = stack.enter_context(dns.serve())
        peer = Peer(free_port(), directory / "peer.log")
        stack.callback(peer.stop)
        peer.start()
        stack.enter_context(PublisherBridge(mediamtx, peer))

        monitor_address = f"127.0.0.1:{free_port()}"
        monitor_log = directory / "monitor.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TRASHMON_", "OTEL_"))}
        monitor_argv = [
            *TRASHMON, "monitor", "--api", mediamtx.url, "--metrics-url", mediamtx.metrics_url,
            "--listen", monitor_address, "--expect", CAMERA, "--interval", "0.5",
            "--mqtt-url", mqtt_url, "--mqtt-ca", str(pki.chain),
            "--mqtt-cert", str(pki.client_cert("monitor")),
            "--mqtt-key", str(pki.client_key("monitor")), "--dns-interval", "1",
        ]  # fmt: skip
        stack.enter_context(
            running(
                monitor_argv,
                # Hooks on: their families are part of the monitor's exposition.
                env={**env, **dns_env(dns_url, dns), "TRASHMON_HOOK_SECRET": STACK_HOOK_SECRET},
                cwd=directory,
                log_path=monitor_log,
            )
        )
        agent = start_agent_process(
            directory, "--camera-dev", "testsrc", "--push-url", peer.url, *SMALL,
            "--mqtt-url", mqtt_url, "--mqtt-ca", str(pki.chain),
            "--mqtt-cert", str(pki.client_cert(CAMERA)),
            "--mqtt-key", str(pki.client_key(CAMERA)),
            metrics_host=agent_metrics_host,
        )  # fmt: skip
        stack.callback(stop_agent_process, agent.proc)
        running_stack_ = Stack(directory, mediamtx, peer, agent, monitor_address, monitor_log)
        try:
            wait_until(lambda: running_stack_.camera()["state"] == "ok", 60, 0.2, CAMERA)
        except AssertionError as error:
            raise AssertionError(f"{error} ok at the monitor\n{running_stack_.logs()}") from None
        yield running_stack_
