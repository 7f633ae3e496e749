"""``trashmon demo``'s declared settings: the README's table, bounds, one-line errors."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from support.docs import generated_table
from support.processes import clean_environ, run_trashmon

from trashmonitor.demo import SETTINGS, Ports, configure, read
from trashmonitor.errors import ConfigError


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure(parser)
    return parser.parse_args(argv)


def test_the_readme_table_is_the_declared_table() -> None:
    assert generated_table("README.md", "demo") == SETTINGS.markdown(meaning=True), (
        "README.md is out of date: paste `python -P -m trashmonitor.demo`"
    )


def test_the_defaults_are_the_usual_ports_and_demo_state() -> None:
    settings = read(_args(), {})
    assert (settings.state_dir, settings.ports, settings.mediamtx_bin) == (
        Path("demo-state"),
        Ports(),
        None,
    )
    based = read(_args("--port-base", "20000", "--state-dir", "s"), {"MEDIAMTX_BIN": ""})
    assert (based.ports, based.state_dir, based.mediamtx_bin) == (
        Ports.from_base(20000),
        Path("s"),
        None,
    )


def test_the_flag_beats_the_variable_and_both_must_be_executable(tmp_path: Path) -> None:
    binary = tmp_path / "mediamtx"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    chosen = read(_args("--mediamtx-bin", str(binary)), {"MEDIAMTX_BIN": "/nonexistent"})
    assert chosen.mediamtx_bin == str(binary)
    with pytest.raises(ConfigError, match=r"^MEDIAMTX_BIN: expected an executable file"):
        read(_args(), {"MEDIAMTX_BIN": str(tmp_path / "missing")})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--port-base", "80"], "--port-base: expected a port between 1024 and 65515"),
        (["--port-base", "x"], "--port-base: expected a whole number, got 'x'"),
    ],
)
def test_a_bad_value_is_one_line_and_exit_2_before_anything_starts(
    argv: list[str], message: str, tmp_path: Path
) -> None:
    done = run_trashmon("demo", *argv, "--state-dir", str(tmp_path / "s"), env=clean_environ())
    assert done.returncode == 2
    assert done.stderr == f"trashmon demo: error: {message}\n"
    assert not (tmp_path / "s").exists()
