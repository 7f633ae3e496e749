"""The real ``trashmon monitor`` as a process on a free loopback port, for the tests that
need the whole daemon (its HTTP routes, its log, its exit code)."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from support.http import http_get
from support.measure import monitor_env
from support.processes import OUTSIDE_REPO, TRASHMON, free_port, running


class Served(Protocol):
    """A MediaMTX stand-in (FakeMediaMTX, HostileMediaMTX): API and /metrics at ``url``."""

    @property
    def url(self) -> str: ...


class MonitorProcess:
    def __init__(self, base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.base, self.proc, self.log = base, proc, log

    def status(self) -> dict[str, Any]:
        code, body = http_get(self.base + "/api/status")
        assert code == 200
        document: dict[str, Any] = json.loads(body)
        return document

    def camera(self, name: str, site: str | None = None) -> dict[str, Any] | None:
        return next(
            (
                c
                for c in self.status()["cameras"]
                if c["name"] == name and (site is None or c.get("site") == site)
            ),
            None,
        )

    def metrics(self) -> str:
        return http_get(self.base + "/metrics")[1].decode()


def sites_spec(sites: Mapping[str, Served]) -> str:
    """``TRASHMON_SITES`` for these stand-ins: each one's API and /metrics by name."""
    return " ".join(f"{name}={served.url},{served.url}/metrics" for name, served in sites.items())


@contextlib.contextmanager
def monitor_process(
    mediamtx: Served | str | Mapping[str, Served], log_dir: Path, **settings: str
) -> Iterator[MonitorProcess]:
    """The real monitor on a free port, polling ``mediamtx`` (a stand-in or its URL, or
    stand-ins by site name) every 0.5 s; ``settings`` add to or override its environment.
    Its log (``monitor.log`` in ``log_dir``) must hold no traceback."""
    port = free_port()
    if isinstance(mediamtx, Mapping):
        env = monitor_env("", port, 0.5, TRASHMON_SITES=sites_spec(mediamtx), **settings)
        del env["TRASHMON_MEDIAMTX_API"], env["TRASHMON_MEDIAMTX_METRICS"]
    else:
        url = mediamtx if isinstance(mediamtx, str) else mediamtx.url
        env = monitor_env(url, port, 0.5, **settings)
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "monitor.log"
    with running([*TRASHMON, "monitor"], env=env, cwd=OUTSIDE_REPO, log_path=log) as proc:
        yield MonitorProcess(f"http://127.0.0.1:{port}", proc, log)
    assert "Traceback" not in log.read_text()
