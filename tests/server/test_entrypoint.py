"""server/entrypoint as a real process, with stand-ins for mediamtx, caddy and trashmon."""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.processes import REPO, pid_alive, stop_process, wait_until

ENTRYPOINT = REPO / "server" / "entrypoint"

# A stand-in records its pid and arguments, records SIGTERM, and can be told through
# the environment to exit on its own or to ignore SIGTERM.
STANDIN = """#!/usr/bin/env bash
name=$(basename "$0")
wanted='^(MTX_|TRASHMON_MEDIAMTX_(BASIC_AUTH|CREDENTIALS_FILE)=|TRASHMON_CONTROL_PASSWORD|TRASHMON_HOOK_|TRASHMON_MONITOR_URL=)'
env | grep -E "$wanted" | sort > "$STANDIN_DIR/$name.env"
exit_var="STANDIN_EXIT_$name"
ignore_var="STANDIN_IGNORE_TERM_$name"
if [[ -n ${!ignore_var:-} ]]; then
  trap 'echo term > "$STANDIN_DIR/$name.term"' TERM
else
  trap 'echo term > "$STANDIN_DIR/$name.term"; exit 0' TERM
fi
# Announced only once the traps are set: a test may signal as soon as it reads this.
echo "$$ $*" > "$STANDIN_DIR/$name.started"
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
def entrypoint_env(tmp_path: Path) -> dict[str, str]:
    """The entrypoint's environment with stand-in children (tests/server/conftest.py's
    `standins` are HTTP servers: another thing)."""
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
        # A generated credentials file goes to a private directory under TMPDIR.
        "TMPDIR": str(tmp_path),
    }


def start(env: dict[str, str]) -> subprocess.Popen[bytes]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("TRASHMON_")}
    return subprocess.Popen([str(ENTRYPOINT)], env={**inherited, **env}, stderr=subprocess.PIPE)


@dataclass(frozen=True)
class Ended:
    code: int
    started: dict[str, tuple[int, str]]
    """The stand-ins that had started: name -> (pid, arguments)."""
    stderr: bytes


def run_to_the_end(env: dict[str, str], directory: Path, *, sigterm: bool = False) -> Ended:
    """The entrypoint until it exits by itself, or (``sigterm``) until it exits after a
    SIGTERM sent once all three stand-ins started."""
    proc = start(env)
    try:
        found = all_started(directory) if sigterm else {}
        if sigterm:
            proc.send_signal(signal.SIGTERM)
        code = proc.wait(20)
    finally:
        stop_process(proc)
    assert proc.stderr is not None
    return Ended(code, found or started(directory), proc.stderr.read())


def child_env(directory: Path, name: str) -> dict[str, str]:
    """The MTX_* and TRASHMON_MEDIAMTX_* variables a stand-in was started with."""
    lines = (directory / f"{name}.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines)


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


def test_starts_all_three_with_their_configs(
    entrypoint_env: dict[str, str], tmp_path: Path
) -> None:
    proc = start(
        {**entrypoint_env, "TRASHMON_MEDIAMTX_CONFIG": "/cfg/m.yml", "TRASHMON_CADDYFILE": "/cfg/C"}
    )
    try:
        found = all_started(tmp_path)
        assert found["mediamtx"][1] == "/cfg/m.yml"
        assert found["caddy"][1] == "run --config /cfg/C --adapter caddyfile"
        assert found["trashmon"][1] == "monitor"
    finally:
        stop_process(proc)


def test_a_child_that_exits_stops_the_others_and_fails_the_container(
    entrypoint_env: dict[str, str], tmp_path: Path
) -> None:
    ended = run_to_the_end({**entrypoint_env, "STANDIN_EXIT_caddy": "3"}, tmp_path)
    assert ended.code == 3
    for name in ("mediamtx", "trashmon"):
        assert (tmp_path / f"{name}.term").exists(), f"{name} was not sent SIGTERM"
        assert not pid_alive(ended.started[name][0])
    assert b"caddy exited with status 3" in ended.stderr


def test_a_child_exiting_cleanly_still_fails_the_container(
    entrypoint_env: dict[str, str], tmp_path: Path
) -> None:
    ended = run_to_the_end({**entrypoint_env, "STANDIN_EXIT_trashmon": "0"}, tmp_path)
    assert ended.code != 0
    assert (tmp_path / "mediamtx.term").exists()


def test_sigterm_is_forwarded_to_every_child(
    entrypoint_env: dict[str, str], tmp_path: Path
) -> None:
    ended = run_to_the_end(entrypoint_env, tmp_path, sigterm=True)
    assert ended.code == 0
    for name in NAMES:
        assert (tmp_path / f"{name}.term").exists(), f"{name} did not get SIGTERM"
        assert not pid_alive(ended.started[name][0])


def test_a_child_ignoring_sigterm_is_killed_after_the_grace_period(
    entrypoint_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**entrypoint_env, "STANDIN_IGNORE_TERM_mediamtx": "1", "TRASHMON_STOP_GRACE": "1"}
    ended = run_to_the_end(env, tmp_path, sigterm=True)
    assert ended.code == 0
    assert (tmp_path / "mediamtx.term").exists()
    assert not pid_alive(ended.started["mediamtx"][0])
    assert b"mediamtx did not stop within 1s: SIGKILL" in ended.stderr


def test_a_bad_grace_setting_is_one_clear_line(entrypoint_env: dict[str, str]) -> None:
    proc = start({**entrypoint_env, "TRASHMON_STOP_GRACE": "soon"})
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 2
    assert (
        err.decode().strip()
        == "entrypoint: TRASHMON_STOP_GRACE: expected whole seconds, got 'soon'"
    )


# --- MediaMTX read credentials (docs/security.md, section 4) -----------------------------


def sha256_credential(password: str) -> str:
    return "sha256:" + base64.b64encode(hashlib.sha256(password.encode()).digest()).decode()


def test_each_child_gets_only_its_part_of_the_credentials(
    entrypoint_env: dict[str, str], tmp_path: Path
) -> None:
    secret = "Pw-" + "x" * 40
    credentials = tmp_path / "credentials"
    credentials.write_text(f"reader1:{secret}\n")
    hook_secret = tmp_path / "hook-secret"
    hook_secret.write_text("hook-" + "y" * 40)
    proc = start(
        {
            **entrypoint_env,
            "TRASHMON_MEDIAMTX_CREDENTIALS_FILE": str(credentials),
            "TRASHMON_HOOK_SECRET_FILE": str(hook_secret),
            "TRASHMON_LISTEN": "0.0.0.0:19843",
            # stale values from the outside are not passed on
            "TRASHMON_MEDIAMTX_BASIC_AUTH": "c3RhbGU=",
            "MTX_AUTHINTERNALUSERS_0_PASS": "stale",
            "TRASHMON_HOOK_SECRET": "stale-" + "z" * 30,
            "TRASHMON_MONITOR_URL": "http://elsewhere.example",
        }
    )
    try:
        found = all_started(tmp_path)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        stop_process(proc)
    assert child_env(tmp_path, "mediamtx") == {
        "MTX_AUTHINTERNALUSERS_0_USER": "reader1",
        "MTX_AUTHINTERNALUSERS_0_PASS": sha256_credential(secret),
        # Its runOn* hooks inherit these: the monitor on loopback, the secret's file.
        "TRASHMON_HOOK_SECRET_FILE": str(hook_secret),
        "TRASHMON_MONITOR_URL": "http://127.0.0.1:19843",
    }
    assert child_env(tmp_path, "caddy") == {
        "TRASHMON_MEDIAMTX_BASIC_AUTH": base64.b64encode(f"reader1:{secret}".encode()).decode()
    }
    assert child_env(tmp_path, "trashmon") == {
        "TRASHMON_MEDIAMTX_CREDENTIALS_FILE": str(credentials),
        "TRASHMON_HOOK_SECRET_FILE": str(hook_secret),
    }
    basic = base64.b64encode(f"reader1:{secret}".encode()).decode()
    for shown in [err.decode(), *(args for _, args in found.values())]:
        assert secret not in shown
        assert basic not in shown


def test_without_a_credentials_file_one_is_generated_for_the_run(
    entrypoint_env: dict[str, str], tmp_path: Path
) -> None:
    proc = start(entrypoint_env)
    try:
        all_started(tmp_path)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        stop_process(proc)
    generated = Path(child_env(tmp_path, "trashmon")["TRASHMON_MEDIAMTX_CREDENTIALS_FILE"])
    assert generated.parent.parent == tmp_path
    assert generated.stat().st_mode & 0o777 == 0o600
    assert generated.parent.stat().st_mode & 0o777 == 0o700
    user, _, password = generated.read_text().partition(":")
    assert user == "trashmon-reader"
    assert len(password) >= 32
    assert child_env(tmp_path, "mediamtx")["MTX_AUTHINTERNALUSERS_0_PASS"] == (
        sha256_credential(password)
    )
    assert password not in err.decode()
    assert "generated read credentials for this run" in err.decode()
    hook_secret = Path(child_env(tmp_path, "trashmon")["TRASHMON_HOOK_SECRET_FILE"])
    assert hook_secret.parent == generated.parent
    assert hook_secret.stat().st_mode & 0o777 == 0o600
    assert len(hook_secret.read_text()) >= 32
    assert child_env(tmp_path, "mediamtx")["TRASHMON_HOOK_SECRET_FILE"] == str(hook_secret)
    assert child_env(tmp_path, "mediamtx")["TRASHMON_MONITOR_URL"] == "http://127.0.0.1:9843"
    assert "TRASHMON_HOOK_SECRET_FILE" not in child_env(tmp_path, "caddy")
    assert hook_secret.read_text() not in err.decode()


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({"TRASHMON_HOOK_SECRET_FILE": "/nonexistent/hook-secret"}, "TRASHMON_HOOK_SECRET_FILE"),
        ({"TRASHMON_LISTEN": "0.0.0.0"}, "TRASHMON_LISTEN"),
        ({"TRASHMON_LISTEN": "0.0.0.0:http"}, "TRASHMON_LISTEN"),
    ],
)
def test_a_bad_hook_setting_is_one_clear_line(
    entrypoint_env: dict[str, str], tmp_path: Path, env: dict[str, str], reason: str
) -> None:
    proc = start({**entrypoint_env, **env})
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 2
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"entrypoint: {reason}: ")
    assert started(tmp_path) == {}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "cannot read"),
        ("", "expected one line user:password"),
        ("just-a-password-hunter2", "expected one line user:password"),
        ("reader:", "expected one line user:password"),
        ("reader:hunter2\nmore:hunter2", "expected one line user:password"),
        ("any:hunter2", "must be 1-64 of"),
        ("re ader:hunter2", "must be 1-64 of"),
        ("x" * 5000 + ":hunter2", "expected one line user:password"),
    ],
)
def test_a_bad_credentials_file_is_one_clear_line(
    entrypoint_env: dict[str, str], tmp_path: Path, content: str | None, reason: str
) -> None:
    credentials = tmp_path / "credentials"
    if content is not None:
        credentials.write_text(content)
    proc = start({**entrypoint_env, "TRASHMON_MEDIAMTX_CREDENTIALS_FILE": str(credentials)})
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 2
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("TRASHMON_MEDIAMTX_CREDENTIALS_FILE: ")
    assert reason in lines[0]
    assert "hunter2" not in err.decode()
    assert started(tmp_path) == {}


# --- camera control (docs/security.md, section 6) ---------------------------------------

BCRYPT = "$2a$14$Xt6RLDlTTeAqXUmL5n566e2Pu.kZ13xuhVBYO2VwamgK8vp9A4.ne"


def test_the_control_hash_file_reaches_caddy_only(
    entrypoint_env: dict[str, str], tmp_path: Path
) -> None:
    hash_file = tmp_path / "password-hash"
    hash_file.write_text(BCRYPT + "\n")
    proc = start({**entrypoint_env, "TRASHMON_CONTROL": "on",
                  "TRASHMON_CONTROL_PASSWORD_HASH_FILE": str(hash_file)})  # fmt: skip
    try:
        all_started(tmp_path)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    finally:
        stop_process(proc)
    assert child_env(tmp_path, "caddy")["TRASHMON_CONTROL_PASSWORD_HASH"] == BCRYPT
    for other in ("mediamtx", "trashmon"):
        assert not [k for k in child_env(tmp_path, other) if k.startswith("TRASHMON_CONTROL_PASS")]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"TRASHMON_CONTROL": "yes"}, "TRASHMON_CONTROL: expected on or off, got 'yes'"),
        ({"TRASHMON_CONTROL": "on"}, "TRASHMON_CONTROL=on needs a bcrypt hash"),
        ({"TRASHMON_CONTROL": "on", "TRASHMON_CONTROL_PASSWORD_HASH": "plain-password"},
         "TRASHMON_CONTROL=on needs a bcrypt hash"),
        ({"TRASHMON_CONTROL": "on", "TRASHMON_CONTROL_PASSWORD_HASH_FILE": "/nonexistent/h"},
         "TRASHMON_CONTROL_PASSWORD_HASH_FILE: cannot read /nonexistent/h"),
    ],
)  # fmt: skip
def test_control_settings_fail_closed_in_one_line(
    entrypoint_env: dict[str, str], tmp_path: Path, settings: dict[str, str], message: str
) -> None:
    proc = start({**entrypoint_env, **settings})
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 2
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"entrypoint: {message}")
    assert "plain-password" not in err.decode()
    assert started(tmp_path) == {}


# --- The monitor as its own workload (docs/server.md, "High availability") ---------------


def started_without_the_monitor(directory: Path) -> dict[str, tuple[int, str]]:
    return wait_until(
        lambda: (found := started(directory)).keys() >= {"mediamtx", "caddy"} and found,
        timeout=15,
        what="mediamtx and caddy started",
    )


def test_with_the_embedded_monitor_off_only_mediamtx_and_caddy_run(
    entrypoint_env: dict[str, str], tmp_path: Path
) -> None:
    env = {
        **entrypoint_env,
        "TRASHMON_EMBEDDED_MONITOR": "off",
        "TRASHMON_MONITOR_UPSTREAM": "trashmonitor-monitor.trashmonitor.svc:9843",
    }
    proc = start(env)
    try:
        found = started_without_the_monitor(tmp_path)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(20)
    finally:
        stop_process(proc)
    assert code == 0
    # Every child is started before the entrypoint waits, so by now it never will be.
    assert "trashmon" not in started(tmp_path)
    for name in ("mediamtx", "caddy"):
        assert (tmp_path / f"{name}.term").exists()
        assert not pid_alive(found[name][0])
    assert proc.stderr is not None
    assert b"/status goes to trashmonitor-monitor.trashmonitor.svc:9843" in proc.stderr.read()


def test_with_the_embedded_monitor_off_a_child_exit_still_fails_the_container(
    entrypoint_env: dict[str, str], tmp_path: Path
) -> None:
    proc = start({**entrypoint_env, "TRASHMON_EMBEDDED_MONITOR": "off"})
    try:
        found = started_without_the_monitor(tmp_path)
        os.kill(found["caddy"][0], signal.SIGKILL)
        code = proc.wait(20)
    finally:
        stop_process(proc)
    assert code != 0
    assert (tmp_path / "mediamtx.term").exists()
    assert not pid_alive(found["mediamtx"][0])


def test_a_bad_embedded_monitor_setting_is_one_clear_line(
    entrypoint_env: dict[str, str],
) -> None:
    proc = start({**entrypoint_env, "TRASHMON_EMBEDDED_MONITOR": "no"})
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 2
    assert err.decode().strip() == (
        "entrypoint: TRASHMON_EMBEDDED_MONITOR: expected on or off, got 'no'"
    )
