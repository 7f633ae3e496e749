"""server/Caddyfile: `caddy validate`, then real Caddy routing to loopback stand-ins."""

from __future__ import annotations

import json
import ssl
import subprocess
import threading

import httpx
import pytest
from server_harness import CADDYFILE, Reply, caddy_env, run_caddy, self_signed
from support.processes import require_binary


@pytest.mark.parametrize("tls", ["on", "off"])
def test_caddy_validates_the_caddyfile(tmp_path, tls):
    cert, key = self_signed(tmp_path)
    env = {"TRASHMON_TLS": tls, "TRASHMON_TLS_CERT": str(cert), "TRASHMON_TLS_KEY": str(key)}
    result = subprocess.run(
        [require_binary("caddy"), "validate", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Valid configuration" in result.stdout + result.stderr


def test_an_unknown_tls_mode_is_refused_by_caddy(tmp_path):
    result = subprocess.run(
        [require_binary("caddy"), "validate", "--config", str(CADDYFILE)],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TRASHMON_TLS": "maybe"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "tls-maybe.caddy" in result.stderr


@pytest.fixture
def served(tmp_path, standins):
    """Caddy with TLS on (a self-signed cert as the mounted secret) and three stand-ins."""
    api, hls, monitor = standins("api"), standins("hls"), standins("monitor")
    api.routes["/v3/paths/list"] = Reply(
        body=json.dumps({"itemCount": 0, "pageCount": 0, "items": []}).encode()
    )
    monitor.routes["/api/status"] = Reply(body=b'{"cameras": []}')
    hls.routes["/cam1/index.m3u8"] = Reply(200, "application/vnd.apple.mpegurl", b"#EXTM3U\n")
    viewer = tmp_path / "viewer"
    viewer.mkdir()
    (viewer / "index.html").write_text("<title>trashmonitor viewer marker</title>" + " " * 4000)
    cert, key = self_signed(tmp_path)
    env, ports = caddy_env(api, hls, monitor, viewer, (cert, key))
    with run_caddy(env, ports, tmp_path / "caddy.log"):
        yield ports, api, hls, monitor, cert


def test_viewer_is_served_at_the_root(served):
    ports, api, hls, monitor, _ = served
    response = httpx.get(f"{ports.base}/")
    assert response.status_code == 200
    assert "trashmonitor viewer marker" in response.text
    assert response.headers["content-encoding"] == "gzip"  # httpx asks for it and decodes
    assert api.seen == hls.seen == monitor.seen == []


def test_api_goes_to_mediamtx_with_the_prefix_stripped(served):
    ports, api, _, _, _ = served
    response = httpx.get(f"{ports.base}/api/v3/paths/list?page=1&itemsPerPage=100")
    assert response.status_code == 200
    assert response.json()["items"] == []
    assert api.seen == ["/v3/paths/list?page=1&itemsPerPage=100"]


def test_status_goes_to_the_monitor_status_api(served):
    ports, _, _, monitor, _ = served
    assert httpx.get(f"{ports.base}/status").json() == {"cameras": []}
    assert monitor.seen == ["/api/status"]


def test_metrics_are_not_exposed_through_caddy(served):
    ports, api, hls, monitor, _ = served
    for path in ("/metrics", "/metrics/", "/metrics?x=1"):
        assert httpx.get(f"{ports.base}{path}").status_code == 404
    assert api.seen == hls.seen == monitor.seen == []


def test_hls_playlists_go_to_the_mediamtx_hls_server(served):
    ports, _, hls, _, _ = served
    response = httpx.get(f"{ports.base}/cam1/index.m3u8")
    assert response.status_code == 200
    assert response.text.startswith("#EXTM3U")
    assert hls.seen == ["/cam1/index.m3u8"]


def test_hls_segments_are_streamed_not_buffered(served):
    """The upstream holds the end of the segment until the first bytes reached the client."""
    ports, _, hls, _, _ = served
    release = threading.Event()
    hls.streams["/cam1/seg7.ts"] = (b"G" * 188, b"H" * 188, release)
    with httpx.stream("GET", f"{ports.base}/cam1/seg7.ts", timeout=10) as response:
        assert "content-encoding" not in response.headers
        chunks = response.iter_bytes()
        first = next(chunks)  # would time out if Caddy waited for the whole body
        assert first.startswith(b"G")
        release.set()
        body = first + b"".join(chunks)
    assert body == b"G" * 188 + b"H" * 188


def test_https_serves_the_same_routes_with_the_mounted_certificate(served):
    ports, api, _, _, cert = served
    context = ssl.create_default_context(cafile=str(cert))
    response = httpx.get(f"https://127.0.0.1:{ports.https}/api/v3/paths/list", verify=context)
    assert response.status_code == 200
    assert api.seen == ["/v3/paths/list"]
