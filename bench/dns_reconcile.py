"""DNS reconciler figures: API calls and writes per reconcile, and wall time per reconcile
against the local fake Cloudflare + Tailscale API (real HTTP on loopback).

    .venv/bin/python bench/dns_reconcile.py [--runs N]

Prints figures; asserts nothing.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

import httpx
from scaffold import options, percentile
from support.dns_fake import FakeAPIs
from support.dns_world import HOST, default_settings, seed_world, wired_reconciler

from trashmonitor.dns.cloudflare_api import CloudflareDNS
from trashmonitor.dns.loop import DnsReconciler
from trashmonitor.dns.retry import RetryPolicy
from trashmonitor.dns.tailscale_api import TailscaleAPI, TailscaleCredentials


def reconciler_for(
    fake: FakeAPIs, base_url: str, *, adopt: bool = False
) -> tuple[DnsReconciler, list[object]]:
    retry = RetryPolicy(attempts=1)
    tls = httpx.create_ssl_context()  # one for both clients, as `trashmon dns` builds them
    cloudflare = CloudflareDNS(
        fake.cf_token, base_url=f"{base_url}/client/v4", retry=retry, tls=tls
    )
    tailscale = TailscaleAPI(
        TailscaleCredentials(api_key=fake.ts_key), base_url=base_url, retry=retry, tls=tls
    )
    reconciler = wired_reconciler(default_settings(adopt=adopt), cloudflare, tailscale)
    return reconciler, [cloudflare, tailscale]


def adopting(fake: FakeAPIs, base_url: str) -> object:
    reconciler, clients = reconciler_for(fake, base_url, adopt=True)
    try:
        return reconciler.reconcile()
    finally:
        for client in clients:
            client.close()  # type: ignore[attr-defined]


def cli_run(fake: FakeAPIs, base_url: str) -> float:
    env = {
        "PATH": os.environ["PATH"], "CF_API_TOKEN": fake.cf_token, "TS_API_KEY": fake.ts_key,
        "TS_HOSTNAME": "trashmonitor", "DNS_ZONE": "example.com", "DNS_HOSTNAME": HOST,
        "CLOUDFLARE_BASE_URL": f"{base_url}/client/v4", "TS_API_BASE_URL": base_url,
    }  # fmt: skip
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "trashmonitor", "dns"], env=env, cwd=tempfile.gettempdir(),
        capture_output=True, check=True,
    )  # fmt: skip
    return (time.perf_counter() - started) * 1000


def counted(fake: FakeAPIs, label: str, run: object) -> None:
    fake.clear()
    started = time.perf_counter()
    report = run()  # type: ignore[operator]
    elapsed = (time.perf_counter() - started) * 1000
    reads, writes = len(fake.reads), len(fake.writes)
    actions = ",".join(str(o.change.action) for o in report.outcomes)
    print(f"  {label:<34} reads={reads} writes={writes} actions={actions:<14} {elapsed:6.1f} ms")


def main() -> None:
    runs = options(__doc__.splitlines()[0], {"runs": 2}, runs=200).runs
    fake = seed_world(FakeAPIs())
    with fake.serve() as base_url:
        reconciler, clients = reconciler_for(fake, base_url)
        print("dns reconcile: API calls per reconcile (fake API on loopback)")
        counted(fake, "first run (create A + split DNS)", reconciler.reconcile)
        fresh, fresh_clients = reconciler_for(fake, base_url)
        counted(fake, "steady, one-shot (new process)", fresh.reconcile)
        counted(fake, "steady, --watch iteration", reconciler.reconcile)
        fake.devices[0]["addresses"] = ["100.100.9.9"]
        counted(fake, "address changed (update A)", reconciler.reconcile)
        fake.split_dns["example.com"] = ["8.8.8.8"]
        counted(fake, "someone else's split DNS (refused)", reconciler.reconcile)
        fake.split_dns["example.com"] = ["1.0.0.1"]
        counted(fake, "adopting it (--adopt, PATCH)", lambda: adopting(fake, base_url))
        counted(fake, "dry run with nothing to do", lambda: reconciler.reconcile(dry_run=True))

        for label, target in (("--watch iteration", reconciler), ("one-shot", None)):
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                if target is None:
                    one, one_clients = reconciler_for(fake, base_url)
                    one.reconcile()
                    for client in one_clients:
                        client.close()  # type: ignore[attr-defined]
                else:
                    target.reconcile()
                times.append((time.perf_counter() - started) * 1000)
            print(
                f"wall time per steady reconcile, {label} (n={runs}): "
                f"median {statistics.median(times):.2f} ms, "
                f"p95 {percentile(times, 0.95):.2f} ms, max {max(times):.2f} ms"
            )
        for client in [*clients, *fresh_clients]:
            client.close()  # type: ignore[attr-defined]
        cli_times = [cli_run(fake, base_url) for _ in range(5)]
        print(
            f"wall time of `python -m trashmonitor dns` steady (n=5, process start and "
            f"imports included): median {statistics.median(cli_times):.0f} ms, "
            f"max {max(cli_times):.0f} ms"
        )
    print(f"(hostname {HOST}; one-shot includes building both API clients)")


if __name__ == "__main__":
    main()
