"""Read expressions back out of generated dashboard JSON (no SDK needed).

Used by the tests (PromQL validity, metric-name contract) and kept beside the
dashboards so a new panel type with queries elsewhere is handled in one place.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def iter_panels(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in document.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def panel_expressions(document: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL expression) for every query target."""
    return [
        (panel.get("title", ""), target["expr"])
        for panel in iter_panels(document)
        for target in panel.get("targets", [])
        if "expr" in target
    ]


def variable_queries(document: dict[str, Any]) -> list[str]:
    return [
        variable["query"]
        for variable in document.get("templating", {}).get("list", [])
        if variable.get("type") == "query" and isinstance(variable.get("query"), str)
    ]
