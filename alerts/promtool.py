"""Run Debian's ``promtool`` on rule files and on bare PromQL expressions.

Dashboards have no PromQL checker of their own, so each panel expression is wrapped
in a throwaway recording rule and ``promtool check rules`` parses it. Grafana's
variables are replaced first: range variables by a real duration, others by a regex
that matches anything (they only ever appear inside ``=~"…"`` matchers here).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from trashmonitor.errors import ConfigError

_RANGE_VARIABLES = re.compile(r"\$(?:__rate_interval|__interval|__range)\b|\$\{__rate_interval\}")
_OTHER_VARIABLES = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?")


@dataclass(frozen=True)
class PromtoolResult:
    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def promtool_binary() -> str:
    path = shutil.which("promtool")
    if path is None:
        raise ConfigError("promtool", "not found on PATH (Debian package `prometheus`)")
    return path


def run_promtool(args: Sequence[str], cwd: Path | None = None) -> PromtoolResult:
    proc = subprocess.run(
        [promtool_binary(), *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    return PromtoolResult(proc.returncode, proc.stdout + proc.stderr)


def grafana_to_promql(expr: str) -> str:
    """A dashboard expression with Grafana variables replaced so Prometheus can parse it."""
    return _OTHER_VARIABLES.sub(".*", _RANGE_VARIABLES.sub("5m", expr))


def check_expressions(expressions: Sequence[str]) -> PromtoolResult:
    """``promtool check rules`` on one recording rule per expression."""
    rules = [
        {"record": f"dashboard:expression_{index}:check", "expr": grafana_to_promql(expr)}
        for index, expr in enumerate(expressions)
    ]
    # JSON is YAML: no PyYAML needed, and no quoting surprises in PromQL strings.
    document = {"groups": [{"name": "dashboard-expressions", "rules": rules}]}
    with tempfile.TemporaryDirectory(prefix="trashmon-promql-") as tmp:
        path = Path(tmp) / "expressions.rules.json"
        path.write_text(json.dumps(document), encoding="utf-8")
        return run_promtool(["check", "rules", str(path)])
