"""server/entrypoint as a real process, with stand-ins for mediamtx, caddy and trashmon."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from support.processes import REPO, pid_alive, require_binary, stop_process, wait_until

ENTRYPOINT = REPO / "server" / "entrypoint"

# A stand-in records its pid and arguments, records SIGTERM, and can be told through
# the environment to exit on its own or to ignore SIGTERM.
STANDIN = """#!/usr/bin/env bash
name=$(basename "$0")
echo "$$ $*" > "$STANDIN_DIR/$name.started"
exit_var="STANDIN_EXIT_$name"
ignore_var="STANDIN_IGNORE_TERM_$name"
if [[ -n ${!ignore_var:-} ]]; then
  trap 'echo term > "$STANDIN_DIR/$name.term"' TERM
else
  trap 'echo term > "$STANDIN_DIR/$name.term"; exit 0' TERM
fi
if [[ -n ${!exit_var:-} ]]; then
  for other in mediamtx caddy trashmon; do
    while [[ ! -e $STANDIN_DIR/$other.started ]]; do sleep 0.05; done
  done
  exit "${!exit_var}"
fi
while :; do sleep 0.1; done
"""

NAMES = ("mediamtx", "caddy", "trashmon")


@pytest.fixture
def standins(tmp_path: Path) -> dict[str, str]:
    for name in NAMES:
        path = tmp_path / name
        path.write_text(STANDIN)
        path.chmod(0o755)
    return {
        "STANDIN_DIR": str(tmp_path),
        "TRASHMON_MEDIAMTX_BIN": str(tmp_path / "mediamtx"),
        "TRASHMON_CADDY_BIN": str(tmp_path / "caddy"),
        "TRASHMON_BIN": str(tmp_path / "trashmon"),
        "TRASHMON_STOP_GRACE": "5",
    }


def start(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([str(ENTRYPOINT)], env={**os.environ, **env}, stderr=subprocess.PIPE)


def started(directory: Path) -> dict[str, tuple[int, str]]:
    """name -> (pid, arguments) of every stand-in that has started."""
    result = {}
    for name in NAMES:
        marker = directory / f"{name}.started"
        if marker.exists() and marker.read_text().strip():
            pid, _, args = marker.read_text().strip().partition(" ")
            result[name] = (int(pid), args)
    return result


def all_started(directory: Path) -> dict[str, tuple[int, str]]:
    return wait_until(
        lambda: (found := started(directory)) and len(found) == 3 and found,
        timeout=15,
        what="three stand-ins started",
    )


def test_entrypoint_passes_shellcheck():
    result = subprocess.run(
        [require_binary("shellcheck"), str(ENTRYPOINT)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout


def test_starts_all_three_with_their_configs(standins, tmp_path):
    proc = start(
        {**standins, "TRASHMON_MEDIAMTX_CONFIG": "/cfg/m.yml", "TRASHMON_CADDYFILE": "/cfg/C"}
    )
    try:
        found = all_started(tmp_path)
        assert found["mediamtx"][1] == "/cfg/m.yml"
        assert found["caddy"][1] == "run --config /cfg/C --adapter caddyfile"
        assert found["trashmon"][1] == "monitor"
    finally:
        stop_process(proc)


def test_a_child_that_exits_stops_the_others_and_fails_the_container(standins, tmp_path):
    proc = start({**standins, "STANDIN_EXIT_caddy": "3"})
    try:
        code = proc.wait(20)
    finally:
        stop_process(proc)
    found = started(tmp_path)
    assert code == 3
    for name in ("mediamtx", "trashmon"):
        assert (tmp_path / f"{name}.term").exists(), f"{name} was not sent SIGTERM"
        assert not pid_alive(found[name][0])
    assert b"caddy exited with status 3" in proc.stderr.read()  # type: ignore[union-attr]


def test_a_child_exiting_cleanly_still_fails_the_container(standins, tmp_path):
    proc = start({**standins, "STANDIN_EXIT_trashmon": "0"})
    try:
        code = proc.wait(20)
    finally:
        stop_process(proc)
    assert code != 0
    assert (tmp_path / "mediamtx.term").exists()


def test_sigterm_is_forwarded_to_every_child(standins, tmp_path):
    proc = start(standins)
    try:
        found = all_started(tmp_path)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(20)
    finally:
        stop_process(proc)
    assert code == 0
    for name in NAMES:
        assert (tmp_path / f"{name}.term").exists(), f"{name} did not get SIGTERM"
        assert not pid_alive(found[name][0])


def test_a_child_ignoring_sigterm_is_killed_after_the_grace_period(standins, tmp_path):
    proc = start({**standins, "STANDIN_IGNORE_TERM_mediamtx": "1", "TRASHMON_STOP_GRACE": "1"})
    try:
        found = all_started(tmp_path)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(20)
    finally:
        stop_process(proc)
    assert code == 0
    assert (tmp_path / "mediamtx.term").exists()
    assert not pid_alive(found["mediamtx"][0])
    assert b"mediamtx did not stop within 1s: SIGKILL" in proc.stderr.read()  # type: ignore[union-attr]


def test_a_bad_grace_setting_is_one_clear_line(standins):
    proc = start({**standins, "TRASHMON_STOP_GRACE": "soon"})
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 2
    assert (
        err.decode().strip()
        == "entrypoint: TRASHMON_STOP_GRACE: expected whole seconds, got 'soon'"
    )
