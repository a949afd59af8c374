"""The rows a run finished that are not in the table file yet: its journal and checkpoints.

While a run goes on they are beside the table; after a kill they stay there until the next
writer folds them in (:meth:`Leftovers.recover`). Readers see them folded into what they read
(:meth:`Leftovers.folded`, :meth:`Leftovers.applied`) without changing any file.

Readers read newest first: the journal, then the checkpoints, then the table. A run that moves
rows on in between (journal to checkpoint, checkpoints to table) then shows them twice, which
the fold absorbs, never not at all.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from pipeline.core.errors import ResultsError
from pipeline.core.schema import RESULT_COLUMNS
from pipeline.store.checkpoints import Base, Checkpoints, fingerprint
from pipeline.store.chunks import ManifestChunks
from pipeline.store.files import TableFiles
from pipeline.store.finish import finish
from pipeline.store.journal import OWN_COLUMNS, PLACE_COLUMNS, read_journal
from pipeline.store.recorder import with_extras
from pipeline.store.refs import has_references, resolved
from pipeline.store.table import count_rows, fold, read_results, table_schema, write_results


class Leftovers:
    """The journal and checkpoint files beside one table."""

    def __init__(self, table: Path) -> None:
        self.table = table
        self.files = TableFiles(table)
        self._checkpoints = Checkpoints(self.files)

    def exist(self) -> bool:
        """True when a run (going on, or killed) left rows outside the table."""
        journal = self.files.journal
        return self._checkpoints.exists() or (journal.exists() and journal.stat().st_size > 0)

    def base(self) -> Base:
        """The base a run planned against the table as it is now checkpoints against."""
        return Base(fingerprint=fingerprint(self.table), rows=count_rows(self.table))

    def rows(
        self, columns: Sequence[str] | None = None, *, table: pl.DataFrame | None = None
    ) -> pl.DataFrame | None:
        """Every leftover row, oldest first (checkpoints, then the journal), with its manifest
        row's extra columns (from the run's plan; without one, those of the table's row of the
        same identity, read from ``table`` when the caller has it), and long urls joined back
        when ``url`` is asked for; None when there are none.
        With ``columns``, only those are read of the checkpoint files."""
        journal = read_journal(self.files.journal, places=True)
        checkpointed = (
            None
            if self._checkpoints.committed_to(self.table)
            else self._checkpoints.read_all(None if columns is None else [*columns, *OWN_COLUMNS])
        )
        updates = [checkpointed] if checkpointed is not None else []
        chunks = ManifestChunks.open(self.files.plan) if journal.height or updates else None
        if journal.height:
            if chunks is not None:  # the run's plan: the manifest's extras, as a checkpoint
                journal = with_extras(journal, chunks)
            else:
                extras = _extra_columns(self.table, columns)
                if extras:
                    if table is None:
                        table = read_results(self.table, ["id", "status", *extras])
                    journal = _with_table_extras(table, journal)
            updates.append(journal)
        if not updates:
            return None
        rows = pl.concat(updates, how="diagonal_relaxed")
        if columns is None or "url" in columns:
            if chunks is None and has_references(rows):  # a run ended meanwhile (read retries)
                raise ResultsError(
                    self.table,
                    f"{self.files.plan.name} is gone: the sources of the rows a run left cannot "
                    "be read (the next run folds those rows in)",
                )
            rows = resolved(rows, chunks)
        rows = rows.drop(OWN_COLUMNS, strict=False)
        return rows if columns is None else rows.select(c for c in columns if c in rows.columns)

    def folded(self, table: pl.DataFrame, columns: Sequence[str] | None) -> pl.DataFrame:
        """``table`` (as read) with the leftover rows folded in."""
        rows = self.rows(columns, table=table)
        return table if rows is None else fold(table, rows)

    def applied(
        self, batches: Iterator[pl.DataFrame], columns: Sequence[str]
    ) -> Iterator[pl.DataFrame]:
        """The table's ``batches`` (of ``columns``) with the leftover rows applied, streamed: a
        row replaces the table's row of its identity where it stands, rows new to the table
        come last."""
        first = next(batches, None)
        columns = first.columns if first is not None else list(columns)
        rows = self.rows(columns)
        if rows is None:
            if first is not None:
                yield first
            yield from batches
            return
        remaining = rows.unique(subset="id", keep="last", maintain_order=True)
        for batch in _chain(first, batches):
            hit = batch.join(remaining, on="id", how="semi")
            if hit.height:
                batch = batch.update(remaining, on="id", how="left", include_nulls=True)
                remaining = remaining.join(hit.select("id"), on="id", how="anti")
            yield batch
        if remaining.height:
            yield remaining.select(
                pl.col(name) if name in remaining.columns else pl.lit(None).alias(name)
                for name in columns
            )

    def recover(self) -> int:
        """Fold what a killed run left into the table; how many rows that was. Call under the
        table's lock; the table is rewritten only when there was something."""
        for stale in self.files.stale_temps():
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
        journal = read_journal(self.files.journal, places=True)
        recovered = journal.height + self._checkpointed_rows()
        base = self._checkpoints.base()
        chunks = ManifestChunks.open(self.files.plan)
        if journal.height:
            if base is not None and journal["_key"].null_count() == 0:
                rows = with_extras(journal, chunks)
                if chunks is None:
                    rows = _with_table_extras(read_results(self.table), journal)
                self._checkpoints.write(rows, base.width)
            else:  # a journal without places (no checkpoints): fold by identity
                previous = read_results(self.table)
                rows = resolved(_with_table_extras(previous, journal), chunks)
                write_results(fold(previous, rows.drop(PLACE_COLUMNS)), self.table)
            self.files.journal.unlink()
        if self._checkpoints.exists():
            finish(self.table, self._checkpoints, chunks)
        self.clear()
        return recovered

    def clear(self) -> None:
        """Remove every leftover (its rows are in the table) and a killed run's plan."""
        self._checkpoints.clear()
        with contextlib.suppress(FileNotFoundError):
            self.files.journal.unlink()
        ManifestChunks.remove_folder(self.files.plan)

    def _checkpointed_rows(self) -> int:
        if self._checkpoints.committed_to(self.table):
            return 0
        return sum(pq.read_metadata(s.path).num_rows for s in self._checkpoints.segments())


def _chain(first: pl.DataFrame | None, rest: Iterator[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    if first is not None:
        yield first
    yield from rest


def _extra_columns(table: Path, columns: Sequence[str] | None) -> list[str]:
    """The table's extra (manifest) columns among ``columns`` (all of them when None)."""
    extras = [name for name in table_schema(table) if name not in RESULT_COLUMNS]
    return extras if columns is None else [name for name in extras if name in columns]


def _with_table_extras(table: pl.DataFrame, journal: pl.DataFrame) -> pl.DataFrame:
    """Journal rows with the extra columns of the table's row of the same identity."""
    extras = [name for name in table.columns if name not in RESULT_COLUMNS]
    if not extras:
        return journal
    return journal.join(table.select("id", *extras), on="id", how="left", maintain_order="left")
