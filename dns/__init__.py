"""The DNS reconciler: Cloudflare A record and Tailscale split-DNS.

Desired → observed → plan → apply, as external-dns does it (docs/dns.md). What the
monitor needs to run the same loop and export it::

    from trashmonitor.dns import DnsCollector, build_loop
    loop, setup = build_loop(os.environ, interval=300)
    registry.register(DnsCollector(loop.stats))
    threading.Thread(target=loop.run, args=(stop_event,), daemon=True).start()
"""

from trashmonitor.dns.cli import build_loop
from trashmonitor.dns.export import DnsCollector, DnsStats
from trashmonitor.dns.loop import DnsReconciler, ReconcileLoop
from trashmonitor.dns.model import DnsSettings, ReconcileReport

__all__ = [
    "DnsCollector",
    "DnsReconciler",
    "DnsSettings",
    "DnsStats",
    "ReconcileLoop",
    "ReconcileReport",
    "build_loop",
]
