"""Re-record tests/dns/cassettes/ against the fake APIs (not a test; run by hand).

    .venv/bin/python tests/dns/record_cassettes.py

The cassettes then pin the exact HTTP exchange of a first run (create) and a steady run
(no-op) as the Cloudflare SDK and our Tailscale client make it; test_cassettes.py replays
them with ``record_mode="none"`` and checks every recorded request was made.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.dns_fake import FakeAPIs
from support.dns_world import CASSETTES, cassette_reconciler, dns_vcr, seed_world


def main() -> None:
    fake = seed_world(FakeAPIs())
    recorder = dns_vcr([fake.cf_token, fake.ts_key], record_mode="all")
    for name in ("first_run_creates", "steady_state_no_op"):
        (CASSETTES / f"{name}.yaml").unlink(missing_ok=True)
        reconciler, close = cassette_reconciler(fake, transport=fake.transport())
        with recorder.use_cassette(f"{name}.yaml"):
            report = reconciler.reconcile()
        close()
        print(name, [line for line in report.lines()])


if __name__ == "__main__":
    main()
