"""``trashmon rules``: print or write the shipped alert rules and Grafana dashboards.

For users without the server image: the files are the ones generated from the default
mixin config and committed (package data), so this needs no dev dependency. Its settings
are one declared table, :data:`SETTINGS` (flags only: nothing here is worth an
environment variable); it generates the options, their ``--help`` and the table of
docs/observability.md (``python -P -m trashmonitor.alerts.cli``), and :func:`read`
resolves them once into a frozen :class:`RulesSettings`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from trashmonitor.alerts.notifications import (
    ALERTMANAGER_CONFIG_FILE,
    ALERTMANAGER_FILE,
    EXAMPLE_FILES,
)
from trashmonitor.errors import EXIT_OK, ConfigError
from trashmonitor.settings import SettingsTable, option

# Alertmanager: the shipped config, its e-mail/ntfy examples, the AlertmanagerConfig.
NOTIFICATION_FILES = (ALERTMANAGER_FILE, *EXAMPLE_FILES, ALERTMANAGER_CONFIG_FILE)
RULE_FILES = {"prometheus": "trashmonitor.rules.yaml", "operator": "prometheusrule.yaml"}
# A central Prometheus over several sites loads these as well (docs/observability.md).
CENTRAL_RULE_FILES = ("central.rules.yaml", "central-prometheusrule.yaml")
DASHBOARD_NAMES = ("overview", "camera", "monitor", "dns")
PROVISIONING_FILE = "dashboards.yaml"


def _alerts_data() -> Traversable:
    return resources.files("trashmonitor.alerts")


def _dashboards_data() -> Traversable:
    return resources.files("trashmonitor.dashboards")


def shipped_files() -> dict[str, str]:
    """Relative output path -> content of every shipped artefact."""
    names = [*RULE_FILES.values(), *CENTRAL_RULE_FILES, *NOTIFICATION_FILES]
    files = {name: _alerts_data().joinpath(name).read_text("utf-8") for name in names}
    for name in DASHBOARD_NAMES:
        text = _dashboards_data().joinpath("generated", f"{name}.json").read_text("utf-8")
        files[f"dashboards/{name}.json"] = text
    provisioning = _dashboards_data().joinpath("provisioning", PROVISIONING_FILE)
    files[f"provisioning/{PROVISIONING_FILE}"] = provisioning.read_text("utf-8")
    return files


def one_of(names: Iterable[str]) -> Callable[[str], str]:
    """A parser accepting one of ``names`` exactly (argparse's ``choices``, as a setting)."""
    allowed = tuple(names)

    def parse(text: str) -> str:
        if text not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}")
        return text

    return parse


def _usage(flag: str, names: Iterable[str]) -> str:
    return f"{flag} {{{','.join(names)}}}"  # as argparse shows choices


RULES = "rules"
FORMAT = option(
    _usage("--format", sorted(RULE_FILES)), None, one_of(sorted(RULE_FILES)), "prometheus",
    "rule file to print: plain Prometheus rule file or a prometheus-operator PrometheusRule",
)  # fmt: skip
DASHBOARD = option(
    _usage("--dashboard", DASHBOARD_NAMES), None, one_of(DASHBOARD_NAMES), None,
    "print this Grafana dashboard's JSON", shown_default="none",
)  # fmt: skip


def output_directory(text: str) -> Path | None:
    """The directory as given (no ``~`` expansion: the shell does that); empty is unset."""
    return Path(text) if text else None


OUTPUT = option(
    "--output DIR", None, output_directory, None,
    "write both rule files, the Alertmanager configs, dashboards/*.json and provisioning/ "
    "into DIR", shown_default="none (print)",
)  # fmt: skip
SETTINGS = SettingsTable(RULES, (FORMAT, DASHBOARD, OUTPUT))


@dataclass(frozen=True)
class RulesSettings:
    """What ``trashmon rules`` was asked for, read once; at most one of the three given."""

    format: str
    dashboard: str | None
    output: Path | None


def configure(parser: argparse.ArgumentParser) -> None:
    # One of the three: argparse's group enforces it (and shows it in the usage line);
    # the group takes add_argument like a parser.
    what = parser.add_mutually_exclusive_group()
    SETTINGS.add_arguments(what, RULES)  # type: ignore[arg-type]  # a parser's add_argument


def read(args: argparse.Namespace) -> RulesSettings:
    """Every setting of the command, resolved once (ConfigError names a bad flag)."""
    settings = SETTINGS.read(args, RULES, environ={})
    return RulesSettings(settings[FORMAT], settings[DASHBOARD], settings[OUTPUT])


def _write_all(directory: Path) -> list[Path]:
    if directory.exists() and not directory.is_dir():
        raise ConfigError("--output", f"{directory} exists and is not a directory")
    written = []
    for relative, text in shipped_files().items():
        path = directory / relative
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as error:
            raise ConfigError("--output", f"cannot write {path}: {error.strerror}") from error
        written.append(path)
    return written


def run(args: argparse.Namespace) -> int:
    settings = read(args)
    if settings.output is not None:
        for path in _write_all(settings.output):
            print(path)
    elif settings.dashboard is not None:
        sys.stdout.write(shipped_files()[f"dashboards/{settings.dashboard}.json"])
    else:
        sys.stdout.write(shipped_files()[RULE_FILES[settings.format]])
    return EXIT_OK


if __name__ == "__main__":  # the settings table of docs/observability.md
    print(SETTINGS.markdown(meaning=True), end="")
