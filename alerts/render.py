"""Render the rule documents to YAML text (generation time; needs PyYAML from `dev`).

The shipped files are generated once and committed; users and the `trashmon rules`
command read those files, so PyYAML is not a runtime dependency.
"""

from __future__ import annotations

from typing import Any

from trashmonitor.alerts.config import DEFAULT_CONFIG, MixinConfig
from trashmonitor.alerts.rules import central_rule_file, prometheus_rule, rule_file

RULES_FILE = "trashmonitor.rules.yaml"
PROMETHEUS_RULE_FILE = "prometheusrule.yaml"
# Only for a central Prometheus over several sites (docs/observability.md, "Several sites").
CENTRAL_RULES_FILE = "central.rules.yaml"
CENTRAL_PROMETHEUS_RULE_FILE = "central-prometheusrule.yaml"

HEADER = (
    "# Generated from trashmonitor/alerts (MixinConfig) by `just generate`: do not edit.\n"
    "# Alerts and their runbook: docs/observability.md, docs/runbook.md.\n"
)


def to_yaml(document: dict[str, Any]) -> str:
    import yaml

    # Wide lines: folding PromQL across lines is valid YAML but unreadable in review.
    body = yaml.safe_dump(document, sort_keys=False, width=10_000, allow_unicode=True)
    return HEADER + body


def rules_yaml(config: MixinConfig = DEFAULT_CONFIG) -> str:
    return to_yaml(rule_file(config))


def prometheus_rule_yaml(config: MixinConfig = DEFAULT_CONFIG) -> str:
    return to_yaml(prometheus_rule(config))


def rendered_rule_files(config: MixinConfig = DEFAULT_CONFIG) -> dict[str, str]:
    """File name (inside alerts/) -> content."""
    central = central_rule_file(config)
    return {
        RULES_FILE: rules_yaml(config),
        PROMETHEUS_RULE_FILE: prometheus_rule_yaml(config),
        CENTRAL_RULES_FILE: to_yaml(central),
        CENTRAL_PROMETHEUS_RULE_FILE: to_yaml(
            prometheus_rule(config, name="trashmonitor-central", spec=central)
        ),
    }
