"""A small typed Tailscale API v2 client on httpx, and the ``tailscale status`` fallback.

Why not the ``tailscale`` PyPI package: it hard-codes ``https://api.tailscale.com`` inside
its private request method, so pointing it at ``TS_API_BASE_URL`` (or a local fake)
means copying that whole method; it is async on aiohttp while everything else here is
sync httpx; and it does not expose ``Retry-After``. The three calls we need
(devices, split DNS get/patch) plus OAuth client credentials fit in this module, with a
``transport`` (:mod:`trashmonitor.transport`'s protocol, as the Cloudflare and MediaMTX
clients take it), and :class:`TailscaleSplitDNS`, the provider the reconciler sees.
There is deliberately no PUT of split DNS: it replaces the whole map and would wipe
every other zone.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from ssl import SSLContext
from typing import Any
from urllib.parse import quote

import httpx
from opentelemetry.trace import NoOpTracer, Tracer

from trashmonitor.dns.apply import write_outcome
from trashmonitor.dns.model import (
    CreateSplitDNS,
    IPAddress,
    Outcome,
    Resource,
    Result,
    TailnetDevice,
    UpdateSplitDNS,
    WriteChange,
)
from trashmonitor.dns.plan import describe_resolvers, zone_entry
from trashmonitor.dns.retry import RetryPolicy, parse_retry_after, transient_kind
from trashmonitor.errors import (
    AuthError,
    ConfigError,
    MalformedResponseError,
    TransientAPIError,
    UnreachableError,
    UpstreamHTTPError,
)
from trashmonitor.transport import Transport
from trashmonitor.transport_httpx import HttpxBridge

DEFAULT_BASE_URL = "https://api.tailscale.com"
SCOPE_DEVICES_READ = "devices:core:read"
SCOPE_DNS_READ = "dns:read"
SCOPE_DNS_WRITE = "dns"
# Renew an OAuth access token this long before the API says it expires.
TOKEN_MARGIN_SECONDS = 60.0

SplitDNS = dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class TailscaleCredentials:
    """An API key, or an OAuth client. Secrets never appear in ``repr``."""

    api_key: str | None = field(default=None, repr=False)
    oauth_client_id: str | None = None
    oauth_client_secret: str | None = field(default=None, repr=False)

    @property
    def setting(self) -> str:
        return "TS_API_KEY" if self.api_key else "TS_OAUTH_CLIENT_ID/TS_OAUTH_CLIENT_SECRET"


def _parse_time(value: object) -> float | None:
    if not isinstance(value, str) or not value or value.startswith("0001-"):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _addresses(values: object) -> tuple[IPAddress, ...]:
    found: list[IPAddress] = []
    for value in values if isinstance(values, list) else []:
        try:
            found.append(ipaddress.ip_address(str(value)))
        except ValueError:
            continue
    return tuple(found)


def _strings(values: object) -> tuple[str, ...]:
    return tuple(str(v) for v in values) if isinstance(values, list) else ()


@dataclass(frozen=True)
class DeviceFields:
    """Where a device document keeps each field: the devices API and ``tailscale status
    --json`` name them differently (``id``/``ID``, ``addresses``/``TailscaleIPs``, …)."""

    ids: tuple[str, ...]
    node_id: str
    tags: str
    hostname: str
    name: str
    addresses: str
    last_seen: str


API_FIELDS = DeviceFields(
    ("id", "nodeId"), "nodeId", "tags", "hostname", "name", "addresses", "lastSeen"
)
STATUS_FIELDS = DeviceFields(
    ("ID", "PublicKey"), "ID", "Tags", "HostName", "DNSName", "TailscaleIPs", "LastSeen"
)


def _device(item: Mapping[str, Any], fields: DeviceFields, connected: object) -> TailnetDevice:
    return TailnetDevice(
        device_id=str(next((item[k] for k in fields.ids if item.get(k)), "")),
        node_id=str(item.get(fields.node_id) or ""),
        tags=_strings(item.get(fields.tags)),
        hostname=str(item.get(fields.hostname) or ""),
        name=str(item.get(fields.name) or "").rstrip("."),
        addresses=_addresses(item.get(fields.addresses)),
        last_seen=_parse_time(item.get(fields.last_seen)),
        connected=connected if isinstance(connected, bool) else None,
    )


def device_from_api(item: Mapping[str, Any]) -> TailnetDevice:
    """One entry of ``GET /tailnet/{t}/devices`` → ``{"devices": [...]}``."""
    return _device(item, API_FIELDS, item.get("connectedToControl"))


class TailscaleAPI:
    def __init__(
        self,
        credentials: TailscaleCredentials,
        *,
        base_url: str = DEFAULT_BASE_URL,
        tailnet: str = "-",
        retry: RetryPolicy | None = None,
        transport: Transport | None = None,
        timeout: float = 20.0,
        clock: Callable[[], float] = time.time,
        tls: SSLContext | None = None,
    ) -> None:
        self._credentials = credentials
        self._tailnet_path = f"/api/v2/tailnet/{quote(tailnet, safe='')}"
        self._retry = retry or RetryPolicy()
        self._clock = clock
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            # Ours under httpx (a MockTransport in tests); None: httpx's own pool.
            transport=None if transport is None else HttpxBridge(transport),
            timeout=timeout,
            headers={"Accept": "application/json", "User-Agent": "trashmonitor-dns"},
            verify=tls or True,  # None: httpx builds its default context
        )
        self._access_token: str | None = None
        self._token_expires = 0.0

    def close(self) -> None:
        self._http.close()

    # -- the three calls --------------------------------------------------------------

    def devices(self) -> tuple[TailnetDevice, ...]:
        body = self._json(
            "GET", f"{self._tailnet_path}/devices", "list devices", SCOPE_DEVICES_READ
        )
        devices = body.get("devices") if isinstance(body, dict) else None
        if not isinstance(devices, list):
            raise MalformedResponseError("Tailscale: devices: no 'devices' list in the answer")
        return tuple(device_from_api(d) for d in devices if isinstance(d, dict))

    def split_dns(self) -> SplitDNS:
        body = self._json(
            "GET", f"{self._tailnet_path}/dns/split-dns", "read split DNS", SCOPE_DNS_READ
        )
        return _split_dns_map(body)

    def patch_split_dns(self, changes: Mapping[str, Sequence[str] | None]) -> SplitDNS:
        """PATCH merges: only the domains named change (None/[] removes one)."""
        payload = {k: (list(v) if v is not None else None) for k, v in changes.items()}
        body = self._json(
            "PATCH",
            f"{self._tailnet_path}/dns/split-dns",
            "update split DNS",
            SCOPE_DNS_WRITE,
            payload,
        )
        return _split_dns_map(body)

    # -- plumbing ---------------------------------------------------------------------

    def _json(
        self, method: str, path: str, what: str, scope: str, payload: object = None
    ) -> object:
        def attempt() -> object:
            # Inline, not a local: this frame is in the traceback of _send's errors.
            response = self._send(
                method, path, what, headers={"Authorization": f"Bearer {self._token()}"},
                json=payload,
            )  # fmt: skip
            if response.status_code == 401:
                self._access_token = None  # an OAuth token may have been revoked early
            self._raise_for_status(response, what, scope)
            return _decode(response, what)

        return self._retry.call(f"Tailscale {what}", attempt)

    def _send(self, method: str, path: str, what: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.RequestError as error:  # transport, decoding, redirects
            failure = TransientAPIError(
                f"Tailscale: {what}: cannot reach the API ({type(error).__name__})",
                status_code=None,
                kind="unreachable",
            )
        # Raised after the except block with ``kwargs`` dropped: the httpx error (its
        # request's headers hold the API key) is no __context__, and no frame of the
        # traceback keeps the headers (``from None`` would only hide the error).
        del kwargs
        raise failure

    def _raise_for_status(self, response: httpx.Response, what: str, scope: str) -> None:
        status = response.status_code
        if status < 400:
            return
        detail = f"HTTP {status}" + (f", {msg}" if (msg := _message(response)) else "")
        setting = self._credentials.setting
        if status == 401:
            raise AuthError(f"Tailscale: {setting} was not accepted to {what} ({detail})")
        if status == 403:
            raise AuthError(
                f"Tailscale: {setting} is not allowed to {what} ({detail}); "
                f"it needs the `{scope}` scope"
            )
        if status == 404 and "/tailnet/" in response.request.url.path:
            raise ConfigError("TS_TAILNET", f"Tailscale: {what}: tailnet not found ({detail})")
        kind = transient_kind(status)
        if kind is not None:
            raise TransientAPIError(
                f"Tailscale: {what} failed ({detail})",
                status_code=status,
                kind=kind,
                retry_after=parse_retry_after(response.headers.get("retry-after")),
            )
        raise UpstreamHTTPError(f"Tailscale: {what} refused ({detail})", status)

    def _token(self) -> str:
        if self._credentials.api_key:
            return self._credentials.api_key
        if self._access_token and self._clock() < self._token_expires:
            return self._access_token
        response = self._send(
            "POST",
            "/api/v2/oauth/token",
            "get an OAuth token",
            data={
                "client_id": self._credentials.oauth_client_id or "",
                "client_secret": self._credentials.oauth_client_secret or "",
                "grant_type": "client_credentials",
            },
        )
        if response.status_code in (400, 401, 403):
            raise AuthError(
                f"Tailscale: TS_OAUTH_CLIENT_ID/TS_OAUTH_CLIENT_SECRET were not accepted "
                f"(HTTP {response.status_code}); the client needs the "
                f"`{SCOPE_DNS_WRITE}` and `{SCOPE_DEVICES_READ}` scopes"
            )
        self._raise_for_status(response, "get an OAuth token", SCOPE_DNS_WRITE)
        # The body holds the token: never put it (or this dict) in a message.
        body = _decode(response, "get an OAuth token")
        token = body.get("access_token") if isinstance(body, dict) else None
        expires_in = body.get("expires_in", 3600) if isinstance(body, dict) else None
        if not isinstance(token, str) or not token or not isinstance(expires_in, int | float):
            raise MalformedResponseError("Tailscale: OAuth token answer has no access_token")
        self._access_token = token
        self._token_expires = self._clock() + float(expires_in) - TOKEN_MARGIN_SECONDS
        return token


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    message = body.get("message") if isinstance(body, dict) else None
    return " ".join(str(message).split())[:200] if message else ""


def _decode(response: httpx.Response, what: str) -> object:
    try:
        return response.json()
    except ValueError as error:
        raise MalformedResponseError(f"Tailscale: {what}: the answer is not JSON") from error


def _split_dns_map(body: object) -> SplitDNS:
    if not isinstance(body, dict):
        raise MalformedResponseError("Tailscale: split DNS: the answer is not a JSON object")
    result: SplitDNS = {}
    for domain, resolvers in body.items():
        if resolvers is None:
            result[str(domain)] = ()
        elif isinstance(resolvers, list):
            result[str(domain)] = tuple(str(r) for r in resolvers)
        else:
            raise MalformedResponseError(f"Tailscale: split DNS: {domain!r} is not a list")
    return result


class TailscaleSplitDNS:
    """The Tailscale split-DNS provider: ``records()`` is the map, ``apply`` PATCHes
    ``DNS_ZONE`` only, after reading the map again (another team may have claimed the
    zone since the plan read it)."""

    resources = frozenset({Resource.SPLIT_DNS})

    def __init__(self, client: TailscaleAPI, *, tracer: Tracer | None = None) -> None:
        self.client = client
        self._tracer = tracer or NoOpTracer()

    def records(self) -> SplitDNS:
        with self._tracer.start_as_current_span("tailscale.split_dns"):
            return self.client.split_dns()

    def apply(self, changes: Sequence[WriteChange]) -> tuple[Outcome, ...]:
        return tuple(write_outcome(change, partial(self._write, change)) for change in changes)

    def _write(self, change: WriteChange) -> Outcome:
        if not isinstance(change, CreateSplitDNS | UpdateSplitDNS):
            return Outcome(change, Result.FAILED, "not a split-DNS change", "internal")
        zone = change.desired.zone
        current = zone_entry(self.records(), zone)
        if current != change.current:
            detail = (
                f"split DNS for {zone} changed since it was read (now "
                f"{describe_resolvers(sorted(current))}); nothing written; run again"
            )
            return Outcome(change, Result.REFUSED, detail, "refused")
        with self._tracer.start_as_current_span(
            "tailscale.patch_split_dns", attributes={"dns.zone": zone}
        ):
            after = self.client.patch_split_dns({zone: list(change.desired.resolvers)})
        now = set(after.get(zone, ()))
        if now != set(change.desired.resolvers):
            detail = f"the API now reports {sorted(now) or 'none'}"
            return Outcome(change, Result.FAILED, detail, "server")
        return Outcome(change, Result.APPLIED)


def devices_from_status(document: object) -> tuple[TailnetDevice, ...]:
    """``tailscale status --json``: ``Self`` plus every ``Peer``."""
    if not isinstance(document, dict):
        raise MalformedResponseError("tailscale status --json: not a JSON object")
    nodes: list[Mapping[str, Any]] = []
    if isinstance(document.get("Self"), dict):
        nodes.append(document["Self"])
    peers = document.get("Peer")
    if isinstance(peers, dict):
        nodes.extend(p for p in peers.values() if isinstance(p, dict))
    running = document.get("BackendState") == "Running"
    has_self = isinstance(document.get("Self"), dict)
    return tuple(
        _device(node, STATUS_FIELDS, running if index == 0 and has_self else node.get("Online"))
        for index, node in enumerate(nodes)
    )


def devices_from_local_cli(
    command: Sequence[str] = ("tailscale", "status", "--json"),
) -> tuple[TailnetDevice, ...]:
    """The fallback when no Tailscale API credentials are given."""
    try:
        done = subprocess.run(list(command), capture_output=True, timeout=15, check=False)
    except FileNotFoundError as error:
        raise ConfigError(
            "TS_API_KEY",
            "not set, and the `tailscale` command is not installed to read the address locally",
        ) from error
    except subprocess.TimeoutExpired as error:
        raise UnreachableError("tailscale status --json did not answer within 15s") from error
    if done.returncode != 0:
        first = (done.stderr.decode(errors="replace").strip().splitlines() or ["no output"])[0]
        raise UnreachableError(f"tailscale status --json failed: {first[:200]}")
    try:
        return devices_from_status(json.loads(done.stdout))
    except ValueError as error:
        raise MalformedResponseError("tailscale status --json: not JSON") from error
