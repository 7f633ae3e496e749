"""docs/architecture.md's DNS step → module table is the file list of dns/."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SECTION = "### DNS reconciler"


def test_the_architecture_table_names_every_dns_module_once() -> None:
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    start = text.index(SECTION)
    section = text[start : text.index("\n### ", start + 1)]
    documented = re.findall(r"^\| [a-zA-Z]+ \| `([a-z_]+\.py)` \|", section, flags=re.MULTILINE)
    modules = sorted(p.name for p in (REPO / "dns").glob("*.py") if p.name != "__init__.py")
    assert sorted(documented) == modules
    assert len(documented) == len(set(documented))
