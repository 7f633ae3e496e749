"""The real ``trashmon monitor`` process against a fake MediaMTX, on a free port."""

from __future__ import annotations

import contextlib
import json
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from support.fake_mediamtx import FakeMediaMTX
from support.http import http_get
from support.processes import TRASHMON, clean_environ, free_port, running

# `python -m trashmonitor` from the repository root would import the bare trashmonitor/
# folder (cwd is first on sys.path) instead of the installed package with its components.
OUTSIDE_REPO = Path(tempfile.gettempdir())


class MonitorProcess:
    def __init__(self, base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.base, self.proc, self.log = base, proc, log

    def status(self) -> dict[str, Any]:
        code, body = http_get(self.base + "/api/status")
        assert code == 200
        return json.loads(body)  # type: ignore[no-any-return]

    def camera(self, name: str) -> dict[str, Any] | None:
        return next((c for c in self.status()["cameras"] if c["name"] == name), None)

    def metrics(self) -> str:
        return http_get(self.base + "/metrics")[1].decode()


@contextlib.contextmanager
def monitor_process(
    fake: FakeMediaMTX, tmp_path: Path, **settings: str
) -> Iterator[MonitorProcess]:
    """The real monitor on a free port, polling ``fake`` every 0.5 s (``settings`` add to
    or override its environment); its log must hold no traceback."""
    port = free_port()
    env = clean_environ(
        **{
            "TRASHMON_MEDIAMTX_API": fake.url,
            "TRASHMON_MEDIAMTX_METRICS": fake.metrics_url,
            "TRASHMON_LISTEN": f"127.0.0.1:{port}",
            "TRASHMON_INTERVAL": "0.5",
            **settings,
        }
    )
    tmp_path.mkdir(parents=True, exist_ok=True)
    log = tmp_path / "monitor.log"
    with running([*TRASHMON, "monitor"], env=env, cwd=OUTSIDE_REPO, log_path=log) as proc:
        yield MonitorProcess(f"http://127.0.0.1:{port}", proc, log)
    assert "Traceback" not in log.read_text()
