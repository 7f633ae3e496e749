"""The pinned MediaMTX release, fetched for ``trashmon demo`` when none is installed.

MediaMTX is in no package registry this project uses (docs/server.md), so the demo gets
the release the server image is built with (``ARG MEDIAMTX_VERSION`` in
server/Containerfile; a test holds the two equal) from GitHub: downloaded within a
deadline and a size bound, its SHA-256 checked, only the ``mediamtx`` binary unpacked
into ``<user cache>/mediamtx/<version>/`` (:func:`user_cache_dir`: ``$XDG_CACHE_HOME/
trashmonitor``, else ``~/.cache/trashmonitor``; the same for a checkout and an installed
package, whose own folder may not be writable). Nothing is installed that was not
verified; a network that refuses is one line and the demo carries on without it.

Checksums. ``Asset.sha256`` pins the tarball's digest in this file when it could be
checked against a stored copy of the release; no such copy was reachable when this was
written, so both are ``None`` and the digest comes from the release's own
``checksums.sha256`` (what upstream publishes beside the assets): that catches a
corrupted or truncated download and a wrong asset, not a compromised release. Pin the
digests here once verified (``sha256sum`` of the assets) and the published file is no
longer consulted.

``python -m trashmonitor.mediamtx_release`` (``just fetch-mediamtx``) runs the same
steps: exit 0 installed or already there, 2 could not download or verify.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import platform
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from trashmonitor.errors import (
    EXIT_OK,
    EXIT_UNDECIDED,
    ConfigError,
    ReleaseRefused,
    ReleaseUnavailable,
    TrashmonError,
)

VERSION = "v1.20.1"
RELEASES_URL = "https://github.com/bluenviron/mediamtx/releases/download"
# For tests only: where a local server plays GitHub's release downloads.
RELEASES_URL_ENV = "TRASHMON_TEST_MEDIAMTX_RELEASES_URL"


def user_cache_dir(environ: Mapping[str, str], home: Path | None) -> Path:
    """This project's folder of the user's cache (XDG Base Directory): ``$XDG_CACHE_HOME``
    if set to an absolute path (the spec says to ignore a relative one), else
    ``~/.cache``; then ``trashmonitor``. ``home`` None: no home directory is known, which
    is a ConfigError only when ``$XDG_CACHE_HOME`` does not say where either."""
    configured = environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(configured):
        return Path(configured) / "trashmonitor"
    if home is None:
        # Named by XDG_CACHE_HOME, the remedy both callers honour (`trashmon demo`
        # has no --cache).
        raise ConfigError(
            "XDG_CACHE_HOME",
            "no cache directory: no home directory (HOME unset and no passwd entry for "
            "this user) and XDG_CACHE_HOME is not an absolute path; set it to one",
        )
    return home / ".cache" / "trashmonitor"


def default_cache() -> Path:
    """``<user cache>/mediamtx``, resolved when a cache is needed, never at import: in a
    container run as an arbitrary uid (no HOME, no passwd entry) ``Path.home()`` raises,
    and importing this module (the demo does) must not."""
    try:
        home: Path | None = Path.home()
    except RuntimeError:  # "Could not determine home directory."
        home = None
    return user_cache_dir(os.environ, home) / "mediamtx"


def cached_binary() -> Path | None:
    """The pinned binary in the default cache, if there (None too with no cache dir)."""
    try:
        return installed(default_cache())
    except ConfigError:
        return None


DOWNLOAD_DEADLINE_S = 120.0
# The v1.20 tarballs are ~20 MiB and the binary ~55 MiB: far above both, a bound on
# what a wrong or hostile answer can make the demo write.
MAX_DOWNLOAD_BYTES = 100 * 1024 * 1024
MAX_BINARY_BYTES = 200 * 1024 * 1024
MAX_CHECKSUMS_BYTES = 64 * 1024
CHUNK = 64 * 1024


@dataclass(frozen=True)
class Asset:
    """One release tarball: its file name and, when verified, its pinned digest."""

    name: str
    sha256: str | None


# uname -m -> the release's asset (amd64 and arm64, as the server image is built for).
ASSETS = {
    "x86_64": Asset(f"mediamtx_{VERSION}_linux_amd64.tar.gz", sha256=None),
    "aarch64": Asset(f"mediamtx_{VERSION}_linux_arm64.tar.gz", sha256=None),
}


def asset_for(machine: str) -> Asset:
    asset = ASSETS.get(machine)
    if asset is None:
        raise ReleaseUnavailable(f"no MediaMTX {VERSION} release for {machine!r}")
    return asset


def installed(cache: Path) -> Path | None:
    """The cached binary of the pinned version, when there."""
    binary = cache / VERSION / "mediamtx"
    return binary if os.access(binary, os.X_OK) else None


def _download(url: str, target: Path, limit: int, deadline: float) -> None:
    """``url`` into ``target``, giving up at ``deadline`` (monotonic) or past ``limit`` bytes."""
    remaining = deadline - time.monotonic()
    try:
        with (
            urllib.request.urlopen(url, timeout=max(1.0, remaining)) as reply,  # noqa: S310 - https (tests: loopback http)
            target.open("wb") as out,
        ):
            written = 0
            while chunk := reply.read(CHUNK):
                written += len(chunk)
                if written > limit:
                    raise ReleaseUnavailable(f"{url}: larger than {limit} bytes, not used")
                if time.monotonic() > deadline:
                    raise ReleaseUnavailable(f"{url}: not downloaded within the deadline")
                out.write(chunk)
    except (OSError, urllib.error.URLError) as error:
        reason = getattr(error, "reason", None) or error
        raise ReleaseUnavailable(f"cannot download {url} ({reason})") from error


def _expected_digest(asset: Asset, base: str, work: Path, deadline: float) -> str:
    if asset.sha256 is not None:
        return asset.sha256
    sums = work / "checksums.sha256"
    _download(f"{base}/{VERSION}/checksums.sha256", sums, MAX_CHECKSUMS_BYTES, deadline)
    digest = digest_for(sums.read_text(encoding="utf-8", errors="replace"), asset.name)
    if digest is None:
        raise ReleaseRefused(f"checksums.sha256 of MediaMTX {VERSION} does not list {asset.name}")
    return digest


def digest_for(checksums: str, name: str) -> str | None:
    """The SHA-256 ``sha256sum`` listed for ``name`` (``<hex>  <name>``, ``*`` for binary
    mode); None when the file does not list it with a well-formed digest."""
    for line in checksums.splitlines():
        fields = line.split()
        if len(fields) != 2 or fields[1].removeprefix("*") != name:
            continue
        digest = fields[0].lower()
        if len(digest) == 64 and all(char in "0123456789abcdef" for char in digest):
            return digest
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _unpack_binary(tarball: Path, target: Path) -> None:
    """Only the top-level regular file ``mediamtx``, bounded: no other member is touched."""
    try:
        with tarfile.open(tarball, mode="r:gz") as archive:
            member = next((m for m in archive if m.name in ("mediamtx", "./mediamtx")), None)
            if member is None or not member.isreg() or member.size > MAX_BINARY_BYTES:
                raise ReleaseRefused(f"{tarball.name} holds no mediamtx binary")
            source = archive.extractfile(member)
            if source is None:
                raise ReleaseRefused(f"{tarball.name}: mediamtx cannot be read")
            with source, target.open("wb") as out:
                while chunk := source.read(CHUNK):
                    out.write(chunk)
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ReleaseRefused(f"{tarball.name} is not a readable tarball ({error})") from error
    target.chmod(0o755)


def obtain(
    cache: Path | None = None,
    *,
    machine: str | None = None,
    base_url: str | None = None,
    deadline_s: float = DOWNLOAD_DEADLINE_S,
) -> Path:
    """The pinned MediaMTX binary, downloaded and verified into ``cache`` (default:
    :func:`default_cache`) if not there."""
    if cache is None:
        cache = default_cache()
    found = installed(cache)
    if found is not None:
        return found
    asset = asset_for(machine or platform.machine())
    base = (base_url or os.environ.get(RELEASES_URL_ENV) or RELEASES_URL).rstrip("/")
    deadline = time.monotonic() + deadline_s
    cache.mkdir(parents=True, exist_ok=True)
    # Everything happens in a scratch directory beside the result and is renamed into
    # place only once verified: a refusal or an interruption leaves nothing behind.
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=cache) as scratch:
        work = Path(scratch)
        tarball = work / asset.name
        _download(f"{base}/{VERSION}/{asset.name}", tarball, MAX_DOWNLOAD_BYTES, deadline)
        expected = _expected_digest(asset, base, work, deadline)
        actual = _sha256(tarball)
        if actual != expected:
            raise ReleaseRefused(
                f"checksum mismatch for {asset.name} (expected {expected}, got {actual}): "
                "not installed"
            )
        binary = work / "mediamtx"
        _unpack_binary(tarball, binary)
        (work / VERSION).mkdir()
        binary.rename(work / VERSION / "mediamtx")
        with contextlib.suppress(FileNotFoundError):
            (cache / VERSION).rmdir()  # an empty leftover; a full one was returned above
        (work / VERSION).rename(cache / VERSION)
    return cache / VERSION / "mediamtx"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m trashmonitor.mediamtx_release",
        description=f"download MediaMTX {VERSION} (checksum-verified) into a cache directory",
    )
    parser.add_argument("--cache", type=Path, help=f"default: {_default_cache_shown()}")
    args = parser.parse_args(argv)
    try:
        cache = args.cache or default_cache()
        already = installed(cache)
        binary = obtain(cache)
    except TrashmonError as error:
        print(f"fetch-mediamtx: {error.message}", file=sys.stderr)
        return EXIT_UNDECIDED
    verb = "already in" if already else "installed in"
    print(f"fetch-mediamtx: MediaMTX {VERSION} {verb} {binary.parent}", file=sys.stderr)
    return EXIT_OK


def _default_cache_shown() -> str:
    try:
        return str(default_cache())
    except ConfigError:
        return "$XDG_CACHE_HOME/trashmonitor/mediamtx, else ~/.cache/trashmonitor/mediamtx"


if __name__ == "__main__":
    sys.exit(main())
