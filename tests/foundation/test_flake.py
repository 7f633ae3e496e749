"""flake.nix cannot be evaluated here (no Nix store, no network, no nixpkgs to fetch), but
it must parse, and its dev shell must bring what `just test` needs: a counterpart for every
Debian package scripts/setup installs (the table below, checked both ways)."""

from __future__ import annotations

import re
import subprocess

from support.processes import REPO, require_binary

# Debian package (scripts/debian-packages.txt) -> nixpkgs attribute with the same tools.
# A package added to scripts/debian-packages.txt needs a row here and its attribute in
# flake.nix, or this test fails.
DEBIAN_TO_NIX = {
    "ffmpeg": "ffmpeg",
    "mosquitto": "mosquitto",
    "mosquitto-clients": "mosquitto",  # nixpkgs' mosquitto has mosquitto_pub/sub
    "prometheus": "prometheus",  # with promtool
    "prometheus-alertmanager": "prometheus-alertmanager",  # with amtool
    "caddy": "caddy",
    # GStreamer's RTSP server and its Python bindings (tests/support/rtsp_server.py)
    "python3-gi": "python311Packages.pygobject3",
    "gir1.2-gst-rtsp-server-1.0": "gst_all_1.gst-rtsp-server",
    "gstreamer1.0-plugins-base": "gst_all_1.gst-plugins-base",
    "gstreamer1.0-plugins-good": "gst_all_1.gst-plugins-good",
    "gstreamer1.0-plugins-ugly": "gst_all_1.gst-plugins-ugly",
    "chromium": "chromium",
    "chromium-driver": "chromedriver",
    "v4l-utils": "v4l-utils",
    "shellcheck": "shellcheck",
    "yamllint": "yamllint",
    "nix-bin": "nix",
    "systemd": "systemd",
    "git": "git",
    "nodejs": "nodejs",  # with npm, which scripts/setup runs
    "docker-compose": "docker-compose",
    "openssl": "openssl",
    "rpm": "rpm",
    "iproute2": "iproute2",
    "util-linux": "util-linux",
}
# What the dev shell has beyond the Debian list: the interpreter scripts/setup builds
# .venv with (Debian's python3 is already there), just (rust-just in .venv on Debian),
# the Kubernetes tools, and what tests run from Debian's essential set (ip, unshare).
NIX_ONLY = {"python311", "just", "kubectl", "kustomize", "iproute2", "util-linux"}


def _debian_packages() -> list[str]:
    lines = (REPO / "scripts" / "debian-packages.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _dev_shell_packages() -> list[str]:
    text = (REPO / "flake.nix").read_text()
    found = re.search(r"packages = with pkgs; \[(.*?)\];", text, re.DOTALL)
    assert found is not None, "flake.nix: no `packages = with pkgs; [ ... ];` in the dev shell"
    return [re.sub(r"#.*", "", line).strip() for line in found.group(1).splitlines()
            if re.sub(r"#.*", "", line).strip()]  # fmt: skip


def test_flake_parses() -> None:
    result = subprocess.run(
        [require_binary("nix-instantiate"), "--parse", str(REPO / "flake.nix")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_every_debian_package_has_its_nix_counterpart_in_the_dev_shell() -> None:
    unmapped = [pkg for pkg in _debian_packages() if pkg not in DEBIAN_TO_NIX]
    assert unmapped == [], (
        f"scripts/debian-packages.txt lists {unmapped} without a nixpkgs counterpart: "
        "add it to flake.nix's dev shell and to DEBIAN_TO_NIX in this test"
    )
    shell = _dev_shell_packages()
    missing = sorted({DEBIAN_TO_NIX[pkg] for pkg in _debian_packages()} - set(shell))
    assert missing == [], f"flake.nix's dev shell lacks {missing}"
    assert len(shell) == len(set(shell)), shell


def test_the_dev_shell_has_nothing_unaccounted_for() -> None:
    accounted = {DEBIAN_TO_NIX[pkg] for pkg in _debian_packages()} | NIX_ONLY
    assert sorted(set(_dev_shell_packages()) - accounted) == []
    # What `just test` runs beyond the Debian list is there too.
    assert {"python311", "just", "nodejs", "chromedriver", "rpm"} <= set(_dev_shell_packages())
