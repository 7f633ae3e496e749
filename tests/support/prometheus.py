"""A real Prometheus server (Debian's `prometheus`) on a free loopback port, for tests.

It scrapes the given targets and evaluates the given rule files every second, keeps its
TSDB in the test's directory, and is stopped by PID when the block ends. The helpers
read Prometheus's own HTTP API, so tests assert what an operator would see.
"""

from __future__ import annotations

import contextlib
import json
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support.processes import REPO, free_port, require_binary, serving
from trashmonitor.alerts.config import MixinConfig
from trashmonitor.alerts.render import rules_yaml

SHIPPED_RULES = REPO / "alerts" / "trashmonitor.rules.yaml"


@dataclass(frozen=True)
class ScrapeTarget:
    job: str
    address: str
    """``host:port``; with ``discovery``, the address of the service-discovery endpoint."""
    metrics_path: str = "/metrics"
    discovery: str | None = None
    """A path on ``address`` serving Prometheus HTTP SD (``http_sd_configs``): the job's
    targets come from there instead of being ``address`` itself."""
    honor_labels: bool = False
    more_addresses: tuple[str, ...] = ()
    """Further ``host:port`` targets of the same job (monitor replicas)."""
    labels: tuple[tuple[str, str], ...] = ()
    """Target labels, e.g. the ``site`` of a MediaMTX (static targets only)."""

    def as_scrape_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "job_name": self.job,
            "metrics_path": self.metrics_path,
            "honor_labels": self.honor_labels,
        }
        if self.discovery is None:
            targets = [self.address, *self.more_addresses]
            config["static_configs"] = [{"targets": targets, "labels": dict(self.labels)}]
        else:
            url = f"http://{self.address}{self.discovery}"
            config["http_sd_configs"] = [{"url": url, "refresh_interval": "1s"}]
        return config


def prometheus_config(
    targets: Sequence[ScrapeTarget],
    rule_files: Sequence[Path],
    alertmanagers: Sequence[str] = (),
    external_labels: Mapping[str, str] | None = None,
) -> str:
    """``alertmanagers``: ``host:port`` of Alertmanagers to send firing/resolved alerts to;
    ``external_labels``: what this server adds to federated series and sent alerts (a
    per-site Prometheus names its ``site`` there)."""
    settings: dict[str, Any] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    if external_labels:
        settings["external_labels"] = dict(external_labels)
    config: dict[str, Any] = {
        "global": settings,
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [target.as_scrape_config() for target in targets],
    }
    if alertmanagers:
        static = [{"targets": list(alertmanagers)}]
        config["alerting"] = {"alertmanagers": [{"static_configs": static}]}
    # JSON is valid YAML, and keeps the config free of quoting questions.
    return json.dumps(config)


def render_rules(path: Path, config: MixinConfig) -> Path:
    """A rule file rendered from ``config`` (e.g. with `for` windows shortened)."""
    path.write_text(rules_yaml(config), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Prometheus:
    port: int
    host: str = "127.0.0.1"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def api(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://{self.host}:{self.port}{path}", timeout=5) as reply:
            document = json.load(reply)
        assert document["status"] == "success", document
        return document["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector ``expr`` evaluates to now."""
        result = self.api("/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        assert result["resultType"] == "vector", result
        return list(result["result"])

    def rule_states(self, alert_name: str) -> dict[str, str]:
        """Rule file -> state of ``alert_name`` in it (inactive, pending, firing)."""
        return {
            group["file"]: rule["state"]
            for group in self.api("/api/v1/rules?type=alert")["groups"]
            for rule in group["rules"]
            if rule["name"] == alert_name
        }

    def alerts(self, alert_name: str, state: str | None = None) -> list[dict[str, Any]]:
        """Active alerts named ``alert_name`` from /api/v1/alerts (optionally one state)."""
        return [
            alert
            for alert in self.api("/api/v1/alerts")["alerts"]
            if alert["labels"]["alertname"] == alert_name
            and (state is None or alert["state"] == state)
        ]

    def unhealthy_rules(self) -> list[tuple[str, str, str | None]]:
        """(file, rule, last error) of every rule whose last evaluation failed."""
        return [
            (group["file"], rule["name"], rule.get("lastError"))
            for group in self.api("/api/v1/rules")["groups"]
            for rule in group["rules"]
            if rule["health"] != "ok"
        ]

    def active_targets(self, job: str) -> list[dict[str, Any]]:
        """Prometheus's active targets of ``job`` (labels, health, scrapeUrl …)."""
        return [
            target
            for target in self.api("/api/v1/targets?state=active")["activeTargets"]
            if target["labels"]["job"] == job
        ]

    def targets_up(self) -> dict[str, bool]:
        """Job -> whether all of its targets' last scrape succeeded."""
        jobs: dict[str, bool] = {}
        for target in self.api("/api/v1/targets")["activeTargets"]:
            job = target["labels"]["job"]
            jobs[job] = jobs.get(job, True) and target["health"] == "up"
        return jobs


@contextlib.contextmanager
def running_prometheus(
    directory: Path,
    targets: Sequence[ScrapeTarget],
    rule_files: Sequence[Path],
    alertmanagers: Sequence[str] = (),
    external_labels: Mapping[str, str] | None = None,
) -> Iterator[Prometheus]:
    config = prometheus_config(targets, rule_files, alertmanagers, external_labels)
    with running_prometheus_config(directory, config) as prometheus:
        yield prometheus


@contextlib.contextmanager
def running_prometheus_config(
    directory: Path, config_text: str, extra_args: Sequence[str] = ()
) -> Iterator[Prometheus]:
    """Prometheus with the given configuration file text (e.g. a shipped file adapted),
    its config, TSDB and log in ``directory``; ``extra_args`` such as
    ``--web.enable-remote-write-receiver``."""
    binary = require_binary("prometheus")
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "prometheus.yml"
    config.write_text(config_text, encoding="utf-8")
    log = directory / "prometheus.log"
    prometheus = Prometheus(free_port())
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={directory / 'prometheus-data'}",
        f"--web.listen-address=127.0.0.1:{prometheus.port}",
        "--log.level=warn",
        *extra_args,
    ]
    with serving(argv, log, lambda: prometheus.api("/api/v1/status/buildinfo"), "prometheus"):
        yield prometheus
