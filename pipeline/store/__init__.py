"""The result store: one table and every file ferry keeps beside it, in one place.

:class:`ResultStore` is the only way ``run``, ``status``, ``verify``, ``merge`` and ``report``
touch a table's files (``T``, ``T.journal``, ``T.lock``, ``T.checkpoints/``, ``T.plan/``):

* :meth:`ResultStore.read` gives the table with every row finished up to the last checkpoint
  (and the journal) folded in, without a lock: what a reader sees while a run goes on;
* :meth:`ResultStore.locked` holds the table's lock; under it, :meth:`ResultStore.recover`
  folds in whatever a killed run left, :meth:`ResultStore.recorder` records a run and
  :meth:`ResultStore.write` replaces the whole table (``verify``, ``merge``).

Crash safety: a finished row is in the journal before the run moves on; a checkpoint copies
the journal into checkpoint files (fsync) before emptying it; the table is replaced by an
atomic rename. A kill at any moment leaves files from which :meth:`recover` rebuilds the table
with every finished row, and applying a row twice is harmless (the latest attempt wins).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from pipeline.errors import ResultsError
from pipeline.schema import RESULT_COLUMNS
from pipeline.store.checkpoints import BUCKET_WIDTH, Base, Checkpoints, fingerprint
from pipeline.store.chunks import ManifestChunks
from pipeline.store.files import TableFiles, is_companion, is_own_file
from pipeline.store.finish import finish
from pipeline.store.journal import PLACE_COLUMNS, read_journal
from pipeline.store.lock import table_lock
from pipeline.store.recorder import RunRecorder, with_extras
from pipeline.store.table import (
    check_results_path,
    default_results_path,
    empty_results,
    fold,
    read_results,
    table_schema,
    write_results,
)

__all__ = [
    "Base",
    "ManifestChunks",
    "ResultStore",
    "RunRecorder",
    "TableFiles",
    "check_results_path",
    "default_results_path",
    "empty_results",
    "is_companion",
    "is_own_file",
    "read_results",
    "write_results",
]

#: A reader racing a run's final rename retries this many times.
_READ_TRIES = 5


class ResultStore:
    """One result table and its companions."""

    def __init__(self, table: Path) -> None:
        self.table = table
        self.files = TableFiles(table)
        self.checkpoints = Checkpoints(self.files)

    # --- reading, no lock ------------------------------------------------------------------

    def read(self) -> pl.DataFrame:
        """The table with every checkpointed and journaled row folded in (empty when absent).

        Raises :class:`ResultsError` when the table cannot be read.
        """
        check_results_path(self.table)
        for attempt in range(_READ_TRIES):
            try:
                return self._read_once()
            except (FileNotFoundError, ResultsError):
                # a run may have renamed the table or removed its checkpoints in between
                if attempt == _READ_TRIES - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def _read_once(self) -> pl.DataFrame:
        # Newest first: the journal, then the checkpoints, then the table. A run that moves rows
        # on in between (journal to checkpoint, checkpoints to table) then shows them twice,
        # which the fold absorbs, never not at all.
        journal = read_journal(self.files.journal, places=True)
        checkpointed = self.checkpoints.read_all()
        table = read_results(self.table)
        updates = (
            [checkpointed]
            if checkpointed is not None and not self.checkpoints.committed_to(self.table)
            else []
        )
        if journal.height:
            updates.append(_extras_from(table, journal))
        if not updates:
            return table
        merged = pl.concat(updates, how="diagonal_relaxed").drop(PLACE_COLUMNS, strict=False)
        return fold(table, merged, None)

    def read_header(self) -> pl.Schema:
        """The table's columns; :class:`ResultsError` when it is not a readable result table."""
        check_results_path(self.table)
        return table_schema(self.table)

    def has_leftovers(self) -> bool:
        """True when a run (going on, or killed) left rows outside the table."""
        journal = self.files.journal
        return self.checkpoints.exists() or (journal.exists() and journal.stat().st_size > 0)

    def rows(self) -> int:
        """How many rows the table file holds (its metadata only, for Parquet)."""
        if not self.table.exists():
            return 0
        if self.table.suffix.lower() == ".parquet":
            try:
                return int(pq.read_metadata(self.table).num_rows)
            except Exception as exc:
                raise ResultsError(self.table, f"not a readable result table ({exc})") from exc
        return read_results(self.table).height

    # --- writing, under the lock ---------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the table's lock; :class:`~pipeline.errors.LockedError` when a run holds it."""
        with table_lock(self.table):
            yield

    def recover(self) -> int:
        """Fold in what a killed run left (journal, checkpoints); how many rows that was.

        Call under :meth:`locked`. The table is rewritten only when there was something.
        """
        for stale in self.files.stale_temps():
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
        journal = read_journal(self.files.journal, places=True)
        recovered = journal.height + self._checkpointed_rows()
        base = self.checkpoints.base()
        if journal.height:
            if base is not None and journal["_key"].null_count() == 0:
                chunks = ManifestChunks.open(self.files.plan)
                rows = with_extras(journal, chunks)
                if chunks is None:
                    rows = _extras_from(read_results(self.table), journal)
                self.checkpoints.write(rows, base.width)
            else:  # a journal without places (no checkpoints): fold by identity
                previous = read_results(self.table)
                merged = fold(previous, _extras_from(previous, journal).drop(PLACE_COLUMNS), None)
                write_results(merged, self.table)
            self.files.journal.unlink()
        if self.checkpoints.exists():
            finish(self.table, self.checkpoints)
        with contextlib.suppress(FileNotFoundError):
            self.files.journal.unlink()
        ManifestChunks(self.files.plan, [], []).remove()
        return recovered

    def _checkpointed_rows(self) -> int:
        if self.checkpoints.committed_to(self.table):
            return 0
        return sum(pq.read_metadata(s.path).num_rows for s in self.checkpoints.segments())

    def base(self) -> Base:
        """The base a run planned against the table as it is now will checkpoint against."""
        return Base(fingerprint=fingerprint(self.table), rows=self.rows(), width=BUCKET_WIDTH)

    def recorder(self, base: Base, chunks: ManifestChunks | None) -> RunRecorder:
        """The recorder of a run planned against ``base``, reading extras from ``chunks``."""
        return RunRecorder(self.files, base, chunks)

    def write(self, frame: pl.DataFrame) -> None:
        """Replace the whole table with ``frame``, atomically (call after :meth:`recover`)."""
        write_results(frame, self.table)

    def replace(self, frame: pl.DataFrame) -> None:
        """Replace the table with ``frame``, which already holds every leftover row (as
        :meth:`read` gave them), then remove the leftovers."""
        write_results(frame, self.table)
        self.checkpoints.clear()
        with contextlib.suppress(FileNotFoundError):
            self.files.journal.unlink()


def _extras_from(table: pl.DataFrame, journal: pl.DataFrame) -> pl.DataFrame:
    """Journal rows with the extra columns of the table's row of the same identity."""
    extras = [name for name in table.columns if name not in RESULT_COLUMNS]
    if not extras:
        return journal
    return journal.join(table.select("id", *extras), on="id", how="left", maintain_order="left")
