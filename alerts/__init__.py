"""Prometheus alert and recording rules, rendered from one config (mixin style).

Importing this package needs no dev dependency: the rule definitions are plain data.
Rendering YAML (:mod:`.render`) needs PyYAML and the dashboards need
grafana-foundation-sdk, both only at generation time (`just generate`).
"""

from trashmonitor.alerts.config import DEFAULT_CONFIG, MixinConfig
from trashmonitor.alerts.rules import (
    AlertRule,
    RecordingRule,
    RuleGroup,
    all_alerts,
    prometheus_rule,
    rule_file,
    rule_groups,
)

__all__ = [
    "DEFAULT_CONFIG",
    "AlertRule",
    "MixinConfig",
    "RecordingRule",
    "RuleGroup",
    "all_alerts",
    "prometheus_rule",
    "rule_file",
    "rule_groups",
]
