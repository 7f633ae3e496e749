"""The seed's layout: MediaMTX's API behind a real Caddy that strips /api."""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.fake_mediamtx import FakeMediaMTX
from support.http import get_json, get_text
from support.processes import TRASHMON, free_port, require_binary, run_trashmon, running, wait_until

OUTSIDE_REPO = Path(tempfile.gettempdir())  # cwd first on sys.path would shadow the package


@pytest.fixture
def caddy_api(fake: FakeMediaMTX, tmp_path: Path) -> Iterator[str]:
    """http://127.0.0.1:PORT/api proxied to the fake, /api stripped as in the seed."""
    caddy = require_binary("caddy")
    port = free_port()
    upstream = fake.url.removeprefix("http://")
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(
        "{\n\tadmin off\n\tauto_https off\n}\n"
        f"http://127.0.0.1:{port} {{\n"
        f"\thandle_path /api/* {{\n\t\treverse_proxy {upstream}\n\t}}\n"
        "\trespond 404\n}\n"
    )
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    argv = [caddy, "run", "--config", str(caddyfile), "--adapter", "caddyfile"]
    with running(argv, env=env, log_path=tmp_path / "caddy.log"):
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: get_text(base + "/api/v3/paths/list"), 20, what="caddy")
        yield base + "/api"


def probe(*args: str) -> subprocess.CompletedProcess[str]:
    return run_trashmon("probe", *args)


def test_probe_through_caddy(fake: FakeMediaMTX, caddy_api: str) -> None:
    fake.add_paths(150, rate=1000)  # more than MediaMTX's default page
    fake.set_path("cam149", online=False, placeholder=True)
    result = probe("--api", caddy_api, "--json")
    assert result.returncode == 1, result.stderr
    cameras = {c["name"]: c for c in json.loads(result.stdout)["cameras"]}
    assert len(cameras) == 150
    assert cameras["cam149"]["reasons"] == ["no_publisher", "placeholder"]
    assert probe("--api", caddy_api, "--parked", "cam149").returncode == 0


def test_upstream_down_behind_caddy_exits_2(fake: FakeMediaMTX, caddy_api: str) -> None:
    fake.stop()  # Caddy answers 502 for a dead upstream
    result = probe("--api", caddy_api)
    assert result.returncode == 2
    assert "HTTP 502" in result.stderr
    assert "Traceback" not in result.stderr


def test_wrong_prefix_through_caddy_exits_2(caddy_api: str) -> None:
    result = probe("--api", caddy_api.removesuffix("/api"))
    assert result.returncode == 2
    assert "HTTP 404" in result.stderr


def test_monitor_through_caddy_without_metrics_degrades_gracefully(
    fake: FakeMediaMTX, caddy_api: str, tmp_path: Path
) -> None:
    fake.add_paths(2, rate=5000)
    port = free_port()
    env = {
        "TRASHMON_MEDIAMTX_API": caddy_api,
        "TRASHMON_LISTEN": f"127.0.0.1:{port}",
        "TRASHMON_INTERVAL": "0.5",
        # the default metrics URL (API host, port 9998) has nothing listening here
        "TRASHMON_MEDIAMTX_METRICS": f"http://127.0.0.1:{free_port()}",
    }
    base = f"http://127.0.0.1:{port}"
    with running([*TRASHMON, "monitor"], env=env, cwd=OUTSIDE_REPO, log_path=tmp_path / "m.log"):

        def status() -> dict[str, Any]:
            document: dict[str, Any] = get_json(base + "/api/status")
            return document

        all_ok = {"ok": 2, "degraded": 0, "down": 0, "parked": 0}
        wait_until(lambda: status()["summary"] == all_ok, 15, what="both cameras ok")
        document = status()
        assert document["mediamtx"]["reachable"] is True
        assert "cannot connect" in document["mediamtx"]["metrics_error"]
        metrics = get_text(base + "/metrics")
        assert "trashmon_mediamtx_up 1.0" in metrics
        assert "trashmon_mediamtx_metrics_up 0.0" in metrics
