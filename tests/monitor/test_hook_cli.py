"""``trashmon-hook EVENT`` / ``trashmon hook EVENT`` as MediaMTX runs them: real processes."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.docs import generated_table
from support.processes import (
    OUTSIDE_REPO,
    TRASHMON,
    TRASHMON_HOOK,
    clean_environ,
    free_port,
    run_trashmon,
    wait_until,
)
from support.properties import PROPERTIES

from trashmonitor.errors import ConfigError
from trashmonitor.hook import (
    MAX_NOTICE_BYTES,
    ROUTE,
    SECRET_HEADER,
    SETTINGS,
    json_string,
    notice,
    read_settings,
    target,
)
from trashmonitor.hook_cli import markdown
from trashmonitor.monitor.hooks import parse_notice
from trashmonitor.serving import Endpoint, HTTPService, Request, Response
from trashmonitor.settings import HostPort

SECRET = "hook-secret-0123456789abcdefXYZ"
# The hook's own deadline is 0.5 s; Python's start on a loaded 2-core machine is most of
# this. Without the deadline these cases hang until the subprocess timeout (60 s).
RETURNS_WITHIN = 10.0


def mediamtx_env(monitor_url: str, secret_file: Path, **extra: str) -> dict[str, str]:
    """What MediaMTX gives a runOnOffline command: its own environment plus MTX_*."""
    return clean_environ(
        **{
            "TRASHMON_MONITOR_URL": monitor_url,
            "TRASHMON_HOOK_SECRET_FILE": str(secret_file),
            "MTX_PATH": "cam1",
            "MTX_QUERY": "",
            "MTX_SOURCE_TYPE": "rtspSession",
            "MTX_SOURCE_ID": "b1f1c9",
            "RTSP_PORT": "8554",
            **extra,
        }
    )


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "hook-secret"
    path.write_text(SECRET + "\n")
    path.chmod(0o600)
    return path


def run_hook(
    env: dict[str, str], *args: str, command: tuple[str, ...] = (TRASHMON_HOOK,)
) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run(
        [*command, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    return done, time.monotonic() - started


@contextlib.contextmanager
def recording_monitor(status: int = 202) -> Iterator[tuple[str, list[Request]]]:
    """A stand-in monitor route that records what the hook sent."""
    received: list[Request] = []

    def handle(request: Request) -> Response:
        received.append(request)
        return Response(status, b"")

    service = HTTPService(
        HostPort("127.0.0.1", 0),
        {ROUTE: Endpoint(frozenset({"POST"}), handle, max_body=1024)},
        setting="test",
    )
    service.start()
    try:
        yield f"http://127.0.0.1:{service.address.port}", received
    finally:
        service.stop()


@contextlib.contextmanager
def silent_listener() -> Iterator[str]:
    """Accepts connections (the kernel's backlog does) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_the_notice_carries_the_path_event_and_secret_in_a_header(secret_file: Path) -> None:
    with recording_monitor() as (url, received):
        done, _ = run_hook(mediamtx_env(url, secret_file), "offline")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    (request,) = received
    assert request.headers[SECRET_HEADER.lower()] == SECRET
    assert json.loads(request.body) == {
        "event": "offline",
        "path": "cam1",
        "source_type": "rtspSession",
        "source_id": "b1f1c9",
    }


def test_a_mediamtx_of_a_named_site_names_it_in_the_notice(secret_file: Path) -> None:
    """Issue 17: MediaMTX's environment has no site; TRASHMON_SITE in it is passed on."""
    with recording_monitor() as (url, received):
        done, _ = run_hook({**mediamtx_env(url, secret_file), "TRASHMON_SITE": "garage"}, "online")
    assert (done.returncode, done.stderr) == (0, "")
    assert json.loads(received[0].body)["site"] == "garage"
    assert parse_notice(received[0].body).site == "garage"


def test_the_main_cli_runs_the_same_hook(secret_file: Path) -> None:
    with recording_monitor() as (url, received):
        done, _ = run_hook(
            mediamtx_env(url, secret_file), "hook", "online", command=tuple(TRASHMON)
        )
    assert done.returncode == 0, done.stderr
    assert json.loads(received[0].body)["event"] == "online"


def test_a_monitor_that_is_down_costs_one_line_and_exit_0(secret_file: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done, elapsed = run_hook(mediamtx_env(url, secret_file), "offline")
    assert done.returncode == 0
    assert elapsed < RETURNS_WITHIN
    assert done.stderr.count("\n") == 1
    assert "unreachable" in done.stderr
    assert SECRET not in done.stderr + done.stdout


def test_a_monitor_that_never_answers_is_given_up_on_at_the_deadline(secret_file: Path) -> None:
    with silent_listener() as url:
        done, elapsed = run_hook(mediamtx_env(url, secret_file), "offline")
    assert done.returncode == 0
    assert elapsed < RETURNS_WITHIN
    assert "did not answer within 0.5 s" in done.stderr
    assert done.stderr.count("\n") == 1


@contextlib.contextmanager
def trickling_monitor() -> Iterator[str]:
    """Accepts, then sends a byte every 0.2 s and never a whole status line: each read
    succeeds in time, so only a deadline on the whole exchange ends the wait."""
    stop = threading.Event()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        listener.settimeout(0.2)

        def serve() -> None:
            connections = []
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    connections.append(listener.accept()[0])
                for connection in connections:
                    with contextlib.suppress(OSError):
                        connection.send(b"H")
            for connection in connections:
                connection.close()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{listener.getsockname()[1]}"
        finally:
            stop.set()
            thread.join()


def test_a_monitor_that_trickles_is_given_up_on_at_the_total_deadline(
    secret_file: Path,
) -> None:
    with trickling_monitor() as url:
        done, elapsed = run_hook(mediamtx_env(url, secret_file), "offline")
    assert done.returncode == 0
    assert elapsed < RETURNS_WITHIN  # per-read timeouts alone: 256 bytes x 0.2 s = 51 s
    assert "did not answer within 0.5 s" in done.stderr


def test_a_refusal_is_one_line_and_exit_0(secret_file: Path) -> None:
    with recording_monitor(status=403) as (url, _):
        done, _ = run_hook(mediamtx_env(url, secret_file), "online")
    assert done.returncode == 0
    assert "HTTP 403" in done.stderr
    assert SECRET not in done.stderr


def has_socket(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return any("socket:" in str(fd.readlink()) for fd in Path(f"/proc/{pid}/fd").iterdir())
    return False


def test_sigint_from_mediamtx_ends_it_quietly(secret_file: Path) -> None:
    # MediaMTX interrupts a runOnOnline command when the path goes offline.
    with silent_listener() as url:
        proc = subprocess.Popen(
            [TRASHMON_HOOK, "online"],
            env=mediamtx_env(url, secret_file),
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        # Interrupt once it is waiting on the silent monitor (its socket is connected).
        wait_until(lambda: proc.poll() is not None or has_socket(proc.pid), RETURNS_WITHIN)
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=RETURNS_WITHIN)
    assert proc.returncode == 0
    assert b"Traceback" not in stderr


@pytest.mark.parametrize(
    ("args", "env_changes", "message"),
    [
        ((), {}, "usage: trashmon hook"),
        (("online", "extra"), {}, "usage: trashmon hook"),
        (("exploded",), {}, "unknown event 'exploded'"),
        (("online",), {"MTX_PATH": ""}, "MTX_PATH"),
        (("online",), {"TRASHMON_MONITOR_URL": "https://127.0.0.1:9843"}, "TRASHMON_MONITOR_URL"),
        (("online",), {"TRASHMON_MONITOR_URL": "http://127.0.0.1:99999"}, "TRASHMON_MONITOR_URL"),
        (("online",), {"TRASHMON_HOOK_SECRET_FILE": ""}, "TRASHMON_HOOK_SECRET"),
        (("online",), {"TRASHMON_HOOK_SECRET_FILE": "/nonexistent/x"}, "cannot read"),
    ],
    ids=["no-event", "two-args", "unknown-event", "no-path", "https", "bad-port", "no-secret",
         "missing-file"],
)  # fmt: skip
def test_bad_usage_is_one_line_and_exit_2(
    secret_file: Path, args: tuple[str, ...], env_changes: dict[str, str], message: str
) -> None:
    env = mediamtx_env(f"http://127.0.0.1:{free_port()}", secret_file) | env_changes
    done, _ = run_hook(env, *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "secret", ["shortXYZ", "secretXYZ with spaces 0123456789", "lineXYZ\nbreak-0123456789abcdef"]
)
def test_a_bad_secret_is_refused_without_showing_it(secret: str) -> None:
    env = mediamtx_env(f"http://127.0.0.1:{free_port()}", Path("/unused"))
    env.pop("TRASHMON_HOOK_SECRET_FILE")
    env["TRASHMON_HOOK_SECRET"] = secret
    done, _ = run_hook(env, "online")
    assert done.returncode == 2
    assert "TRASHMON_HOOK_SECRET" in done.stderr
    assert "XYZ" not in done.stderr


def test_many_hooks_at_once_all_arrive(secret_file: Path) -> None:
    # A server restart brings every camera online together: each hook is its own process.
    with recording_monitor() as (url, received):
        procs = [
            subprocess.Popen(
                [TRASHMON_HOOK, "online"],
                env=mediamtx_env(url, secret_file, MTX_PATH=f"cam{index}"),
            )
            for index in range(8)
        ]
        codes = [proc.wait(60) for proc in procs]
    assert codes == [0] * 8
    assert sorted(json.loads(r.body)["path"] for r in received) == [f"cam{i}" for i in range(8)]


# --------------------------------------------------------------------------- pure parts


@PROPERTIES
@given(st.text(max_size=300).filter(lambda text: not any(0xD800 <= ord(c) < 0xE000 for c in text)))
def test_the_hand_rolled_json_string_is_json(text: str) -> None:
    assert json.loads(json_string(text)) == text


@PROPERTIES
@given(
    st.dictionaries(
        st.sampled_from(["MTX_PATH", "MTX_SOURCE_TYPE", "MTX_SOURCE_ID", "TRASHMON_SITE"]),
        st.text(),
    )
)
def test_any_environment_gives_a_json_notice_or_a_usage_error(environ: dict[str, str]) -> None:
    path = environ.get("MTX_PATH", "")
    if not path or len(path) > 255:
        with pytest.raises(ConfigError, match="MTX_PATH"):
            notice("offline", environ)
        return
    body = notice("offline", environ)
    document = json.loads(body)
    assert document["path"] == path.encode("utf-8", "replace").decode()
    assert document["event"] == "offline"
    assert len(body) <= MAX_NOTICE_BYTES


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:9843", ("127.0.0.1", 9843, ROUTE)),
        ("http://localhost", ("localhost", 80, ROUTE)),
        ("HTTP://[::1]:9843/", ("::1", 9843, ROUTE)),
        ("http://monitor:9843/prefix/", ("monitor", 9843, "/prefix" + ROUTE)),
    ],
)
def test_the_monitor_url(url: str, expected: tuple[str, int, str]) -> None:
    assert target(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:9843",
        "127.0.0.1:9843",
        "http://",
        "http://:9843",
        "http://host:0",
        "http://host:65536",
        "http://host:x",
        "http://user:pw@host:9843",
        "http://host:9843/?q=1",
        "http://[::1",
        "http://[::1]x",
        "http://host\r\nX-Injected: 1",
    ],
)
def test_a_bad_monitor_url_is_a_usage_error(url: str) -> None:
    with pytest.raises(ConfigError, match="TRASHMON_MONITOR_URL"):
        target(url)


# --------------------------------------------------------------------------- settings


def test_the_docs_table_is_the_declared_table() -> None:
    assert generated_table("docs/monitor.md", "hook") == markdown(), (
        "docs/monitor.md is out of date: paste `python -P -m trashmonitor.hook_cli`"
    )


def test_every_documented_variable_keeps_its_name_and_default() -> None:
    assert [(s.env, s.default) for s in SETTINGS] == [
        ("TRASHMON_MONITOR_URL", "http://127.0.0.1:9843"),
        ("TRASHMON_HOOK_SECRET_FILE", None),
        ("TRASHMON_HOOK_SECRET", None),
        ("TRASHMON_SITE", None),
    ]


def test_the_settings_are_read_once_into_a_frozen_object_that_never_shows_the_secret(
    secret_file: Path,
) -> None:
    settings = read_settings(
        {"TRASHMON_HOOK_SECRET_FILE": str(secret_file), "TRASHMON_SITE": "garage"}
    )
    assert (settings.host, settings.port, settings.route) == ("127.0.0.1", 9843, ROUTE)
    assert (settings.secret, settings.site) == (SECRET, "garage")
    assert SECRET not in repr(settings)
    with pytest.raises(AttributeError, match="frozen"):
        settings.secret = "other"


def test_the_hook_help_lists_its_declared_variables() -> None:
    done = run_trashmon("hook", "--help")
    assert done.returncode == 0
    listed = " ".join(done.stdout.split())
    assert all(f"{s.env} (default" in listed for s in SETTINGS)


def test_the_hook_start_imports_no_settings_machinery() -> None:
    # MediaMTX pays the hook's start per event: its declared table must stay import-free.
    code = "import sys, trashmonitor.hook; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-P", "-c", code], cwd=OUTSIDE_REPO, env=clean_environ(),
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    loaded = set(done.stdout.split())
    assert "trashmonitor.hook" in loaded
    heavy = {"trashmonitor.settings", "argparse", "re", "dataclasses", "typing", "collections"}
    assert not loaded & heavy
