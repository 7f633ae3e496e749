"""``trashmon rules``: print or write the shipped alert rules and Grafana dashboards.

For users without the server image: the files are the ones generated from the default
mixin config and committed (package data), so this needs no dev dependency.
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from trashmonitor.alerts.notifications import (
    ALERTMANAGER_CONFIG_FILE,
    ALERTMANAGER_FILE,
    EXAMPLE_FILES,
)
from trashmonitor.errors import EXIT_OK, ConfigError

# Alertmanager: the shipped config, its e-mail/ntfy examples, the AlertmanagerConfig.
NOTIFICATION_FILES = (ALERTMANAGER_FILE, *EXAMPLE_FILES, ALERTMANAGER_CONFIG_FILE)
RULE_FILES = {"prometheus": "trashmonitor.rules.yaml", "operator": "prometheusrule.yaml"}
DASHBOARD_NAMES = ("overview", "camera", "monitor", "dns")
PROVISIONING_FILE = "dashboards.yaml"


def _alerts_data() -> Traversable:
    return resources.files("trashmonitor.alerts")


def _dashboards_data() -> Traversable:
    return resources.files("trashmonitor.dashboards")


def shipped_files() -> dict[str, str]:
    """Relative output path -> content of every shipped artefact."""
    names = [*RULE_FILES.values(), *NOTIFICATION_FILES]
    files = {name: _alerts_data().joinpath(name).read_text("utf-8") for name in names}
    for name in DASHBOARD_NAMES:
        text = _dashboards_data().joinpath("generated", f"{name}.json").read_text("utf-8")
        files[f"dashboards/{name}.json"] = text
    provisioning = _dashboards_data().joinpath("provisioning", PROVISIONING_FILE)
    files[f"provisioning/{PROVISIONING_FILE}"] = provisioning.read_text("utf-8")
    return files


def configure(parser: argparse.ArgumentParser) -> None:
    what = parser.add_mutually_exclusive_group()
    what.add_argument(
        "--format",
        choices=sorted(RULE_FILES),
        default="prometheus",
        help="rule file to print: plain Prometheus rule file (default) or a "
        "prometheus-operator PrometheusRule",
    )
    what.add_argument(
        "--dashboard", choices=DASHBOARD_NAMES, help="print this Grafana dashboard's JSON"
    )
    what.add_argument(
        "--output",
        metavar="DIR",
        help="write both rule files, the Alertmanager configs, dashboards/*.json and "
        "provisioning/ into DIR",
    )


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
    if args.output:
        for path in _write_all(Path(args.output)):
            print(path)
    elif args.dashboard:
        sys.stdout.write(shipped_files()[f"dashboards/{args.dashboard}.json"])
    else:
        sys.stdout.write(shipped_files()[RULE_FILES[args.format]])
    return EXIT_OK
