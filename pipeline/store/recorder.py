"""A run's writes to its table: the journal line per row, checkpoints, and the final write."""

from __future__ import annotations

from typing import Any

import polars as pl

from pipeline.store.checkpoints import Base, Checkpoints
from pipeline.store.chunks import ManifestChunks
from pipeline.store.files import TableFiles
from pipeline.store.finish import finish
from pipeline.store.journal import Journal, read_journal


def with_extras(rows: pl.DataFrame, chunks: ManifestChunks | None) -> pl.DataFrame:
    """Journal ``rows`` with the extra columns of their manifest rows joined on by ``_row``."""
    if chunks is None or not chunks.extra_columns or rows.height == 0:
        return rows
    extras = chunks.extras_for(rows["_row"])
    if extras.width == 0:
        return rows
    return rows.join(extras, on="_row", how="left", maintain_order="left")


class RunRecorder:
    """Records one run's finished rows: journal first, then checkpoints, then the table.

    A row is in the journal (handed to the kernel) before :meth:`append` returns; a checkpoint
    moves the journal's rows into checkpoint files and empties it; :meth:`finish` writes the
    table once, streamed, and removes every companion the run made.
    """

    def __init__(self, files: TableFiles, base: Base, chunks: ManifestChunks | None) -> None:
        self.files = files
        self.base = base
        self.chunks = chunks
        self.checkpoints = Checkpoints(files)
        self.journal = Journal(files.journal)
        #: Set when a journal write failed: what follows in the file cannot be trusted, so
        #: nothing more is appended (the rows already there are recovered by the next run).
        self.broken = False

    def open(self) -> None:
        """Start the run's checkpoints and journal (any leftovers were recovered before)."""
        self.checkpoints.start(self.base)
        self.journal.open()

    @property
    def rows_since_checkpoint(self) -> int:
        """Rows in the journal, not yet in a checkpoint."""
        return self.journal.rows_written

    def append(self, row: dict[str, Any]) -> None:
        """Journal one finished row (with its ``_key`` and ``_row``); back once it is written.

        Raises the ``OSError`` of a failed write (disk full).
        """
        self.journal.append(row)

    def checkpoint(self) -> None:
        """Make every journaled row durable in a checkpoint file and empty the journal."""
        if self.journal.rows_written == 0:
            return
        self.journal.sync()
        rows = with_extras(read_journal(self.journal.path, places=True), self.chunks)
        self.checkpoints.write(rows, self.base.width)
        self.journal.truncate()
        self.journal.rows_written = 0

    def finish(self) -> None:
        """Checkpoint the rest, write the table (streamed, atomic), remove the companions."""
        self.checkpoint()
        finish(self.files.table, self.checkpoints)
        self.journal.close(remove=True)
        if self.chunks is not None:
            self.chunks.remove()

    def close(self) -> None:
        """Close the journal without finishing (a failed write: the next run recovers)."""
        self.journal.close()
