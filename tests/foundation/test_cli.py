"""The CLI as a real process: help, exit codes, one-line errors, lazy imports."""

from __future__ import annotations

import argparse
import contextlib
import io
import subprocess

import pytest
from support.processes import TRASHMON, run_trashmon

from trashmonitor.cli import COMMANDS, build_parser


def test_help_lists_commands_and_exit_codes() -> None:
    result = run_trashmon("--help")
    assert result.returncode == 0
    assert "probe" in result.stdout
    assert "monitor" in result.stdout
    assert "Exit codes: 0 ok, 1 unhealthy or drift, 2 could not decide" in result.stdout


def test_no_command_prints_usage_and_exits_2() -> None:
    result = run_trashmon()
    assert result.returncode == 2
    assert "usage: trashmon" in result.stderr


def test_unknown_command_is_an_argparse_error() -> None:
    result = run_trashmon("frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
    assert "Traceback" not in result.stderr


def test_root_help_imports_no_component() -> None:
    code = (
        "import sys; from trashmonitor import cli\n"
        "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in sys.modules if m.startswith(('trashmonitor.monitor', "
        "'trashmonitor.dns', 'cloudflare', 'opentelemetry', 'paho'))]\n"
        "print(heavy)"
    )
    result = subprocess.run(
        [TRASHMON[0], "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip().endswith("[]")


def parsed_output(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[int, str, str]:
    """What parsing ``argv`` prints (stdout, stderr) and its exit code."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            parser.parse_args(argv)
            code = 0
        except SystemExit as stop:
            code = int(stop.code or 0)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_command_given_first_reads_as_with_every_command_built(name: str) -> None:
    # `trashmon probe ...` builds the probe's parser only (start-up); what it prints
    # and accepts must be what the whole parser does.
    for argv in ([name, "--help"], [name, "--no-such-flag"], [name, "--debug", "--help"]):
        whole = parsed_output(build_parser(name), argv)
        assert parsed_output(build_parser(name, only_command=True), argv) == whole
        assert whole[0] in (0, 2)
        assert whole[1] or whole[2]


def test_help_before_the_command_still_lists_every_command() -> None:
    result = run_trashmon("--help", "probe")
    assert result.returncode == 0
    listed = result.stdout.partition("COMMAND")[2]
    assert all(f"    {name} " in listed for name in COMMANDS), result.stdout
    result = run_trashmon("--debug", "frobnicate", "probe")
    assert result.returncode == 2
    assert "invalid choice: 'frobnicate' (choose from 'probe', 'monitor'" in result.stderr
