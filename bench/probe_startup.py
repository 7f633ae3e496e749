"""Cold start of `trashmon probe`: wall time, import time, and which heavy modules load.

Prints the median wall time of ``python -m trashmonitor probe --help`` next to a bare
``python -c pass``, the cumulative ``-X importtime`` of the probe's module, and whether
httpx, opentelemetry, cloudflare, prometheus_client, paho, logging or concurrent were
imported (they must not be: the probe reads MediaMTX with urllib and logs nothing). The
package is byte-compiled first, as pip installs it.

    .venv/bin/python bench/probe_startup.py [--runs 10]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from scaffold import compile_package, options
from support.processes import OUTSIDE_REPO

HEAVY = (
    "httpx", "opentelemetry", "cloudflare", "prometheus_client", "paho", "tailscale",
    "cryptography", "logging", "concurrent",
)  # fmt: skip


def wall(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, cwd=OUTSIDE_REPO, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    args = options(__doc__.splitlines()[0], {"runs": 2}, runs=10)
    compile_package()
    python = wall([sys.executable, "-c", "pass"], args.runs)
    probe = wall([sys.executable, "-m", "trashmonitor", "probe", "--help"], args.runs)
    importtime = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import trashmonitor.monitor.probe_cli"],
        cwd=OUTSIDE_REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    cumulative = {}
    for line in importtime.splitlines()[1:]:
        _, cumul, name = (part.strip() for part in line.split("|"))
        cumulative[name.strip()] = int(cumul)
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, trashmonitor.monitor.probe_cli as p; "
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))",
        ],
        cwd=OUTSIDE_REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    heavy = [name for name in HEAVY if name in loaded]
    module_ms = cumulative["trashmonitor.monitor.probe_cli"] / 1000
    print(f"probe cold start, median of {args.runs} runs")
    print(f"  python -c pass                         {python * 1000:6.0f} ms")
    print(f"  trashmon probe --help                  {probe * 1000:6.0f} ms")
    print(f"  import trashmonitor.monitor.probe_cli  {module_ms:6.0f} ms (-X importtime)")
    http_ms = sum(cumulative.get(name, 0) for name in ("http.client", "urllib.request")) / 1000
    print(f"    of which http.client, urllib.request {http_ms:6.0f} ms")
    print(f"  heavy modules imported: {', '.join(heavy) or 'none'}")


if __name__ == "__main__":
    main()
