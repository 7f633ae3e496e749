"""server/compose.yaml, checked statically: no container engine runs here (GUIDE §9).

Debian's docker-compose (1.29, Python) validates the file against the compose schema and
resolves variables and paths with `config`, which needs no engine. The resolved file is
then checked for what the single-host deployment relies on. Prometheus' configuration
goes through the real `promtool check config`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from server.server_harness import assert_promtool_accepts
from support.processes import REPO, require_binary

from trashmonitor.alerts.config import DEFAULT_CONFIG

COMPOSE = REPO / "server" / "compose.yaml"
COMPOSE_TLS = REPO / "server" / "compose.tls.yaml"
COMPOSE_CONTROL = REPO / "server" / "compose.control.yaml"
PROMETHEUS = REPO / "server" / "prometheus" / "prometheus.yml"

BIND_ADDRESS = "100.101.102.103"

# Produced by other components (docs/contracts.md); mounted, not owned, by the bundle.
CONTRACT_ARTEFACTS = {
    REPO / "alerts" / "trashmonitor.rules.yaml",
    REPO / "alerts" / "alertmanager.yml",
    REPO / "dashboards" / "provisioning" / "dashboards.yaml",
    REPO / "dashboards" / "generated",
}


def compose_config(
    tmp_path: Path, *files: Path, env: dict[str, str | None] | None = None
) -> subprocess.CompletedProcess[str]:
    """`docker-compose config` with a placeholder environment; None in ``env`` unsets."""
    base_env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "TRASHMON_PKI_DIR": "/srv/trashmonitor/pki",
        "GRAFANA_ADMIN_PASSWORD": "not-a-real-password",
        "TRASHMON_TLS_DIR": "/srv/trashmonitor/tls",
        "TRASHMON_BIND_ADDRESS": BIND_ADDRESS,
        "TRASHMON_MEDIAMTX_READER_DIR": "/srv/trashmonitor/mediamtx-reader",
        "TRASHMON_ALERT_WEBHOOK_TOKEN_FILE": "/srv/trashmonitor/alertmanager/webhook-token",
    }
    argv = [require_binary("docker-compose")]
    for file in files:
        argv += ["-f", str(file)]
    return subprocess.run(
        [*argv, "config"],
        env={k: v for k, v in {**base_env, **(env or {})}.items() if v is not None},
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    result = compose_config(tmp_path_factory.mktemp("compose"), COMPOSE)
    assert result.returncode == 0, result.stderr
    return dict(yaml.safe_load(result.stdout))


def test_compose_file_is_valid_and_has_the_five_services(resolved: dict[str, Any]) -> None:
    assert set(resolved["services"]) == {
        "server",
        "mosquitto",
        "prometheus",
        "alertmanager",
        "grafana",
    }


def test_a_schema_error_is_caught(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    text = COMPOSE.read_text().replace("    read_only: true\n", "    read_onyl: true\n", 1)
    assert "read_onyl" in text
    broken.write_text(text)
    result = compose_config(tmp_path, broken)
    assert result.returncode != 0
    assert "read_onyl" in result.stderr


def test_the_pki_directory_is_required_with_a_clear_message(tmp_path: Path) -> None:
    result = compose_config(tmp_path, COMPOSE, env={"TRASHMON_PKI_DIR": ""})
    assert result.returncode != 0
    assert "set TRASHMON_PKI_DIR" in result.stderr


def test_images_are_pinned_and_the_server_is_built_from_the_containerfile(
    resolved: dict[str, Any],
) -> None:
    for name, service in resolved["services"].items():
        image = service["image"]
        tag = image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else ""
        assert re.search(r"\d", tag) or name == "server", f"{name}: {image} is not pinned"
    build = resolved["services"]["server"]["build"]
    assert Path(build["context"]) == REPO
    assert (REPO / build["dockerfile"]) == REPO / "server" / "Containerfile"


def bind_sources(service: dict[str, Any]) -> list[tuple[Path, str]]:
    mounts = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                mounts.append((Path(volume["source"]), volume["target"]))
        else:
            source, target = volume.split(":")[:2]
            if source.startswith("/"):
                mounts.append((Path(source), target))
    return mounts


def test_every_bind_mount_from_the_repository_exists_or_is_a_contract_artefact(
    resolved: dict[str, Any],
) -> None:
    for name, service in resolved["services"].items():
        for source, _ in bind_sources(service):
            if REPO in source.parents:
                assert source.exists() or source in CONTRACT_ARTEFACTS, f"{name}: {source}"


def test_contract_artefacts_are_present() -> None:
    missing = [str(p.relative_to(REPO)) for p in CONTRACT_ARTEFACTS if not p.exists()]
    assert missing == [], "the alerts/dashboards outputs compose mounts are missing"
    provisioning = yaml.safe_load(
        (REPO / "dashboards" / "provisioning" / "dashboards.yaml").read_text()
    )
    path = provisioning["providers"][0]["options"]["path"]
    grafana = dict(yaml.safe_load(COMPOSE.read_text()))["services"]["grafana"]
    assert any(v.endswith(f":{path}:ro") for v in grafana["volumes"] if isinstance(v, str))


def test_server_runs_read_only_with_the_monitor_wired_to_mosquitto(
    resolved: dict[str, Any],
) -> None:
    server = resolved["services"]["server"]
    assert server["read_only"] is True
    assert "/tmp" in server["tmpfs"]
    env = server["environment"]
    pki = "/srv/trashmonitor/pki"
    assert env["TRASHMON_MQTT_URL"] == "mqtts://mosquitto:8883"
    # the file names `trashmon pki create` writes
    assert env["TRASHMON_MQTT_CA"] == f"{pki}/ca-chain.crt"
    assert env["TRASHMON_MQTT_CERT"] == f"{pki}/clients/monitor.crt"
    assert env["TRASHMON_MQTT_KEY"] == f"{pki}/clients/monitor.key"
    targets = dict((str(s), t) for s, t in bind_sources(server))
    assert targets[str(REPO / "server" / "mediamtx.yml")] == env["TRASHMON_MEDIAMTX_CONFIG"]
    # only the monitor's own identity and the CA chain, never the whole PKI (issue 11)
    assert {s: t for s, t in targets.items() if s.startswith(pki)} == {
        f"{pki}/{name}": f"{pki}/{name}"
        for name in ("ca-chain.crt", "clients/monitor.crt", "clients/monitor.key")
    }
    published = {p.split(":")[-1].split("/")[0] for p in server["ports"]}
    assert published == {"8080", "8554"}  # metrics and the API stay inside
    # Issue 16 §3: the incident history lives on a named volume, not the read-only root.
    state = env["TRASHMON_STATE_DIR"]
    named = [v.split(":")[:2] for v in server["volumes"] if isinstance(v, str)]
    assert ["monitor-state", state] in named
    assert "monitor-state" in resolved["volumes"]


def test_mosquitto_runs_the_generated_mtls_config(resolved: dict[str, Any]) -> None:
    mosquitto = resolved["services"]["mosquitto"]
    broker = "/srv/trashmonitor/pki/broker"  # what `trashmon pki` writes for mosquitto only
    assert mosquitto["command"] == ["mosquitto", "-c", f"{broker}/mosquitto.conf"]
    assert dict((str(s), t) for s, t in bind_sources(mosquitto)) == {broker: broker}


def test_prometheus_loads_the_shipped_rules_where_its_config_looks(
    resolved: dict[str, Any],
) -> None:
    prometheus = resolved["services"]["prometheus"]
    targets = dict((str(s), t) for s, t in bind_sources(prometheus))
    rules_target = targets[str(REPO / "alerts" / "trashmonitor.rules.yaml")]
    config = yaml.safe_load(PROMETHEUS.read_text())
    pattern = config["rule_files"][0]
    assert Path(rules_target).match(pattern)


def test_alertmanager_runs_the_shipped_routing_and_prometheus_sends_to_it(
    resolved: dict[str, Any], tmp_path: Path
) -> None:
    alertmanager = resolved["services"]["alertmanager"]
    targets = {str(s): t for s, t in bind_sources(alertmanager)}
    shipped = REPO / "alerts" / "alertmanager.yml"
    assert f"--config.file={targets[str(shipped)]}" in alertmanager["command"]
    # No gossip port: a single instance, nothing else to listen on.
    assert "--cluster.listen-address=" in alertmanager["command"]
    assert alertmanager["read_only"] is True
    # The token the webhook sends is mounted where the shipped config reads it.
    token_target = targets["/srv/trashmonitor/alertmanager/webhook-token"]
    assert token_target == DEFAULT_CONFIG.webhook_credentials_file
    assert alertmanager["group_add"] == ["1000"]
    assert alertmanager["ports"] == [f"{BIND_ADDRESS}:9093:9093/tcp"]
    config = yaml.safe_load(PROMETHEUS.read_text())
    (sender,) = config["alerting"]["alertmanagers"]
    assert sender["static_configs"] == [{"targets": ["alertmanager:9093"]}]


def test_the_webhook_token_file_is_required_with_a_clear_message(tmp_path: Path) -> None:
    result = compose_config(tmp_path, COMPOSE, env={"TRASHMON_ALERT_WEBHOOK_TOKEN_FILE": None})
    assert result.returncode != 0
    assert "set TRASHMON_ALERT_WEBHOOK_TOKEN_FILE" in result.stderr


def test_tls_override_switches_https_on_with_the_mounted_certificate(tmp_path: Path) -> None:
    result = compose_config(tmp_path, COMPOSE, COMPOSE_TLS)
    assert result.returncode == 0, result.stderr
    server = yaml.safe_load(result.stdout)["services"]["server"]
    assert server["environment"]["TRASHMON_TLS"] == "on"
    assert "/srv/trashmonitor/tls:/etc/trashmonitor/tls:ro" in server["volumes"]
    assert any(p.endswith("443:8443/tcp") for p in server["ports"])


def test_prometheus_config_passes_promtool_with_the_contract_job_names(tmp_path: Path) -> None:
    config = yaml.safe_load(PROMETHEUS.read_text())
    assert {job["job_name"] for job in config["scrape_configs"]} == {
        "mediamtx",
        "trashmon-monitor",
        "trashcam",
    }
    # Point the container paths at this checkout, then let promtool load everything.
    rules = tmp_path / "rules"
    rules.mkdir()
    shipped = REPO / "alerts" / "trashmonitor.rules.yaml"
    if shipped.exists():
        shutil.copy(shipped, rules / "trashmonitor.rules.yaml")
    config["rule_files"] = [str(rules / "*.yaml")]
    config["scrape_configs"][2]["file_sd_configs"][0]["files"] = [
        str(REPO / "server" / "prometheus" / "targets" / "trashcam*.yml")
    ]
    password = tmp_path / "password"
    password.write_text("not-the-real-one")
    config["scrape_configs"][0]["basic_auth"]["password_file"] = str(password)
    checked = tmp_path / "prometheus.yml"
    checked.write_text(yaml.safe_dump(config))
    assert_promtool_accepts(checked)


# --- hardening (docs/security.md, section 4) ---------------------------------------------


@pytest.mark.parametrize("value", [None, ""])
def test_the_bind_address_is_required(tmp_path: Path, value: str | None) -> None:
    """No silent 0.0.0.0: every port would be open on every interface of the host."""
    env = {"TRASHMON_BIND_ADDRESS": value}
    result = compose_config(tmp_path, COMPOSE, env=env)
    assert result.returncode != 0
    assert "set TRASHMON_BIND_ADDRESS" in result.stderr
    result = compose_config(tmp_path, COMPOSE, COMPOSE_TLS, env=env)
    assert result.returncode != 0


def test_every_port_binds_the_given_address_only(resolved: dict[str, Any], tmp_path: Path) -> None:
    with_tls = compose_config(tmp_path, COMPOSE, COMPOSE_TLS)
    assert with_tls.returncode == 0, with_tls.stderr
    for services in (resolved["services"], yaml.safe_load(with_tls.stdout)["services"]):
        for name, service in services.items():
            for port in service.get("ports", []):
                assert port.startswith(f"{BIND_ADDRESS}:"), (name, port)


def test_every_service_drops_all_capabilities_and_privilege_gains(resolved: dict[str, Any]) -> None:
    for name, service in resolved["services"].items():
        assert service.get("cap_drop") == ["ALL"], name
        assert "no-new-privileges:true" in service.get("security_opt", []), name
        assert not service.get("cap_add"), name
        assert not service.get("privileged"), name
        assert service.get("network_mode") != "host", name


def test_the_mediamtx_reader_reaches_the_server_and_prometheus_only(
    resolved: dict[str, Any],
) -> None:
    reader = "/srv/trashmonitor/mediamtx-reader"
    server = resolved["services"]["server"]
    mounts = {str(s): t for s, t in bind_sources(server)}
    assert (
        mounts[f"{reader}/credentials"]
        == server["environment"]["TRASHMON_MEDIAMTX_CREDENTIALS_FILE"]
    )
    prometheus = resolved["services"]["prometheus"]
    config = yaml.safe_load(PROMETHEUS.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    password_file = jobs["mediamtx"]["basic_auth"]["password_file"]
    assert {str(s): t for s, t in bind_sources(prometheus)}[f"{reader}/password"] == password_file
    assert jobs["mediamtx"]["basic_auth"]["username"] == "trashmon-reader"
    assert "password" not in jobs["mediamtx"]["basic_auth"]  # never inline
    # Prometheus (nobody) reads the 0640 file through the owners' group.
    assert prometheus["group_add"] == ["1000"]
    for name in ("mosquitto", "grafana"):
        sources = [str(s) for s, _ in bind_sources(resolved["services"][name])]
        assert not [s for s in sources if s.startswith(reader)], name


def test_camera_control_is_off_unless_the_control_override_is_used(
    resolved: dict[str, Any], tmp_path: Path
) -> None:
    assert "TRASHMON_CONTROL" not in json.dumps(resolved)
    result = compose_config(
        tmp_path, COMPOSE, COMPOSE_CONTROL,
        env={"TRASHMON_CONTROL_PASSWORD_HASH_FILE": "/srv/trashmonitor/control-hash"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    server = yaml.safe_load(result.stdout)["services"]["server"]
    env = server["environment"]
    assert env["TRASHMON_CONTROL"] == "on"
    assert env["TRASHMON_CONTROL_CERT"] == "/srv/trashmonitor/pki/clients/viewer.crt"
    assert env["TRASHMON_CONTROL_KEY"] == "/srv/trashmonitor/pki/clients/viewer.key"
    assert env["TRASHMON_MQTT_CERT"].endswith("/monitor.crt")  # reads stay read-only
    targets = {str(v).split(":")[1] if isinstance(v, str) else v["target"]
               for v in server["volumes"]}  # fmt: skip
    assert {env["TRASHMON_CONTROL_CERT"], env["TRASHMON_CONTROL_KEY"],
            env["TRASHMON_CONTROL_PASSWORD_HASH_FILE"]} <= targets  # fmt: skip
    missing = compose_config(tmp_path, COMPOSE, COMPOSE_CONTROL)
    assert missing.returncode != 0
    assert "set TRASHMON_CONTROL_PASSWORD_HASH_FILE" in missing.stderr
