"""The Kubernetes broker's configuration works with real mosquitto.

The pod mounts the generated mosquitto.conf (a ConfigMap) at /mosquitto/config and only
the broker/ files of `trashmon pki create` (the Secret) at /mosquitto/broker. Here the
same two mounts are laid out under a temporary directory: the ConfigMap's text with
/mosquitto moved there, and exactly the Secret's keys copied from a real PKI. A camera
and the read-only monitor identity then meet at the broker, as in the cluster.
"""

from __future__ import annotations

import getpass
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from support.mosquitto import Broker, client_settings, make_pki, recorder
from support.processes import REPO, free_port

from trashmonitor.pki import Layout

K8S = REPO / "server" / "k8s"
KUBECTL = Path(sys.executable).parent / "kubectl"


def rendered_broker() -> tuple[str, set[str]]:
    """The broker's mosquitto.conf and the Secret keys its pod mounts, from the tree."""
    result = subprocess.run(
        [str(KUBECTL), "kustomize", str(K8S)], capture_output=True, text=True, check=True
    )
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    (config,) = [
        d
        for d in docs
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("trashmonitor-mosquitto")
    ]
    (broker,) = [
        d
        for d in docs
        if d["kind"] == "Deployment" and d["metadata"]["name"] == "trashmonitor-mqtt"
    ]
    (secret,) = [
        v["secret"] for v in broker["spec"]["template"]["spec"]["volumes"] if "secret" in v
    ]
    return config["data"]["mosquitto.conf"], {item["key"] for item in secret["items"]}


def test_the_cluster_broker_config_and_secret_serve_a_camera_and_the_monitor(
    tmp_path: Path,
) -> None:
    port = free_port()
    pki = make_pki(tmp_path / "pki", port, cameras=("cam1",))
    conf, secret_keys = rendered_broker()

    pod = Layout(tmp_path / "pod")  # pod/broker stands for /mosquitto/broker
    pod.broker_dir.mkdir(parents=True)
    for key in secret_keys:
        shutil.copyfile(pki.broker_dir / key, pod.broker_dir / key)
        (pod.broker_dir / key).chmod(0o440)  # the Secret volume's defaultMode
    assert "/mosquitto/broker/" in conf
    # In the pod mosquitto runs as the files' group (runAsUser/fsGroup, no `user` line);
    # started as root here it would switch to "mosquitto": keep it as the files' owner.
    local = f"user {getpass.getuser()}\n" + conf.replace("/mosquitto/", f"{pod.root}/").replace(
        "listener 8883\n", f"listener {port} 127.0.0.1\n"
    )
    pod.mosquitto_conf.write_text(local)

    broker = Broker(pod, port, tmp_path / "mosquitto.log")
    broker.start()
    try:
        with (
            recorder(
                client_settings(pki, "monitor", port), "monitor", ("trashcam/+/status",)
            ) as monitor,
            recorder(
                client_settings(pki, "cam1", port), "cam1", ("trashcam/cam1/control/action",)
            ) as camera,
            recorder(client_settings(pki, "controller", port), "controller", ()) as controller,
        ):
            camera.publish("trashcam/cam1/status", "online", retain=True)
            seen = monitor.wait_for(lambda m: m.topic == "trashcam/cam1/status", timeout=20)
            assert seen is not None, broker.log()
            assert seen.payload == b"online"
            # The ACL from the Secret applies: the read-only monitor's control request is
            # dropped, the controller's arrives (and after the monitor's was sent).
            monitor.publish("trashcam/cam1/control/action", "stop")
            controller.publish("trashcam/cam1/control/action", "picture")
            arrived = camera.wait_for(lambda m: m.payload == b"picture", timeout=20)
            assert arrived is not None, broker.log()
            assert camera.payloads("trashcam/cam1/control/action") == [b"picture"]
    finally:
        broker.stop()
    assert "Error" not in broker.log(), broker.log()
