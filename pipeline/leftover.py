"""A result table read together with the journal a killed run may have left beside it.

``ferry verify`` and ``ferry merge`` rewrite tables without a manifest at hand, so the extra
columns of a journaled row are taken from the table's own row for that identity (a journal
holds only the result columns). Identities that exist only in the journal get empty extras.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipeline.journal import journal_path_for, read_journal
from pipeline.results import fold, read_results
from pipeline.schema import RESULT_COLUMNS


def extra_columns(frame: pl.DataFrame) -> list[str]:
    """The columns of ``frame`` that are not result columns (the manifest's extras)."""
    return [name for name in frame.columns if name not in RESULT_COLUMNS]


def read_with_journal(path: Path) -> tuple[pl.DataFrame, int]:
    """The table at ``path`` with its leftover journal folded in, and how many rows that added.

    Raises :class:`~pipeline.errors.ResultsError` when the table cannot be read.
    """
    table = read_results(path)
    journal = read_journal(journal_path_for(path))
    if journal.height == 0:
        return table, 0
    extras = table.select("id", *extra_columns(table))
    return fold(table, journal, extras), journal.height
