"""The row form of a declared setting (``option`` / ``switch``) builds the same
:class:`Setting` the long form does."""

from __future__ import annotations

import argparse

import pytest

from trashmonitor.errors import ConfigError
from trashmonitor.settings import Setting, SettingsTable, count_between, option, switch


def test_option_reads_the_metavar_from_its_usage() -> None:
    row = option("--count N", "X_COUNT", count_between(1, 9), 3, "how many", commands=("a",))
    assert (row.flag, row.metavar, row.env, row.default, row.commands) == (
        "--count",
        "N",
        "X_COUNT",
        3,
        ("a",),
    )
    assert row.help_text() == "how many (env X_COUNT; default 3)"


def test_option_without_environment_is_a_flag_only_setting() -> None:
    row = option("--window S", None, float, 1.0, "look-back")
    table = SettingsTable("t", (row,))
    parser = argparse.ArgumentParser()
    table.add_arguments(parser, "any")
    assert table.read(parser.parse_args([]), "any", {"WINDOW": "5"})[row] == 1.0
    assert row.help_text() == "look-back (default 1)"


def test_switch_is_off_unless_given_and_refuses_a_value() -> None:
    loud: Setting[bool] = switch("--loud", "shout", note="louder")
    table = SettingsTable("t", (loud,))
    parser = argparse.ArgumentParser()
    table.add_arguments(parser, "any")
    assert table.read(parser.parse_args([]), "any", {})[loud] is False
    assert table.read(parser.parse_args(["--loud"]), "any", {})[loud] is True
    assert (loud.env, loud.default_text(), loud.note) == (None, "off", "louder")
    with pytest.raises(ValueError, match="takes no value"):
        loud.parse("yes")
    with pytest.raises(ConfigError):
        table.read(argparse.Namespace(loud="yes"), "any", {})
