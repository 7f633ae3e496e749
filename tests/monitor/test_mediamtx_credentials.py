"""MediaMTX credentials (issue 11 §1) end to end: the real ``trashmon probe`` and
``trashmon monitor`` read ``user:password`` from a file and send it as HTTP Basic to the
API and /metrics; a bad file is one line naming the setting (exit 2); the password is in
no output, log, error or status document."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from support.hostile_mediamtx import HostileMediaMTX
from support.http import http_get
from support.measure import hostile_process
from support.monitor import monitor_process
from support.processes import (
    clean_environ,
    run_trashmon,
    stop_process,
    wait_until,
)

from trashmonitor.monitor.daemon import Monitor
from trashmonitor.monitor.mediamtx import MediaMTXClient
from trashmonitor.monitor.mediamtx_http import read_credentials_file
from trashmonitor.telemetry import setup_tracing

OUTSIDE_REPO = Path(tempfile.gettempdir())
PASSWORD = "Pa55-w0rd:with-colon"
FLAG = "--mediamtx-credentials-file"
ENV = "TRASHMON_MEDIAMTX_CREDENTIALS_FILE"


@pytest.fixture
def credentials_file(tmp_path: Path) -> Path:
    path = tmp_path / "mediamtx-monitor"
    path.write_text(f"monitor:{PASSWORD}\n")
    return path


def test_probe_sends_the_credentials_from_the_flag_or_the_environment(
    credentials_file: Path,
) -> None:
    with hostile_process("healthy", "--credentials", f"monitor:{PASSWORD}") as url:
        by_flag = run_trashmon(
            "probe", "--api", url, FLAG, str(credentials_file), "--json", cwd=OUTSIDE_REPO
        )
        by_env = run_trashmon(
            "probe", "--api", url, env=clean_environ(**{ENV: str(credentials_file)})
        )
        without = run_trashmon("probe", "--api", url, cwd=OUTSIDE_REPO)
    assert by_flag.returncode == 0, by_flag.stderr
    assert by_env.returncode == 0, by_env.stderr
    assert without.returncode == 2
    assert "HTTP 401" in without.stderr
    assert FLAG in without.stderr
    for result in (by_flag, by_env, without):
        assert PASSWORD not in result.stdout + result.stderr


def test_wrong_credentials_are_an_auth_error_without_the_password(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text(f"monitor:{PASSWORD}-old\n")
    with hostile_process("healthy", "--credentials", f"monitor:{PASSWORD}") as url:
        result = run_trashmon("probe", "--api", url, FLAG, str(wrong), cwd=OUTSIDE_REPO)
    assert result.returncode == 2
    assert "refused" in result.stderr
    assert PASSWORD not in result.stdout + result.stderr


@pytest.mark.parametrize("command", ["probe", "monitor"])
@pytest.mark.parametrize(
    "content", [None, b"", b"no-colon\n", f"monitor:{PASSWORD}\nsecond\n".encode()]
)
def test_a_bad_credentials_file_is_one_line_naming_the_setting(
    tmp_path: Path, command: str, content: bytes | None
) -> None:
    path = tmp_path / "credentials"
    if content is not None:
        path.write_bytes(content)
    for args, env, setting in (
        ([FLAG, str(path)], clean_environ(), FLAG),
        ([], clean_environ(**{ENV: str(path)}), ENV),
    ):
        # Port 1 on loopback: nothing must be contacted before the settings are read.
        result = run_trashmon(
            command, "--api", "http://127.0.0.1:1", *args, env=env, cwd=OUTSIDE_REPO
        )
        assert result.returncode == 2
        (line,) = result.stderr.strip().splitlines()
        assert setting in line
        assert "Traceback" not in result.stderr
        assert PASSWORD not in result.stderr


@pytest.mark.parametrize("command", ["probe", "monitor"])
def test_a_credentials_file_under_an_unknown_home_is_one_line_naming_the_setting(
    command: str,
) -> None:
    # pathlib cannot expand the home of no such user (a RuntimeError, once a traceback;
    # found by the settings' property test).
    result = run_trashmon(
        command,
        "--api",
        "http://127.0.0.1:1",
        FLAG,
        "~trashmon-no-such-user/credentials",
        cwd=OUTSIDE_REPO,
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert FLAG in line
    assert "home directory" in line


def test_monitor_reads_api_and_metrics_with_the_credentials(
    credentials_file: Path, tmp_path: Path
) -> None:
    extra = {"TRASHMON_LOG_LEVEL": "debug", ENV: str(credentials_file)}
    with (
        hostile_process("healthy", "--credentials", f"monitor:{PASSWORD}") as url,
        monitor_process(url, tmp_path, **extra) as monitor,
    ):

        def both_up() -> bool:
            text = monitor.metrics()
            return "trashmon_mediamtx_up 1.0" in text and "trashmon_mediamtx_metrics_up 1.0" in text

        wait_until(both_up, 30, what="API and /metrics read with credentials")
        status = http_get(monitor.base + "/api/status")[1].decode()
        assert stop_process(monitor.proc) == 0
    assert PASSWORD not in status
    assert PASSWORD not in monitor.log.read_text()


def test_the_password_is_in_no_span(credentials_file: Path) -> None:
    exporter = InMemorySpanExporter()
    tracer = setup_tracing("test", SimpleSpanProcessor(exporter)).get_tracer("test")
    login = read_credentials_file(str(credentials_file))
    with HostileMediaMTX(credentials=f"monitor:{PASSWORD}") as server:
        client = MediaMTXClient(server.url, server.metrics_url, credentials=login)
        monitor = Monitor(client, tracer=tracer)
        try:
            state = monitor.poll_once()
        finally:
            monitor.close()
    assert state.report is not None
    assert state.report.mediamtx_error is None
    spans = exporter.get_finished_spans()
    assert {span.name for span in spans} >= {"trashmon.poll", "http.get"}
    assert PASSWORD not in "".join(span.to_json() for span in spans)
