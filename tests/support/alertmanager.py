"""A real Alertmanager (Debian's `prometheus-alertmanager`) and a webhook that records.

The Alertmanager listens on a free loopback port with clustering off (its gossip port
would otherwise collide between concurrent runs), keeps its state in the test's
directory and is stopped by PID. :class:`WebhookRecorder` is the receiver: a tiny HTTP
server keeping every POST (path, Authorization header, JSON body) in arrival order.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import shutil
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support.processes import free_port, require_binary
from support.prometheus import serving_prometheus_project
from trashmonitor.alerts.config import MixinConfig
from trashmonitor.alerts.notifications import alertmanager_config
from trashmonitor.alerts.render import to_yaml

WEBHOOK_TOKEN = "test-webhook-token"
# Seconds instead of minutes, only in tests (MixinConfig overrides): the routing and
# inhibitions stay the shipped ones.
FAST_NOTIFICATIONS = {
    "notification_group_wait": "1s",
    "notification_group_interval": "1s",
    "notification_repeat_critical": "1h",
    "notification_repeat_warning": "1h",
}


@dataclass(frozen=True)
class Delivery:
    path: str
    authorization: str | None
    body: dict[str, Any]

    @property
    def status(self) -> str:
        return str(self.body["status"])

    def alert_names(self) -> list[str]:
        return sorted(alert["labels"]["alertname"] for alert in self.body["alerts"])


@dataclass
class WebhookRecorder:
    port: int = 0
    deliveries: list[Delivery] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def record(self, delivery: Delivery) -> None:
        with self._lock:
            self.deliveries.append(delivery)

    def received(self, path: str | None = None) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if path is None or d.path == path]


@contextlib.contextmanager
def recording_webhook() -> Iterator[WebhookRecorder]:
    recorder = WebhookRecorder()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            recorder.record(Delivery(self.path, self.headers.get("Authorization"), body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the deliveries are the record; stderr noise helps nobody

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    recorder.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def render_alertmanager_config(
    directory: Path, config: MixinConfig, webhook: WebhookRecorder
) -> Path:
    """The shipped routing rendered from ``config`` with receivers at ``webhook``."""
    token = directory / "webhook-token"
    token.write_text(WEBHOOK_TOKEN + "\n", encoding="utf-8")
    local = config.with_overrides(
        page_webhook_url=webhook.url("/page"),
        notify_webhook_url=webhook.url("/notify"),
        webhook_credentials_file=str(token),
    )
    path = directory / "alertmanager.yml"
    path.write_text(to_yaml(alertmanager_config(local)), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Alertmanager:
    address: str
    """``127.0.0.1:PORT``, where its API listens."""

    def api(self, path: str, payload: Any | None = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            f"http://{self.address}/api/v2{path}",
            data=data,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as reply:
            text = reply.read()
        return json.loads(text) if text else None

    def post_alerts(self, *labels: dict[str, str]) -> None:
        """Alerts as Prometheus sends them (firing: no endsAt)."""
        self.api("/alerts", [{"labels": dict(alert), "annotations": {}} for alert in labels])

    def alerts(self) -> list[dict[str, Any]]:
        return list(self.api("/alerts"))

    def alert_state(self, alertname: str) -> dict[str, Any] | None:
        """The ``status`` of the first active alert named ``alertname``, if any."""
        for alert in self.alerts():
            if alert["labels"]["alertname"] == alertname:
                return dict(alert["status"])
        return None


@contextlib.contextmanager
def running_alertmanager(directory: Path, config_file: Path) -> Iterator[Alertmanager]:
    # Debian names the binary prometheus-alertmanager; nixpkgs (flake.nix) alertmanager.
    binary = shutil.which("prometheus-alertmanager") or require_binary("alertmanager")
    alertmanager = Alertmanager(f"127.0.0.1:{free_port()}")
    with serving_prometheus_project(
        binary,
        directory,
        config=config_file,
        storage_flag="storage.path",
        address=alertmanager.address,
        ready=lambda: alertmanager.api("/status"),
        extra=["--cluster.listen-address="],  # no gossip port: single instance
    ):
        yield alertmanager
