"""Every test the docs and the package's comments cite exists (issue 13, "stale comments"):
a ``tests/…py`` reference names a file on disk, a ``tests/…py::name`` one a function in it.
A table cell may continue a reference with ``, ::other_name`` (same file)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from support.processes import REPO

# The package's folders (pyproject's package-dir), whose comments and docstrings cite tests.
PACKAGE_FOLDERS = ("trashmonitor", "monitor", "capture", "dns", "alerts", "dashboards")

# A full reference (file, optional ::name) or a continuation (::name, the last file's).
REFERENCE = re.compile(r"(?P<file>tests/[\w/]+\.py)(?:::(?P<name>\w+))?|::(?P<more>\w+)")


def citing_files(root: Path) -> list[Path]:
    """docs/*.md, README.md and every module of the package."""
    package = [path for folder in PACKAGE_FOLDERS for path in (root / folder).rglob("*.py")]
    return [*sorted((root / "docs").glob("*.md")), root / "README.md", *sorted(package)]


def references(text: str) -> Iterator[tuple[int, str, str | None]]:
    """(line number, test file, function name or None) of every test reference in text."""
    for number, line in enumerate(text.splitlines(), start=1):
        last_file: str | None = None
        for match in REFERENCE.finditer(line):
            if match["file"]:
                last_file = match["file"]
                yield number, last_file, match["name"]
            elif last_file is not None:
                yield number, last_file, match["more"]


def defined_functions(source: str) -> set[str]:
    """Names of every function defined in a module, methods and nested ones included."""
    tree = ast.parse(source)
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def broken_references(root: Path, cited_in: list[Path]) -> list[str]:
    """One line per reference naming a missing test file or function (empty: all exist)."""
    functions: dict[str, set[str] | None] = {}
    problems = []
    for citing in cited_in:
        where = citing.relative_to(root)
        for number, test_file, name in references(citing.read_text(encoding="utf-8")):
            if test_file not in functions:
                path = root / test_file
                functions[test_file] = (
                    defined_functions(path.read_text(encoding="utf-8")) if path.is_file() else None
                )
            known = functions[test_file]
            if known is None:
                problems.append(f"{where}:{number}: {test_file} does not exist")
            elif name is not None and name not in known:
                problems.append(f"{where}:{number}: {test_file} has no function {name}")
    return problems


def test_every_cited_test_file_and_function_exists() -> None:
    cited_in = citing_files(REPO)
    assert REPO / "docs" / "security.md" in cited_in
    assert broken_references(REPO, cited_in) == []


def test_the_checker_finds_a_missing_file_a_missing_function_and_a_continuation(
    tmp_path: Path,
) -> None:
    (tmp_path / "tests" / "x").mkdir(parents=True)
    (tmp_path / "tests" / "x" / "test_a.py").write_text(
        "def test_one():\n    pass\n\nclass TestGroup:\n    def test_two(self):\n        pass\n",
        encoding="utf-8",
    )
    doc = tmp_path / "doc.md"
    doc.write_text(
        "| case | ok | `tests/x/test_a.py::test_one`, `::test_two` |\n"
        "| case | parametrised | tests/x/test_a.py::test_one[some-id] |\n"
        "| case | gone | tests/x/test_a.py::test_three, ::test_one, ::test_four |\n"
        "see tests/x/test_missing.py and tests/x/test_a.py\n",
        encoding="utf-8",
    )
    assert broken_references(tmp_path, [doc]) == [
        "doc.md:3: tests/x/test_a.py has no function test_three",
        "doc.md:3: tests/x/test_a.py has no function test_four",
        "doc.md:4: tests/x/test_missing.py does not exist",
    ]
