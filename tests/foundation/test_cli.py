"""The CLI as a real process: help, exit codes, one-line errors, lazy imports."""

from __future__ import annotations

import subprocess

from support.processes import TRASHMON, run_trashmon


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
