"""trashmonitor/mediamtx_release.py against a local HTTP server playing GitHub's release
downloads: it installs only what a checksum vouches for, leaves nothing behind when it
refuses, and says so in one line when it cannot download."""

from __future__ import annotations

import hashlib
import io
import os
import re
import socket
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.http import serve_in_thread
from support.processes import REPO, clean_environ

from trashmonitor import mediamtx_release
from trashmonitor.demo import Stack, _download_mediamtx
from trashmonitor.errors import ConfigError, ReleaseRefused, ReleaseUnavailable
from trashmonitor.mediamtx_release import (
    ASSETS,
    RELEASES_URL_ENV,
    VERSION,
    Asset,
    digest_for,
    obtain,
    user_cache_dir,
)

MACHINE = "x86_64"
ASSET = ASSETS[MACHINE].name
PAYLOAD = b"#!/bin/sh\necho mediamtx stand-in\n"


def tarball(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(payload), 0o755
            archive.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


class Release:
    """A directory laid out as ``<base>/<version>/<asset>``, served over loopback HTTP."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        (root / VERSION).mkdir(parents=True)

    def publish(self, archive: bytes, checksum: str | None = None) -> None:
        (self.root / VERSION / ASSET).write_bytes(archive)
        digest = checksum or hashlib.sha256(archive).hexdigest()
        (self.root / VERSION / "checksums.sha256").write_text(f"{digest}  {ASSET}\n")


@pytest.fixture
def release(tmp_path: Path) -> Iterator[tuple[Release, str]]:
    served = Release(tmp_path / "releases")

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            served.requests.append(self.path)

    handler = partial(Handler, directory=str(served.root))
    with serve_in_thread(handler, "releases") as port:
        yield served, f"http://127.0.0.1:{port}"


def closed_port() -> int:
    """A loopback port nobody listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def leftovers(cache: Path) -> list[str]:
    return sorted(path.name for path in cache.iterdir()) if cache.exists() else []


def test_the_pinned_version_is_the_one_the_server_image_is_built_with() -> None:
    containerfile = (REPO / "server" / "Containerfile").read_text()
    assert f"ARG MEDIAMTX_VERSION={VERSION}\n" in containerfile


def test_a_release_matching_its_published_checksum_is_installed(
    release: tuple[Release, str], tmp_path: Path
) -> None:
    served, base = release
    served.publish(tarball({"mediamtx": PAYLOAD, "LICENSE": b"MIT", "mediamtx.yml": b"{}"}))
    cache = tmp_path / "cache"
    binary = obtain(cache, machine=MACHINE, base_url=base)
    assert binary == cache / VERSION / "mediamtx"
    assert subprocess.run([binary], capture_output=True, check=True).stdout == (
        b"mediamtx stand-in\n"
    )
    assert leftovers(cache) == [VERSION]  # no scratch directory, no other member
    assert leftovers(cache / VERSION) == ["mediamtx"]
    # Already there: nothing is downloaded again.
    asked = len(served.requests)
    assert obtain(cache, machine=MACHINE, base_url=base) == binary
    assert len(served.requests) == asked


def test_a_pinned_checksum_is_used_instead_of_the_published_file(
    release: tuple[Release, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served, base = release
    archive = tarball({"mediamtx": PAYLOAD})
    served.publish(archive, checksum="0" * 64)  # the published file would refuse it
    pinned = Asset(ASSET, sha256=hashlib.sha256(archive).hexdigest())
    monkeypatch.setitem(ASSETS, MACHINE, pinned)
    binary = obtain(tmp_path / "cache", machine=MACHINE, base_url=base)
    assert binary.is_file()
    assert not [path for path in served.requests if "checksums" in path]


def test_a_checksum_mismatch_is_refused_and_leaves_nothing(
    release: tuple[Release, str], tmp_path: Path
) -> None:
    served, base = release
    served.publish(tarball({"mediamtx": PAYLOAD}), checksum="0" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(ReleaseRefused, match=r"checksum mismatch .* not installed"):
        obtain(cache, machine=MACHINE, base_url=base)
    assert leftovers(cache) == []


@pytest.mark.parametrize(
    "members",
    [
        {"LICENSE": b"no binary here"},
        {"../mediamtx": PAYLOAD},  # climbing out is not "the binary"
        {"bin/mediamtx": PAYLOAD},
    ],
)
def test_a_tarball_without_the_binary_is_refused(
    release: tuple[Release, str], tmp_path: Path, members: dict[str, bytes]
) -> None:
    served, base = release
    served.publish(tarball(members))
    cache = tmp_path / "cache"
    with pytest.raises(ReleaseRefused, match="holds no mediamtx binary"):
        obtain(cache, machine=MACHINE, base_url=base)
    assert leftovers(cache) == []
    assert not (tmp_path / "mediamtx").exists()


def test_a_download_past_the_size_bound_is_dropped(
    release: tuple[Release, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served, base = release
    served.publish(tarball({"mediamtx": os.urandom(256 * 1024)}))
    monkeypatch.setattr(mediamtx_release, "MAX_DOWNLOAD_BYTES", 64 * 1024)
    cache = tmp_path / "cache"
    with pytest.raises(ReleaseUnavailable, match="larger than 65536 bytes"):
        obtain(cache, machine=MACHINE, base_url=base)
    assert leftovers(cache) == []


def test_no_network_is_one_line(tmp_path: Path) -> None:
    """Run as the user runs it (`just fetch-mediamtx`): exit 2, one line, no traceback."""
    env = clean_environ(**{RELEASES_URL_ENV: f"http://127.0.0.1:{closed_port()}"})
    result = subprocess.run(
        [sys.executable, "-P", "-m", "trashmonitor.mediamtx_release", "--cache", str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=False, env=env,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("fetch-mediamtx: cannot download http://127.0.0.1:")
    assert "Connection refused" in result.stderr
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("answer", ["checksum mismatch", "connection refused"])
def test_the_demo_says_a_refused_release_once_and_carries_on(
    answer: str, release: tuple[Release, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`trashmon demo` without MediaMTX: a download that does not match its checksum, or
    a network that refuses, is one line and the demo goes on without it (None)."""
    served, base = release
    served.publish(tarball({"mediamtx": PAYLOAD}), checksum="0" * 64)
    if answer == "connection refused":
        base = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv(RELEASES_URL_ENV, base)
    said = io.StringIO()
    stack = Stack(tmp_path, said)
    cache = tmp_path / "cache"
    assert _download_mediamtx(stack, cache) is None
    lines = said.getvalue().splitlines()
    assert lines[0] == f"demo: MediaMTX not installed: fetching the pinned release {VERSION}"
    assert len(lines) == 2, lines
    refused = lines[1]
    assert refused.startswith("demo: MediaMTX not found and not downloaded ("), refused
    assert answer in refused.lower()
    assert "running without it" in refused
    assert leftovers(cache) == []  # nothing unverified installed


def test_an_unknown_machine_is_named() -> None:
    with pytest.raises(ReleaseUnavailable, match=r"no MediaMTX v1\.20\.1 release for 'riscv64'"):
        obtain(Path("/nonexistent"), machine="riscv64")


def test_the_published_checksum_line_is_found() -> None:
    digest = "ab" * 32
    listing = f"{'cd' * 32}  other.tar.gz\n{digest.upper()} *{ASSET}\n"
    assert digest_for(listing, ASSET) == digest
    assert digest_for(f"{digest}  {ASSET}.sig\n", ASSET) is None
    assert digest_for(f"{digest[:-1]}  {ASSET}\n", ASSET) is None  # 63 digits
    assert digest_for(f"{'zz' * 32}  {ASSET}\n", ASSET) is None


@given(st.text(max_size=400), st.text(max_size=400))
def test_any_checksums_file_yields_a_well_formed_digest_or_none(before: str, after: str) -> None:
    digest = digest_for(before + after, ASSET)
    assert digest is None or re.fullmatch("[0-9a-f]{64}", digest)
    # A well-formed line for the asset is found whatever surrounds it, unless an earlier
    # well-formed line for the same asset comes first.
    listed = "12" * 32
    found = digest_for(f"{before}\n{listed}  {ASSET}\n{after}", ASSET)
    assert found == (digest_for(before, ASSET) or listed)


def test_the_cache_is_the_users_per_xdg() -> None:
    home = Path("/home/someone")
    expected = home / ".cache" / "trashmonitor"
    assert user_cache_dir({}, home) == expected
    assert user_cache_dir({"XDG_CACHE_HOME": ""}, home) == expected
    assert user_cache_dir({"XDG_CACHE_HOME": "relative/cache"}, home) == expected  # ignored
    assert user_cache_dir({"XDG_CACHE_HOME": "/var/cache/u"}, home) == Path(
        "/var/cache/u/trashmonitor"
    )


def test_the_default_cache_follows_the_environment_not_the_package(tmp_path: Path) -> None:
    """Reproduction: the default was ``.cache/mediamtx`` beside the package's folder, which
    is site-packages (often not writable) once installed."""
    run = partial(
        subprocess.run,
        [sys.executable, "-P", "-m", "trashmonitor.mediamtx_release", "--help"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    xdg = tmp_path / "xdg-cache"
    home = str(tmp_path / "home")
    # COLUMNS: argparse wraps long help lines, at hyphens too.
    by_xdg = run(env=clean_environ(XDG_CACHE_HOME=str(xdg), HOME=home, COLUMNS="2000"))
    assert f"default: {xdg}/trashmonitor/mediamtx\n" in by_xdg.stdout
    by_home = run(env=clean_environ(XDG_CACHE_HOME="", HOME=home, COLUMNS="2000"))
    assert f"default: {home}/.cache/trashmonitor/mediamtx\n" in by_home.stdout


# A container run as an arbitrary uid (``docker run --user 12345``, OpenShift): no HOME and
# no passwd entry, so os.path.expanduser("~") finds nothing and Path.home() raises.
WITHOUT_HOME = """
import pwd, runpy, sys
def no_entry(uid):
    raise KeyError(f"getpwuid(): uid not found: {uid}")
pwd.getpwuid = no_entry
sys.argv[0] = "mediamtx_release"
if sys.argv[1:] == ["--import-demo"]:
    import trashmonitor.demo
    print("imported")
else:
    runpy.run_module("trashmonitor.mediamtx_release", run_name="__main__")
"""


def run_without_home(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in clean_environ(**env).items() if k != "HOME"}
    environ.setdefault("XDG_CACHE_HOME", "")
    return subprocess.run(
        [sys.executable, "-P", "-c", WITHOUT_HOME, *args],
        capture_output=True, text=True, timeout=60, check=False, env=environ,
    )  # fmt: skip


def test_without_a_home_the_module_and_the_demo_still_import() -> None:
    """Reproduction: the default cache was resolved at import (Path.home() raised
    RuntimeError), so importing the demo failed before it could say anything."""
    imported = run_without_home("--import-demo")
    assert (imported.returncode, imported.stdout, imported.stderr) == (0, "imported\n", "")
    helped = run_without_home("--help", COLUMNS="2000")
    assert helped.returncode == 0, helped.stderr
    assert "default: $XDG_CACHE_HOME/trashmonitor/mediamtx, else ~/.cache/" in helped.stdout


def test_without_a_home_a_needed_cache_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run_without_home(RELEASES_URL_ENV=f"http://127.0.0.1:{closed_port()}")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    # XDG_CACHE_HOME is the remedy named: `trashmon demo` reaches this too, without --cache.
    assert result.stderr.startswith("fetch-mediamtx: XDG_CACHE_HOME: no cache directory: ")
    assert "--cache" not in result.stderr


def test_without_a_home_a_given_cache_or_xdg_needs_none(tmp_path: Path) -> None:
    refused = f"http://127.0.0.1:{closed_port()}"
    given_cache = run_without_home("--cache", str(tmp_path / "a"), **{RELEASES_URL_ENV: refused})
    by_xdg = run_without_home(XDG_CACHE_HOME=str(tmp_path / "b"), **{RELEASES_URL_ENV: refused})
    for result in (given_cache, by_xdg):
        assert result.returncode == 2
        assert result.stderr.startswith("fetch-mediamtx: cannot download http://127.0.0.1:")
    assert (tmp_path / "b/trashmonitor/mediamtx").is_dir()  # the download went there


def test_no_home_matters_only_when_xdg_does_not_say() -> None:
    assert user_cache_dir({"XDG_CACHE_HOME": "/var/cache/u"}, None) == Path(
        "/var/cache/u/trashmonitor"
    )
    with pytest.raises(ConfigError, match=r"^XDG_CACHE_HOME: no cache directory"):
        user_cache_dir({"XDG_CACHE_HOME": "relative"}, None)
