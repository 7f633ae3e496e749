"""The agent's state document (capture/snapshot.py): the fields of the contract."""

from __future__ import annotations

from trashmonitor.capture.snapshot import state_message

from .harness import snapshot


def test_state_message_has_the_contract_fields() -> None:
    message = state_message(snapshot())
    assert set(message) == {
        "camera", "state", "fps", "target_fps", "speed", "restarts", "consecutive_failures",
        "bitrate_bps", "black", "frozen", "device", "ts",
    }  # fmt: skip
    assert message["consecutive_failures"] == 0
    assert state_message(snapshot(bitrate_bps=800_000.0))["bitrate_bps"] == 800_000.0
    assert message["state"] == "streaming"
    assert message["device"] == {
        "path": "/dev/video0", "present": True, "driver": "uvcvideo", "card": 'Cam "A"',
    }  # fmt: skip
