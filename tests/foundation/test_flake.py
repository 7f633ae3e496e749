"""flake.nix cannot be evaluated here (no Nix store, no network), but it must parse."""

from __future__ import annotations

import subprocess

from support.processes import REPO, require_binary


def test_flake_parses_and_lists_the_dev_tools() -> None:
    result = subprocess.run(
        [require_binary("nix-instantiate"), "--parse", str(REPO / "flake.nix")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    text = (REPO / "flake.nix").read_text()
    for tool in ("ffmpeg", "mosquitto", "prometheus", "caddy", "just", "kubectl", "kustomize"):
        assert tool in text
