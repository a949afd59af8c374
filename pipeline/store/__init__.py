"""The result store: one table and every file ferry keeps beside it, behind three ways in.

* :meth:`ResultStore.read` gives the table with every row finished up to the last checkpoint
  (and the journal) folded in, without a lock: what ``status``, ``report`` and ``merge`` read
  while a run goes on (:meth:`ResultStore.batches` the same in batches, for ``report``);
* :meth:`ResultStore.rewrite` holds the table's lock, folds in whatever a killed run left, and
  lets the caller replace the whole table (``merge``) or pass it through a change batch by
  batch (``verify``);
* :meth:`ResultStore.open_run` holds the lock for a run (a dry run takes none) and gives it
  the table as the plan needs it, a place for the plan, and a recorder for the rows it finishes.

Every file beside the table is named in :mod:`pipeline.store.files`; every failed write
raises :class:`~pipeline.core.errors.TableWriteError` (:mod:`pipeline.store.writes`).

Crash safety: a finished row is in the journal before the run moves on; a checkpoint copies
the journal into checkpoint files (fsync) before emptying it; the table is replaced by an
atomic rename. A kill at any moment leaves files from which the next writer rebuilds the table
with every finished row, and applying a row twice is harmless (the latest attempt wins).
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import polars as pl

from pipeline.core.errors import ResultsError
from pipeline.store.checkpoints import Base
from pipeline.store.chunks import ManifestChunks
from pipeline.store.leftovers import Leftovers
from pipeline.store.lock import table_lock
from pipeline.store.recorder import RunRecorder
from pipeline.store.table import (
    TableWriter,
    check_results_path,
    iter_table,
    read_results,
    table_schema,
    write_results,
)
from pipeline.store.writes import writes_to

__all__ = ["Base", "ManifestChunks", "ResultStore", "Rewrite", "RunRecorder", "RunSpace"]

#: A reader racing a run's final rename retries this many times.
_READ_TRIES = 5
#: What a plan reads of the table.
PLAN_COLUMNS = ("id", "status", "expires_at")


class ResultStore:
    """One result table and its companions. :class:`ResultsError` for a path that cannot be
    a result table (its extension, a folder)."""

    def __init__(self, table: Path) -> None:
        check_results_path(table)
        self.table = table
        self._leftovers = Leftovers(table)

    def read(self, columns: Sequence[str] | None = None) -> pl.DataFrame:
        """The table with every checkpointed and journaled row folded in (empty when absent);
        with ``columns`` (``id`` and ``status`` among them) only those are read.

        Raises :class:`ResultsError` when the table cannot be read.
        """
        for attempt in range(_READ_TRIES):
            try:
                return self._leftovers.folded(read_results(self.table, columns), columns)
            except (FileNotFoundError, ResultsError):
                # a run may have renamed the table or removed its checkpoints in between
                if attempt == _READ_TRIES - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def batches(self, columns: Sequence[str]) -> Iterator[pl.DataFrame]:
        """The table as :meth:`read` gives it, with only ``columns`` (``id`` and ``status``
        among them), in batches bounded in rows and bytes: table order, then the rows new to
        it. For a reader that reduces every row as it goes (``report``): its memory then
        follows a batch, not the table's long urls."""
        return self._leftovers.applied(iter_table(self.table, columns=list(columns)), columns)

    @contextlib.contextmanager
    def rewrite(self) -> Iterator[Rewrite]:
        """Hold the table's lock (:class:`~pipeline.core.errors.LockedError` when a run holds it)
        and give the table to replace; what a killed run left is folded in first."""
        with table_lock(self.table):
            yield Rewrite(self.table, self._leftovers)

    @contextlib.contextmanager
    def open_run(self, *, dry_run: bool = False) -> Iterator[RunSpace]:
        """The table as a run needs it, with its lock held and a killed run's rows folded in.

        A dry run takes no lock and changes nothing: it plans against the table as a reader
        sees it, in a scratch folder that is removed afterwards.
        """
        table_schema(self.table)  # a table that cannot be read stops here, before any plan
        if dry_run:
            space = RunSpace(self.table, self._leftovers, recovered=0, dry_run=True)
            try:
                yield space
            finally:
                shutil.rmtree(space.scratch, ignore_errors=True)
            return
        with table_lock(self.table):
            with writes_to(self.table, self.table):
                recovered = self._leftovers.recover()
            space = RunSpace(self.table, self._leftovers, recovered=recovered, dry_run=False)
            try:
                yield space
            except BaseException:
                if not space.recording:  # the plan failed: nothing refers to it
                    space.discard_plan()
                raise


class Rewrite:
    """The table under its lock, to be replaced whole (``verify``, ``merge``)."""

    def __init__(self, table: Path, leftovers: Leftovers) -> None:
        self.table = table
        self._leftovers = leftovers
        #: A run (killed, or going on elsewhere) left rows beside the table.
        self.leftovers = leftovers.exist()

    def read(self, columns: Sequence[str] | None = None) -> pl.DataFrame:
        """The whole table, or only its ``columns`` (``id`` and ``status`` among them), with
        what a killed run left folded in (and written) first."""
        with writes_to(self.table, self.table):
            self._leftovers.recover()
        return read_results(self.table, columns)

    def update(self, change: Callable[[pl.DataFrame], pl.DataFrame]) -> None:
        """Replace the table with its rows passed through ``change`` batch by batch (streamed,
        atomically: memory follows a batch, not the table); call after :meth:`read`."""
        with writes_to(self.table, self.table):
            with TableWriter(self.table, table_schema(self.table)) as out:
                for batch in iter_table(self.table):
                    out.write(change(batch))
            self._leftovers.clear()

    def replace(self, frame: pl.DataFrame) -> None:
        """Replace the table with ``frame`` (atomically) and drop what runs left beside it:
        ``frame`` holds those rows already, as :meth:`read` or :meth:`ResultStore.read` gave
        them."""
        with writes_to(self.table, self.table):
            write_results(frame, self.table)
            self._leftovers.clear()


class RunSpace:
    """What one run (or dry run) gets from the store: the table's rows as its plan reads them,
    where the plan goes, and a recorder for the rows it finishes."""

    def __init__(self, table: Path, leftovers: Leftovers, *, recovered: int, dry_run: bool) -> None:
        self.table = table
        self._leftovers = leftovers
        #: Rows a killed run left, folded into the table before this run.
        self.recovered = recovered
        #: The version of the table the run's keys refer to.
        self.base: Base = leftovers.base()
        self.recording = False
        files = leftovers.files
        #: Where the plan keeps its copy of the manifest's rows (None for a dry run).
        self.chunks: ManifestChunks | None = None
        if dry_run:
            #: Where the plan may spill its partitions.
            self.scratch = files.dry_run_scratch()
        else:
            with writes_to(files.plan, table):
                self.chunks = ManifestChunks.create(files.plan)
                self.scratch = files.partitions
                self.scratch.mkdir()

    def table_rows(self) -> Iterator[pl.DataFrame]:
        """The table's ``id``, ``status`` and ``expires_at`` in batches, in table order, with
        any rows a run left beside it applied (those new to the table come last)."""
        return self._leftovers.applied(
            iter_table(self.table, columns=list(PLAN_COLUMNS)), PLAN_COLUMNS
        )

    def recorder(self) -> RunRecorder:
        """The recorder of this run's rows, open (the run's plan is complete)."""
        if self.chunks is None:
            raise ValueError("a dry run records nothing")
        self.recording = True
        recorder = RunRecorder(self._leftovers.files, self.base, self.chunks)
        recorder.open()
        return recorder

    def discard_plan(self) -> None:
        """Remove the plan's files (a plan that failed)."""
        if self.chunks is not None:
            self.chunks.remove()
