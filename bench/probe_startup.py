"""Cold start of `trashmon probe`: wall and CPU time, import time, which heavy modules load.

Prints the median wall and CPU time (of the child: getrusage) of ``python -m
trashmonitor probe --help`` next to a bare ``python -c pass`` and to a python importing
what the bare stdlib baseline imports (``json``, ``urllib.request``), run alternately,
with the per-pair median ratios of CPU and wall to the latter; the cumulative
``-X importtime`` of the probe's module, and whether
httpx, opentelemetry, cloudflare, prometheus_client, paho, logging or concurrent were
imported (they must not be: the probe reads MediaMTX with urllib and logs nothing). The
package is byte-compiled first, as pip installs it.

Then what a probe imports beyond the bare baseline's ``json`` and ``urllib.request``, by
owner (each module's least ``-X importtime`` self time of the runs, so that load from
other processes counts least): the health model's values, msgspec (imported at the
first large page), the package's other modules, and the standard library they pull in.

    .venv/bin/python bench/probe_startup.py [--runs 10]
"""

from __future__ import annotations

import subprocess
import sys

from monitor_scale import BARE_START, child_cpu, medians, ratios
from scaffold import compile_package, options
from support.processes import OUTSIDE_REPO, TRASHMON

HEAVY = (
    "httpx", "opentelemetry", "cloudflare", "prometheus_client", "paho", "tailscale",
    "cryptography", "logging", "concurrent",
)  # fmt: skip


def alternating(argvs: list[list[str]], runs: int) -> list[list[tuple[float, float]]]:
    """(CPU, wall) seconds of ``runs`` runs of each argv, taken in turn so that load from
    other processes hits them alike."""
    measured: list[list[tuple[float, float]]] = [[] for _ in argvs]
    for _ in range(runs):
        for argv, runs_of in zip(argvs, measured, strict=True):
            runs_of.append(child_cpu(argv))
    return measured


def least_self_times(code: str, runs: int) -> dict[str, int]:
    """Each module's least ``-X importtime`` self time (µs) over ``runs`` processes."""
    least: dict[str, int] = {}
    for _ in range(runs):
        report = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code],
            cwd=OUTSIDE_REPO, capture_output=True, text=True, check=True,
        ).stderr  # fmt: skip
        for line in report.splitlines()[1:]:
            own, _, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
            least[name] = min(int(own), least.get(name, int(own)))
    return least


def import_shares(runs: int) -> None:
    bare = least_self_times("import json, urllib.request", runs)
    probe = least_self_times(
        "import trashmonitor.cli, trashmonitor.monitor.probe_cli, "
        "trashmonitor.monitor.mediamtx_fast",
        runs,
    )
    extra = {name: micros for name, micros in probe.items() if name not in bare}
    model = extra.pop("trashmonitor.monitor.model", 0)
    msgspec = sum(
        extra.pop(name)
        for name in list(extra)
        if name.startswith("msgspec")
        or name in ("trashmonitor.monitor.mediamtx_fast", "trashmonitor.monitor.msgspec_lean")
    )
    ours = sum(extra.pop(name) for name in list(extra) if name.startswith("trashmonitor"))
    # What msgspec alone pulls in (uuid, decimal…) stays in "other":
    # -X importtime does not say who asked first.
    print("imports beyond bare's json + urllib.request (least self time of the runs)")
    print(f"  trashmonitor.monitor.model (NamedTuples)   {model / 1000:6.1f} ms")
    print(f"  msgspec + mediamtx_fast (first large page) {msgspec / 1000:6.1f} ms")
    print(f"  the package's other modules                {ours / 1000:6.1f} ms")
    print(f"  other modules (standard library, msgspec's) {sum(extra.values()) / 1000:5.1f} ms")
    largest = sorted(extra.items(), key=lambda item: -item[1])[:6]
    print("    largest: " + ", ".join(f"{name} {micros / 1000:.1f}" for name, micros in largest))


def main() -> None:
    args = options(__doc__.splitlines()[0], {"runs": 2}, runs=10)
    compile_package()
    python, bare, probe = alternating(
        [[sys.executable, "-c", "pass"], [sys.executable, "-c", BARE_START],
         [*TRASHMON, "probe", "--help"]],
        args.runs,
    )  # fmt: skip
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
    print(f"probe cold start, median of {args.runs} runs     wall ms   CPU ms   ratio CPU, wall")
    for label, runs_of, note in (
        ("python -c pass", python, ""),
        ("python -c 'import json, urllib.request'", bare, ""),
        ("trashmon probe --help", probe, ratios(probe, bare) + "  (to bare's imports)"),
    ):
        cpu, wall = medians(runs_of)
        print(f"  {label:<39}{wall * 1000:6.0f} ms {cpu * 1000:6.0f} ms   {note}".rstrip())
    print(f"  import trashmonitor.monitor.probe_cli  {module_ms:6.0f} ms (-X importtime)")
    http_ms = sum(cumulative.get(name, 0) for name in ("http.client", "urllib.request")) / 1000
    print(f"    of which http.client, urllib.request {http_ms:6.0f} ms")
    print(f"  heavy modules imported: {', '.join(heavy) or 'none'}")
    import_shares(args.runs)


if __name__ == "__main__":
    main()
