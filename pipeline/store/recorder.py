"""A run's writes to its table: the journal line per row, checkpoints, and the final write.

Every write that fails raises :class:`~pipeline.core.errors.TableWriteError` (see
:mod:`pipeline.store.writes`); after a failed journal write the recorder is broken: what follows
in the journal could not be trusted, so it takes no more rows and does not finish the table
(the rows already written are recovered by the next run).
"""

from __future__ import annotations

from typing import Any, Final

import polars as pl

from pipeline.core.errors import TableWriteError
from pipeline.store.checkpoints import Base, Checkpoints
from pipeline.store.chunks import ManifestChunks
from pipeline.store.files import TableFiles
from pipeline.store.finish import Progress, finish
from pipeline.store.journal import Journal, read_journal
from pipeline.store.refs import by_reference
from pipeline.store.writes import write_failure, writes_to

#: A checkpoint is due after this many journaled rows, so the journal (read back whole at a
#: checkpoint) stays small however long the run.
CHECKPOINT_ROWS: Final = 10_000


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

    A row is in the journal (handed to the kernel) before :meth:`append` returns, a long url
    by reference (:mod:`pipeline.store.refs`); a checkpoint moves the journal's rows into
    checkpoint files and empties it; :meth:`finish` writes the
    table once, streamed, and removes every companion the run made.
    """

    def __init__(self, files: TableFiles, base: Base, chunks: ManifestChunks | None) -> None:
        self._files = files
        self._base = base
        self._chunks = chunks
        self._checkpoints = Checkpoints(files)
        self._journal = Journal(files.journal)
        self._broken: TableWriteError | None = None

    def open(self) -> None:
        """Start the run's checkpoints and journal (any leftovers were recovered before)."""
        with writes_to(self._files.checkpoints, self._files.table):
            self._checkpoints.start(self._base)
            self._journal.open()

    def append(self, row: dict[str, Any]) -> bool:
        """Journal one finished row (with its ``_key`` and ``_row``); back once it is written.

        Returns True when a checkpoint is due. Raises :class:`TableWriteError` when the row
        could not be written (disk full): it is not recorded, and nothing more will be.
        """
        if self._broken is not None:
            raise self._broken
        try:
            self._journal.append(by_reference(row, self._chunks))
        except OSError as exc:
            self._broken = write_failure(self._files.journal, self._files.table, exc)
            raise self._broken from exc
        return self._journal.rows_written >= CHECKPOINT_ROWS

    def checkpoint(self) -> None:
        """Make every journaled row durable in a checkpoint file and empty the journal."""
        if self._journal.rows_written == 0:
            return
        with writes_to(self._files.checkpoints, self._files.table):
            self._journal.sync()
            rows = with_extras(read_journal(self._journal.path, places=True), self._chunks)
            self._checkpoints.write(rows, self._base.width)
            self._journal.truncate()
        self._journal.rows_written = 0

    def finish(self, progress: Progress | None = None) -> None:
        """Checkpoint the rest, write the table (streamed, atomic), remove the companions;
        ``progress`` is told the rows written so far as the table is written."""
        if self._broken is not None:
            raise self._broken
        self.checkpoint()
        with writes_to(self._files.table, self._files.table):
            finish(self._files.table, self._checkpoints, self._chunks, progress)
        self._journal.close(remove=True)
        if self._chunks is not None:
            self._chunks.remove()

    def close(self) -> None:
        """Close the journal without finishing (a failed write: the next run recovers)."""
        self._journal.close()
