"""Result rows as a run journals them, for tests of the table, the store and the fold."""

from __future__ import annotations

import tempfile
from pathlib import Path

import polars as pl

from pipeline.plan.rows import PlannedRow, result_row
from pipeline.store.journal import Journal, read_journal


def row(identity: str, status: str = "ok") -> dict[str, object]:
    """A journal line: an ``ok`` (or ``status``) URL upload of ``identity``, without a place."""
    job = PlannedRow(identity, f"http://s/{identity}", "p", None, None, None, None)
    journal_line = result_row(job, method="url", run_id="r1", attempts=1).to_journal()
    return journal_line | {"status": status}


def placed(identity: str, status: str, key: int, manifest_row: int) -> dict[str, object]:
    """A journal line with its place: ``key`` in the table, ``manifest_row`` in the manifest."""
    return row(identity, status) | {"_key": key, "_row": manifest_row}


def read_frame(rows: list[dict[str, object]]) -> pl.DataFrame:
    """Journal lines read back as the journal reader gives them (result columns, typed)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "j"
        journal = Journal(path).open()
        for line in rows:
            journal.append(line)
        journal.close()
        return read_journal(path)
