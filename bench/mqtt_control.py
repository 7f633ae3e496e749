"""Control round trip over a real mosquitto (mTLS) to a real agent process.

Prints command -> event latency for a setting (validated and applied to the C920 control
table) and for `picture` (decodes the newest buffered segment with ffmpeg). Nothing is
asserted.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from scaffold import options, summary_ms
from support import mosquitto
from support.processes import free_port, stop_process, wait_until

from trashmonitor.mqtt import CameraTopics

TOPICS = CameraTopics("camA")


def round_trip(controller: mosquitto.Recorder, topic: str, payload: str) -> tuple[float, dict]:  # type: ignore[type-arg]
    sent = time.monotonic()
    controller.publish(topic, payload)
    event = controller.wait_for(lambda m: m.topic == TOPICS.events, 30, after=sent)
    assert event is not None
    return event.at - sent, json.loads(event.payload)


def main() -> None:
    args = options(
        __doc__.splitlines()[0], {"settings": 3, "pictures": 1}, settings=50, pictures=10
    )
    work = Path(tempfile.mkdtemp(prefix="bench-mqtt-control-"))
    port = free_port()
    layout = mosquitto.make_pki(work / "pki", port)
    buffer_dir = work / "buffer"
    buffer_dir.mkdir()
    writer = subprocess.Popen(mosquitto.segment_writer_argv(buffer_dir), stderr=subprocess.DEVNULL)
    broker = mosquitto.Broker(layout, port, work / "mosquitto.log")
    broker.start()
    controls = mosquitto.control_options(buffer_dir, work / "captures")
    agent = mosquitto.start_agent(
        mosquitto.agent_argv(layout, "camA", port, *controls), work / "agent.log"
    )
    try:
        wait_until(lambda: len(list(buffer_dir.glob("*.ts"))) >= 3, 20)
        topics = (TOPICS.events, TOPICS.status)
        with mosquitto.online_recorder(layout, port, "bench", topics) as controller:
            samples = []
            for i in range(args.settings):
                elapsed, event = round_trip(controller, TOPICS.settings, f"brightness {i % 256}")
                assert event["ok"], event
                samples.append(elapsed)
                time.sleep(0.25)  # under the agent's rate limit (5/s)
            print(summary_ms("setting 'brightness N' -> event", samples))
            refused = []
            for _ in range(10):
                elapsed, event = round_trip(controller, TOPICS.settings, "focus_absolute 100")
                assert not event["ok"]
                refused.append(elapsed)
                time.sleep(0.25)
            print(summary_ms("refused setting -> error event", refused))
            pictures = []
            for _ in range(args.pictures):
                elapsed, event = round_trip(controller, TOPICS.action, "picture")
                assert event["ok"], event
                pictures.append(elapsed)
                time.sleep(0.25)
            print(summary_ms("'picture' -> event with the JPEG (320x240 buffer)", pictures))
    finally:
        stop_process(agent)
        broker.stop()
        stop_process(writer)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
