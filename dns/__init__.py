"""The DNS reconciler: Cloudflare A record and Tailscale split-DNS.

Desired → observed → plan → apply, as external-dns does it (docs/dns.md). What the
monitor needs to run the same loop and export it::

    from trashmonitor.dns import DnsCollector, build_loop
    loop, setup = build_loop(os.environ, interval=300)
    registry.register(DnsCollector(loop.stats))
    threading.Thread(target=loop.run, args=(stop_event,), daemon=True).start()
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trashmonitor.dns.cli import build_loop
    from trashmonitor.dns.export import DnsCollector, DnsStats
    from trashmonitor.dns.loop import DnsReconciler, ReconcileLoop
    from trashmonitor.dns.model import DnsSettings, ReconcileReport

# Imported when first asked for: `trashmon dns --help` imports this package too, and
# must not pay for prometheus-client and the loop (PEP 562).
_EXPORTS = {
    "build_loop": "trashmonitor.dns.cli",
    "DnsCollector": "trashmonitor.dns.export",
    "DnsStats": "trashmonitor.dns.export",
    "DnsReconciler": "trashmonitor.dns.loop",
    "ReconcileLoop": "trashmonitor.dns.loop",
    "DnsSettings": "trashmonitor.dns.model",
    "ReconcileReport": "trashmonitor.dns.model",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


__all__ = [
    "DnsCollector",
    "DnsReconciler",
    "DnsSettings",
    "DnsStats",
    "ReconcileLoop",
    "ReconcileReport",
    "build_loop",
]
