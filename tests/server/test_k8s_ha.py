"""server/k8s/optional/ha-monitor: the monitor as its own replicated workload (issue 17 §2).

Rendered from the default tree plus the component, as docs/server.md ("High
availability") tells users to; the pieces must reference each other: Services select
the workloads whose ports they name, the monitor reaches MediaMTX through a Service the
NetworkPolicy admits it to, each replica's MQTT identity is a name `trashmon pki` makes.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
from support.kube import K8S, KUBECTL, kustomize, load_sync, only, overlay

from trashmonitor.monitor.play import default_rtsp_template
from trashmonitor.pki import CaPassphrase, PkiRequest, create_pki

HA = "optional/ha-monitor"
CORE_API_VERSIONS = {"v1", "apps/v1", "networking.k8s.io/v1", "policy/v1"}
MONITOR_LABELS = {
    "app.kubernetes.io/name": "trashmonitor",
    "app.kubernetes.io/component": "monitor",
}
SERVER_LABELS = {"app.kubernetes.io/name": "trashmonitor", "app.kubernetes.io/component": "server"}


@pytest.fixture(scope="module")
def ha(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return overlay(tmp_path_factory.mktemp("ha"), [""], [HA])


def statefulset(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return only(docs, "StatefulSet", "trashmonitor-monitor")


def monitor_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (container,) = statefulset(docs)["spec"]["template"]["spec"]["containers"]
    return dict(container)


def server_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (container,) = only(docs, "Deployment", "trashmonitor")["spec"]["template"]["spec"][
        "containers"
    ]
    return dict(container)


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    return dict(workload["spec"]["template"]["metadata"]["labels"])


def selected(docs: list[dict[str, Any]], selector: dict[str, str]) -> dict[str, Any]:
    """The one workload whose pods carry every label of ``selector``."""
    (workload,) = [
        d
        for d in docs
        if d["kind"] in {"Deployment", "StatefulSet"} and selector.items() <= pod_labels(d).items()
    ]
    return workload


def service_at(docs: list[dict[str, Any]], host_port: str) -> tuple[dict[str, Any], int]:
    """The in-cluster Service ``name.namespace.svc:port`` names, and the target container
    port it forwards that port to (checked to exist on the selected pods)."""
    host, _, port = host_port.rpartition(":")
    name, namespace, suffix = host.split(".")
    assert (namespace, suffix) == ("trashmonitor", "svc"), host
    service = only(docs, "Service", name)
    assert service["spec"]["type"] == "ClusterIP"
    (entry,) = [p for p in service["spec"]["ports"] if p["port"] == int(port)]
    pod = selected(docs, service["spec"]["selector"])["spec"]["template"]["spec"]
    ports = {p["name"]: p["containerPort"] for c in pod["containers"] for p in c.get("ports", [])}
    return service, ports[entry["targetPort"]]


def test_ha_is_an_optional_component_left_out_of_the_default_tree() -> None:
    default = kustomize(K8S)
    assert HA not in (K8S / "kustomization.yaml").read_text()
    assert not [d for d in default if d["metadata"]["name"] == "trashmonitor-monitor"]
    assert env_of(server_container(default)).get("TRASHMON_EMBEDDED_MONITOR") is None


def test_every_core_kind_passes_schema_validation(ha: list[dict[str, Any]]) -> None:
    kinds = {d["kind"] for d in ha}
    assert {"StatefulSet", "PodDisruptionBudget"} <= kinds
    for doc in ha:
        if doc["apiVersion"] in CORE_API_VERSIONS:
            kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_the_monitor_runs_replicated_spread_across_nodes(ha: list[dict[str, Any]]) -> None:
    workload = statefulset(ha)
    assert workload["spec"]["replicas"] >= 2
    assert workload["spec"]["selector"]["matchLabels"] == MONITOR_LABELS
    assert pod_labels(workload) == MONITOR_LABELS
    pod = workload["spec"]["template"]["spec"]
    (term,) = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"] == MONITOR_LABELS
    # Required anti-affinity would leave a one-node cluster with one replica.
    assert (
        "requiredDuringSchedulingIgnoredDuringExecution" not in pod["affinity"]["podAntiAffinity"]
    )
    budget = only(ha, "PodDisruptionBudget", "trashmonitor-monitor")
    assert budget["spec"]["minAvailable"] == 1 < workload["spec"]["replicas"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels(workload).items()


def test_the_monitor_pod_is_hardened_like_the_server_pod(ha: list[dict[str, Any]]) -> None:
    server_pod = only(ha, "Deployment", "trashmonitor")["spec"]["template"]["spec"]
    pod = statefulset(ha)["spec"]["template"]["spec"]
    monitor, server = monitor_container(ha), server_container(ha)
    assert pod["securityContext"] == server_pod["securityContext"]
    assert (
        monitor["securityContext"]
        == server["securityContext"]
        == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "privileged": False,
            "capabilities": {"drop": ["ALL"]},
        }
    )
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False
    assert monitor["image"] == server["image"]  # the same image, another command
    assert monitor["command"] == ["trashmon", "monitor"]
    assert monitor["resources"]["limits"]["memory"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert monitor[probe]["httpGet"] == {"path": "/healthz", "port": "monitor"}
    assert env_of(monitor)["TRASHMON_LISTEN"] == "0.0.0.0:9843"  # probes use the pod IP
    assert {p["name"]: p["containerPort"] for p in monitor["ports"]} == {"monitor": 9843}
    mounts = {m["mountPath"]: m for m in monitor["volumeMounts"]}
    assert "/tmp" in mounts  # the only writable place on a read-only root filesystem


def test_each_replica_keeps_its_own_history(ha: list[dict[str, Any]]) -> None:
    workload = statefulset(ha)
    monitor = monitor_container(ha)
    state_dir = env_of(monitor)["TRASHMON_STATE_DIR"]
    (mount,) = [m for m in monitor["volumeMounts"] if m["mountPath"] == state_dir]
    (claim,) = workload["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == mount["name"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    # Not a shared claim: no pod volume of that name overrides the template.
    assert mount["name"] not in {v["name"] for v in workload["spec"]["template"]["spec"]["volumes"]}
    # The server pod's claim is gone with its monitor.
    assert not [d for d in ha if d["kind"] == "PersistentVolumeClaim"]


def test_the_server_pod_runs_mediamtx_and_caddy_only(ha: list[dict[str, Any]]) -> None:
    server = server_container(ha)
    env = env_of(server)
    assert env["TRASHMON_EMBEDDED_MONITOR"] == "off"
    for gone in (
        "TRASHMON_STATE_DIR",
        "TRASHMON_MQTT_URL",
        "TRASHMON_MQTT_CERT",
        "TRASHMON_LISTEN",
    ):
        assert gone not in env
    assert "monitor" not in {p["name"] for p in server["ports"]}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert server[probe]["httpGet"]["port"] == "http", probe  # Caddy, not the monitor
        assert {"name": "Host", "value": "localhost"} in server[probe]["httpGet"]["httpHeaders"]
    pod = only(ha, "Deployment", "trashmonitor")["spec"]["template"]["spec"]
    secrets = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert "trashmonitor-mqtt" not in secrets  # the monitor's identity left with it
    assert "persistentVolumeClaim" not in str(pod["volumes"])


def test_caddy_routes_the_monitor_paths_to_the_monitor_service(ha: list[dict[str, Any]]) -> None:
    upstream = env_of(server_container(ha))["TRASHMON_MONITOR_UPSTREAM"]
    service, port = service_at(ha, upstream)
    assert selected(ha, service["spec"]["selector"]) is statefulset(ha)
    assert port == 9843
    assert statefulset(ha)["spec"]["serviceName"] == service["metadata"]["name"]
    caddyfile = (K8S.parents[0] / "Caddyfile").read_text()
    # /status, the camera panel and the incident history all use that one upstream.
    assert caddyfile.count("reverse_proxy {$TRASHMON_MONITOR_UPSTREAM:") >= 3


def test_the_monitor_reads_mediamtx_through_a_service_with_the_reader_credentials(
    ha: list[dict[str, Any]],
) -> None:
    monitor = monitor_container(ha)
    env = env_of(monitor)
    api, metrics = (
        urlsplit(env["TRASHMON_MEDIAMTX_API"]),
        urlsplit(env["TRASHMON_MEDIAMTX_METRICS"]),
    )
    assert metrics.path == "/metrics"
    for url, container_port in ((api, 9997), (metrics, 9998)):
        assert url.scheme == "http"
        service, port = service_at(ha, url.netloc)
        assert selected(ha, service["spec"]["selector"])["metadata"]["name"] == "trashmonitor"
        assert port == container_port
    mount = next(m for m in monitor["volumeMounts"] if m["name"] == "mediamtx-reader")
    assert env["TRASHMON_MEDIAMTX_CREDENTIALS_FILE"] == f"{mount['mountPath']}/credentials"
    volume = next(
        v
        for v in statefulset(ha)["spec"]["template"]["spec"]["volumes"]
        if v["name"] == "mediamtx-reader"
    )
    assert volume["secret"]["secretName"] == "trashmonitor-mediamtx-reader"
    assert volume["secret"]["items"] == [{"key": "credentials", "path": "credentials"}]


def test_each_replica_connects_with_an_identity_of_its_own(
    ha: list[dict[str, Any]], tmp_path: Path
) -> None:
    """The broker makes a certificate's name the client id (use_username_as_clientid):
    replicas sharing one would throw each other off (tests/mqtt/test_monitor_replicas.py)."""
    workload = statefulset(ha)
    monitor = monitor_container(ha)
    names = [e["name"] for e in monitor["env"]]
    pod_name = monitor["env"][names.index("POD_NAME")]
    assert pod_name["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    env = env_of(monitor)
    mount = next(m for m in monitor["volumeMounts"] if m["name"] == "mqtt")["mountPath"]
    for variable, suffix in (("TRASHMON_MQTT_CERT", "crt"), ("TRASHMON_MQTT_KEY", "key")):
        # Kubernetes expands $(POD_NAME) only from variables declared before it.
        assert names.index("POD_NAME") < names.index(variable)
        assert env[variable] == f"{mount}/$(POD_NAME).{suffix}"
    assert env["TRASHMON_MQTT_URL"] == "mqtts://trashmonitor-mqtt.trashmonitor.svc:8883"
    # Pod names are <statefulset>-<ordinal>; `trashmon pki` makes exactly those files.
    replicas = [f"{workload['metadata']['name']}-{i}" for i in range(workload["spec"]["replicas"])]
    layout = create_pki(
        PkiRequest(
            directory=tmp_path / "pki", cameras=("cam1",), monitors=tuple(replicas),
            controllers=(), dns_names=("trashmonitor-mqtt.trashmonitor.svc",), ips=(),
            listen_port=8883, listen_address=None, broker_user=None,
            passphrase=CaPassphrase(encrypt=False),
        )
    )  # fmt: skip
    for replica in replicas:
        assert layout.client_cert(replica).name == f"{replica}.crt"
        assert layout.client_key(replica).name == f"{replica}.key"
        assert f"user {replica}\ntopic read trashcam/+/status" in layout.acl.read_text()
    volume = next(v for v in workload["spec"]["template"]["spec"]["volumes"] if v["name"] == "mqtt")
    assert volume["secret"]["secretName"] == "trashmonitor-mqtt"


def admitted(policy: dict[str, Any], peer: dict[str, str]) -> set[str]:
    """The ports ``policy`` admits from pods labelled ``peer``."""
    ports: set[str] = set()
    for rule in policy["spec"]["ingress"]:
        for source in rule["from"]:
            wanted = (source.get("podSelector") or {}).get("matchLabels", {})
            if wanted and wanted.items() <= peer.items():
                ports |= {str(p["port"]) for p in rule["ports"]}
    return ports


PROMETHEUS = {"app.kubernetes.io/name": "prometheus"}


def test_network_policies_admit_each_new_path_and_nothing_more(ha: list[dict[str, Any]]) -> None:
    server = only(ha, "NetworkPolicy", "trashmonitor-server")
    assert admitted(server, MONITOR_LABELS) == {"mtx-api", "mtx-metrics"}
    assert admitted(server, PROMETHEUS) == {"mtx-metrics"}  # no monitor on that pod now
    monitor = only(ha, "NetworkPolicy", "trashmonitor-monitor")
    assert (
        monitor["spec"]["podSelector"]["matchLabels"].items() <= pod_labels(statefulset(ha)).items()
    )
    assert monitor["spec"]["policyTypes"] == ["Ingress"]
    assert admitted(monitor, SERVER_LABELS) == {"monitor"}  # Caddy
    assert admitted(monitor, PROMETHEUS) == {"monitor"}
    broker = only(ha, "NetworkPolicy", "trashmonitor-mqtt")
    assert admitted(broker, MONITOR_LABELS) == {"mqtts"}
    assert admitted(broker, SERVER_LABELS) == set()
    for policy in (server, monitor, broker):
        for rule in policy["spec"]["ingress"]:
            assert all(peer.get("podSelector", {}).get("matchLabels") for peer in rule["from"])


def test_prometheus_scrapes_every_replica_and_mediamtx_under_the_same_jobs(
    ha: list[dict[str, Any]],
) -> None:
    service_monitor = only(ha, "ServiceMonitor", "trashmonitor")
    selector = service_monitor["spec"]["selector"]["matchLabels"].items()
    scraped = [
        d for d in ha if d["kind"] == "Service" and selector <= d["metadata"]["labels"].items()
    ]
    for endpoint in service_monitor["spec"]["endpoints"]:
        (service,) = [
            s for s in scraped if endpoint["port"] in {p["name"] for p in s["spec"]["ports"]}
        ]
        workload = selected(ha, service["spec"]["selector"])
        expected = "trashmonitor-monitor" if endpoint["port"] == "monitor" else "trashmonitor"
        assert workload["metadata"]["name"] == expected, endpoint["port"]
    # The agents' discovery URL still lands on a monitor replica.
    sd_url = urlsplit(only(ha, "ScrapeConfig")["spec"]["httpSDConfigs"][0]["url"])
    service, port = service_at(ha, sd_url.netloc)
    assert selected(ha, service["spec"]["selector"]) is statefulset(ha)
    assert port == 9843


def trashmon_images(docs: list[dict[str, Any]]) -> dict[str, str]:
    """workload name -> image, for every workload that is not the broker."""
    return {
        d["metadata"]["name"]: c["image"]
        for d in docs
        if d["kind"] in {"Deployment", "StatefulSet"}
        for c in d["spec"]["template"]["spec"]["containers"]
        if not c["image"].startswith("eclipse-mosquitto")
    }


def test_every_trashmon_workload_runs_the_image_the_deploy_overlay_sets(tmp_path: Path) -> None:
    """The base's `images` transformer does not reach components: the DNS loop and the
    monitor replicas once kept the placeholder name no registry has."""
    sync = load_sync()
    assert set(trashmon_images(kustomize(K8S)).values()) == {f"{sync.PLACEHOLDER_IMAGE}:0.1.0"}
    overlay(tmp_path, [""], [HA])  # lays out tmp_path/k8s
    deploy = tmp_path / "build" / "k8s-deploy"  # where `just deploy` writes it
    deploy.mkdir(parents=True)
    (tmp_path / "server").symlink_to(tmp_path)  # ../../server/k8s -> tmp_path/k8s
    text = sync.deploy_overlay(
        "ghcr.io/me/trashmonitor:1.2.3", "cams", "cams.example.org", "a@b.c", components=[HA]
    )
    (deploy / "kustomization.yaml").write_text(text)
    images = trashmon_images(kustomize(deploy))
    assert images.keys() == {"trashmonitor", "trashmonitor-dns", "trashmonitor-monitor"}
    assert set(images.values()) == {"ghcr.io/me/trashmonitor:1.2.3"}


def test_the_dns_loop_runs_two_replicas_that_never_overlap_two_configurations() -> None:
    """tests/dns/test_replicas.py: same-settings loops converge with no duplicate and no
    flapping; different-settings loops can duplicate, so a rollout must not overlap."""
    docs = kustomize(K8S)
    dns = only(docs, "Deployment", "trashmonitor-dns")
    assert dns["spec"]["replicas"] >= 2
    assert dns["spec"]["strategy"] == {"type": "Recreate"}
    pod = dns["spec"]["template"]["spec"]
    (term,) = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert (
        term["podAffinityTerm"]["labelSelector"]["matchLabels"].items() <= pod_labels(dns).items()
    )
    budget = only(docs, "PodDisruptionBudget", "trashmonitor-dns")
    assert budget["spec"]["minAvailable"] == 1 < dns["spec"]["replicas"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels(dns).items()
    # No leader election: no API access, no Role to grant it.
    assert pod["automountServiceAccountToken"] is False
    assert not [d for d in docs if d["kind"] in {"Role", "RoleBinding", "ServiceAccount"}]


# TS_HOSTNAME as the DNS component's settings file spells it, whichever form it takes
# (KEY=value or a ConfigMap's KEY: value): the test edits what a user edits.
TS_HOSTNAME_SETTING = re.compile(r"^(\s*TS_HOSTNAME\s*[:=]\s*)\S+$", re.MULTILINE)


def render_with_dns_ts_hostname(tmp_path: Path, hostname: str) -> list[dict[str, Any]]:
    """The default tree with the DNS loop's TS_HOSTNAME changed to ``hostname`` in the one
    file of components/dns that sets it, rendered."""
    shutil.copytree(K8S, tmp_path / "k8s")
    edited = []
    for path in sorted((tmp_path / "k8s" / "components" / "dns").iterdir()):
        text, count = TS_HOSTNAME_SETTING.subn(rf"\g<1>{hostname}", path.read_text())
        if count:
            path.write_text(text)
            edited.append((path.name, count))
    assert [count for _, count in edited] == [1], edited  # one file, one line
    return kustomize(tmp_path / "k8s")


def dns_settings_of(docs: list[dict[str, Any]]) -> tuple[str, dict[str, str]]:
    """The name of the ConfigMap the DNS container reads its settings from, and its data."""
    (container,) = only(docs, "Deployment", "trashmonitor-dns")["spec"]["template"]["spec"][
        "containers"
    ]
    (name,) = [e["configMapRef"]["name"] for e in container["envFrom"] if "configMapRef" in e]
    return name, dict(only(docs, "ConfigMap", name)["data"])


def test_a_dns_settings_change_changes_the_pod_template_so_recreate_runs(tmp_path: Path) -> None:
    """Only a pod-template change starts a rollout, and only a rollout runs Recreate. With
    a plain ConfigMap an edit changed nothing in the template: no rollout, and each replica
    took the new settings at its next restart (a drain restarts them one at a time), old
    and new side by side (tests/dns/test_replicas.py, the duplicate case)."""
    before = render_with_dns_ts_hostname(tmp_path / "before", "trashmonitor")
    after = render_with_dns_ts_hostname(tmp_path / "after", "cams")
    (old_name, old_settings), (new_name, new_settings) = map(dns_settings_of, (before, after))
    assert (old_settings["TS_HOSTNAME"], new_settings["TS_HOSTNAME"]) == ("trashmonitor", "cams")
    # A new name: the old replicas keep reading the old ConfigMap (apply leaves it) until
    # Recreate has stopped them, so none restarts onto the new settings early.
    assert old_name != new_name
    template_before, template_after = (
        only(docs, "Deployment", "trashmonitor-dns")["spec"]["template"] for docs in (before, after)
    )
    assert template_before != template_after
    # ... and the settings reach the template through that name alone.
    assert json.dumps(template_before).replace(old_name, new_name) == json.dumps(template_after)


def test_just_deploy_adds_the_optional_components_it_is_given(tmp_path: Path) -> None:
    sync = load_sync()
    result = subprocess.run(
        [sys.executable, str(K8S / "sync.py"), "overlay", "--image", "r/i:1",
         "--ts-hostname", "cams", "--dns-hostname", "cams.example.org",
         "--acme-email", "a@b.c", "--component", HA],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    docs = kustomize(sync.OVERLAY)
    assert statefulset(docs)["spec"]["template"]["spec"]["containers"][0]["image"] == "r/i:1"
    for bad in ("optional/nothing", "../k8s/optional/ha-monitor", "base/namespace.yaml"):
        refused = subprocess.run(
            [sys.executable, str(K8S / "sync.py"), "overlay", "--image", "r/i:1",
             "--ts-hostname", "c", "--dns-hostname", "c.example.org", "--acme-email", "a@b.c",
             "--component", bad],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert refused.returncode == 2
        assert refused.stderr == f"--component: no component {bad!r} under server/k8s\n"


# --- optional/ha-monitor with optional/control ------------------------------------------

CONTROL = "optional/control"
CAMERA_CONTROL_ROUTE = (
    "path_regexp ^/api/cameras/[A-Za-z0-9][A-Za-z0-9_.-]{0,63}/(settings|actions)$"
)


@pytest.fixture(scope="module")
def ha_control(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return overlay(tmp_path_factory.mktemp("ha-control"), [""], [HA, CONTROL])


def expanded(value: str, pod_name: str) -> str:
    """``value`` as Kubernetes expands it in a pod named ``pod_name``."""
    return value.replace("$(POD_NAME)", pod_name)


def refused_render(tmp_path: Path, components: list[str]) -> str:
    """kustomize's error for the default tree with ``components`` in this order (it must
    fail: ``overlay`` asserts success)."""
    shutil.copytree(K8S, tmp_path / "k8s")
    (tmp_path / "overlay").mkdir()
    listed = ", ".join(f"../k8s/{component}" for component in components)
    (tmp_path / "overlay" / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources: [../k8s]\ncomponents: [{listed}]\n"
    )
    result = subprocess.run(
        [str(KUBECTL), "kustomize", str(tmp_path / "overlay")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    return result.stderr


def test_control_routes_reach_the_monitor_service_with_ha(
    ha_control: list[dict[str, Any]],
) -> None:
    env = env_of(server_container(ha_control))
    assert env["TRASHMON_CONTROL"] == "on"
    assert env["TRASHMON_EMBEDDED_MONITOR"] == "off"
    service, port = service_at(ha_control, env["TRASHMON_MONITOR_UPSTREAM"])
    assert selected(ha_control, service["spec"]["selector"]) is statefulset(ha_control)
    assert port == 9843
    # Both POST routes of caddy/control-on.caddy use that one upstream, as /status does.
    control_on = (K8S.parent / "caddy" / "control-on.caddy").read_text()
    assert CAMERA_CONTROL_ROUTE in control_on
    (handler,) = control_on.split("handle @camera_control {")[1:]
    assert "reverse_proxy {$TRASHMON_MONITOR_UPSTREAM:" in handler
    assert "127.0.0.1" not in env["TRASHMON_MONITOR_UPSTREAM"]


def test_the_server_pod_keeps_caddys_hash_and_no_controller_identity(
    ha_control: list[dict[str, Any]],
) -> None:
    server = server_container(ha_control)
    env = env_of(server)
    assert "TRASHMON_CONTROL_CERT" not in env
    assert "TRASHMON_CONTROL_KEY" not in env
    mount = next(m for m in server["volumeMounts"] if m["name"] == "control")["mountPath"]
    assert env["TRASHMON_CONTROL_PASSWORD_HASH_FILE"] == f"{mount}/password-hash"
    pod = only(ha_control, "Deployment", "trashmonitor")["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "control")["secret"]
    assert volume["secretName"] == "trashmonitor-control"
    assert volume["items"] == [{"key": "password-hash", "path": "password-hash"}]


def test_each_replica_sends_commands_with_a_controller_identity_of_its_own(
    ha_control: list[dict[str, Any]], tmp_path: Path
) -> None:
    workload = statefulset(ha_control)
    monitor = monitor_container(ha_control)
    names = [e["name"] for e in monitor["env"]]
    env = env_of(monitor)
    mount = next(m for m in monitor["volumeMounts"] if m["name"] == "control")
    assert mount["readOnly"] is True
    for variable in ("TRASHMON_CONTROL_CERT", "TRASHMON_CONTROL_KEY"):
        assert names.index("POD_NAME") < names.index(variable)  # else no expansion
        assert "$(POD_NAME)" in env[variable]
        assert env[variable].startswith(f"{mount['mountPath']}/")
    volume = next(
        v for v in workload["spec"]["template"]["spec"]["volumes"] if v["name"] == "control"
    )
    # The replicas' pairs only: Caddy's hash is not in this Secret.
    assert volume["secret"]["secretName"] == "trashmonitor-control-replicas"
    replicas = [f"{workload['metadata']['name']}-{i}" for i in range(workload["spec"]["replicas"])]
    identities = {
        replica: Path(expanded(env["TRASHMON_CONTROL_CERT"], replica)).stem for replica in replicas
    }
    # Distinct from each other and from every replica's monitor identity: the broker
    # makes each the client id, and two connections with one id close each other.
    monitor_ids = {Path(expanded(env["TRASHMON_MQTT_CERT"], r)).stem for r in replicas}
    assert len(set(identities.values())) == len(replicas)
    assert not set(identities.values()) & monitor_ids
    # scripts/bootstrap copies every clients/trashmonitor-monitor-*.crt into the monitor
    # Secret trashmonitor-mqtt: a controller pair named so would land there too.
    assert not [i for i in identities.values() if fnmatch(f"{i}.crt", "trashmonitor-monitor-*.crt")]
    for replica, identity in identities.items():
        assert Path(expanded(env["TRASHMON_CONTROL_KEY"], replica)).stem == identity
    # They are names `trashmon pki --controller` accepts and makes files for, with the
    # controller's ACL (the one role that may send commands).
    layout = create_pki(
        PkiRequest(
            directory=tmp_path / "pki", cameras=("cam1",), monitors=tuple(replicas),
            controllers=tuple(identities.values()),
            dns_names=("trashmonitor-mqtt.trashmonitor.svc",), ips=(), listen_port=8883,
            listen_address=None, broker_user=None, passphrase=CaPassphrase(encrypt=False),
        )
    )  # fmt: skip
    acl = layout.acl.read_text()
    for replica, identity in identities.items():
        assert (
            layout.client_cert(identity).name
            == Path(expanded(env["TRASHMON_CONTROL_CERT"], replica)).name
        )
        assert (
            layout.client_key(identity).name
            == Path(expanded(env["TRASHMON_CONTROL_KEY"], replica)).name
        )
        assert f"user {identity}\n" in acl


def test_the_replicas_still_reach_the_broker_with_control_on(
    ha_control: list[dict[str, Any]],
) -> None:
    broker = only(ha_control, "NetworkPolicy", "trashmonitor-mqtt")
    assert admitted(broker, MONITOR_LABELS) == {"mqtts"}
    assert admitted(broker, SERVER_LABELS) == set()
    env = env_of(monitor_container(ha_control))
    assert env["TRASHMON_MQTT_URL"] == "mqtts://trashmonitor-mqtt.trashmonitor.svc:8883"
    service = only(ha_control, "Service", "trashmonitor-mqtt")
    assert [p["port"] for p in service["spec"]["ports"]] == [8883]
    monitor = only(ha_control, "NetworkPolicy", "trashmonitor-monitor")
    assert admitted(monitor, SERVER_LABELS) == {"monitor"}  # Caddy's control POSTs


def test_the_combination_passes_schema_validation(ha_control: list[dict[str, Any]]) -> None:
    for doc in ha_control:
        if doc["apiVersion"] in CORE_API_VERSIONS:
            kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_control_without_ha_still_gives_the_server_pod_the_identity(tmp_path: Path) -> None:
    docs = overlay(tmp_path, [""], [CONTROL])
    env = env_of(server_container(docs))
    assert env["TRASHMON_CONTROL_CERT"] == "/etc/trashmonitor/control/controller.crt"
    assert env["TRASHMON_CONTROL_KEY"] == "/etc/trashmonitor/control/controller.key"
    assert not [d for d in docs if d["kind"] == "StatefulSet"]


def test_control_listed_before_ha_refuses_to_render(tmp_path: Path) -> None:
    """A component patches only what the ones before it made: control first would leave
    the replicas without an identity and the server pod with one it cannot use."""
    stderr = refused_render(tmp_path, [CONTROL, HA])
    assert "list-optional~1control-after-optional~1ha-monitor" in stderr


def test_just_deploy_puts_ha_before_control_whatever_the_order_given() -> None:
    sync = load_sync()
    for given in ([CONTROL, HA], [HA, CONTROL]):
        text = sync.deploy_overlay("r/i:1", "c", "c.example.org", "a@b.c", components=given)
        listed = [line.strip() for line in text.splitlines() if "server/k8s/optional" in line]
        assert listed == [f"- ../../server/k8s/{HA}", f"- ../../server/k8s/{CONTROL}"]
    text = sync.deploy_overlay("r/i:1", "c", "c.example.org", "a@b.c", components=[HA])
    assert [line.strip() for line in text.splitlines() if "server/k8s/optional" in line] == [
        f"- ../../server/k8s/{HA}"
    ]


# --- optional/ha-play: the replicas' path to MediaMTX's RTSP ----------------------------

PLAY = "optional/ha-play"


def test_ha_play_opens_rtsp_to_the_replicas_where_their_pulls_go(tmp_path: Path) -> None:
    docs = overlay(tmp_path, [""], [HA, PLAY])
    env = env_of(monitor_container(docs))
    # The pulls' URL when --play-rtsp is not set: MediaMTX's RTSP port on the API host.
    url = urlsplit(default_rtsp_template(env["TRASHMON_MEDIAMTX_API"]))
    assert url.scheme == "rtsp"
    service, port = service_at(docs, f"{url.hostname}:{url.port}")
    assert service["metadata"]["name"] == "trashmonitor-mediamtx"
    assert selected(docs, service["spec"]["selector"])["metadata"]["name"] == "trashmonitor"
    assert port == 8554
    server = only(docs, "NetworkPolicy", "trashmonitor-server")
    assert admitted(server, MONITOR_LABELS) == {"mtx-api", "mtx-metrics", "rtsp"}
    assert admitted(server, PROMETHEUS) == {"mtx-metrics"}
    # The check itself stays off (no ffmpeg in the shipped image): only the path opens.
    assert not {"TRASHMON_PLAY_INTERVAL", "TRASHMON_PLAY_CAMERA"} & env.keys()
    for doc in docs:
        if doc["apiVersion"] in CORE_API_VERSIONS:
            kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_without_ha_play_the_replicas_have_no_rtsp_path(ha: list[dict[str, Any]]) -> None:
    server = only(ha, "NetworkPolicy", "trashmonitor-server")
    assert "rtsp" not in admitted(server, MONITOR_LABELS)
    service = only(ha, "Service", "trashmonitor-mediamtx")
    assert 8554 not in {p["port"] for p in service["spec"]["ports"]}


def test_ha_play_without_ha_monitor_before_it_refuses_to_render(tmp_path: Path) -> None:
    assert "/spec/ingress/2" in refused_render(tmp_path, [PLAY, HA])
