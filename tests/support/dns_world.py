"""The DNS tests' world: constants, and a reconciler wired to the fake APIs."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
from trashmonitor.dns.cloudflare_api import CloudflareDNS
from trashmonitor.dns.reconcile import DnsReconciler, DnsSettings
from trashmonitor.dns.retry import RetryPolicy
from trashmonitor.dns.tailscale_api import TailscaleAPI, TailscaleCredentials

from support.dns_fake import TIMESTAMP, FakeAPIs

NOW = datetime.fromisoformat(TIMESTAMP.replace("Z", "+00:00")).timestamp() + 30
ZONE = "example.com"
HOST = "trashmonitor.example.com"
TS_IP = "100.101.102.103"
TS_IP6 = "fd7a:115c:a1e0::1234"
OTHER_ZONE = {"corp.internal": ["10.0.0.53"]}
RESOLVERS = ("1.0.0.1", "1.1.1.1")
CF_BASE = "http://cf.fake/client/v4"
TS_BASE = "http://ts.fake"


@pytest.fixture
def fake() -> FakeAPIs:
    world = FakeAPIs()
    world.add_device("trashmonitor", [TS_IP, TS_IP6])
    world.add_device("laptop", ["100.64.0.7", "fd7a:115c:a1e0::7"])
    world.split_dns = {k: list(v) for k, v in OTHER_ZONE.items()}
    return world


@dataclass
class Harness:
    fake: FakeAPIs
    reconciler: DnsReconciler
    cloudflare: CloudflareDNS
    tailscale: TailscaleAPI
    sleeps: list[float] = field(default_factory=list)


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
            http_client=httpx.Client(transport=fake.transport()),
        )
        tailscale = TailscaleAPI(
            credentials or TailscaleCredentials(api_key=fake.ts_key),
            base_url=TS_BASE,
            retry=retry,
            transport=fake.transport(),
            clock=lambda: NOW,
        )
        settings = default_settings(**overrides)
        reconciler = DnsReconciler(
            settings,
            cloudflare,
            tailscale if split_dns else None,
            tailscale.devices if settings.target is None else None,
            clock=lambda: NOW,
        )
        harness = Harness(fake, reconciler, cloudflare, tailscale, sleeps)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.cloudflare.close()
        harness.tailscale.close()


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)
