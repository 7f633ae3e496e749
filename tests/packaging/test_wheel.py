"""The package carries what ``trashmon demo`` serves (issue 13): server/'s Caddyfile, its
caddy/*.caddy imports and the built viewer, as ``trashmonitor/_server/``. Built the way
``python -m build`` does (an sdist from a copy of the checkout, then the wheel from the
unpacked sdist, which has no node_modules), installed into a fresh venv and used from a
directory that is not the checkout."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.http import http_get
from support.processes import REPO, free_port, require_binary, running, wait_until

SERVER = REPO / "server"
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
# The build needs nothing from the network: the venv's setuptools, no isolation.
OFFLINE = ["--quiet", "--no-deps", "--no-index", "--no-build-isolation"]


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def _checkout_copy(target: Path) -> Path:
    """Tracked and new files (.gitignore respected: no dist/, no node_modules), as
    capture/rpm/build copies them: building in the tree would leave build/ behind."""
    listed = _run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], REPO)
    assert listed.returncode == 0, listed.stderr
    for name in filter(None, listed.stdout.split("\0")):
        if (REPO / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target / name)
    return target


def _build_sdist(source: Path, out: Path) -> subprocess.CompletedProcess[str]:
    hook = f"from setuptools import build_meta; print(build_meta.build_sdist({str(out)!r}))"
    return _run([sys.executable, "-c", hook], source)


@dataclass(frozen=True)
class Built:
    sdist: Path
    wheel: Path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The checkout's copy gets the checkout's node_modules, so the sdist's dist/ is
    built by setup.py; the wheel is then built from the sdist alone."""
    source = _checkout_copy(tmp_path_factory.mktemp("checkout"))
    (source / "server/viewer/node_modules").symlink_to(SERVER / "viewer/node_modules")
    out = tmp_path_factory.mktemp("dist")
    done = _build_sdist(source, out)
    assert done.returncode == 0, done.stderr
    sdist = out / done.stdout.strip().splitlines()[-1]
    with tarfile.open(sdist) as archive:
        archive.extractall(out, filter="data")
    unpacked = out / sdist.name.removesuffix(".tar.gz")
    done = _run([*PIP, "wheel", *OFFLINE, "--wheel-dir", str(out), str(unpacked)], out)
    assert done.returncode == 0, done.stderr
    (wheel,) = out.glob("trashmonitor-*.whl")
    return Built(sdist, wheel)


def _expected_assets() -> dict[str, bytes]:
    """trashmonitor/_server/... → bytes: one source each, server/ as it is (the viewer's
    pages copied from src/ by build.mjs, hls.js from node_modules)."""
    files = {"Caddyfile": SERVER / "Caddyfile"}
    files |= {f"caddy/{path.name}": path for path in (SERVER / "caddy").glob("*.caddy")}
    source = SERVER / "viewer/src"
    files |= {f"viewer/dist/{p.relative_to(source)}": p for p in source.rglob("*") if p.is_file()}
    hls = SERVER / "viewer/node_modules/hls.js"
    files["viewer/dist/vendor/hls.light.min.js"] = hls / "dist/hls.light.min.js"
    files["viewer/dist/vendor/hls.js.LICENSE.txt"] = hls / "LICENSE"
    return {f"trashmonitor/_server/{name}": path.read_bytes() for name, path in files.items()}


def test_wheel_carries_server_assets_as_they_are_in_server(built: Built) -> None:
    expected = _expected_assets()
    with zipfile.ZipFile(built.wheel) as wheel:
        shipped = {
            name: wheel.read(name)
            for name in wheel.namelist()
            if name.startswith("trashmonitor/_server/")
        }
    assert sorted(shipped) == sorted(expected)
    assert shipped == expected


def test_sdist_carries_what_the_wheel_build_needs(built: Built) -> None:
    with tarfile.open(built.sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for name in _expected_assets():
        assert name.replace("trashmonitor/_server/", "server/", 1) in names
    assert "setup.py" in names


def test_wheel_build_without_a_viewer_or_node_stops_in_one_line(
    built: Built, tmp_path: Path
) -> None:
    """The sdist with its dist/ removed and no node_modules: no wheel, one line why."""
    with tarfile.open(built.sdist) as archive:
        archive.extractall(tmp_path, filter="data")
    (unpacked,) = tmp_path.iterdir()
    shutil.rmtree(unpacked / "server/viewer/dist")
    done = _run([*PIP, "wheel", *OFFLINE, "--wheel-dir", str(tmp_path / "out"), str(unpacked)],
                tmp_path)  # fmt: skip
    assert done.returncode != 0
    said = [line.strip() for line in done.stdout.splitlines() + done.stderr.splitlines()]
    assert (
        "trashmonitor: the viewer is not built (server/viewer/dist/) and cannot be (needs node "
        "and `npm ci --prefix server/viewer`; scripts/setup does both)"
    ) in said
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


@pytest.fixture(scope="module")
def venv(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel. Its dependencies come from this venv's
    site-packages, added as a plain path (a .pth line), so this venv's own .pth files,
    among them the checkout's editable install, are not read there."""
    venv = tmp_path_factory.mktemp("venv")
    done = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], venv)
    assert done.returncode == 0, done.stderr
    python = venv / "bin/python"
    done = _run([*PIP, "--python", str(python), "install", *OFFLINE, str(built.wheel)], venv)
    assert done.returncode == 0, done.stderr
    site = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], venv)
    assert site.returncode == 0, site.stderr
    Path(site.stdout.strip(), "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return venv


def test_installed_demo_serves_its_viewer_from_the_installed_package(
    venv: Path, tmp_path: Path
) -> None:
    """The installed trashmon, run from outside the checkout, names its Caddyfile and
    viewer inside the venv, and the real Caddy serves the viewer with that Caddyfile
    (its caddy/*.caddy imports resolved beside it) as the demo runs it."""
    assert not tmp_path.is_relative_to(REPO)
    usage = _run([str(venv / "bin/trashmon"), "demo", "--help"], tmp_path)
    assert usage.returncode == 0, usage.stderr
    code = "from trashmonitor.demo import server_assets as s; a = s(); print(a.caddyfile, a.viewer)"
    done = _run([str(venv / "bin/python"), "-P", "-c", code], tmp_path)
    assert done.returncode == 0, done.stderr
    caddyfile, viewer = map(Path, done.stdout.split())
    site = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    for path in (caddyfile, viewer):
        assert path.is_relative_to(site / "site-packages/trashmonitor/_server"), path
    port = free_port()
    env = {
        "TRASHMON_TLS": "off", "TRASHMON_HTTP_PORT": str(port), "TRASHMON_HTTP_BIND": "127.0.0.1",
        "TRASHMON_VIEWER_ROOT": str(viewer), "TRASHMON_CONTROL": "off",
        "XDG_DATA_HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path),
    }  # fmt: skip
    argv = [require_binary("caddy"), "run", "--config", str(caddyfile), "--adapter", "caddyfile"]
    base = f"http://127.0.0.1:{port}"
    with running(argv, env=env, cwd=tmp_path, log_path=tmp_path / "caddy.log") as caddy:

        def page() -> tuple[int, bytes] | None:
            assert caddy.poll() is None, (tmp_path / "caddy.log").read_text()
            return http_get(f"{base}/")

        status, body = wait_until(page, 30, 0.1, "caddy serving the installed viewer")
        assert (status, body) == (200, (SERVER / "viewer/src/index.html").read_bytes())
        hls = SERVER / "viewer/node_modules/hls.js/dist/hls.light.min.js"
        assert http_get(f"{base}/vendor/hls.light.min.js") == (200, hls.read_bytes())
