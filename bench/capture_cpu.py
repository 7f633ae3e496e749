"""Capture agent cost at 720p/15: agent CPU ÷ its ffmpeg's CPU, agent RSS, and the CPU
that inline blackdetect+freezedetect add to ffmpeg. Figures printed, nothing asserted.

    .venv/bin/python bench/capture_cpu.py [--seconds 30]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from capture_common import Peer, start_agent_process, stop_agent_process
from scaffold import live_threads_cpu_seconds, options, rss_bytes
from support.processes import children_of, free_port

SIZE = ["--width", "1280", "--height", "720", "--fps", "15"]


def measure(directory: Path, seconds: float, image_health: str) -> dict[str, float]:
    peer = Peer(free_port(), directory / f"peer-{image_health}.log").start()
    agent = start_agent_process(
        directory, "--camera-dev", "testsrc", "--push-url", peer.url, *SIZE,
        "--image-health", image_health, name=f"agent-{image_health}",
    )  # fmt: skip
    try:
        agent.wait_state("streaming", 30)
        ffmpeg = agent.ffmpeg_pid()
        time.sleep(3)  # past start-up (imports, encoder init)
        cpu = live_threads_cpu_seconds
        agent0, ffmpeg0, wall0 = cpu(agent.proc.pid), cpu(ffmpeg), time.monotonic()
        time.sleep(seconds)
        agent1, ffmpeg1, wall1 = cpu(agent.proc.pid), cpu(ffmpeg), time.monotonic()
        assert children_of(agent.proc.pid) == [ffmpeg], "ffmpeg restarted during the bench"
        return {
            "wall": wall1 - wall0,
            "agent": agent1 - agent0,
            "ffmpeg": ffmpeg1 - ffmpeg0,
            "rss": rss_bytes(agent.proc.pid),
            "fps": agent.value("trashcam_fps") or 0.0,
        }
    finally:
        stop_agent_process(agent.proc)
        peer.stop()


def main() -> None:
    args = options(__doc__, {"seconds": 3.0}, seconds=30.0)
    seconds = args.seconds
    with tempfile.TemporaryDirectory() as tmp:
        on = measure(Path(tmp), seconds, "on")
        off = measure(Path(tmp), seconds, "off")
    wall = on["wall"]
    print(f"capture agent at 1280x720 @ 15 fps (testsrc2, libx264 ultrafast), {wall:.0f} s")
    print(f"  ffmpeg CPU:            {100 * on['ffmpeg'] / wall:6.1f} % of a core")
    print(f"  agent CPU:             {100 * on['agent'] / wall:6.2f} % of a core")
    ratio = 100 * on["agent"] / on["ffmpeg"]
    print(f"  agent / ffmpeg CPU:    {ratio:6.2f} %   (target <= 2 %)")
    print(f"  agent RSS:             {on['rss'] / 2**20:6.1f} MiB")
    print(f"  reported fps:          {on['fps']:6.2f}")
    overhead = 100 * (on["ffmpeg"] / on["wall"] - off["ffmpeg"] / off["wall"])
    print(f"  ffmpeg CPU, image health off: {100 * off['ffmpeg'] / off['wall']:6.1f} % of a core")
    print(f"  blackdetect+freezedetect cost: {overhead:+6.2f} % of a core (target <= +2 %)")


if __name__ == "__main__":
    main()
