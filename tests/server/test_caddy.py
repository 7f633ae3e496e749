"""server/Caddyfile: `caddy validate`, then real Caddy routing to loopback stand-ins."""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from server.server_harness import (
    CADDYFILE,
    READER_CREDENTIALS,
    CaddyPorts,
    Reply,
    Seen,
    StandIn,
    bcrypt_hash,
    caddy_env,
    run_caddy,
    self_signed,
)
from support.fake_mediamtx import FakeMediaMTX
from support.processes import require_binary, run_trashmon


def caddy_validate(home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The real `caddy validate` of server/Caddyfile with only ``env`` set."""
    return subprocess.run(
        [require_binary("caddy"), "validate", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        env={"PATH": "/usr/bin:/bin", "HOME": str(home), **env},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("tls", ["on", "off"])
def test_caddy_validates_the_caddyfile(tmp_path: Path, tls: str) -> None:
    cert, key = self_signed(tmp_path)
    result = caddy_validate(
        tmp_path, TRASHMON_TLS=tls, TRASHMON_TLS_CERT=str(cert), TRASHMON_TLS_KEY=str(key)
    )
    assert result.returncode == 0, result.stderr
    assert "Valid configuration" in result.stdout + result.stderr


def test_an_unknown_tls_mode_is_refused_by_caddy(tmp_path: Path) -> None:
    result = subprocess.run(
        [require_binary("caddy"), "validate", "--config", str(CADDYFILE)],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TRASHMON_TLS": "maybe"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "tls-maybe.caddy" in result.stderr


Served = tuple[CaddyPorts, StandIn, StandIn, StandIn, Path]


@pytest.fixture
def served(tmp_path: Path, standins: Callable[[str], StandIn]) -> Iterator[Served]:
    """Caddy with TLS on (a self-signed cert as the mounted secret) and three stand-ins."""
    api, hls, monitor = standins("api"), standins("hls"), standins("monitor")
    api.routes["/v3/paths/list"] = Reply(
        body=json.dumps({"itemCount": 0, "pageCount": 0, "items": []}).encode()
    )
    api.routes["/v3/paths/get/cam1"] = Reply(body=b'{"name": "cam1"}')
    monitor.routes["/api/status"] = Reply(body=b'{"cameras": []}')
    hls.routes["/cam1/index.m3u8"] = Reply(200, "application/vnd.apple.mpegurl", b"#EXTM3U\n")
    viewer = tmp_path / "viewer"
    viewer.mkdir()
    (viewer / "index.html").write_text("<title>trashmonitor viewer marker</title>" + " " * 4000)
    cert, key = self_signed(tmp_path)
    env, ports = caddy_env(api, hls, monitor, viewer, (cert, key))
    with run_caddy(env, ports, tmp_path / "caddy.log"):
        yield ports, api, hls, monitor, cert


def test_viewer_is_served_at_the_root(served: Served) -> None:
    ports, api, hls, monitor, _ = served
    response = httpx.get(f"{ports.base}/")
    assert response.status_code == 200
    assert "trashmonitor viewer marker" in response.text
    assert response.headers["content-encoding"] == "gzip"  # httpx asks for it and decodes
    assert api.seen == hls.seen == monitor.seen == []


def test_api_goes_to_mediamtx_with_the_prefix_stripped(served: Served) -> None:
    ports, api, _, _, _ = served
    response = httpx.get(f"{ports.base}/api/v3/paths/list?page=1&itemsPerPage=100")
    assert response.status_code == 200
    assert response.json()["items"] == []
    assert api.seen == ["/v3/paths/list?page=1&itemsPerPage=100"]


def test_status_goes_to_the_monitor_status_api(served: Served) -> None:
    ports, _, _, monitor, _ = served
    assert httpx.get(f"{ports.base}/status").json() == {"cameras": []}
    assert monitor.seen == ["/api/status"]


def test_metrics_are_not_exposed_through_caddy(served: Served) -> None:
    ports, api, hls, monitor, _ = served
    for path in ("/metrics", "/metrics/", "/metrics?x=1"):
        assert httpx.get(f"{ports.base}{path}").status_code == 404
    assert api.seen == hls.seen == monitor.seen == []


def test_hls_playlists_go_to_the_mediamtx_hls_server(served: Served) -> None:
    ports, _, hls, _, _ = served
    response = httpx.get(f"{ports.base}/cam1/index.m3u8")
    assert response.status_code == 200
    assert response.text.startswith("#EXTM3U")
    assert hls.seen == ["/cam1/index.m3u8"]


def test_hls_segments_are_streamed_not_buffered(served: Served) -> None:
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


def test_https_serves_the_same_routes_with_the_mounted_certificate(served: Served) -> None:
    ports, api, _, _, cert = served
    context = ssl.create_default_context(cafile=str(cert))
    response = httpx.get(f"https://127.0.0.1:{ports.https}/api/v3/paths/list", verify=context)
    assert response.status_code == 200
    assert api.seen == ["/v3/paths/list"]


# --- the read-only public entry (docs/security.md, section 1) ---------------------------


def raw_request(
    port: int,
    method: str,
    target: str,
    *,
    host: str = "127.0.0.1",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request sent exactly as written (no path normalisation, any Host)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", host)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def upstream_requests(*standins: StandIn) -> list[Seen]:
    return [request for standin in standins for request in standin.requests]


RUN_ON_INIT = b'{"runOnInit": "sh -c id>/tmp/pwned"}'


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
@pytest.mark.parametrize(
    "target",
    [
        "/api/v3/config/paths/add/x",
        "/api/v3/config/global/patch",
        "/api/v3/paths/list",
        "/api/v3/paths/get/cam1",
        "/api/v3/rtspsessions/kick/1",
        "/status",
        "/cam1/index.m3u8",
        "/",
        "/api/cameras/cam1/settings",  # camera control is off unless TRASHMON_CONTROL=on
        "/api/cameras/cam1/actions",
    ],
)
def test_no_write_reaches_an_upstream(served: Served, method: str, target: str) -> None:
    """The attack of issue 11 §1: a text/plain POST (no CORS preflight) adding a path with
    runOnInit. Caddy answers 405 itself; no upstream sees any request."""
    ports, api, hls, monitor, _ = served
    status, headers, _ = raw_request(
        ports.http, method, target, headers={"Content-Type": "text/plain"}, body=RUN_ON_INIT
    )
    assert status == 405
    assert headers["Allow"] == "GET, HEAD"
    assert upstream_requests(api, hls, monitor) == []


@pytest.mark.parametrize(
    "target",
    [
        "/api/v3/config/global/get",
        "/api/v3/config/paths/list",
        "/api/v3/config/pathdefaults/get",
        "/api/v3/rtspsessions/list",
        "/api/v3/paths/list/extra",
        "/api/v3/paths/get/",
        "/api/v3/paths/get/../../config/global/get",
        "/api/v3/paths/get/cam1/../../../config/global/get",
        "/api/v3/paths/get/..%2F..%2Fconfig%2Fglobal%2Fget",
        "/api/v3/paths/get/%2e%2e/%2e%2e/config/global/get",
        "/api/v3/paths/get/cam1%3Fx",
        "/api/v2/paths/list",
        "/api/",
        "/api",
        "/api/../api/v3/config/global/get",
        "/API/v3/config/global/get",
    ],
)
def test_api_paths_outside_the_allow_list_never_reach_mediamtx(served: Served, target: str) -> None:
    ports, api, hls, monitor, _ = served
    status, _, _ = raw_request(ports.http, "GET", target)
    assert status == 404, target
    assert upstream_requests(api, hls, monitor) == []


@pytest.mark.parametrize("target", ["/api/v3/paths/list?page=0", "/api/v3/paths/get/cam1"])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_the_read_routes_reach_mediamtx_with_the_injected_credentials(
    served: Served, method: str, target: str
) -> None:
    ports, api, _, _, _ = served
    # A visitor's own Authorization is replaced, never passed on.
    status, headers, body = raw_request(
        ports.http, method, target, headers={"Authorization": "Basic dmlzaXRvcjp4"}
    )
    assert status == 200
    expected = "Basic " + base64.b64encode(READER_CREDENTIALS.encode()).decode()
    assert [(r.method, r.path, r.headers["authorization"]) for r in api.requests] == [
        (method, target.removeprefix("/api"), expected)
    ]
    password = READER_CREDENTIALS.split(":", 1)[1]
    for secret in (password, expected.split()[1]):
        assert secret not in str(headers)
        assert secret.encode() not in body


def test_credentials_go_only_to_the_mediamtx_read_routes(served: Served) -> None:
    ports, api, hls, monitor, _ = served
    for target in ("/", "/status", "/cam1/index.m3u8", "/api/v3/paths/get/cam1"):
        assert raw_request(ports.http, "GET", target)[0] == 200, target
    assert [r.headers.get("authorization") for r in hls.requests + monitor.requests] == [
        None,
        None,
    ]
    assert [r.headers["authorization"].startswith("Basic ") for r in api.requests] == [True]


@pytest.mark.parametrize("host", ["evil.example", "rebind.attacker.test:80", "127.0.0.2", ""])
@pytest.mark.parametrize("target", ["/", "/api/v3/paths/list", "/status", "/cam1/index.m3u8"])
def test_a_foreign_host_is_refused(served: Served, host: str, target: str) -> None:
    """DNS rebinding: the attacker's page talks to this address under its own name."""
    ports, api, hls, monitor, _ = served
    status, _, body = raw_request(ports.http, "GET", target, host=host)
    assert status in (400, 421), (host, status)
    assert b"trashmonitor viewer marker" not in body
    assert upstream_requests(api, hls, monitor) == []


CaddyInFront = tuple[CaddyPorts, StandIn, StandIn, StandIn]


@contextlib.contextmanager
def caddy_with(
    tmp_path: Path, standins: Callable[[str], StandIn], **settings: str
) -> Iterator[CaddyInFront]:
    """Caddy over plain HTTP in front of fresh stand-ins and a one-page viewer, with
    ``settings`` added to its environment."""
    api, hls, monitor = standins("api"), standins("hls"), standins("monitor")
    viewer = tmp_path / "viewer"
    viewer.mkdir()
    (viewer / "index.html").write_text("viewer")
    env, ports = caddy_env(api, hls, monitor, viewer, None)
    with run_caddy({**env, **settings}, ports, tmp_path / "caddy.log"):
        yield ports, api, hls, monitor


def test_site_names_come_from_the_environment(
    tmp_path: Path, standins: Callable[[str], StandIn]
) -> None:
    names = "127.0.0.1 cams.example.ts.net cams.example.org"
    with caddy_with(tmp_path, standins, TRASHMON_SITE_NAMES=names) as (ports, *_):
        for host in ("cams.example.ts.net", f"cams.example.org:{ports.http}"):
            assert raw_request(ports.http, "GET", "/", host=host)[0] == 200, host
        for host in ("localhost", "example.ts.net", "x.cams.example.ts.net"):
            assert raw_request(ports.http, "GET", "/", host=host)[0] == 421, host


SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'",
        "media-src 'self' blob:",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "frame-ancestors 'none'",
    ),
    "x-content-type-options": ("nosniff",),
    "referrer-policy": ("no-referrer",),
}


@pytest.mark.parametrize(
    ("method", "target", "host"),
    [
        ("GET", "/", "127.0.0.1"),
        ("GET", "/api/v3/paths/list", "127.0.0.1"),
        ("GET", "/status", "127.0.0.1"),
        ("GET", "/cam1/index.m3u8", "127.0.0.1"),
        ("GET", "/api/v3/config/global/get", "127.0.0.1"),
        ("GET", "/metrics", "127.0.0.1"),
        ("POST", "/api/v3/config/paths/add/x", "127.0.0.1"),
        ("GET", "/", "evil.example"),
    ],
)
def test_security_headers_on_every_response(
    served: Served, method: str, target: str, host: str
) -> None:
    ports, _, _, _, _ = served
    _, headers, _ = raw_request(ports.http, method, target, host=host)
    for name, parts in SECURITY_HEADERS.items():
        assert all(part in (headers[name] or "") for part in parts), (name, headers[name])
    assert headers["Server"] is None
    assert headers["Strict-Transport-Security"] is None  # HSTS only over TLS


def test_https_adds_hsts(served: Served) -> None:
    ports, _, _, _, cert = served
    context = ssl.create_default_context(cafile=str(cert))
    response = httpx.get(f"https://127.0.0.1:{ports.https}/", verify=context)
    assert response.headers["strict-transport-security"].startswith("max-age=")
    assert "server" not in response.headers
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_trashmon_probe_works_through_the_shipped_caddyfile(
    tmp_path: Path, standins: Callable[[str], StandIn]
) -> None:
    """The CI probe (`trashmon probe --api http://HOST/api`) reads every page through the
    read-only entry."""
    hls, monitor = standins("hls"), standins("monitor")
    with FakeMediaMTX("v1.20") as fake:
        fake.add_paths(150, rate=1000)  # more than one page
        api = StandIn("api", port=int(fake.url.rsplit(":", 1)[1]))
        viewer = tmp_path / "viewer"
        viewer.mkdir()
        env, ports = caddy_env(api, hls, monitor, viewer, None)
        with run_caddy(env, ports, tmp_path / "caddy.log"):
            result = run_trashmon("probe", "--api", f"{ports.base}/api", "--json")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["cameras"]) == 150


def test_empty_site_names_fail_closed(tmp_path: Path) -> None:
    """An empty TRASHMON_SITE_NAMES must not mean "any host": Caddy refuses the config."""
    result = caddy_validate(tmp_path, TRASHMON_TLS="off", TRASHMON_SITE_NAMES="")
    assert result.returncode != 0
    assert "host" in result.stderr


# --- camera control (docs/security.md, section 6) ------------------------------------


def test_the_camera_panel_reads_go_to_the_monitor(served: Served) -> None:
    ports, api, hls, monitor, _ = served
    monitor.routes["/api/cameras/cam1/controls"] = Reply(body=b'{"camera": "cam1"}')
    monitor.routes["/api/cameras/cam1/snapshot"] = Reply(200, "image/jpeg", b"\xff\xd8jpeg")
    assert httpx.get(f"{ports.base}/api/cameras/cam1/controls").json() == {"camera": "cam1"}
    assert httpx.get(f"{ports.base}/api/cameras/cam1/snapshot").content == b"\xff\xd8jpeg"
    for target in ("/api/cameras/../status", "/api/cameras/cam1/settings",
                   "/api/cameras/cam%2F1/controls", "/api/cameras/cam1/controls/x"):  # fmt: skip
        assert raw_request(ports.http, "GET", target)[0] == 404, target
    assert monitor.seen == ["/api/cameras/cam1/controls", "/api/cameras/cam1/snapshot"]
    assert upstream_requests(api, hls) == []


CONTROL_PASSWORD = "c0ntrol-Pass-word"


@pytest.fixture
def control_on(tmp_path: Path, standins: Callable[[str], StandIn]) -> Iterator[CaddyInFront]:
    """Caddy with TRASHMON_CONTROL=on and a bcrypt hash, as the entrypoint passes them."""
    with caddy_with(
        tmp_path,
        standins,
        TRASHMON_CONTROL="on",
        TRASHMON_CONTROL_PASSWORD_HASH=bcrypt_hash(CONTROL_PASSWORD),
    ) as served:
        yield served


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_with_control_on_the_two_posts_need_the_password(control_on: CaddyInFront) -> None:
    ports, api, hls, monitor = control_on
    body = b'{"action": "picture"}'
    for headers in ({}, {"Authorization": _basic("operator", "wrong")},
                    {"Authorization": _basic("someone", CONTROL_PASSWORD)}):  # fmt: skip
        status, _, _ = raw_request(
            ports.http, "POST", "/api/cameras/cam1/actions", headers=headers, body=body
        )
        assert status == 401, headers
    assert upstream_requests(api, hls, monitor) == []
    good = {"Authorization": _basic("operator", CONTROL_PASSWORD), "X-Trashmon-Control": "1",
            "Origin": f"http://127.0.0.1:{ports.http}"}  # fmt: skip
    for leaf in ("actions", "settings"):
        status, _, _ = raw_request(
            ports.http, "POST", f"/api/cameras/cam1/{leaf}", headers=good, body=body
        )
        assert status == 200, leaf
    forwarded = monitor.requests
    assert [(r.method, r.path) for r in forwarded] == [
        ("POST", "/api/cameras/cam1/actions"), ("POST", "/api/cameras/cam1/settings")
    ]  # fmt: skip
    # The monitor judges the origin against the Host it is given; it never sees the password.
    assert all(r.headers["host"] == "127.0.0.1" for r in forwarded)
    assert all(r.headers["x-trashmon-control"] == "1" for r in forwarded)
    assert all("authorization" not in r.headers for r in forwarded)


@pytest.mark.parametrize(
    "target",
    ["/api/v3/config/paths/add/x", "/api/cameras/cam1/controls", "/status",
     "/api/cameras/../actions", "/api/cameras/cam1/actions/x", "/"],
)  # fmt: skip
def test_with_control_on_every_other_write_is_still_405(
    control_on: CaddyInFront, target: str
) -> None:
    ports, api, hls, monitor = control_on
    headers = {"Authorization": _basic("operator", CONTROL_PASSWORD)}
    status, _, _ = raw_request(ports.http, "POST", target, headers=headers, body=RUN_ON_INIT)
    assert status in (404, 405), target
    assert upstream_requests(api, hls, monitor) == []


def test_control_on_without_a_password_hash_fails_closed(tmp_path: Path) -> None:
    result = caddy_validate(tmp_path, TRASHMON_TLS="off", TRASHMON_CONTROL="on")
    assert result.returncode != 0
    assert "username and password cannot be empty" in result.stderr


HOOK_NOTICE = b'{"event":"offline","path":"cam1"}'


@pytest.mark.parametrize("method", ["POST", "GET", "HEAD", "PUT"])
@pytest.mark.parametrize(
    "target",
    [
        "/api/hooks/mediamtx",
        "/api/hooks/mediamtx/",
        "/api/hooks/mediamtx?x=1",
        "/status/../api/hooks/mediamtx",
        "/%61pi/hooks/mediamtx",
        "/API/hooks/mediamtx",
        "/status/hooks/mediamtx",
    ],
)
def test_the_monitor_hook_route_is_never_forwarded(
    served: Served, method: str, target: str
) -> None:
    """Only MediaMTX (beside the monitor) may post hook notices: on the public entry the
    route is 404 (GET/HEAD) or 405 (anything else), and the monitor sees nothing even
    when the visitor sends the secret's header."""
    ports, api, hls, monitor, _ = served
    monitor.routes["/api/hooks/mediamtx"] = Reply(202, "text/plain", b"accepted\n")
    status, _, _ = raw_request(
        ports.http,
        method,
        target,
        headers={"Content-Type": "application/json", "X-Trashmon-Hook-Secret": "guess" * 4},
        body=HOOK_NOTICE if method in ("POST", "PUT") else None,
    )
    assert status == (404 if method in ("GET", "HEAD") else 405), (method, target)
    assert upstream_requests(api, hls, monitor) == []


def test_the_incident_history_is_read_through_caddy_with_its_query(served: Served) -> None:
    ports, api, hls, monitor, _ = served
    monitor.routes["/api/incidents"] = Reply(body=b'{"incidents": []}')
    query = "/api/incidents?camera=cam1&since=1700000000&limit=5"
    assert httpx.get(f"{ports.base}{query}").json() == {"incidents": []}
    assert monitor.seen == [query]
    # Read-only, one route, and a query no legitimate page builds is refused here.
    assert raw_request(ports.http, "POST", "/api/incidents", body=b"{}")[0] == 405
    assert raw_request(ports.http, "GET", "/api/incidents/x")[0] == 404
    assert raw_request(ports.http, "GET", "/api/incidents?camera=" + "a" * 600)[0] == 414
    assert monitor.seen == [query]
    assert upstream_requests(api, hls) == []
