"""scripts/fetch-mediamtx against a local release directory: it installs only what the
published checksum vouches for, and says so in one line when it cannot."""

from __future__ import annotations

import hashlib
import io
import os
import platform
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from support.processes import REPO

ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "armv7"}.get(platform.machine())
VERSION = next(
    line.split("=", 1)[1]
    for line in (REPO / "server" / "Containerfile").read_text().splitlines()
    if line.startswith("ARG MEDIAMTX_VERSION=")
)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A minimal copy of the repository layout the script needs."""
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    (root / "server").mkdir()
    shutil.copy2(REPO / "scripts" / "fetch-mediamtx", root / "scripts")
    shutil.copy2(REPO / "server" / "Containerfile", root / "server")
    return root


def _release(directory: Path, checksum: str | None = None) -> Path:
    asset = f"mediamtx_{VERSION}_linux_{ARCH}.tar.gz"
    payload = b"#!/bin/sh\necho mediamtx stand-in\n"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("mediamtx")
        info.size, info.mode = len(payload), 0o755
        archive.addfile(info, io.BytesIO(payload))
    release = directory / VERSION
    release.mkdir(parents=True)
    (release / asset).write_bytes(buffer.getvalue())
    digest = checksum or hashlib.sha256(buffer.getvalue()).hexdigest()
    (release / "checksums.sha256").write_text(f"{digest}  {asset}\n")
    return directory


def _fetch(checkout: Path, base_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(checkout / "scripts" / "fetch-mediamtx")],
        env={**os.environ, "MEDIAMTX_RELEASES_URL": base_url},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.skipif(ARCH is None, reason="no MediaMTX release for this CPU")
def test_installs_a_verified_release(checkout: Path, tmp_path: Path) -> None:
    release = _release(tmp_path / "releases")
    result = _fetch(checkout, f"file://{release}")
    assert result.returncode == 0, result.stderr
    binary = checkout / ".cache" / "mediamtx" / "mediamtx"
    assert subprocess.run([binary], capture_output=True, text=True, check=True).stdout.strip() == (
        "mediamtx stand-in"
    )
    again = _fetch(checkout, f"file://{release}")
    assert again.returncode == 0
    assert "already in" in again.stderr


@pytest.mark.skipif(ARCH is None, reason="no MediaMTX release for this CPU")
def test_refuses_a_checksum_mismatch(checkout: Path, tmp_path: Path) -> None:
    release = _release(tmp_path / "releases", checksum="0" * 64)
    result = _fetch(checkout, f"file://{release}")
    assert result.returncode == 2
    assert "checksum mismatch" in result.stderr
    assert not (checkout / ".cache" / "mediamtx" / VERSION / "mediamtx").exists()


def test_says_so_in_one_line_when_it_cannot_download(checkout: Path, tmp_path: Path) -> None:
    result = _fetch(checkout, f"file://{tmp_path / 'nothing-here'}")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "cannot download" in result.stderr
