"""Server bundle figures: Caddy's HLS proxying cost and the viewer's size. Printed only.

Runs Debian's Caddy with server/Caddyfile in front of a loopback stand-in serving a 1 MB
MPEG-TS segment and a playlist, and compares direct and proxied fetches.
"""

from __future__ import annotations

import gzip
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from scaffold import REPO, options
from server.server_harness import Reply, StandIn, caddy_env, run_caddy, serve_standin

SEGMENT = bytes(range(188)) * (1_000_000 // 188)


def timed(client: httpx.Client, url: str, rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        response = client.get(url)
        response.raise_for_status()
        samples.append(time.perf_counter() - start)
    return samples


def report(name: str, samples: list[float], size: int) -> None:
    median = statistics.median(samples)
    p95 = statistics.quantiles(samples, n=20)[18]
    print(f"{name:32s} median {median * 1e3:7.2f} ms  p95 {p95 * 1e3:7.2f} ms  "
          f"{size / median / 1e6:8.1f} MB/s" if size > 1000 else
          f"{name:32s} median {median * 1e3:7.2f} ms  p95 {p95 * 1e3:7.2f} ms")  # fmt: skip


def main() -> None:
    rounds = options(__doc__, {"rounds": 20}, rounds=200).rounds
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        viewer = tmp / "viewer"
        subprocess.run(["node", str(REPO / "server/viewer/build.mjs"), str(viewer)], check=True,
                       capture_output=True)  # fmt: skip
        files = [p for p in viewer.rglob("*") if p.is_file() and "LICENSE" not in p.name]
        raw = sum(p.stat().st_size for p in files)
        packed = sum(len(gzip.compress(p.read_bytes(), 9)) for p in files)
        print(f"viewer bundle: {len(files)} files, {raw / 1024:.1f} KiB, ", end="")
        print(f"{packed / 1024:.1f} KiB gzipped (hls.light.min.js included)")

        hls, api, monitor = StandIn("hls"), StandIn("api"), StandIn("monitor")
        hls.routes["/cam1/seg.ts"] = Reply(200, "video/mp2t", SEGMENT)
        hls.routes["/cam1/index.m3u8"] = Reply(
            200, "application/vnd.apple.mpegurl", b"#EXTM3U\n" * 20
        )
        with serve_standin(hls), serve_standin(api), serve_standin(monitor):
            env, ports = caddy_env(api, hls, monitor, viewer, tls=None)
            with run_caddy(env, ports, tmp / "caddy.log"), httpx.Client() as client:
                for path, size in (("/cam1/seg.ts", len(SEGMENT)), ("/cam1/index.m3u8", 160)):
                    direct = timed(client, f"http://{hls.address}{path}", rounds)
                    report(f"direct {path}", direct, size)
                    report(f"via Caddy {path}", timed(client, f"{ports.base}{path}", rounds), size)


if __name__ == "__main__":
    main()
