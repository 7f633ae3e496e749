"""Control round trip over a real mosquitto (mTLS) to a real agent process.

Prints command -> event latency for a setting (validated and applied to the C920 control
table) and for `picture` (decodes the newest buffered segment with ffmpeg). Nothing is
asserted.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.mosquitto import (  # noqa: E402
    Broker,
    Recorder,
    agent_argv,
    client_settings,
    make_pki,
    recorder,
    segment_writer_argv,
    start_agent,
)
from support.processes import free_port, stop_process, wait_until  # noqa: E402

from trashmonitor.mqtt import CameraTopics  # noqa: E402

TOPICS = CameraTopics("camA")
C920 = ROOT / "tests" / "capture" / "fixtures" / "c920-list-ctrls-menus.txt"


def round_trip(controller: Recorder, topic: str, payload: str) -> tuple[float, dict]:  # type: ignore[type-arg]
    sent = time.monotonic()
    controller.publish(topic, payload)
    event = controller.wait_for(lambda m: m.topic == TOPICS.events, 30, after=sent)
    assert event is not None
    return event.at - sent, json.loads(event.payload)


def summary(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (f"{name}: n={len(samples)} median {statistics.median(samples) * 1000:.1f} ms, "
            f"p95 {p95 * 1000:.1f} ms, max {ordered[-1] * 1000:.1f} ms")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--settings", type=int, default=50)
    parser.add_argument("--pictures", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="tiny run: checks it works")
    options = parser.parse_args()
    if options.quick:
        options.settings, options.pictures = 3, 1
    work = Path(tempfile.mkdtemp(prefix="bench-mqtt-control-"))
    port = free_port()
    layout = make_pki(work / "pki", port)
    buffer_dir = work / "buffer"
    buffer_dir.mkdir()
    writer = subprocess.Popen(segment_writer_argv(buffer_dir), stderr=subprocess.DEVNULL)
    broker = Broker(layout, port, work / "mosquitto.log")
    broker.start()
    agent = start_agent(
        agent_argv(layout, "camA", port, "--controls-file", str(C920),
                   "--buffer-dir", str(buffer_dir), "--captures-dir", str(work / "captures"),
                   "--captures-min-free", "1"),
        work / "agent.log",
    )  # fmt: skip
    try:
        wait_until(lambda: len(list(buffer_dir.glob("*.ts"))) >= 3, 20)
        settings = client_settings(layout, "controller", port)
        with recorder(settings, "bench", (TOPICS.events, TOPICS.status)) as controller:
            assert controller.wait_for(lambda m: m.payload == b"online", 15)
            samples = []
            for i in range(options.settings):
                elapsed, event = round_trip(controller, TOPICS.settings, f"brightness {i % 256}")
                assert event["ok"], event
                samples.append(elapsed)
                time.sleep(0.25)  # under the agent's rate limit (5/s)
            print(summary("setting 'brightness N' -> event", samples))
            refused = []
            for _ in range(10):
                elapsed, event = round_trip(controller, TOPICS.settings, "focus_absolute 100")
                assert not event["ok"]
                refused.append(elapsed)
                time.sleep(0.25)
            print(summary("refused setting -> error event", refused))
            pictures = []
            for _ in range(options.pictures):
                elapsed, event = round_trip(controller, TOPICS.action, "picture")
                assert event["ok"], event
                pictures.append(elapsed)
                time.sleep(0.25)
            print(summary("'picture' -> event with the JPEG (320x240 buffer)", pictures))
    finally:
        stop_process(agent)
        broker.stop()
        stop_process(writer)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
