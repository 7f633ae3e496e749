"""server/k8s: kustomize renders, core kinds pass schema validation, CRDs have their
required fields, and the pieces reference each other correctly.

Rendering uses `kubectl kustomize` (preinstalled here, not guaranteed elsewhere: the
rendering tests skip with a clear reason without it). Schemas for core kinds come from
the kubernetes-validate package; CRD kinds (ServiceMonitor, PrometheusRule,
Certificate, ClusterIssuer) have no bundled schema and are checked for the fields their
operators require. Nothing here talks to a cluster.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import kubernetes_validate
import pytest
import yaml
from support.processes import REPO

K8S = REPO / "server" / "k8s"


def load_sync() -> ModuleType:
    spec = importlib.util.spec_from_file_location("k8s_sync", K8S / "sync.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def kustomize(directory: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: kustomize rendering is checked where it is")
    result = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    return kustomize(K8S)


def only(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [
        d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


# ---------------------------------------------------------------- generated copies


def test_generated_copies_match_their_sources():
    result = subprocess.run(
        [sys.executable, str(K8S / "sync.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_sync_reads_the_contract_paths():
    sync = load_sync()
    assert sync.PROMETHEUS_RULE == REPO / "alerts" / "prometheusrule.yaml"
    assert sync.DASHBOARDS == REPO / "dashboards" / "generated"
    assert sync.MEDIAMTX_CONFIG == REPO / "server" / "mediamtx.yml"


def test_the_drift_check_notices_a_stale_copy(tmp_path, monkeypatch):
    sync = load_sync()
    shutil.copytree(K8S / "generated", tmp_path / "generated")
    monkeypatch.setattr(sync, "GENERATED", tmp_path / "generated")
    assert sync.drift(sync.render()) == []
    (tmp_path / "generated" / "config" / "mediamtx.yml").write_text("logLevel: debug\n")
    assert sync.drift(sync.render()) == ["config/mediamtx.yml: out of date"]


@pytest.fixture
def tree_with_rules_and_dashboards(tmp_path, monkeypatch) -> Path:
    """A copy of server/k8s synced from stand-in alerts/dashboards outputs."""
    sync = load_sync()
    dashboards = tmp_path / "dashboards"
    dashboards.mkdir()
    (dashboards / "Camera Overview.json").write_text(
        json.dumps({"title": "Cameras", "uid": "cams"})
    )
    rule = tmp_path / "prometheusrule.yaml"
    rule.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "monitoring.coreos.com/v1",
                "kind": "PrometheusRule",
                "metadata": {"name": "trashmonitor", "labels": {"release": "prometheus"}},
                "spec": {
                    "groups": [
                        {
                            "name": "trashmonitor",
                            "rules": [
                                {
                                    "alert": "CameraDown",
                                    "expr": 'trashmon_camera_state{state="down"} == 1',
                                }
                            ],
                        }
                    ]
                },
            }
        )
    )
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    monkeypatch.setattr(sync, "GENERATED", copy / "generated")
    monkeypatch.setattr(sync, "DASHBOARDS", dashboards)
    monkeypatch.setattr(sync, "PROMETHEUS_RULE", rule)
    sync.write(sync.render())
    return copy


def test_dashboards_become_configmaps_for_the_grafana_sidecar(tree_with_rules_and_dashboards):
    docs = kustomize(tree_with_rules_and_dashboards)
    dashboard = only(docs, "ConfigMap", "trashmonitor-dashboard-camera-overview")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["metadata"]["namespace"] == "trashmonitor"
    assert json.loads(dashboard["data"]["Camera Overview.json"])["uid"] == "cams"
    rule = only(docs, "PrometheusRule")
    assert rule["metadata"]["namespace"] == "trashmonitor"
    assert crd_problems(rule) == []


# ---------------------------------------------------------------- schemas


CORE_API_VERSIONS = {"v1", "apps/v1"}


def test_core_kinds_pass_schema_validation(rendered):
    core = [d for d in rendered if d["apiVersion"] in CORE_API_VERSIONS]
    assert {d["kind"] for d in core} == {"Namespace", "ConfigMap", "Service", "Deployment"}
    for doc in core:
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_schema_validation_rejects_a_misspelt_field(rendered):
    deployment = json.loads(json.dumps(only(rendered, "Deployment")))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["prot"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, kubernetes_validate.latest_version(), strict=True)


def dig(doc: dict[str, Any], dotted: str) -> Any:
    value: Any = doc
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


# Fields the CRDs' OpenAPI schemas mark required, or without which the operator does nothing.
CRD_REQUIRED: dict[str, tuple[str, ...]] = {
    "ServiceMonitor": ("metadata.namespace", "spec.selector", "spec.endpoints"),
    "PrometheusRule": ("metadata.namespace", "spec.groups"),
    "Certificate": (
        "metadata.namespace",
        "spec.secretName",
        "spec.issuerRef.name",
        "spec.dnsNames",
    ),
    "ClusterIssuer": (
        "spec.acme.server",
        "spec.acme.email",
        "spec.acme.privateKeySecretRef.name",
        "spec.acme.solvers",
    ),
}
CRD_API_VERSIONS = {
    "ServiceMonitor": "monitoring.coreos.com/v1",
    "PrometheusRule": "monitoring.coreos.com/v1",
    "Certificate": "cert-manager.io/v1",
    "ClusterIssuer": "cert-manager.io/v1",
}


def crd_problems(doc: dict[str, Any]) -> list[str]:
    kind = doc["kind"]
    if kind not in CRD_REQUIRED:
        return [f"{kind}: not a kind this bundle knows how to check"]
    problems = (
        [f"{kind}: apiVersion {doc['apiVersion']}"]
        if doc["apiVersion"] != CRD_API_VERSIONS[kind]
        else []
    )
    problems += [f"{kind}: missing {field}" for field in CRD_REQUIRED[kind] if not dig(doc, field)]
    if kind == "ServiceMonitor":
        problems += [
            f"{kind}: endpoint without port"
            for e in doc["spec"].get("endpoints", [])
            if "port" not in e
        ]
    if kind == "PrometheusRule":
        for group in doc["spec"].get("groups", []):
            if not group.get("name") or not group.get("rules"):
                problems.append(f"{kind}: group without name or rules")
            for rule in group.get("rules", []):
                if not (rule.get("alert") or rule.get("record")) or not rule.get("expr"):
                    problems.append(f"{kind}: rule {rule} needs alert/record and expr")
    if kind == "ClusterIssuer" and "namespace" in doc["metadata"]:
        problems.append(f"{kind}: cluster-scoped, must not carry a namespace")
    return problems


def test_crd_kinds_have_their_required_fields(rendered):
    crds = [d for d in rendered if d["apiVersion"] not in CORE_API_VERSIONS]
    assert {d["kind"] for d in crds} >= {"ServiceMonitor", "Certificate", "ClusterIssuer"}
    for doc in crds:
        assert crd_problems(doc) == []


@pytest.mark.parametrize(
    ("kind", "mutate", "expected"),
    [
        ("Certificate", lambda d: d["spec"].pop("secretName"), "missing spec.secretName"),
        (
            "ServiceMonitor",
            lambda d: d["spec"]["endpoints"][0].pop("port"),
            "endpoint without port",
        ),
        ("ClusterIssuer", lambda d: d["metadata"].update(namespace="x"), "cluster-scoped"),
    ],
)
def test_the_crd_check_catches_missing_fields(
    rendered, kind, mutate: Callable[[dict[str, Any]], Any], expected
):
    doc = json.loads(json.dumps(only(rendered, kind)))
    mutate(doc)
    assert any(expected in problem for problem in crd_problems(doc))


# ---------------------------------------------------------------- wiring


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return dict(only(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0])


def test_services_select_the_pod_and_target_its_ports(rendered):
    deployment = only(rendered, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    port_names = {p["name"] for p in container(rendered)["ports"]}
    for service in (d for d in rendered if d["kind"] == "Service"):
        assert service["spec"]["selector"].items() <= pod_labels.items(), service["metadata"][
            "name"
        ]
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names, (service["metadata"]["name"], port)


def test_viewer_and_rtsp_are_tailscale_loadbalancers(rendered):
    for name, ports in (("trashmonitor", {80, 443}), ("trashmonitor-rtsp", {8554})):
        service = only(rendered, "Service", name)
        assert service["spec"]["type"] == "LoadBalancer"
        assert service["spec"]["loadBalancerClass"] == "tailscale"
        assert service["metadata"]["annotations"]["tailscale.com/hostname"]
        assert {p["port"] for p in service["spec"]["ports"]} == ports
    metrics = only(rendered, "Service", "trashmonitor-metrics")
    assert metrics["spec"]["type"] == "ClusterIP"
    assert {p["port"] for p in metrics["spec"]["ports"]} == {9998, 9843}


def test_servicemonitor_scrapes_both_jobs_from_the_metrics_service(rendered):
    monitor = only(rendered, "ServiceMonitor")
    metrics = only(rendered, "Service", "trashmonitor-metrics")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= metrics["metadata"]["labels"].items()
    )
    service_ports = {p["name"] for p in metrics["spec"]["ports"]}
    jobs = {}
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["port"] in service_ports
        job = [r["replacement"] for r in endpoint["relabelings"] if r["targetLabel"] == "job"]
        jobs[endpoint["port"]] = job[0]
    # docs/contracts.md: the job names the alert rules use
    assert jobs == {"mtx-metrics": "mediamtx", "monitor": "trashmon-monitor"}
    for service in (
        d for d in rendered if d["kind"] == "Service" and d["spec"]["type"] == "LoadBalancer"
    ):
        assert not {p["targetPort"] for p in service["spec"]["ports"]} & {"mtx-metrics", "monitor"}


def test_deployment_is_hardened_and_probes_the_monitor_and_mediamtx(rendered):
    deployment = only(rendered, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    server = container(rendered)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert server["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert server["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "monitor"}
    assert server["readinessProbe"]["httpGet"]["port"] == "mtx-api"
    assert server["readinessProbe"]["httpGet"]["path"].startswith("/v3/paths/list")
    assert server["resources"]["limits"]["memory"]
    mounts = {m["mountPath"] for m in server["volumeMounts"]}
    assert "/tmp" in mounts  # the only writable place on a read-only root filesystem
    env = {e["name"]: e.get("value") for e in server["env"]}
    assert env["TRASHMON_LISTEN"] == "0.0.0.0:9843"  # probes reach it on the pod IP
    assert any(
        s["secretRef"]["name"] == "trashmonitor-dns" and s["secretRef"]["optional"]
        for s in server["envFrom"]
    )


def test_mediamtx_config_is_the_repository_file_mounted_where_the_entrypoint_reads_it(rendered):
    config = next(
        d
        for d in rendered
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("trashmonitor-mediamtx")
    )
    assert config["data"]["mediamtx.yml"] == (REPO / "server" / "mediamtx.yml").read_text()
    server = container(rendered)
    env = {e["name"]: e.get("value") for e in server["env"]}
    pod = only(rendered, "Deployment")["spec"]["template"]["spec"]
    volume = next(
        v
        for v in pod["volumes"]
        if v.get("configMap", {}).get("name") == config["metadata"]["name"]
    )
    mount = next(m for m in server["volumeMounts"] if m["name"] == volume["name"])
    assert env["TRASHMON_MEDIAMTX_CONFIG"] == f"{mount['mountPath']}/mediamtx.yml"


def test_cert_manager_component_switches_https_on_with_the_certificate_secret(rendered):
    certificate = only(rendered, "Certificate")
    server = container(rendered)
    pod = only(rendered, "Deployment")["spec"]["template"]["spec"]
    tls_volume = next(v for v in pod["volumes"] if "secret" in v)
    assert tls_volume["secret"]["secretName"] == certificate["spec"]["secretName"]
    mount = next(m for m in server["volumeMounts"] if m["name"] == tls_volume["name"])
    assert mount["mountPath"] == "/etc/trashmonitor/tls"  # server/caddy/tls-on.caddy's default
    assert {e["name"]: e.get("value") for e in server["env"]}["TRASHMON_TLS"] == "on"
    assert (
        certificate["spec"]["issuerRef"]["name"]
        == only(rendered, "ClusterIssuer")["metadata"]["name"]
    )


def test_base_alone_needs_no_crds_and_serves_plain_http():
    docs = kustomize(K8S / "base")
    assert {d["apiVersion"] for d in docs} <= CORE_API_VERSIONS
    assert {e["name"]: e.get("value") for e in container(docs)["env"]}["TRASHMON_TLS"] == "off"


def test_deploy_overlay_sets_image_hostnames_and_certificate_name():
    sync = load_sync()
    result = subprocess.run(
        [sys.executable, str(K8S / "sync.py"), "overlay",
         "--image", "ghcr.io/me/trashmonitor:1.2.3", "--ts-hostname", "cams",
         "--dns-hostname", "cams.example.org", "--acme-email", "ops@example.org"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    docs = kustomize(sync.OVERLAY)
    assert container(docs)["image"] == "ghcr.io/me/trashmonitor:1.2.3"
    assert (
        only(docs, "Service", "trashmonitor")["metadata"]["annotations"]["tailscale.com/hostname"]
        == "cams"
    )
    assert (
        only(docs, "Service", "trashmonitor-rtsp")["metadata"]["annotations"][
            "tailscale.com/hostname"
        ]
        == "cams-rtsp"
    )
    assert only(docs, "Certificate")["spec"]["dnsNames"] == ["cams.example.org"]
    assert only(docs, "ClusterIssuer")["spec"]["acme"]["email"] == "ops@example.org"


def test_mqtt_component_gives_the_monitor_its_client_certificate(tmp_path):
    tree = tmp_path / "k8s"
    shutil.copytree(K8S, tree)
    overlay = tree / "with-mqtt"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "resources: [../base]\ncomponents: [../components/mqtt]\n"
    )
    docs = kustomize(overlay)
    server = container(docs)
    env = {e["name"]: e.get("value") for e in server["env"]}
    assert env["TRASHMON_MQTT_URL"].startswith("mqtts://")
    mount = next(m for m in server["volumeMounts"] if m["name"] == "mqtt")["mountPath"]
    # the file names `trashmon pki create` writes, as documented in the component
    assert env["TRASHMON_MQTT_CA"] == f"{mount}/ca-chain.crt"
    assert env["TRASHMON_MQTT_CERT"] == f"{mount}/monitor.crt"
    assert env["TRASHMON_MQTT_KEY"] == f"{mount}/monitor.key"
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    assert {
        "name": "mqtt",
        "secret": {"secretName": "trashmonitor-mqtt", "defaultMode": 0o440},
    } in pod["volumes"]
    kubernetes_validate.validate(
        only(docs, "Deployment"), kubernetes_validate.latest_version(), strict=True
    )
