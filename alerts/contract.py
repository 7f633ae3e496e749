"""Which metric names the rules and dashboards use, and which names exist.

A renamed metric must break a test rather than silently empty a panel or disarm an
alert. This module collects the names on both sides:

* :func:`metric_names_in_expression` — names a PromQL expression selects (a small
  lexer: strings, label matchers, ranges and grouping clauses are removed first, then
  identifiers that are not functions, keywords or numbers are metric names);
* :func:`exported_metric_names` — names a ``/metrics`` exposition provides, including
  the sample names implied by ``# TYPE`` lines of families that have no samples yet;
* :func:`contract_metric_names` — the names documented in docs/contracts.md's tables.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Prometheus's own series that rules may use without an exporter documenting them.
PROMETHEUS_BUILTIN_NAMES = frozenset({"up", "ALERTS", "ALERTS_FOR_STATE"})

_KEYWORDS = frozenset(
    {
        "and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
        "group_right", "bool", "offset", "inf", "nan", "atan2",
    }
)  # fmt: skip
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
_IDENTIFIER = re.compile(r"(?<![\w.:])([A-Za-z_:][A-Za-z0-9_:]*)(?![\w:])(?!\s*\()")
_NUMBER_LIKE = re.compile(r"^(?:0x[0-9a-fA-F]+|[0-9].*)$")
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)")


def metric_names_in_expression(expr: str) -> set[str]:
    """Metric (and recording rule) names a PromQL expression reads."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub("", text)
    text = _RANGE.sub("", text)
    text = _GROUPING.sub("", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        word = match.group(1)
        if word.lower() in _KEYWORDS or _NUMBER_LIKE.match(word):
            continue
        names.add(word)
    return names


def metric_names_in_variable_query(query: str) -> set[str]:
    """Names in a Grafana Prometheus variable query (``label_values(metric, label)``)."""
    match = _LABEL_VALUES.match(query)
    if match:
        return {match.group(1)}
    return metric_names_in_expression(query)


def _family_sample_names(name: str, kind: str) -> set[str]:
    if kind == "counter":
        return {name if name.endswith("_total") else f"{name}_total"}
    if kind == "histogram":
        return {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    if kind == "summary":
        return {name, f"{name}_sum", f"{name}_count"}
    if kind == "info":
        return {name if name.endswith("_info") else f"{name}_info"}
    return {name}


_SAMPLE_NAME = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(?=[\s{])")


def exported_metric_names(exposition_text: str) -> set[str]:
    """Sample names a Prometheus text exposition provides (or declares via ``# TYPE``).

    Families declared without samples (a labelled counter nobody incremented yet)
    still count, with the suffixes their type implies, so the contract holds before
    the first error happens.
    """
    names: set[str] = set()
    for raw in exposition_text.splitlines():
        line = raw.strip()
        if line.startswith("# TYPE "):
            parts = line.split()
            if len(parts) >= 4:
                names |= _family_sample_names(parts[2], parts[3])
        elif line and not line.startswith("#"):
            match = _SAMPLE_NAME.match(line)
            if match:
                names.add(match.group(1))
    return names


_TABLE_NAME_CELL = re.compile(r"^\|\s*`([A-Za-z_:][A-Za-z0-9_:]*)`\s*\|\s*([a-z]+)\s*\|")


def contract_metric_names(contracts_markdown: str) -> set[str]:
    """Sample names of every metric row (``| `name` | type | …``) in docs/contracts.md."""
    names: set[str] = set()
    for line in contracts_markdown.splitlines():
        match = _TABLE_NAME_CELL.match(line.strip())
        if match and match.group(2) in {"gauge", "counter", "histogram", "summary", "info"}:
            names |= _family_sample_names(match.group(1), match.group(2))
    return names


def undeclared_names(used: Iterable[str], *known: Iterable[str]) -> set[str]:
    """Names in ``used`` that no known source provides (recording rules included)."""
    provided = set(PROMETHEUS_BUILTIN_NAMES)
    for source in known:
        provided |= set(source)
    return set(used) - provided
