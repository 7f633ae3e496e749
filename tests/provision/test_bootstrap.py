"""`scripts/bootstrap` as a real process, with PATH holding only stand-in tools.

The stand-ins (kubectl, podman, docker, just) record their argv in one log, in call
order; kubectl also keeps the pull-secret file it was given. No cluster, registry or
DNS API exists here, so this checks what the script decides: order, skips, failures.
"""

from __future__ import annotations

import base64
import getpass
import json
import os
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from provision.playbooks import just
from support.processes import REPO

from trashmonitor.pki import CaPassphrase, Layout, PkiRequest, create_pki

BOOTSTRAP = REPO / "scripts" / "bootstrap"
# What the script itself needs from the system: a shell and coreutils, nothing else.
BASICS = (
    "bash", "env", "cat", "mktemp", "rm", "tr", "grep", "base64", "dirname", "cp", "stat",
    "head", "mkdir", "openssl",
)  # fmt: skip
CREDENTIALS = {
    "GHCR_REPO": "ghcr.io/example-org/tailnet-trashmonitor",
    "GHCR_TOKEN": "ghp_secret0token",
    "GHCR_EMAIL": "ops@example.org",
    "CF_API_TOKEN": "cf-secret-token",
    "TS_API_KEY": "tskey-api-secret",
    "DNS_ZONE": "example.org",
    "TS_TAILNET": "example-tailnet.ts.net",
    "TS_HOSTNAME": "trashmonitor",
}
SECRETS = ("ghp_secret0token", "cf-secret-token", "tskey-api-secret")
MQTT_SECRETS = "trashmonitor/trashmonitor-mqtt-broker trashmonitor/trashmonitor-mqtt"

FAKE = """#!/usr/bin/env bash
# Stand-in {name}: log argv, behave as configured by FAKE_* variables.
log() {{ printf '%s\\n' "{name} $*" >>"$FAKE_LOG"; }}
{body}
"""
# `kubectl apply -f -` logs after reading its input, i.e. after `kubectl create` in the
# same pipeline has finished: the log order is then the order the pipeline means.
KUBECTL = """
[[ "$1 $2" == "apply -f" ]] || log "$@"
case "$1 $2" in
  "config current-context")
    [[ -n $FAKE_KUBE_CONTEXT ]] || exit 1
    echo "$FAKE_KUBE_CONTEXT"; exit 0 ;;
  "create namespace") printf 'kind: Namespace\\nname: %s\\n' "$3" ;;
  "get secret")  # get secret NAME --namespace NS -o name
    [[ " $FAKE_EXISTING_SECRETS " == *" $5/$3 "* ]] || exit 1
    echo "secret/$3"; exit 0 ;;
  "get namespace") [[ " $FAKE_NAMESPACES " == *" $3 "* ]] || exit 1; exit 0 ;;
  "create secret")
    ns=default
    for ((i = 1; i <= $#; i++)); do [[ ${!i} == --namespace ]] && { j=$((i + 1)); ns=${!j}; }; done
    for arg; do
      if [[ $3 == generic && $arg == --from-file=*=* ]]; then
        pair=${arg#--from-file=}; key=${pair%%=*}; file=${pair#*=}
        mkdir -p "$FAKE_DIR/secrets/$ns.$4"
        cp "$file" "$FAKE_DIR/secrets/$ns.$4/$key"
        stat -c %a "$file" >"$FAKE_DIR/secrets/$ns.$4/$key.mode"
        echo "$file" >>"$FAKE_DIR/secret-files"
      fi
      if [[ $arg == --from-file=.dockerconfigjson=* ]]; then
        file=${arg#--from-file=.dockerconfigjson=}
        cp "$file" "$FAKE_DIR/dockerconfig.json"; stat -c %a "$file" >"$FAKE_DIR/dockerconfig.mode"
        echo "$file" >"$FAKE_DIR/dockerconfig.path"
      fi
    done
    printf 'kind: Secret\\ntype: kubernetes.io/dockerconfigjson\\n' ;;
  "apply -f") cat >>"$FAKE_DIR/applied.yaml"; log "$@" ;;
esac
exit "${FAKE_KUBECTL_RC:-0}"
"""
JUST = """
log "$@"
if [[ $1 == --summary ]]; then echo "$FAKE_JUST_RECIPES"; exit 0; fi
rc_var="FAKE_JUST_RC_${1//-/_}"
exit "${!rc_var:-0}"
"""
DOCKER = """log "$@"; [[ $1 == info ]] && exit "${FAKE_DOCKER_INFO_RC:-0}"; exit 0"""


@dataclass
class Sandbox:
    bin: Path
    dir: Path
    env: dict[str, str]

    def add(self, name: str, body: str = 'log "$@"') -> None:
        path = self.bin / name
        path.write_text(FAKE.format(name=name, body=body))
        path.chmod(0o755)

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / "bash"), str(BOOTSTRAP), *args],
            capture_output=True,
            text=True,
            env={**self.env, **env},
            timeout=60,
            check=False,
        )

    def calls(self) -> list[str]:
        log = self.dir / "calls.log"
        return log.read_text().splitlines() if log.exists() else []

    def with_all_tools(self) -> None:
        self.add("kubectl", KUBECTL)
        self.add("podman")
        self.add("just", JUST)
        self.env.update(
            FAKE_KUBE_CONTEXT="tailnet-cluster",
            FAKE_JUST_RECIPES="bootstrap deploy dns health image image-push setup",
            # a re-run: the MQTT Secrets exist (TRASHMON_PKI_DIR is then not needed)
            FAKE_EXISTING_SECRETS=MQTT_SECRETS,
            **CREDENTIALS,
        )


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in BASICS:
        found = shutil.which(tool)
        assert found, f"{tool} missing on this machine"
        (bin_dir / tool).symlink_to(found)
    env = {
        "PATH": str(bin_dir),
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path),
        "FAKE_LOG": str(tmp_path / "calls.log"),
        "FAKE_DIR": str(tmp_path),
    }
    return Sandbox(bin_dir, tmp_path, env)


def secret_call(sandbox: Sandbox, namespace: str, name: str) -> str:
    """The logged `kubectl create secret generic` of ``name``: keys and temporary paths."""
    (call,) = [c for c in sandbox.calls() if c.startswith(f"kubectl create secret generic {name} ")]
    assert call.startswith(f"kubectl create secret generic {name} --namespace {namespace} ")
    return call


def skip_lines(output: str) -> dict[str, str]:
    return {
        line.split()[1]: line.split("SKIPPED: ", 1)[1]
        for line in output.splitlines()
        if " SKIPPED: " in line
    }


def test_without_tools_or_credentials_every_step_is_skipped_with_its_reason(
    sandbox: Sandbox,
) -> None:
    result = sandbox.run("0.0.1")

    assert result.returncode == 0, result.stderr
    assert skip_lines(result.stderr) == {
        "ghcr-secret": "kubectl not found",
        "secrets": "kubectl not found",
        "image": "GHCR_REPO is not set",
        "deploy": "kubectl not found",
        "dns": "CF_API_TOKEN is not set",
        "health": "TS_TAILNET is not set",
    }
    assert sandbox.calls() == []


def test_with_everything_present_the_steps_run_in_the_seed_order(sandbox: Sandbox) -> None:
    sandbox.with_all_tools()

    result = sandbox.run("0.0.1")

    assert result.returncode == 0, result.stderr
    assert skip_lines(result.stderr) == {}
    actions = [c for c in sandbox.calls() if not c.startswith(("kubectl config", "just --summary"))]
    assert actions == [
        "kubectl create namespace trashmonitor --dry-run=client -o yaml",
        "kubectl apply -f -",
        f"kubectl create secret docker-registry ghcr --namespace trashmonitor "
        f"--from-file=.dockerconfigjson={(sandbox.dir / 'dockerconfig.path').read_text().strip()}"
        " --dry-run=client -o yaml",
        "kubectl apply -f -",
        # secrets: without TRASHMON_PKI_DIR the MQTT pair that exists is kept
        "kubectl create namespace trashmonitor --dry-run=client -o yaml",
        "kubectl apply -f -",
        "kubectl get secret trashmonitor-mediamtx-reader --namespace trashmonitor -o name",
        secret_call(sandbox, "trashmonitor", "trashmonitor-mediamtx-reader"),
        "kubectl apply -f -",
        "kubectl get secret trashmonitor-mqtt-broker --namespace trashmonitor -o name",
        "kubectl get secret trashmonitor-mqtt --namespace trashmonitor -o name",
        "kubectl get secret trashmonitor-dns --namespace trashmonitor -o name",
        secret_call(sandbox, "trashmonitor", "trashmonitor-dns"),
        "kubectl apply -f -",
        "kubectl get namespace cert-manager -o name",
        "just image-push 0.0.1",
        "just deploy",
        "just dns",
        "just health",
    ]
    assert "kind: Secret" in (sandbox.dir / "applied.yaml").read_text()


def test_pull_secret_is_a_private_file_never_in_argv_or_output(sandbox: Sandbox) -> None:
    sandbox.with_all_tools()

    result = sandbox.run("--only", "ghcr-secret")

    assert result.returncode == 0, result.stderr
    config = json.loads((sandbox.dir / "dockerconfig.json").read_text())
    entry = config["auths"]["ghcr.io"]
    assert entry["username"] == "example-org"
    assert base64.b64decode(entry["auth"]).decode() == f"example-org:{CREDENTIALS['GHCR_TOKEN']}"
    assert (sandbox.dir / "dockerconfig.mode").read_text().strip() == "600"
    assert not Path((sandbox.dir / "dockerconfig.path").read_text().strip()).exists()
    for secret in SECRETS:
        assert secret not in "\n".join(sandbox.calls())
        assert secret not in result.stdout + result.stderr


def test_a_failing_step_stops_the_bootstrap_and_is_named(sandbox: Sandbox) -> None:
    sandbox.with_all_tools()

    result = sandbox.run("0.0.1", FAKE_JUST_RC_deploy="3")

    assert result.returncode == 3
    assert "step 'deploy' FAILED (exit 3); stopping" in result.stderr
    assert "just deploy" in sandbox.calls()
    assert not any(c.startswith(("just dns", "just health")) for c in sandbox.calls())


def test_a_camera_down_fails_the_final_health_step(sandbox: Sandbox) -> None:
    sandbox.with_all_tools()

    result = sandbox.run("0.0.1", FAKE_JUST_RC_health="1")

    assert result.returncode == 1
    assert "step 'health' FAILED (exit 1)" in result.stderr


def test_failing_kubectl_apply_fails_the_secret_step(sandbox: Sandbox) -> None:
    sandbox.with_all_tools()

    result = sandbox.run("0.0.1", FAKE_KUBECTL_RC="1")

    assert result.returncode == 1
    assert "step 'ghcr-secret' FAILED" in result.stderr
    assert not any(c.startswith("just image-push") for c in sandbox.calls())


def test_justfile_placeholders_count_as_missing(sandbox: Sandbox) -> None:
    sandbox.with_all_tools()

    result = sandbox.run(
        "0.0.1", TS_TAILNET="<your-tailnet>.ts.net", DNS_ZONE="<your-zone>", GHCR_EMAIL="<you>"
    )

    assert result.returncode == 0, result.stderr
    assert skip_lines(result.stderr) == {
        "dns": "DNS_ZONE is still a <placeholder>",
        "health": "TS_TAILNET is still a <placeholder>",
    }
    assert (
        json.loads((sandbox.dir / "dockerconfig.json").read_text())["auths"]["ghcr.io"]["email"]
        == ""
    )


def test_kubectl_without_a_cluster_context_skips_cluster_steps(sandbox: Sandbox) -> None:
    sandbox.with_all_tools()

    result = sandbox.run("0.0.1", FAKE_KUBE_CONTEXT="")

    assert result.returncode == 0, result.stderr
    reason = "kubectl has no current context (no cluster credentials)"
    assert skip_lines(result.stderr) == {"ghcr-secret": reason, "secrets": reason, "deploy": reason}
    assert "just image-push 0.0.1" in sandbox.calls()


def test_docker_without_an_engine_skips_the_image(sandbox: Sandbox) -> None:
    sandbox.with_all_tools()
    (sandbox.bin / "podman").unlink()
    sandbox.add("docker", DOCKER)

    result = sandbox.run("0.0.1", FAKE_DOCKER_INFO_RC="1")

    assert skip_lines(result.stderr)["image"] == (
        "docker is installed but no engine answers (docker info failed)"
    )
    assert result.returncode == 0


def test_missing_recipes_are_skipped_and_deploy_falls_back_to_kubectl(sandbox: Sandbox) -> None:
    sandbox.with_all_tools()

    result = sandbox.run("0.0.1", FAKE_JUST_RECIPES="health setup")

    assert result.returncode == 0, result.stderr
    assert skip_lines(result.stderr) == {
        "image": "the justfile has no image-push recipe",
        "dns": "the justfile has no dns recipe",
    }
    assert "kubectl apply -k server/k8s" in sandbox.calls()


def test_only_mode_exits_2_when_its_step_is_skipped(sandbox: Sandbox) -> None:
    result = sandbox.run("--only", "ghcr-secret")

    assert result.returncode == 2
    assert skip_lines(result.stderr) == {"ghcr-secret": "kubectl not found"}


@pytest.mark.parametrize("args", [(), ("latest tag",), ("--only", "nonsense")])
def test_bad_arguments_exit_2_with_one_line(sandbox: Sandbox, args: tuple[str, ...]) -> None:
    result = sandbox.run(*args)

    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert sandbox.calls() == []


def test_just_bootstrap_recipe_runs_the_script_with_the_version(tmp_path: Path) -> None:
    """The justfile wiring, for real: on a machine without cluster access all skip."""
    empty_env = tmp_path / "empty.env"
    empty_env.write_text("")
    env = {k: v for k, v in os.environ.items() if k not in CREDENTIALS}
    env["PATH"] = f"{tmp_path}{os.pathsep}{env['PATH']}"
    # A kubectl without a context, whatever this machine has installed.
    (tmp_path / "kubectl").write_text("#!/bin/sh\nexit 1\n")
    (tmp_path / "kubectl").chmod(stat.S_IRWXU)

    result = just("bootstrap", "0.0.1", env=env, empty_dotenv=empty_env)

    assert result.returncode == 0, result.stderr
    skipped = skip_lines(result.stderr)
    assert set(skipped) == {"ghcr-secret", "secrets", "image", "deploy", "dns", "health"}
    assert skipped["image"] == "GHCR_REPO is still a <placeholder>"  # the justfile default
    assert skipped["health"] == "TS_TAILNET is still a <placeholder>"


def test_health_runs_with_the_api_tailnet_dash_and_a_separate_magicdns_suffix(
    sandbox: Sandbox,
) -> None:
    """TS_TAILNET=- (what `just dns` wants) plus TS_MAGICDNS_SUFFIX: the health step runs
    (`just health` builds its URL from the suffix) instead of being skipped."""
    sandbox.with_all_tools()

    result = sandbox.run("0.0.1", TS_TAILNET="-", TS_MAGICDNS_SUFFIX="tail1234.ts.net")

    assert result.returncode == 0, result.stderr
    assert skip_lines(result.stderr) == {}
    assert "just health" in sandbox.calls()


def test_health_with_only_a_suffix_needs_no_tailnet(sandbox: Sandbox) -> None:
    sandbox.with_all_tools()
    env = {k: v for k, v in sandbox.env.items() if k != "TS_TAILNET"}
    sandbox.env = {**env, "TS_MAGICDNS_SUFFIX": "tail1234.ts.net"}

    result = sandbox.run("--only", "health")

    assert result.returncode == 0, result.stderr
    assert "just health" in sandbox.calls()


# ---------------------------------------------------------------- the secrets step

SERVICE_NAME = "trashmonitor-mqtt.trashmonitor.svc"
BROKER_KEYS = {"acl", "ca-chain.crt", "crl.pem", "server.crt", "server.key"}


def make_test_pki(
    directory: Path,
    *dns_names: str,
    monitors: tuple[str, ...] = ("monitor",),
    controllers: tuple[str, ...] = (),
) -> Layout:
    return create_pki(
        PkiRequest(
            directory=directory,
            cameras=("cam1",),
            monitors=monitors,
            controllers=controllers,
            dns_names=dns_names,
            ips=(),
            listen_port=8883,
            listen_address=None,
            broker_user=getpass.getuser(),
            passphrase=CaPassphrase(encrypt=False),
        )
    )


def stored(
    sandbox: Sandbox, namespace: str, name: str, written_by_bootstrap: bool = True
) -> dict[str, bytes]:
    """The files kubectl was given for a Secret, by key; the ones the bootstrap wrote
    itself (values from the environment or generated) must have been 0600."""
    folder = sandbox.dir / "secrets" / f"{namespace}.{name}"
    keys = {p.name for p in folder.iterdir() if not p.name.endswith(".mode")}
    for key in keys if written_by_bootstrap else ():
        assert (folder / f"{key}.mode").read_text().strip() == "600", (name, key)
    return {key: (folder / key).read_bytes() for key in keys}


def _assert_the_pki_files_are_stored(sandbox: Sandbox, pki: Layout) -> None:
    """The broker Secret holds the PKI's own files, passed by path (its keys are 0600
    already), and never a CA key."""
    broker = stored(sandbox, "trashmonitor", "trashmonitor-mqtt-broker", False)
    assert broker.keys() == BROKER_KEYS
    assert broker == {key: (pki.broker_dir / key).read_bytes() for key in BROKER_KEYS}
    ca_keys = [p.read_bytes() for p in pki.ca_dir.glob("*.key")]
    assert ca_keys
    assert not any(ca_key in value for ca_key in ca_keys for value in broker.values())


def first_secrets_run(sandbox: Sandbox, pki: Layout) -> subprocess.CompletedProcess[str]:
    """`--only secrets` from ``pki`` on a cluster holding no Secret yet."""
    return sandbox.run(
        "--only",
        "secrets",
        TRASHMON_PKI_DIR=str(pki.root),
        FAKE_NAMESPACES="cert-manager",
        FAKE_EXISTING_SECRETS="",
    )


def test_secrets_step_creates_every_secret_from_private_files_never_argv_or_output(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.with_all_tools()
    pki = make_test_pki(tmp_path / "pki", SERVICE_NAME, "trashmonitor-mqtt.example.ts.net")

    result = first_secrets_run(sandbox, pki)

    assert result.returncode == 0, result.stderr
    reader = stored(sandbox, "trashmonitor", "trashmonitor-mediamtx-reader")
    password = reader["password"].decode()
    assert reader["username"] == b"trashmon-reader"
    assert len(password) >= 30
    assert password.isalnum()
    assert reader["credentials"] == f"trashmon-reader:{password}".encode()
    _assert_the_pki_files_are_stored(sandbox, pki)
    assert stored(sandbox, "trashmonitor", "trashmonitor-mqtt", False) == {
        "ca-chain.crt": pki.chain.read_bytes(),
        "monitor.crt": pki.client_cert("monitor").read_bytes(),
        "monitor.key": pki.client_key("monitor").read_bytes(),
    }
    assert stored(sandbox, "trashmonitor", "trashmonitor-dns") == {
        "CF_API_TOKEN": CREDENTIALS["CF_API_TOKEN"].encode(),
        "TS_API_KEY": CREDENTIALS["TS_API_KEY"].encode(),
    }
    assert stored(sandbox, "cert-manager", "cloudflare-api-token") == {
        "api-token": CREDENTIALS["CF_API_TOKEN"].encode()
    }
    # The temporary files are gone, and no value was an argument or printed.
    temporary = (sandbox.dir / "secret-files").read_text().split()
    assert not any(Path(path).exists() for path in temporary if not path.startswith(str(pki.root)))
    values = [
        *SECRETS,
        password,
        pki.client_key("monitor").read_text(),
        (pki.broker_dir / "server.key").read_text(),
    ]
    seen = "\n".join(sandbox.calls()) + result.stdout + result.stderr
    for value in values:
        assert value not in seen
    # One line per Secret.
    created = [line for line in result.stderr.splitlines() if line.endswith(" created")]
    assert created == [
        "bootstrap: secrets: trashmonitor/trashmonitor-mediamtx-reader created",
        "bootstrap: secrets: trashmonitor/trashmonitor-mqtt-broker created",
        "bootstrap: secrets: trashmonitor/trashmonitor-mqtt created",
        "bootstrap: secrets: trashmonitor/trashmonitor-dns created",
        "bootstrap: secrets: cert-manager/cloudflare-api-token created",
    ]


def test_existing_secrets_are_kept_unless_replacing_is_asked(sandbox: Sandbox) -> None:
    sandbox.with_all_tools()
    existing = (
        f"trashmonitor/trashmonitor-mediamtx-reader trashmonitor/trashmonitor-dns {MQTT_SECRETS}"
    )

    kept = sandbox.run("--only", "secrets", FAKE_EXISTING_SECRETS=existing)

    assert kept.returncode == 0, kept.stderr
    assert not (sandbox.dir / "secrets").exists()
    assert not any(c.startswith("kubectl create secret") for c in sandbox.calls())
    for name in ("trashmonitor-mediamtx-reader", "trashmonitor-dns"):
        assert (
            f"bootstrap: secrets: trashmonitor/{name} exists, kept "
            "(TRASHMON_REPLACE_SECRETS=1 replaces it)"
        ) in kept.stderr.splitlines()

    replaced = sandbox.run(
        "--only", "secrets", FAKE_EXISTING_SECRETS=existing, TRASHMON_REPLACE_SECRETS="1"
    )

    assert replaced.returncode == 0, replaced.stderr
    assert "bootstrap: secrets: trashmonitor/trashmonitor-dns replaced" in replaced.stderr
    assert stored(sandbox, "trashmonitor", "trashmonitor-dns")["CF_API_TOKEN"] == (
        CREDENTIALS["CF_API_TOKEN"].encode()
    )


def test_a_broker_certificate_without_the_service_name_fails_the_step(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """The monitor connects to trashmonitor-mqtt.trashmonitor.svc: a certificate that
    does not name it would fail every TLS handshake after the deploy."""
    sandbox.with_all_tools()
    pki = make_test_pki(tmp_path / "pki", "trashmonitor-mqtt.example.ts.net")

    result = sandbox.run("--only", "secrets", TRASHMON_PKI_DIR=str(pki.root))

    assert result.returncode == 2
    assert f"does not name {SERVICE_NAME}" in result.stderr
    assert "step 'secrets' FAILED (exit 2)" in result.stderr
    assert not any("trashmonitor-mqtt" in c for c in sandbox.calls())


def test_each_ha_monitor_replica_gets_its_own_identity_in_the_monitor_secret(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """optional/ha-monitor's pods read <pod name>.crt/.key from trashmonitor-mqtt: the
    broker makes the certificate's name the client id, so replicas cannot share one."""
    sandbox.with_all_tools()
    replicas = ("trashmonitor-monitor-0", "trashmonitor-monitor-1")
    pki = make_test_pki(tmp_path / "pki", SERVICE_NAME, monitors=("monitor", *replicas))

    result = first_secrets_run(sandbox, pki)

    assert result.returncode == 0, result.stderr
    expected = {
        "ca-chain.crt": pki.chain.read_bytes(),
        "monitor.crt": pki.client_cert("monitor").read_bytes(),
        "monitor.key": pki.client_key("monitor").read_bytes(),
    }
    for replica in replicas:
        expected[f"{replica}.crt"] = pki.client_cert(replica).read_bytes()
        expected[f"{replica}.key"] = pki.client_key(replica).read_bytes()
    assert stored(sandbox, "trashmonitor", "trashmonitor-mqtt", False) == expected
    seen = "\n".join(sandbox.calls()) + result.stdout + result.stderr
    assert not any(pki.client_key(r).read_text() in seen for r in replicas)


def test_each_ha_replica_controller_identity_goes_to_its_own_secret(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """optional/control with optional/ha-monitor: each replica reads
    controller-<pod>.crt/.key from trashmonitor-control-replicas, a Secret apart from
    the monitor's (which must not get them)."""
    sandbox.with_all_tools()
    replicas = ("trashmonitor-monitor-0", "trashmonitor-monitor-1")
    controllers = tuple(f"controller-{replica}" for replica in replicas)
    pki = make_test_pki(
        tmp_path / "pki",
        SERVICE_NAME,
        monitors=("monitor", *replicas),
        controllers=controllers,
    )

    result = first_secrets_run(sandbox, pki)

    assert result.returncode == 0, result.stderr
    expected: dict[str, bytes] = {}
    for name in controllers:
        expected[f"{name}.crt"] = pki.client_cert(name).read_bytes()
        expected[f"{name}.key"] = pki.client_key(name).read_bytes()
    assert stored(sandbox, "trashmonitor", "trashmonitor-control-replicas", False) == expected
    monitor_secret = stored(sandbox, "trashmonitor", "trashmonitor-mqtt", False)
    assert not any(name.startswith("controller-") for name in monitor_secret)
    seen = "\n".join(sandbox.calls()) + result.stdout + result.stderr
    assert not any(pki.client_key(name).read_text() in seen for name in controllers)


def test_without_replica_controllers_no_control_secret_is_made(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.with_all_tools()
    pki = make_test_pki(tmp_path / "pki", SERVICE_NAME, controllers=("controller",))

    result = first_secrets_run(sandbox, pki)

    assert result.returncode == 0, result.stderr
    assert not any("trashmonitor-control-replicas" in call for call in sandbox.calls())


def test_a_missing_pki_file_fails_the_step_naming_it(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.with_all_tools()
    pki = make_test_pki(tmp_path / "pki", SERVICE_NAME)
    pki.crl.unlink()

    result = sandbox.run("--only", "secrets", TRASHMON_PKI_DIR=str(pki.root))

    assert result.returncode == 2
    assert f"TRASHMON_PKI_DIR: {pki.crl} is missing or unreadable" in result.stderr
    assert not any("trashmonitor-mqtt" in c for c in sandbox.calls())


def test_a_first_run_without_the_pki_fails_before_the_deploy(sandbox: Sandbox) -> None:
    """The default tree's broker and server pods mount the MQTT Secrets: without them
    (and without a PKI to make them from) the deploy would hang, so the step fails."""
    sandbox.with_all_tools()

    result = sandbox.run("0.0.1", FAKE_EXISTING_SECRETS="")

    assert result.returncode == 2
    assert (
        "TRASHMON_PKI_DIR: not set, and the Secret trashmonitor/trashmonitor-mqtt-broker "
        "the broker and the monitor need does not exist"
    ) in result.stderr
    assert "step 'secrets' FAILED (exit 2)" in result.stderr
    assert not any(c.startswith(("just image-push", "just deploy")) for c in sandbox.calls())


def test_secrets_step_creates_the_alert_webhook_secret_without_showing_it(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.with_all_tools()
    pki = make_test_pki(tmp_path / "pki", SERVICE_NAME, "trashmonitor-mqtt.example.ts.net")
    hooks = {
        "TRASHMON_ALERT_PAGE_URL": "https://relay.example.org/page?key=page-secret-key",
        "TRASHMON_ALERT_NOTIFY_URL": "https://relay.example.org/notify?key=notify-secret-key",
        "TRASHMON_ALERT_WEBHOOK_TOKEN": "webhook-secret-token",
    }
    without = sandbox.run("--only", "secrets", TRASHMON_PKI_DIR=str(pki.root))
    assert without.returncode == 0, without.stderr
    assert "trashmonitor-alert-webhook not created: TRASHMON_ALERT_PAGE_URL is not set" in (
        without.stderr
    )

    result = sandbox.run(
        "--only", "secrets", TRASHMON_PKI_DIR=str(pki.root), FAKE_EXISTING_SECRETS="", **hooks
    )
    assert result.returncode == 0, result.stderr
    assert stored(sandbox, "trashmonitor", "trashmonitor-alert-webhook") == {
        "page-url": hooks["TRASHMON_ALERT_PAGE_URL"].encode(),
        "notify-url": hooks["TRASHMON_ALERT_NOTIFY_URL"].encode(),
        "token": hooks["TRASHMON_ALERT_WEBHOOK_TOKEN"].encode(),
    }
    assert "bootstrap: secrets: trashmonitor/trashmonitor-alert-webhook created" in result.stderr
    seen = "\n".join(sandbox.calls()) + result.stdout + result.stderr
    for secret in ("page-secret-key", "notify-secret-key", "webhook-secret-token"):
        assert secret not in seen
