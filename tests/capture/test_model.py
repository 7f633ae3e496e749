"""capture/model.py: what its values do beyond holding fields.

Most of the model is construction only (events, requests, verdicts: their use is tested
with the step that makes or reads them, e.g. test_machine.py, test_control.py). What
behaviour the values have is tested here: the counters' sums, the black-picture
threshold, the restart counts, the snapshot's reasons and change key, a buffer file's
identity, the contract's names, immutability, and the module's standard-library-only
imports. The state document rendered from a snapshot is test_snapshot.py's.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import sys
from types import MappingProxyType

import pytest
from support.processes import REPO

from trashmonitor.capture.model import (
    RESTART_REASONS,
    DeviceInfo,
    FileEntry,
    Machine,
    Policy,
    ProgressBlock,
    State,
    Totals,
)

from .harness import snapshot


def test_totals_add_a_block_counting_what_ffmpeg_left_out_as_zero() -> None:
    before = Totals(frames=10, dropped=1, duplicated=2, output_bytes=1000)
    block = ProgressBlock(frame=5, drop_frames=None, dup_frames=3, total_size=500)
    assert before.plus(block) == Totals(frames=15, dropped=1, duplicated=5, output_bytes=1500)
    assert before.plus(ProgressBlock()) == before
    assert before.plus(None) is before


def test_machine_totals_are_the_finished_runs_plus_the_running_one() -> None:
    finished = Totals(frames=100, dropped=4, duplicated=0, output_bytes=9000)
    idle = Machine(finished_runs=finished)
    assert idle.totals == finished
    running = dataclasses.replace(idle, last_block=ProgressBlock(frame=7, total_size=70))
    assert running.totals == Totals(frames=107, dropped=4, duplicated=0, output_bytes=9070)


def test_machine_is_black_once_the_picture_was_black_for_black_seconds() -> None:
    policy = Policy(black_seconds=2.0)
    assert not Machine().black(100.0, policy)
    black = Machine(black_since=10.0)
    assert not black.black(11.999, policy)
    assert black.black(12.0, policy)
    assert black.black(50.0, policy)
    assert not black.black(50.0, Policy(black_seconds=60.0))


def test_a_new_machine_counts_every_restart_reason_from_zero_read_only() -> None:
    machine = Machine()
    assert dict(machine.restarts) == dict.fromkeys(RESTART_REASONS, 0)
    assert machine.restarts_total() == 0
    with pytest.raises(TypeError):
        machine.restarts["exited"] = 1  # type: ignore[index]
    counted = Machine(restarts=MappingProxyType({"exited": 2, "stalled": 1, "publish_failed": 4}))
    assert counted.restarts_total() == 7


def test_snapshot_image_reasons_name_black_before_frozen() -> None:
    assert snapshot(black=False, frozen=False).image_reasons == ()
    assert snapshot(black=True, frozen=False).image_reasons == ("black_image",)
    assert snapshot(black=False, frozen=True).image_reasons == ("frozen_image",)
    assert snapshot(black=True, frozen=True).image_reasons == ("black_image", "frozen_image")


def test_snapshot_change_key_moves_with_what_is_announced_only() -> None:
    base = snapshot()
    unplugged = DeviceInfo("/dev/video0", present=False)
    # Not worth announcing: figures that change with every progress block.
    for figures in ({"fps": 3.0}, {"frames": 99_999}, {"ts": base.ts + 60}, {"restarts": 9}):
        assert snapshot(**figures).change_key == base.change_key, figures
    # Worth announcing: the state, its reason, the picture, the device's presence.
    for change in (
        {"state": State.STALLED},
        {"reason": "stalled"},
        {"black": not base.black},
        {"frozen": not base.frozen},
        {"device": unplugged},
    ):
        assert snapshot(**change).change_key != base.change_key, change


def test_a_buffer_file_is_known_by_name_and_modification_time() -> None:
    first = FileEntry("seg000.ts", size=1000, mtime=100.0)
    assert first.key == ("seg000.ts", 100.0)
    assert FileEntry("seg000.ts", size=5000, mtime=100.0).key == first.key
    # The buffer wrapped (or ffmpeg restarted): the same name is a new segment.
    assert FileEntry("seg000.ts", size=1000, mtime=160.0).key != first.key


def _contract_list(row_name: str) -> set[str]:
    """The comma-separated names in parentheses on a docs/contracts.md table row."""
    text = (REPO / "docs" / "contracts.md").read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith(f"| `{row_name}`"))
    listed = re.search(r"\(([a-z_]+(?:, [a-z_]+)+)\)|of ([a-z_]+(?:, [a-z_]+)+)", row)
    assert listed is not None, row
    return set((listed.group(1) or listed.group(2)).split(", "))


def test_states_and_restart_reasons_are_the_contract_names() -> None:
    assert {str(state) for state in State} == _contract_list("trashcam_state")
    assert set(RESTART_REASONS) == _contract_list("trashcam_restarts_total")


def test_snapshots_and_machines_cannot_be_changed_in_place() -> None:
    # Listeners on other threads keep snapshots; the machine is only ever replaced.
    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot().state = State.STOPPED  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Machine().failures = 3  # type: ignore[misc]


def _run_time_imports(tree: ast.Module) -> set[str]:
    """Top-level modules imported when the module runs (not under ``if TYPE_CHECKING``)."""
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            found.add(node.module)
    return found


def test_the_model_imports_the_standard_library_and_the_shared_backoff_only() -> None:
    tree = ast.parse((REPO / "capture" / "model.py").read_text(encoding="utf-8"))
    imported = _run_time_imports(tree)
    outside = {
        name
        for name in imported
        if name.split(".")[0] not in sys.stdlib_module_names and name != "__future__"
    }
    assert outside == {"trashmonitor.backoff"}
