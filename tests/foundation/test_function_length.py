"""No function over 60 lines outside the declarative tables (issue 13, "Measures"): a long
function is several steps that want names of their own."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from support.processes import REPO

LIMIT = 60
# The package's folders (pyproject's package-dir), the benchmarks, the server bundle's
# scripts, the tests and the Python scripts of scripts/ (found by their shebang).
SCANNED = (
    "trashmonitor", "monitor", "capture", "dns", "alerts", "dashboards", "bench", "server",
    "tests", "scripts",
)  # fmt: skip

# Declarative tables: one long literal list of rules or panels reads best as one piece.
TABLES = {
    "alerts/rules.py": "the alert rules, one table per group",
    "dashboards/build.py": "the dashboards, one panel list per dashboard",
}

# Tests over the limit when tests/ joined the scan: to split into named steps. A test
# added over the limit fails; one split must leave this list (a test below checks it).
TESTS_TO_SPLIT = {
    "tests/server/test_viewer.py:test_viewer_plays_hls_and_merges_mediamtx_with_the_monitor",
    "tests/server/test_viewer.py:test_panel_renders_each_control_type_and_posts_with_the_header",
    "tests/server/test_viewer.py:test_panel_actions_thumbnail_events_and_refusals",
}


def _functions(node: ast.AST, prefix: str = "") -> Iterator[tuple[str, int]]:
    """(qualified name, lines from `def` to its last line) of every function, nested too."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            end = child.end_lineno if child.end_lineno is not None else child.lineno
            yield prefix + child.name, end - child.lineno + 1
            yield from _functions(child, f"{prefix}{child.name}.")
        elif isinstance(child, ast.ClassDef):
            yield from _functions(child, f"{prefix}{child.name}.")


def _python_files(folder: Path) -> list[Path]:
    """Every ``*.py`` below ``folder``, and its files without a suffix whose shebang names
    Python (scripts/screenshot-viewer)."""
    scripts = []
    for path in folder.rglob("*"):
        if path.is_file() and not path.suffix and not _foreign(path, folder):
            with path.open("rb") as file:
                first = file.readline(100)
            if first.startswith(b"#!") and b"python" in first:
                scripts.append(path)
    return sorted([*(p for p in folder.rglob("*.py") if not _foreign(p, folder)), *scripts])


def _foreign(path: Path, folder: Path) -> bool:
    """Installed, not ours: the viewer's node_modules, a virtualenv, a cache."""
    parts = path.relative_to(folder).parts
    return any(part == "node_modules" or part.startswith(".") for part in parts)


def long_functions(root: Path, folders: tuple[str, ...], limit: int) -> dict[str, int]:
    """``file:function`` -> length, for every function longer than ``limit`` lines."""
    found = {}
    for folder in folders:
        for path in _python_files(root / folder):
            relative = path.relative_to(root).as_posix()
            for name, length in _functions(ast.parse(path.read_text(encoding="utf-8"))):
                if length > limit:
                    found[f"{relative}:{name}"] = length
    return found


def test_no_function_is_over_the_limit_outside_the_tables() -> None:
    found = long_functions(REPO, SCANNED, LIMIT)
    unexpected = {
        key: length
        for key, length in found.items()
        if key.split(":")[0] not in TABLES and key not in TESTS_TO_SPLIT
    }
    assert unexpected == {}, f"over {LIMIT} lines: split them into named steps"


def test_the_tests_still_to_split_are_still_too_long() -> None:
    found = long_functions(REPO, ("tests",), LIMIT)
    assert TESTS_TO_SPLIT - set(found) == set(), "split: take it off TESTS_TO_SPLIT"


def test_python_scripts_without_a_suffix_are_scanned(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    body = "".join(f"    x{i} = {i}\n" for i in range(LIMIT))
    (tmp_path / "scripts" / "tool").write_text(f"#!/usr/bin/env python3\ndef long():\n{body}")
    (tmp_path / "scripts" / "run").write_text(f"#!/usr/bin/env bash\ndef long():\n{body}")
    assert long_functions(tmp_path, ("scripts",), LIMIT) == {"scripts/tool:long": LIMIT + 1}


def test_the_scan_measures_from_def_to_the_last_line(tmp_path: Path) -> None:
    def body(indent: str) -> str:
        return "".join(f"{indent}x{i} = {i}\n" for i in range(LIMIT - 1))

    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text(
        f"def fits():\n{body('    ')}\n"
        f"class C:\n    def too_long(self):\n{body(' ' * 8)}        return None\n"
        "    def short(self):\n        def inner():\n            pass\n"
    )
    assert long_functions(tmp_path, ("pkg",), LIMIT) == {"pkg/m.py:C.too_long": LIMIT + 1}
