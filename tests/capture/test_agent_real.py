"""The agent with real ffmpeg publishing to a real RTSP peer on loopback, and its faults.

Timing assertions are functional bounds with wide margins (the CI shares two cores);
the figures themselves are measured by bench/capture_faults.py.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from support.http import http_get
from support.processes import (
    children_of,
    pid_alive,
    promtool_check_metrics,
    require_binary,
    wait_until,
)

from trashmonitor.capture import Agent, AgentSnapshot, config_from
from trashmonitor.capture.snapshot import state_message

from .conftest import StartAgent
from .harness import SMALL, AgentProcess, Peer, proc_state, python_script

pytestmark = pytest.mark.slow


def streaming_agent(start_agent: StartAgent, peer: Peer, *extra: str) -> AgentProcess:
    peer.start()
    agent: AgentProcess = start_agent(
        "--camera-dev", "testsrc", "--push-url", peer.url, *SMALL, *extra
    )
    agent.wait_state("streaming", 30)
    return agent


def gone(pid: int) -> bool:
    """Not running and reaped: no zombie left in /proc."""
    return proc_state(pid) is None


def streams_again_from_a_new_ffmpeg(
    agent: AgentProcess, peer: Peer, first: int, reason: str, what: str
) -> None:
    """The agent counts one restart for ``reason``, ffmpeg ``first`` is reaped (``what``),
    and a replacement streams to a fresh peer (the listen-mode peer takes one publisher)."""
    wait_until(lambda: agent.value("trashcam_restarts_total", reason=reason) == 1, 20, what=reason)
    wait_until(lambda: gone(first), 10, what=what)
    peer.stop()
    peer.start()
    agent.wait_state("streaming", 30)
    assert agent.ffmpeg_pid() != first


def test_streams_testsrc_and_reports_the_configured_fps(
    start_agent: StartAgent, peer: Peer
) -> None:
    agent = streaming_agent(start_agent, peer)
    wait_until(lambda: (agent.value("trashcam_frames_total") or 0) > 40, 30, what="frames")
    fps = wait_until(
        lambda: (v := agent.value("trashcam_fps")) and 8.5 <= v <= 11.5 and v, 20, what="fps≈10"
    )
    assert agent.value("trashcam_target_fps") == 10
    assert 8.5 <= fps <= 11.5
    assert agent.value("trashcam_last_progress_timestamp_seconds") == pytest.approx(
        time.time(), abs=10
    )
    assert agent.value("trashcam_device_present") == 1
    assert agent.value("trashcam_black_image") == 0
    assert agent.value("trashcam_restarts_total", reason="exited") == 0
    status, health = http_get(f"http://127.0.0.1:{agent.metrics_port}/healthz")
    assert status == 200
    assert b'"state":"streaming"' in health
    status, exposition = http_get(f"http://127.0.0.1:{agent.metrics_port}/metrics")
    assert status == 200
    assert promtool_check_metrics(exposition) == (0, "")


def test_peer_not_listening_at_start_then_recovers(start_agent: StartAgent, peer: Peer) -> None:
    agent = start_agent("--camera-dev", "testsrc", "--push-url", peer.url, *SMALL)
    wait_until(
        lambda: (agent.value("trashcam_restarts_total", reason="exited") or 0) >= 2,
        30,
        what="failed attempts counted",
    )
    assert agent.state() in ("backoff", "starting")
    assert (agent.value("trashcam_consecutive_failures") or 0) >= 2
    peer.start()
    agent.wait_state("streaming", 30)
    assert "state backoff (exited)" in agent.log()


def test_peer_killed_mid_stream_backs_off_and_recovers(start_agent: StartAgent, peer: Peer) -> None:
    agent = streaming_agent(start_agent, peer)
    first = agent.ffmpeg_pid()
    peer.stop()
    streams_again_from_a_new_ffmpeg(agent, peer, first, "exited", "old ffmpeg reaped")


def test_sigstopped_ffmpeg_is_stalled_killed_and_replaced(
    start_agent: StartAgent, peer: Peer
) -> None:
    agent = streaming_agent(start_agent, peer)
    first = agent.ffmpeg_pid()
    agent_stalled_before = agent.value("trashcam_restarts_total", reason="stalled")
    os.kill(first, signal.SIGSTOP)
    assert agent_stalled_before == 0
    # a stopped process ignores SIGTERM: only the SIGKILL step can have ended it
    wait_until(lambda: f"ffmpeg (pid {first}) stopped: SIGKILL" in agent.log(), 35, what="kill")
    streams_again_from_a_new_ffmpeg(agent, peer, first, "stalled", "stopped ffmpeg reaped")


def test_sigkilled_ffmpeg_is_reaped_and_replaced(start_agent: StartAgent, peer: Peer) -> None:
    agent = streaming_agent(start_agent, peer)
    first = agent.ffmpeg_pid()
    os.kill(first, signal.SIGKILL)
    streams_again_from_a_new_ffmpeg(
        agent, peer, first, "exited", "killed ffmpeg reaped (no zombie)"
    )


def test_frozen_peer_with_tcp_open_is_detected_once_progress_stops(
    start_agent: StartAgent, peer: Peer
) -> None:
    """SIGSTOP the server: ffmpeg keeps writing until the socket buffers fill, then
    blocks; progress stops and the watchdog fires. An incompressible noise picture at a
    high bitrate fills the ~2.7 MB of loopback buffers in seconds instead of minutes."""
    noise = "lavfi:testsrc2=size=320x240:rate=10,noise=alls=100:allf=t"
    agent = streaming_agent(start_agent, peer, "--bitrate", "8M", "--camera-dev", noise)
    first = agent.ffmpeg_pid()
    peer.signal(signal.SIGSTOP)
    frozen_at = time.monotonic()
    wait_until(
        lambda: agent.value("trashcam_restarts_total", reason="stalled") == 1,
        90,
        0.2,
        "stall after the peer froze",
    )
    noticed = time.monotonic() - frozen_at
    print(f"frozen peer -> agent stalled after {noticed:.1f} s")
    wait_until(lambda: gone(first), 15, what="blocked ffmpeg ended")
    # the agent keeps cycling (never hangs) while the peer is frozen, then recovers
    peer.stop()
    peer.start()
    agent.wait_state("streaming", 40)
    assert agent.proc.poll() is None


def test_agent_sigterm_while_ffmpeg_is_stuck_exits_and_leaves_nothing(
    start_agent: StartAgent, peer: Peer
) -> None:
    agent = streaming_agent(start_agent, peer)
    stuck = agent.ffmpeg_pid()
    os.kill(stuck, signal.SIGSTOP)
    started = time.monotonic()
    agent.proc.send_signal(signal.SIGTERM)
    code = agent.proc.wait(20)
    took = time.monotonic() - started
    assert code == 0, agent.log()
    assert took < 15, took
    assert gone(stuck)
    assert "state stopped" in agent.log()


def test_black_then_frozen_picture_detected_and_cleared(
    start_agent: StartAgent, peer: Peer
) -> None:
    # 10 fps: black from 2 s to 6 s; frames 80-120 repeat frame 80 (frozen 8-12 s).
    graph = (
        "lavfi:testsrc2=size=320x240:rate=10,"
        "drawbox=enable='between(t,2,6)':color=black:t=fill,"
        "split[a][b];[a][b]freezeframes=first=80:last=120:replace=80"
    )
    agent = streaming_agent(start_agent, peer, "--camera-dev", graph)
    wait_until(lambda: agent.value("trashcam_black_image") == 1, 20, 0.1, "black")
    wait_until(lambda: agent.value("trashcam_black_image") == 0, 20, 0.1, "black cleared")
    wait_until(
        lambda: (
            agent.value("trashcam_frozen_image") == 1 and agent.value("trashcam_black_image") == 0
        ),
        20,
        0.1,
        "frozen",
    )
    wait_until(lambda: agent.value("trashcam_frozen_image") == 0, 20, 0.1, "frozen cleared")
    log = agent.log()
    assert "image=black_image" in log
    assert "image=frozen_image" in log
    assert agent.state() == "streaming"


def test_buffer_records_while_the_server_is_unreachable(
    start_agent: StartAgent, peer: Peer, tmp_path: Path
) -> None:
    buffer = tmp_path / "run" / "buffer"  # created by the agent
    agent = start_agent(
        "--camera-dev", "testsrc", "--push-url", peer.url, *SMALL,
        "--buffer-dir", str(buffer), "--buffer-segments", "5",
        "--backoff-initial", "3", "--backoff-max", "4",
    )  # fmt: skip
    wait_until(
        lambda: (agent.value("trashcam_restarts_total", reason="publish_failed") or 0) >= 1,
        20,
        what="publish failure seen",
    )
    assert agent.state() in ("backoff", "starting")
    wait_until(lambda: len(list(buffer.glob("seg*.ts"))) >= 2, 20, what="segments")
    ffprobe = require_binary("ffprobe")
    segment = sorted(buffer.glob("seg*.ts"))[0]
    probe = subprocess.run(
        [ffprobe, "-v", "error", "-show_entries", "stream=codec_name,width,height",
         "-of", "csv=p=0", str(segment)],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    assert {line for line in probe.stdout.splitlines() if line} == {"h264,320,240"}
    assert (buffer / "buffer.m3u8").exists()
    peer.start()
    agent.wait_state("streaming", 30)
    wait_until(lambda: len(list(buffer.glob("seg*.ts"))) == 5, 20, what="wrapped at 5")


def test_garbage_from_ffmpeg_is_survived(start_agent: StartAgent, tmp_path: Path) -> None:
    fake = python_script(
        tmp_path / "fake-ffmpeg",
        """
import sys, time
out, err = sys.stdout.buffer, sys.stderr.buffer
err.write(b"\\xff\\xfe\\x80 not utf-8 at all\\n" + b"E" * 2_000_000 + b"\\n")
err.write(b"[Parsed_metadata_1 @ 0x1] lavfi.black_start=\\xff\\n")
out.write(b"garbage without equals\\n" + b"=" * 100_000 + b"\\nframe=oops\\nprogress=continue\\n")
out.flush(); err.flush()
for n in range(1, 100000):
    out.write(b"frame=%d\\nfps=10.0\\nspeed=1.0x\\ntotal_size=N/A\\nprogress=continue\\n" % (n * 5))
    out.write(b"\\x00\\x01\\x02\\n" + b"k" * 70_000 + b"=v\\n")
    out.flush()
    time.sleep(0.5)
""",
    )
    agent = start_agent(
        "--camera-dev", "testsrc", "--push-url", "rtsp://127.0.0.1:9/x", *SMALL,
        "--ffmpeg", str(fake),
    )  # fmt: skip
    agent.wait_state("streaming", 20)
    wait_until(lambda: (agent.value("trashcam_frames_total") or 0) >= 15, 20, what="frames")
    assert agent.value("trashcam_fps") == 10.0
    assert agent.proc.poll() is None
    assert "Traceback" not in agent.log()


def test_ready_and_watchdog_notifications(
    start_agent: StartAgent, peer: Peer, tmp_path: Path
) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(tmp_path / "notify"))
        sock.settimeout(20)
        peer.start()
        start_agent(
            "--camera-dev", "testsrc", "--push-url", peer.url, *SMALL,
            env={"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "1000000"},
        )  # fmt: skip
        messages: list[bytes] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and messages.count(b"WATCHDOG=1") < 3:
            messages.append(sock.recv(4096))
    assert b"READY=1" in messages
    assert messages.index(b"READY=1") > messages.index(b"STATUS=streaming (progress)")
    assert messages[0] == b"STATUS=starting (initial)"
    assert messages.count(b"WATCHDOG=1") >= 3


def test_unplugged_device_waits_without_a_restart_storm(
    start_agent: StartAgent, tmp_path: Path
) -> None:
    """No V4L2 here: the "device" is a symlink to /dev/null (a character device that
    ffmpeg's v4l2 input rejects), created and removed to play plug and unplug."""
    node = tmp_path / "video0"
    agent = start_agent("--camera-dev", str(node), "--push-url", "rtsp://127.0.0.1:9/x", *SMALL)
    agent.wait_state("device_missing", 10)
    assert agent.value("trashcam_device_present") == 0
    time.sleep(2)
    assert agent.value("trashcam_restarts_total", reason="exited") == 0
    assert not children_of(agent.proc.pid)  # no ffmpeg is tried while it is absent
    node.symlink_to("/dev/null")
    wait_until(lambda: agent.value("trashcam_device_present") == 1, 10, what="plugged")
    wait_until(
        lambda: (agent.value("trashcam_restarts_total", reason="exited") or 0) >= 1,
        20,
        what="ffmpeg tried the device",
    )
    node.unlink()
    agent.wait_state("device_missing", 15)
    settled = agent.value("trashcam_restarts_total", reason="exited")
    time.sleep(3)
    assert agent.value("trashcam_restarts_total", reason="exited") == settled
    assert agent.state() == "device_missing"


def test_ffmpeg_dies_with_a_sigkilled_agent(start_agent: StartAgent, peer: Peer) -> None:
    """SIGKILL gives the agent no chance to clean up: PR_SET_PDEATHSIG ends ffmpeg."""
    agent = streaming_agent(start_agent, peer)
    orphan = agent.ffmpeg_pid()
    agent.proc.kill()
    agent.proc.wait(10)
    wait_until(lambda: not pid_alive(orphan), 10, what="ffmpeg ended with its agent")


def test_in_process_api_listener_snapshot_and_stop(peer: Peer, tmp_path: Path) -> None:
    """What the MQTT side builds on: listeners on change, snapshot() from any thread."""
    peer.start()
    config = config_from(
        "cam1",
        {"CAMERA_DEV": "testsrc", "PUSH_URL": peer.url, "WIDTH": "320", "HEIGHT": "240",
         "FPS": "10", "METRICS_ADDR": "127.0.0.1:0"},
    )  # fmt: skip
    agent = Agent(config)
    assert agent.device is None  # synthetic source: no V4L2 controls
    seen: list[AgentSnapshot] = []
    agent.add_listener(seen.append)

    def broken(_snapshot: AgentSnapshot) -> None:
        raise ZeroDivisionError("a broken listener")  # which must not hurt the agent

    agent.add_listener(broken)
    runner = threading.Thread(target=agent.run)
    runner.start()
    try:
        wait_until(lambda: agent.snapshot().state == "streaming", 30, what="streaming")
        wait_until(lambda: (agent.snapshot().frames or 0) > 10, 20, what="frames")
        current = agent.snapshot()
        assert current.ffmpeg_pid is not None
        assert state_message(current)["device"]["driver"] == "lavfi"
    finally:
        agent.request_stop()
        runner.join(20)
    assert not runner.is_alive()
    assert [str(snap.state) for snap in seen] == ["starting", "streaming", "stopped"]
    assert seen[1].change_key != seen[0].change_key
    assert agent.snapshot().ffmpeg_pid is None
    assert not pid_alive(current.ffmpeg_pid)


@pytest.mark.slow
def test_streaming_agent_reports_the_bitrate_it_was_told(
    start_agent: StartAgent, peer: Peer, tmp_path: Path
) -> None:
    """Real ffmpeg publishing over RTSP with the tee'd buffer, BITRATE=200k: the gauge
    says about 200 kbit/s (x264 at ultrafast, MPEG-TS overhead: a wide band)."""
    peer.start()
    agent = start_agent(
        "--camera-dev", "testsrc", "--push-url", peer.url, *SMALL, "--bitrate", "200k",
        "--buffer-dir", str(tmp_path / "buffer"), "--buffer-segments", "10",
    )  # fmt: skip
    agent.wait_state("streaming", 30)
    assert agent.value("trashcam_output_bytes_total") == 0  # ffmpeg says N/A for RTSP/tee
    bytes_per_second = wait_until(
        lambda: agent.value("trashcam_bitrate_bytes_per_second"), 30, what="bitrate"
    )
    assert 100_000 / 8 < bytes_per_second < 400_000 / 8
