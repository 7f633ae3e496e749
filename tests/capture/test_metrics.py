"""The agent's metrics (capture/metrics.py): names are the contract, values follow the
snapshot, promtool finds nothing."""

from __future__ import annotations

import re

from prometheus_client.exposition import generate_latest
from support.processes import REPO, promtool_check_metrics

from trashmonitor.capture.metrics import agent_registry
from trashmonitor.capture.model import RESTART_REASONS, State

from .harness import snapshot


def contract_names() -> set[str]:
    text = (REPO / "docs" / "contracts.md").read_text()
    section = text.split("## Capture agent metrics", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(trashcam_[a-z_]+)`", section, flags=re.MULTILINE))


def test_exported_names_are_exactly_the_contract() -> None:
    registry = agent_registry(snapshot)
    exported = {
        sample.name
        for family in registry.collect()
        for sample in family.samples
        if not sample.name.endswith("_created")
    }
    assert exported == contract_names()


def test_values_follow_the_snapshot() -> None:
    registry = agent_registry(snapshot)
    cam = {"camera": "cam1"}
    assert registry.get_sample_value("trashcam_state", {**cam, "state": "streaming"}) == 1
    assert registry.get_sample_value("trashcam_state", {**cam, "state": "stalled"}) == 0
    assert registry.get_sample_value("trashcam_fps", cam) == 14.9
    assert registry.get_sample_value("trashcam_frames_total", cam) == 1234
    assert registry.get_sample_value("trashcam_black_image", cam) == 1
    assert registry.get_sample_value("trashcam_frozen_image", cam) == 0
    assert registry.get_sample_value("trashcam_restarts_total", {**cam, "reason": "stalled"}) == 1
    for reason in RESTART_REASONS:
        assert registry.get_sample_value("trashcam_restarts_total", {**cam, "reason": reason}) in (
            0,
            1,
            2,
        )
    assert registry.get_sample_value("trashcam_bitrate_bytes_per_second", cam) == 200_000
    idle = agent_registry(
        lambda: snapshot(state=State.BACKOFF, fps=None, speed=None, bitrate_bps=None)
    )
    assert idle.get_sample_value("trashcam_bitrate_bytes_per_second", cam) is None
    assert idle.get_sample_value("trashcam_fps", cam) is None  # absent, not a stale 14.9
    assert idle.get_sample_value("trashcam_state", {**cam, "state": "backoff"}) == 1


def test_promtool_check_metrics_is_clean() -> None:
    assert promtool_check_metrics(generate_latest(agent_registry(snapshot))) == (0, "")
