"""The CLI as a real process: help, exit codes, one-line errors, lazy imports."""

from __future__ import annotations

import argparse
import contextlib
import io
import subprocess

import pytest
from support.docs import generated_table
from support.processes import TRASHMON, clean_environ, run_trashmon

from trashmonitor.cli import COMMANDS, COMMON, LOG_LEVEL, build_parser


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


@pytest.mark.parametrize(
    "argv",
    [(), ("frobnicate",), ("probe", "--no-such-flag")],
    ids=["no-command", "unknown-command", "unknown-flag"],
)
def test_with_stderr_closed_the_usage_stays_off_stdout(argv: tuple[str, ...]) -> None:
    """Reproduction: ``trashmon 2>&-`` wrote its help to stdout, where a pipe's reader
    takes it for the command's output; a bad argument, its usage line (argparse's
    print_help(None) and print_usage(None) write to stdout)."""
    # The shell closes the descriptor, as a user's `trashmon 2>&-` does.
    result = subprocess.run(
        ["/bin/bash", "-c", 'exec "$@" 2>&-', "bash", *TRASHMON, *argv],
        capture_output=True, text=True, env=clean_environ(), timeout=60, check=False,
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (2, "")


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


# --------------------------------------------------------------------------- log level


def test_the_docs_table_of_the_common_settings_is_the_declared_table() -> None:
    assert generated_table("docs/monitor.md", "common") == COMMON.markdown(meaning=True), (
        "docs/monitor.md is out of date: paste `python -P -m trashmonitor.cli`"
    )


def test_the_log_level_keeps_its_flag_variable_and_default() -> None:
    assert (LOG_LEVEL.flag, LOG_LEVEL.env, LOG_LEVEL.default) == (
        "--log-level",
        "TRASHMON_LOG_LEVEL",
        "info",
    )
    help_text = " ".join(run_trashmon("rules", "--help").stdout.split())
    assert "(env TRASHMON_LOG_LEVEL; default info)" in help_text


@pytest.mark.parametrize(
    ("argv", "level", "code"),
    [
        (["--log-level", "warning", "hook", "online"], "LOUD", 2),  # the flag wins
        (["hook", "online", "--log-level", "loud"], "info", 2),  # argparse: invalid choice
        (["hook", "online"], "DEBUG", 2),  # case-insensitive, as before
        (["--debug", "hook", "online"], "loud", 2),  # --debug never read it
    ],
)
def test_the_log_level_is_read_flag_first(argv: list[str], level: str, code: int) -> None:
    # `hook online` without MTX_PATH ends with its own usage error (exit 2) once the log
    # level was accepted; a refused level names what the user set instead.
    done = run_trashmon(*argv, env=clean_environ(TRASHMON_LOG_LEVEL=level))
    assert done.returncode == code
    assert "TRASHMON_LOG_LEVEL" not in done.stderr
    assert "Traceback" not in done.stderr


def test_a_bad_log_level_variable_is_one_line_naming_it() -> None:
    done = run_trashmon("hook", "online", env=clean_environ(TRASHMON_LOG_LEVEL="loud"))
    assert done.returncode == 2
    assert done.stderr == (
        "trashmon hook: error: TRASHMON_LOG_LEVEL: expected one of debug, info, warning, "
        "error, got 'loud'\n"
    )
