"""Markdown tables of benchmark rows (the one renderer the ``bench`` scripts print their results with)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["markdown_table"]


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]], text_columns: int = 1) -> str:
    """A GitHub markdown table: the ``header`` cells, then one line per row of already formatted
    cells (``str()`` of each). The first ``text_columns`` columns are left-aligned, the rest
    (figures) right-aligned."""
    aligns = ["---" if i < text_columns else "---:" for i in range(len(header))]
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(aligns) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)
