"""The playback probe (`trashmon probe --play`): time to the first decoded frame on a
healthy stream with 1 s keyframes (target ≤ 2 s), and time to report a server that
accepts and never sends (target: within the pull's deadline).

HLS written by ffmpeg, served through the real Caddy, and RTSP from GStreamer's RTSP
server (tests/support/play_sources.py); the never-sending server is a TCP listener,
pulled over RTSP and HLS. Prints, asserts nothing.

    .venv/bin/python bench/play_probe.py [--runs 5] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.play_sources import HEALTHY, Origin, hls_behind_caddy, rtsp_server, write_hls
from support.sockets import silent_server

from trashmonitor.monitor.play import PlayLimits, play_all

LIMITS = PlayLimits(seconds=2, first_frame_max=2.0, io_timeout=3.0)


def figures(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} s, max {max(values):.2f} s (n={len(values)})"


def print_first_frames(source: str, template: str, transport: str, runs: int) -> None:
    """Time to the first decoded frame of the healthy stream, ``runs`` pulls."""
    first_frames: list[float] = []
    for _ in range(runs):
        (result,) = play_all(["healthy"], [(transport, template)], LIMITS)
        if result.first_frame_seconds is not None:
            first_frames.append(result.first_frame_seconds)
    print(
        f"healthy {source}, 1 s keyframes: first frame "
        + (figures(first_frames) if first_frames else "never (not playable)")
        + " (target ≤ 2 s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="tiny run: checks it works")
    args = parser.parse_args()
    runs = 1 if args.quick else args.runs
    with tempfile.TemporaryDirectory(prefix="play-bench-") as scratch:
        root = Path(scratch) / "hls"
        write_hls(root / "healthy", HEALTHY, seconds=6)
        with hls_behind_caddy(Origin(root), Path(scratch)) as base:
            print_first_frames("HLS through Caddy", f"{base}/{{name}}/index.m3u8", "hls", runs)
        with rtsp_server(Path(scratch)) as rtsp:
            print_first_frames("RTSP from GStreamer's RTSP server", rtsp, "rtsp", runs)
        with silent_server() as port:
            for transport, template in (
                ("rtsp", f"rtsp://127.0.0.1:{port}/{{name}}"),
                ("hls", f"http://127.0.0.1:{port}/{{name}}/index.m3u8"),
            ):
                took: list[float] = []
                for _ in range(runs):
                    started = time.monotonic()
                    (result,) = play_all(["cam"], [(transport, template)], LIMITS)
                    took.append(time.monotonic() - started)
                print(
                    f"never-sending server over {transport}: reported {result.verdict} in "
                    f"{figures(took)} (deadline {LIMITS.deadline:g} s, ffmpeg I/O timeout "
                    f"{LIMITS.io_timeout:g} s)"
                )


if __name__ == "__main__":
    main()
