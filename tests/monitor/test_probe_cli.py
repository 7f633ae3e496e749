"""`trashmon probe` as a real subprocess against the fake MediaMTX: output and exit codes."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.fake_mediamtx import FakeMediaMTX
from support.hostile_mediamtx import TERMINAL_NAMES
from support.processes import (
    TRASHMON,
    clean_environ,
    free_port,
    run_trashmon,
    trashmon_modules,
)

FIXTURES = Path(__file__).parent / "fixtures"


def probe(
    *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = run_trashmon(
        "probe",
        *args,
        stdin=stdin.decode() if stdin is not None else None,
        env=clean_environ(**(env or {})),
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_all_ok_exits_0_with_one_line_per_path(fake: FakeMediaMTX) -> None:
    fake.add_paths(3, rate=10_000, readers=2)
    result = probe("--api", fake.url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["STATE", "NAME"]
    rows = [line.split() for line in lines[1:4]]
    assert [row[:2] for row in rows] == [["ok", "cam0"], ["ok", "cam1"], ["ok", "cam2"]]
    assert rows[0][2:4] == ["H264", "1280x720"]
    assert lines[-1].startswith("3 cameras: 3 ok")
    assert result.stderr == ""


def test_unhealthy_exits_1_and_parked_does_not_count(fake: FakeMediaMTX) -> None:
    fake.add_paths(2, rate=10_000)
    fake.set_path("cam1", online=False, placeholder=True)
    unhealthy = probe("--api", fake.url)
    assert unhealthy.returncode == 1
    assert any(
        line.split()[:2] == ["down", "cam1"] and "no_publisher,placeholder" in line
        for line in unhealthy.stdout.splitlines()
    )
    assert probe("--api", fake.url, "--parked", "cam1").returncode == 0
    assert probe("--api", fake.url, env={"TRASHMON_PARKED": "cam1,other"}).returncode == 0


def test_json_is_the_status_document_and_reads_past_page_one(fake: FakeMediaMTX) -> None:
    fake.add_paths(1250, rate=1000)
    fake.set_path("cam1234", online=False)
    result = probe("--api", fake.url, "--json")
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert set(document) == {"generated_at", "mediamtx", "summary", "cameras"}
    assert document["mediamtx"]["reachable"] is True
    assert document["summary"] == {"ok": 1249, "degraded": 0, "down": 1, "parked": 0}
    assert len(document["cameras"]) == 1250
    cameras = {camera["name"]: camera for camera in document["cameras"]}
    beyond_page_one = cameras["cam1234"]  # the default page size is 100, ours 1000
    assert (beyond_page_one["state"], beyond_page_one["reasons"]) == ("down", ["no_publisher"])
    first = document["cameras"][0]
    contract_fields = {
        "name", "state", "reasons", "online", "codec", "resolution", "readers",
        "inbound_bytes_per_second", "frames_in_error", "online_since", "agent",
    }  # fmt: skip
    assert contract_fields <= set(first)


def test_stall_window_polls_twice_and_calls_the_stall(fake: FakeMediaMTX) -> None:
    fake.add_paths(2, rate=20_000)
    fake.set_path("cam1", rate=0.0)
    result = probe("--api", fake.url, "--stall-window", "0.3", "--json")
    assert result.returncode == 1
    cameras = {c["name"]: c for c in json.loads(result.stdout)["cameras"]}
    assert cameras["cam1"]["reasons"] == ["stalled"]
    assert cameras["cam0"]["state"] == "ok"
    assert cameras["cam0"]["inbound_bytes_per_second"] > 0
    # one poll cannot tell: the same server without a window passes
    assert probe("--api", fake.url).returncode == 0


@pytest.mark.parametrize("generation", ["v1.9", "v1.16", "v1.20"])
def test_every_generation_behind_a_caddy_style_prefix_or_not(generation: str) -> None:
    with FakeMediaMTX(generation) as server:
        server.add_paths(2, rate=1000)
        assert probe("--api", server.url).returncode == 0
        server.set_path("cam0", online=False, placeholder=True)
        result = probe("--api", server.url, "--json")
        cam0 = json.loads(result.stdout)["cameras"][0]
        assert result.returncode == 1
        assert cam0["state"] == "down"
        # v1.9 has no placeholder concept: the path is just not ready
        assert ("placeholder" in cam0["reasons"]) is (generation != "v1.9")


def test_stdin_mode_reads_a_curl_document() -> None:
    document = (FIXTURES / "paths-v1.20.json").read_bytes()
    result = probe("-", stdin=document)
    assert result.returncode == 1  # lobby is a placeholder
    assert "lobby" in result.stdout
    assert probe("-", "--parked", "lobby", stdin=document).returncode == 0


def test_stdin_with_one_page_of_many_says_so() -> None:
    document = {
        "itemCount": 250,
        "pageCount": 3,
        "items": [{"name": "a", "online": True, "available": True}],
    }
    result = probe("-", stdin=json.dumps(document).encode())
    assert result.returncode == 0
    assert "one page of 3" in result.stderr


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A listener that accepts and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


BAD_SERVER_FAULTS = ["html", "http500", "truncated", "cut_connection", "items_null", "wrong_shape"]


@pytest.mark.parametrize("fault", BAD_SERVER_FAULTS)
def test_bad_answers_exit_2_with_one_line(fake: FakeMediaMTX, fault: str) -> None:
    fake.add_paths(2)
    fake.fault = fault
    result = probe("--api", fake.url)
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("trashmon probe: error: ")


def test_refused_exits_2() -> None:
    result = probe("--api", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 2
    assert "cannot connect" in result.stderr


def test_unresolvable_host_exits_2() -> None:
    result = probe("--api", "http://no-such-host.invalid:9997", "--timeout", "3")
    assert result.returncode == 2
    assert "error:" in result.stderr


def test_timeout_exits_2_within_the_budget(silent_port: int) -> None:
    # A server that accepts and never answers: without the budget this would hang
    # until the subprocess timeout in probe() fails the test.
    result = probe("--api", f"http://127.0.0.1:{silent_port}", "--timeout", "1")
    assert result.returncode == 2
    assert "timed out" in result.stderr


@pytest.mark.parametrize(
    ("args", "env", "names"),
    [
        (["--api", "ftp://x"], {}, "--api"),
        (["--api", "not a url"], {}, "--api"),
        ([], {"TRASHMON_MEDIAMTX_API": "nope"}, "TRASHMON_MEDIAMTX_API"),
        (["--api", "http://x:9997", "--timeout", "soon"], {}, "--timeout"),
        (["--api", "http://x:9997", "--stall-window", "-1"], {}, "--stall-window"),
        (["--api", "http://x:9997", "--low-fps-ratio", "2"], {}, "--low-fps-ratio"),
        (
            ["--api", "http://x:9997"],
            {"TRASHMON_FRAMES_ERROR_WINDOW": "x"},
            "TRASHMON_FRAMES_ERROR_WINDOW",
        ),
        (["-", "--stall-window", "1"], {}, "--stall-window"),
        (["-", "--api", "http://x:9997"], {}, "--api"),
        (["--no-such-flag"], {}, "unrecognized"),
        (["+"], {}, "invalid choice"),
    ],
)
def test_bad_arguments_exit_2_naming_the_setting(
    args: list[str], env: dict[str, str], names: str
) -> None:
    result = probe(*args, env=env, stdin=b"")
    assert result.returncode == 2
    assert names in result.stderr


@pytest.mark.parametrize(
    "body", [b"", b"<html>", b'{"items": null}', b'{"items": [{"name": "a"', b"[]"]
)
def test_bad_stdin_exits_2(body: bytes) -> None:
    result = probe("-", stdin=body)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1


def test_nothing_to_judge_is_unhealthy_unless_allowed(fake: FakeMediaMTX) -> None:
    empty = probe("--api", fake.url)  # a server that lost its configuration
    assert empty.returncode == 1
    assert empty.stderr.count("\n") == 1
    assert "no camera to judge" in empty.stderr
    assert "--allow-empty" in empty.stderr
    assert probe("--api", fake.url, "--allow-empty").returncode == 0
    fake.set_path("spare", online=False)
    assert probe("--api", fake.url, "--parked", "spare").returncode == 1  # all set aside
    listed_none = b'{"itemCount": 0, "pageCount": 0, "items": []}'
    assert probe("-", stdin=listed_none).returncode == 1
    assert probe("-", "--allow-empty", stdin=listed_none).returncode == 0
    fake.remove_path("spare")
    result = probe("--api", fake.url, "--expect", "cam1,cam2", "--json")
    assert result.returncode == 1
    cameras = json.loads(result.stdout)["cameras"]
    assert [(c["name"], c["reasons"]) for c in cameras] == [
        ("cam1", ["no_publisher"]),
        ("cam2", ["no_publisher"]),
    ]
    fake.add_paths(3, rate=1000)
    assert probe("--api", fake.url, env={"TRASHMON_EXPECT": "cam1 cam2"}).returncode == 0


def test_the_probe_imports_no_heavy_library() -> None:
    # Its start-up is most of a CI probe's cost (bench/probe_startup.py): the agents'
    # MQTT client, prometheus-client, OpenTelemetry and even httpx stay out of it.
    code = (
        "import sys, trashmonitor.monitor.probe_cli\n"
        "print(' '.join(sorted({name.split('.')[0] for name in sys.modules})))"
    )
    # -P: the installed package, not ./trashmonitor from the checkout.
    result = subprocess.run(
        [sys.executable, "-P", "-c", code], capture_output=True, text=True, check=True
    )
    loaded = set(result.stdout.split())
    assert "trashmonitor" in loaded
    assert loaded.isdisjoint({"httpx", "paho", "prometheus_client", "opentelemetry", "cloudflare"})


# Imported by none of a probe's steps: the monitor's HTTP client and exporters, the MQTT
# client, the DNS SDK, crypto; logging and concurrent.futures (~18 ms of start-up
# together); pathlib (~1.5 ms: only a setting naming a file or directory needs it);
# --play's and the hook's modules (only with their settings).
NOT_FOR_THE_PROBE = (
    "httpx", "httpcore", "h11", "anyio", "certifi", "paho", "prometheus_client",
    "opentelemetry", "cloudflare", "cryptography", "logging", "concurrent", "pathlib",
    "trashmonitor.hook", "trashmonitor.monitor.play", "trashmonitor.monitor.play_cli",
    "trashmonitor.monitor.play_ffmpeg", "trashmonitor.monitor.observe",
    "trashmonitor.monitor.daemon", "trashmonitor.monitor.export",
)  # fmt: skip


def imported_by(*argv: str, stdin: bytes | None = None) -> tuple[set[str], str]:
    """The modules a real ``trashmon`` process imported, and its stdout."""
    modules, result = trashmon_modules(*argv, stdin=stdin)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    assert "trashmonitor.monitor.probe_cli" in modules
    return modules, result.stdout.decode()


def heavy_among(modules: set[str]) -> list[str]:
    return sorted(
        module
        for module in modules
        if any(module == name or module.startswith(name + ".") for name in NOT_FOR_THE_PROBE)
    )


def test_a_real_probe_imports_only_what_it_reads_and_judges_with(fake: FakeMediaMTX) -> None:
    # Two pages of paths: the page threads and the fast page decoder both run.
    fake.add_paths(1500, rate=1000)
    modules, stdout = imported_by("probe", "--api", fake.url, "--json")
    assert len(json.loads(stdout)["cameras"]) == 1500
    assert heavy_among(modules) == []
    assert "dataclasses" not in modules
    # A large page imports msgspec, but not the typing_extensions msgspec would take
    # when installed (it is here: other packages need it), which imports inspect, ast,
    # dis and tokenize: ~10 ms of CPU (bench/probe_startup.py).
    assert "msgspec" in modules
    assert sorted(modules & {"typing_extensions", "inspect", "ast", "dis", "tokenize"}) == []
    # Nor msgspec's schema and type-inspection modules (with textwrap, ~3 ms): decoding
    # and encoding never use them (monitor/msgspec_lean.py).
    assert sorted(modules & {"msgspec.inspect", "msgspec._json_schema", "textwrap"}) == []
    listed = {"itemCount": 1, "pageCount": 1, "items": [
        {"name": "cam1", "online": True, "available": True, "inboundBytes": 1, "tracks": ["H264"]}
    ]}  # fmt: skip
    modules, _ = imported_by("probe", "-", stdin=json.dumps(listed).encode())
    assert heavy_among(modules) == []
    # Nor msgspec for a small piped --json: json.dumps writes msgspec's bytes then.
    json_modules, stdout = imported_by("probe", "-", "--json", stdin=json.dumps(listed).encode())
    assert "msgspec" not in json_modules
    assert stdout.startswith('{"generated_at":')
    # dataclasses loads inspect, ast, dis and tokenize: ~10 ms of a probe's start-up.
    assert sorted(modules & {"dataclasses", "inspect", "ast", "dis", "tokenize"}) == []


def test_sites_read_in_threads_load_msgspec_and_never_typing_extensions(
    fake: FakeMediaMTX,
) -> None:
    """msgspec_lean fails every thread's typing_extensions import while msgspec loads;
    a probe of sites loads msgspec in a pool thread (its first large page) while the
    other sites' threads run, which is safe only while none of them imports it."""
    fake.add_paths(1500, rate=1000)
    sites = ("--site", f"home={fake.url}", "--site", f"garage={fake.url}")
    modules, stdout = imported_by("probe", *sites, "--json")
    assert json.loads(stdout)["summary"]["ok"] == 3000  # each site's 1,500 cameras
    assert {"concurrent.futures", "msgspec"} <= modules
    assert "typing_extensions" not in modules


@pytest.mark.parametrize("generation", ["v1.9", "v1.20"])
def test_the_probe_judges_from_the_api_alone_and_never_reads_metrics(generation: str) -> None:
    # MediaMTX's /metrics only fills frames_in_error where the API lacks it (before
    # v1.17) and says whether /metrics is up: the monitor's concerns. The probe's verdict
    # comes from /v3/paths/list alone, so it never pays for a /metrics of 10,000 paths.
    asked: list[str] = []

    def record(action: str, _authorization: str | None) -> bool:
        asked.append(action)
        return True

    with FakeMediaMTX(generation) as server:
        server.authorize = record
        server.add_paths(2, rate=10_000)
        result = probe("--api", server.url, "--json")
    assert result.returncode == 0, result.stderr
    cameras = json.loads(result.stdout)["cameras"]
    assert [camera["state"] for camera in cameras] == ["ok", "ok"]
    frames = [camera["frames_in_error"] for camera in cameras]
    assert frames == ([None, None] if generation == "v1.9" else [0, 0])
    assert set(asked) == {"api"}


def test_hostile_names_never_reach_the_terminal_raw() -> None:
    items = [
        {"name": name, "online": True, "available": True, "inboundBytes": 1, "tracks": ["H264"]}
        for name in TERMINAL_NAMES
    ]
    document = {"itemCount": len(items), "pageCount": 1, "items": items}
    result = probe("-", stdin=json.dumps(document).encode())
    assert result.returncode in (0, 1, 2)
    for stream in (result.stdout, result.stderr):
        for line in stream.splitlines():
            assert line.isprintable(), repr(line)
    # One header, at most one row per item, one summary: no forged line.
    assert len(result.stdout.splitlines()) <= len(items) + 2


def test_an_unanticipated_error_exits_2_with_one_line() -> None:
    """Reproduction: deeply nested JSON raised RecursionError, a traceback and exit 1."""
    result = probe("-", stdin=b"[" * 200_000 + b"]" * 200_000)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("trashmon probe: error: ")


def just_health(fake: FakeMediaMTX, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`just health` as a user runs it, its --api pointed at the fake (a later flag wins)."""
    from provision.playbooks import just

    empty_dotenv = tmp_path / "empty.env"
    empty_dotenv.write_text("")
    # The recipe builds its default URL from the MagicDNS suffix (refusing the justfile's
    # placeholder) before the later --api replaces it.
    environ = clean_environ(TS_MAGICDNS_SUFFIX="tail1234.ts.net", **env)
    return just("health", "--api", fake.url, env=environ, empty_dotenv=empty_dotenv)


def test_just_health_expects_the_configured_cameras(fake: FakeMediaMTX, tmp_path: Path) -> None:
    """Reproduction: `just health` passed no expected cameras, so an empty server passed."""
    empty = just_health(fake, tmp_path)
    assert empty.returncode == 1, empty.stderr
    rows = [line.split()[:3] for line in empty.stdout.splitlines()[1:3]]
    assert rows == [["down", "cam1", "-"], ["down", "cam2", "-"]]
    fake.add_paths(3, rate=10_000)  # cam0, cam1, cam2
    assert just_health(fake, tmp_path).returncode == 0
    chosen = just_health(fake, tmp_path, TRASHMON_EXPECT="cam0,cam9")
    assert chosen.returncode == 1
    assert any(line.split()[:2] == ["down", "cam9"] for line in chosen.stdout.splitlines())


def test_endless_stdin_is_refused_at_the_body_limit() -> None:
    # `cat /dev/zero | trashmon probe -` once read until memory ran out. 4 MiB offered,
    # far past the limit (communicate() ignores the pipe closing early: the point).
    result = subprocess.run(
        [*TRASHMON, "probe", "-", "--mediamtx-max-body", "65536"],
        input=b" " * (4 << 20),
        capture_output=True,
        env=clean_environ(),
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "more than 65536 bytes" in lines[0]
