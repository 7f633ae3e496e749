"""Regenerate the committed rule files and dashboards: ``just generate``.

``python -m trashmonitor.alerts.generate [--root DIR] [--check]`` writes
alerts/trashmonitor.rules.yaml, alerts/prometheusrule.yaml, alerts/alertmanager*.yml and
dashboards/generated/*.json from the default :class:`MixinConfig`. ``--check`` writes
nothing and exits 1 if any committed file differs (CI and pre-commit use).
Needs the `dev` extra (PyYAML, grafana-foundation-sdk); users get the committed files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from trashmonitor.alerts.config import DEFAULT_CONFIG, MixinConfig
from trashmonitor.errors import EXIT_OK, EXIT_UNHEALTHY, ConfigError

RULES_DIR = "alerts"
DASHBOARDS_DIR = "dashboards/generated"


def generated_files(config: MixinConfig = DEFAULT_CONFIG) -> dict[str, str]:
    """Path relative to the repository root -> content."""
    from trashmonitor.alerts.notifications import rendered_alertmanager_files
    from trashmonitor.alerts.render import rendered_rule_files
    from trashmonitor.dashboards.build import rendered_dashboards

    alerts = rendered_rule_files(config) | rendered_alertmanager_files(config)
    files = {f"{RULES_DIR}/{name}": text for name, text in alerts.items()}
    files |= {
        f"{DASHBOARDS_DIR}/{name}": text for name, text in rendered_dashboards(config).items()
    }
    return files


def stale_files(root: Path, config: MixinConfig = DEFAULT_CONFIG) -> list[str]:
    """Generated files whose committed content differs from a fresh render."""
    stale = []
    for relative, text in generated_files(config).items():
        path = root / relative
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(relative)
    return stale


def write_generated(root: Path, config: MixinConfig = DEFAULT_CONFIG) -> list[str]:
    written = []
    for relative, text in generated_files(config).items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(relative)
    return written


def _repository_root(text: str) -> Path:
    root = Path(text)
    if not (root / RULES_DIR / "rules.py").is_file():
        raise ConfigError("--root", f"{root} is not a trashmonitor checkout (no alerts/rules.py)")
    return root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trashmonitor.alerts.generate")
    parser.add_argument("--root", default=".", help="repository root (default: .)")
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    try:
        root = _repository_root(args.root)
    except ConfigError as error:
        print(f"generate: error: {error.message}", file=sys.stderr)
        return error.exit_code
    if args.check:
        stale = stale_files(root)
        for relative in stale:
            print(f"stale: {relative} (run `just generate`)", file=sys.stderr)
        return EXIT_UNHEALTHY if stale else EXIT_OK
    for relative in write_generated(root):
        print(f"wrote {relative}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
