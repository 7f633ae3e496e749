"""The generated tables of the docs pages, as the page holds them."""

from __future__ import annotations

from support.processes import REPO


def generated_table(page: str, name: str) -> str:
    """The lines between ``<!-- NAME settings table: generated …-->`` and
    ``<!-- end of generated NAME settings table -->`` in ``page`` (relative to the repo)."""
    text = (REPO / page).read_text(encoding="utf-8")
    begin = text.index(f"<!-- {name} settings table: generated")
    return text[text.index("\n", begin) + 1 : text.index(f"<!-- end of generated {name} ")]
