"""The DNS tests' world: constants, and a reconciler wired to the fake APIs."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.trace import Tracer

from support.dns_fake import TIMESTAMP, FakeAPIs
from trashmonitor.dns.cloudflare_api import CloudflareDNS, CloudflareRecords
from trashmonitor.dns.loop import DnsReconciler
from trashmonitor.dns.model import (
    OWNER_MARKER,
    DnsSettings,
    Outcome,
    Resource,
    Result,
    WriteChange,
)
from trashmonitor.dns.observe import Observer
from trashmonitor.dns.retry import RetryPolicy
from trashmonitor.dns.tailscale_api import TailscaleAPI, TailscaleCredentials, TailscaleSplitDNS
from trashmonitor.errors import TrashmonError
from trashmonitor.transport import Transport

NOW = datetime.fromisoformat(TIMESTAMP.replace("Z", "+00:00")).timestamp() + 30
ZONE = "example.com"
HOST = "trashmonitor.example.com"
TS_IP = "100.101.102.103"
TS_IP6 = "fd7a:115c:a1e0::1234"
OTHER_ZONE = {"corp.internal": ["10.0.0.53"]}
RESOLVERS = ("1.0.0.1", "1.1.1.1")
CF_BASE = "http://cf.fake/client/v4"
TS_BASE = "http://ts.fake"


# The requests the reconciler makes, as the fake APIs see them.
ZONE_ID = FakeAPIs().zone_id
RECORDS = f"/client/v4/zones/{ZONE_ID}/dns_records"
DEVICES = "/api/v2/tailnet/-/devices"
SPLIT = "/api/v2/tailnet/-/dns/split-dns"
ZONES = "/client/v4/zones"
ZONE_READ = ("GET", ZONES, {"name": ZONE})
RECORDS_READ = ("GET", RECORDS, {"name.exact": HOST, "per_page": "100"})
NO_QUERY: dict[str, str] = {}
DEVICES_READ = ("GET", DEVICES, NO_QUERY)
SPLIT_READ = ("GET", SPLIT, NO_QUERY)
STEADY_ONE_SHOT = [DEVICES_READ, ZONE_READ, RECORDS_READ, SPLIT_READ]


def a_body(address: str = TS_IP, type_: str = "A") -> dict[str, Any]:
    """The body of our record's POST or PUT."""
    return {
        "name": HOST,
        "type": type_,
        "content": address,
        "ttl": 1,
        "proxied": False,
        "comment": OWNER_MARKER,
    }


def reads(fake: FakeAPIs) -> list[tuple[str, str, dict[str, str]]]:
    return [(r.method, r.path, r.query) for r in fake.reads]


def writes(fake: FakeAPIs) -> list[tuple[str, str, Any]]:
    return [(r.method, r.path, r.body) for r in fake.writes]


def actions(report: Any) -> list[tuple[str, str, str]]:
    """(resource, action, result) of every outcome of a report."""
    return [(str(o.change.resource), str(o.change.action), str(o.result)) for o in report.outcomes]


def seed_in_sync(fake: FakeAPIs) -> str:
    """Our record and split-DNS entry as the reconciler would leave them: the record's id."""
    fake.split_dns[ZONE] = ["1.1.1.1", "1.0.0.1"]
    return fake.add_record("A", HOST, TS_IP, ttl=1, proxied=False, comment=OWNER_MARKER)


def reconcile_a_moved_device(fake: FakeAPIs, harness_factory: Any) -> tuple[str, Any]:
    """The record in sync, then the device's tailnet address changes to 100.100.1.2: the
    record's id and the reconcile's report."""
    record_id = seed_in_sync(fake)
    fake.devices[0]["addresses"] = ["100.100.1.2", TS_IP6]
    return record_id, harness_factory().reconciler.reconcile()


@dataclass
class Recorder:
    """A provider without I/O: ``records()`` returns ``held`` (or raises ``failure``),
    ``apply`` writes nothing and remembers every batch it was given."""

    resources: frozenset[Resource]
    held: Any = ()
    failure: TrashmonError | None = None
    batches: list[list[WriteChange]] = field(default_factory=list)

    def records(self) -> Any:
        if self.failure is not None:
            raise self.failure
        return self.held

    def apply(self, changes: Sequence[WriteChange]) -> tuple[Outcome, ...]:
        self.batches.append(list(changes))
        return tuple(Outcome(c, Result.APPLIED) for c in changes)


def recorders() -> tuple[Recorder, Recorder]:
    """A records provider (A and AAAA) and a split-DNS one, both holding nothing."""
    records = Recorder(frozenset({Resource.A_RECORD, Resource.AAAA_RECORD}))
    return records, Recorder(frozenset({Resource.SPLIT_DNS}), held={})


def seed_world(world: FakeAPIs) -> FakeAPIs:
    """The default tailnet: our device, a laptop, and another team's split-DNS zone."""
    world.add_device("trashmonitor", [TS_IP, TS_IP6])
    world.add_device("laptop", ["100.64.0.7", "fd7a:115c:a1e0::7"])
    world.split_dns = {k: list(v) for k, v in OTHER_ZONE.items()}
    return world


@pytest.fixture
def fake() -> FakeAPIs:
    return seed_world(FakeAPIs())


def cassette_reconciler(
    fake: FakeAPIs, transport: Transport | None = None, **overrides: Any
) -> tuple[DnsReconciler, Any]:
    """A reconciler on plain httpx clients (vcrpy intercepts them), one attempt per call:
    a request missing from a cassette fails at once instead of being retried."""
    retry = RetryPolicy(attempts=1)
    cloudflare = CloudflareDNS(fake.cf_token, base_url=CF_BASE, retry=retry, transport=transport)
    tailscale = TailscaleAPI(
        TailscaleCredentials(api_key=fake.ts_key), base_url=TS_BASE, retry=retry,
        transport=transport, clock=lambda: NOW,
    )  # fmt: skip
    reconciler = wired_reconciler(default_settings(**overrides), cloudflare, tailscale)

    def close() -> None:
        cloudflare.close()
        tailscale.close()

    return reconciler, close


@dataclass
class Harness:
    fake: FakeAPIs
    reconciler: DnsReconciler
    cloudflare: CloudflareDNS
    tailscale: TailscaleAPI
    sleeps: list[float] = field(default_factory=list)


def wired_reconciler(
    settings: DnsSettings,
    cloudflare: CloudflareDNS,
    tailscale: TailscaleAPI,
    *,
    split_dns: bool = True,
    tracer: Tracer | None = None,
) -> DnsReconciler:
    """The providers on these clients, as ``trashmon dns`` wires them with API keys."""
    observer = Observer(
        settings,
        CloudflareRecords(cloudflare, settings.zone, settings.hostname, tracer=tracer),
        TailscaleSplitDNS(tailscale, tracer=tracer) if split_dns else None,
        tailscale.devices if settings.target is None else None,
        tracer=tracer,
    )
    return DnsReconciler(observer, clock=lambda: NOW, tracer=tracer)


def default_settings(**overrides: Any) -> DnsSettings:
    base = DnsSettings(zone=ZONE, hostname=HOST, ts_hostname="trashmonitor", resolvers=RESOLVERS)
    return dataclasses.replace(base, **overrides)


@pytest.fixture
def harness_factory(fake: FakeAPIs) -> Iterator[Any]:
    made: list[Harness] = []

    def make(
        *,
        attempts: int = 3,
        credentials: TailscaleCredentials | None = None,
        split_dns: bool = True,
        **overrides: Any,
    ) -> Harness:
        sleeps: list[float] = []
        retry = RetryPolicy(attempts=attempts, sleep=sleeps.append, jitter=lambda: 0.5)
        cloudflare = CloudflareDNS(
            fake.cf_token,
            base_url=CF_BASE,
            retry=retry,
            transport=fake.transport(),
        )
        tailscale = TailscaleAPI(
            credentials or TailscaleCredentials(api_key=fake.ts_key),
            base_url=TS_BASE,
            retry=retry,
            transport=fake.transport(),
            clock=lambda: NOW,
        )
        settings = default_settings(**overrides)
        reconciler = wired_reconciler(settings, cloudflare, tailscale, split_dns=split_dns)
        harness = Harness(fake, reconciler, cloudflare, tailscale, sleeps)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.cloudflare.close()
        harness.tailscale.close()


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


# -- vcrpy: replay recorded exchanges, never reach the network ------------------------------

CASSETTES = Path(__file__).resolve().parents[1] / "dns" / "cassettes"
REDACTED = "REDACTED"
SECRET_FORM_FIELDS = ("client_secret",)
SECRET_RESPONSE_FIELDS = ("access_token",)


def scrub_text(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


def dns_vcr(secrets: Sequence[str], record_mode: str = "none") -> Any:
    """The one vcrpy configuration for DNS cassettes (GUIDE §8): ``authorization`` dropped,
    known secrets and token-bearing fields scrubbed from bodies, bodies matched so a write
    with other content is a mismatch, not a silent replay."""
    import vcr

    def scrub_request(request: Any) -> Any:
        if request.body:
            body = request.body.decode() if isinstance(request.body, bytes) else request.body
            for field_name in SECRET_FORM_FIELDS:
                body = re.sub(rf"({field_name}=)[^&]*", rf"\g<1>{REDACTED}", body)
            request.body = scrub_text(body, secrets).encode()
        return request

    def scrub_response(response: dict[str, Any]) -> dict[str, Any]:
        body = response["body"]["string"]
        text = body.decode() if isinstance(body, bytes) else body
        for field_name in SECRET_RESPONSE_FIELDS:
            text = re.sub(rf'("{field_name}":\s*")[^"]*', rf"\g<1>{REDACTED}", text)
        response["body"]["string"] = scrub_text(text, secrets).encode()
        return response

    return vcr.VCR(
        cassette_library_dir=str(CASSETTES),
        record_mode=record_mode,
        filter_headers=["authorization", "cookie", "set-cookie"],
        before_record_request=scrub_request,
        before_record_response=scrub_response,
        match_on=["method", "scheme", "host", "port", "path", "query", "body"],
        decode_compressed_response=True,
    )


def dns_env(base_url: str, fake: FakeAPIs, **overrides: str | None) -> dict[str, str]:
    """`trashmon dns`'s environment (docs/dns.md) pointed at the fake APIs served at
    ``base_url``; an override of None removes the variable."""
    env: dict[str, str | None] = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "CF_API_TOKEN": fake.cf_token,
        "TS_API_KEY": fake.ts_key,
        "TS_HOSTNAME": "trashmonitor",
        "DNS_ZONE": ZONE,
        "DNS_HOSTNAME": HOST,
        "CLOUDFLARE_BASE_URL": f"{base_url}/client/v4",
        "TS_API_BASE_URL": base_url,
        "DNS_RETRIES": "0",
    }
    env.update(overrides)
    return {key: value for key, value in env.items() if value is not None}
