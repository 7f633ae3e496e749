"""docs/architecture.md's step → module tables are the file list (issue 13, "Measures"):
every module of every package folder has a row, every row names a module that exists."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from support.processes import REPO

# The table header every step → module table starts with.
TABLE_HEADER = "| step | module | what |"


def package_folders(pyproject: Path) -> set[str]:
    """The folders of Python modules pyproject's package-dir installs under the
    ``trashmonitor`` namespace (not server/: data only, the demo's Caddy config and viewer)."""
    config = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    folders = config["tool"]["setuptools"]["package-dir"].values()
    return {folder for folder in folders if any((pyproject.parent / folder).glob("*.py"))}


def documented_modules(architecture: str) -> dict[str, list[str]]:
    """folder -> the modules its sections' tables name, in order (a module listed for two
    steps, e.g. capture's v4l2.py, appears twice). A section (``### Title (`folder/`,
    …)``) that names one folder lists bare module names; one that names several lists
    ``folder/module.py``."""
    found: dict[str, list[str]] = {}
    for section in re.split(r"^### ", architecture, flags=re.MULTILINE)[1:]:
        title, _, body = section.partition("\n")
        if TABLE_HEADER not in body:
            continue
        folders = re.findall(r"`([a-z_]+)/`", title)
        assert folders, f"section {title!r}: its title names no folder"
        table = body[body.index(TABLE_HEADER) :].split("\n\n", 1)[0]
        for row in table.splitlines()[2:]:
            cell = row.split("|")[2]
            for name in re.findall(r"`([\w/]+\.py)`", cell):
                folder, _, module = name.rpartition("/")
                if not folder:
                    assert len(folders) == 1, f"section {title!r}: say which folder {name} is in"
                    folder = folders[0]
                assert folder in folders, f"section {title!r}: {name} is outside its folders"
                found.setdefault(folder, []).append(module)
    return found


def mismatches(root: Path, architecture: str, folders: set[str]) -> list[str]:
    """What differs between the tables and the folders, one line each (empty: they agree)."""
    documented = documented_modules(architecture)
    problems = [
        f"{folder}/: no step → module table" for folder in sorted(folders - set(documented))
    ]
    for folder in sorted(folders & set(documented)):
        on_disk = {path.name for path in (root / folder).glob("*.py")}
        listed = set(documented[folder])
        problems += [
            f"{folder}/{name}: no row" for name in sorted(on_disk - listed - {"__init__.py"})
        ]
        problems += [f"{folder}/{name}: row of no module" for name in sorted(listed - on_disk)]
    problems += [f"{folder}/: a table of no package folder" for folder in set(documented) - folders]
    return problems


def test_every_package_module_has_a_row_and_every_row_a_module() -> None:
    architecture = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert mismatches(REPO, architecture, package_folders(REPO / "pyproject.toml")) == []


def test_the_check_names_a_missing_an_extra_and_an_untabled_module(tmp_path: Path) -> None:
    for name in ("pkg/a.py", "pkg/b.py", "pkg/__init__.py", "other/c.py"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("")
    architecture = (
        "### Pkg (`pkg/`)\n\n"
        f"{TABLE_HEADER}\n| --- | --- | --- |\n"
        "| values | `a.py` | a |\n| act | `gone.py` | stale |\n\n"
        "### Prose (`other/`)\n\nno table\n"
    )
    assert mismatches(tmp_path, architecture, {"pkg", "other"}) == [
        "other/: no step → module table",
        "pkg/b.py: no row",
        "pkg/gone.py: row of no module",
    ]
