"""The final write: the table and a run's checkpoint files become the next version of the table.

Streamed: the current table is read batch by batch and the checkpoint files bucket by bucket
(see :mod:`pipeline.store.checkpoints`), so memory follows one bucket, not the table. A row
finished in the run replaces the current row of its identity in place; rows new to the table
follow every current row, in manifest order. When the checkpoints do not refer to the table
as it is (it was replaced by hand, or by a write whose clean-up a kill prevented and whose
``committed`` mark is missing), the rows are folded by identity instead, in memory: correct
whatever happened, and only ever needed after an accident.

A run that only added rows to a Parquet table takes a shorter way: the table's row groups are
copied as they are and the new rows' follow (:mod:`pipeline.store.append`), with the merge as
the fallback should that way refuse.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa

from pipeline.store.append import AppendError, append_files
from pipeline.store.atomic import commit
from pipeline.store.checkpoints import Base, Checkpoints, Segment, fingerprint
from pipeline.store.files import TableFiles
from pipeline.store.journal import PLACE_COLUMNS
from pipeline.store.table import (
    TableWriter,
    conform,
    fold,
    iter_arrow,
    read_results,
    table_schema,
    write_results,
)

#: A position past any table.
_END = 1 << 62


def finish(table: Path, checkpoints: Checkpoints) -> None:
    """Fold ``checkpoints`` into ``table`` (atomically) and remove them."""
    segments = checkpoints.segments()
    if segments and not checkpoints.committed_to(table):
        base = checkpoints.base()
        if base is not None and base.fingerprint == fingerprint(table):
            _merge_streamed(table, checkpoints, segments, base)
        else:
            _fold_in_memory(table, checkpoints)
    checkpoints.clear()


def _target_schema(current: pl.Schema, checkpoints: Checkpoints) -> pl.Schema:
    """The table's columns (``current``), then any extra column the checkpoints bring."""
    target = dict(current)
    for name, dtype in (checkpoints.schema() or {}).items():
        if name not in target and name not in PLACE_COLUMNS:
            target[name] = dtype
    return pl.Schema(target)


class _OldRows:
    """The current table's rows by position, handed out in increasing ranges, as stored."""

    def __init__(self, table: Path) -> None:
        self._batches = iter_arrow(table)
        self._pending: pa.Table | None = None
        self._start = 0  # position of the first pending row

    def before(self, end: int) -> Iterator[pa.Table]:
        """The rows at positions below ``end`` not handed out yet, batch by batch."""
        while True:
            if self._pending is None:
                self._pending = next(self._batches, None)
                if self._pending is None:
                    return
            take = end - self._start
            if take <= 0:
                return
            head = self._pending.slice(0, take)
            rest = self._pending.slice(head.num_rows)
            self._pending = rest if rest.num_rows else None
            self._start += head.num_rows
            yield head
            if head.num_rows == take:
                return

    def position(self) -> int:
        """The position of the next row to be handed out."""
        return self._start


def _merge_streamed(
    table: Path, checkpoints: Checkpoints, segments: list[Segment], base: Base
) -> None:
    by_bucket: dict[int, list[Path]] = {}
    for segment in segments:  # in the order written: the latest row of an identity wins
        by_bucket.setdefault(segment.bucket, []).append(segment.path)
    columns = table_schema(table)
    target = _target_schema(columns, checkpoints)
    if target == columns and _only_adds(table, segments, base):
        with contextlib.suppress(AppendError):  # else the merge below writes the same rows
            _append(table, checkpoints, by_bucket, target)
            return
    old = _OldRows(table)
    with TableWriter(table, target) as out:
        for bucket in sorted(by_bucket):
            low, high = bucket * base.width, (bucket + 1) * base.width
            for batch in old.before(low):
                out.write_arrow(batch)  # untouched rows are copied as they are
            start = old.position()
            held = [_conformed(table, piece) for piece in old.before(high)]
            current = pl.concat(held, how="vertical_relaxed") if held else None
            updates = _bucket_rows(by_bucket[bucket])
            out.write(_merge_bucket(current, start, updates).drop(PLACE_COLUMNS, strict=False))
        for batch in old.before(_END):
            out.write_arrow(batch)
        out.before_commit = checkpoints.mark_committed


def _bucket_rows(paths: list[Path]) -> pl.DataFrame:
    """One bucket's checkpointed rows, the latest of each identity."""
    return pl.concat([pl.read_parquet(path) for path in paths], how="diagonal_relaxed").unique(
        subset="id", keep="last", maintain_order=True
    )


def _only_adds(table: Path, segments: list[Segment], base: Base) -> bool:
    """Whether the run changed no current row of a (non-empty, Parquet) table: it only adds."""
    if base.rows == 0 or table.suffix.lower() != ".parquet":
        return False
    lowest = min(segment.bucket for segment in segments)
    if lowest * base.width >= base.rows:
        return True
    keys = [
        pl.read_parquet(segment.path, columns=["_key"])["_key"].min()
        for segment in segments
        if segment.bucket == lowest
    ]
    return all(key is not None and int(key) >= base.rows for key in keys)  # type: ignore[arg-type]


def _append(
    table: Path, checkpoints: Checkpoints, by_bucket: dict[int, list[Path]], schema: pl.Schema
) -> None:
    """The run's rows after the table's own (see :mod:`pipeline.store.append`)."""
    files = TableFiles(table)
    tail, new_version = files.tail, files.temp()
    try:
        with TableWriter(tail, schema) as out:
            for bucket in sorted(by_bucket):
                rows = _bucket_rows(by_bucket[bucket]).sort("_key")
                out.write(rows.drop(PLACE_COLUMNS, strict=False))
        append_files(table, tail, new_version)
        checkpoints.mark_committed(new_version)
        commit(new_version, table)
    finally:
        for path in (tail, new_version):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def _conformed(table: Path, rows: pa.Table) -> pl.DataFrame:
    frame = pl.from_arrow(rows)
    assert isinstance(frame, pl.DataFrame)
    return conform(frame, table)


def _merge_bucket(current: pl.DataFrame | None, start: int, updates: pl.DataFrame) -> pl.DataFrame:
    """One bucket: current rows replaced in place by updates of their identity, then new rows."""
    if current is None or current.height == 0:
        return updates.sort("_key")
    current = current.with_row_index("_key", offset=start).with_columns(
        pl.col("_key").cast(pl.Int64)
    )
    places = current.select("id", pl.col("_key").alias("_place"))
    replacing = (
        updates.join(places, on="id", how="inner")
        .with_columns(pl.col("_place").alias("_key"))
        .drop("_place")
    )
    kept = current.join(updates.select("id"), on="id", how="anti")
    new = updates.join(places.select("id"), on="id", how="anti")
    return pl.concat([kept, replacing, new], how="diagonal_relaxed").sort("_key")


def _fold_in_memory(table: Path, checkpoints: Checkpoints) -> None:
    updates = checkpoints.read_all()
    if updates is None:
        return
    previous = read_results(table)
    folded = fold(previous, updates.drop(PLACE_COLUMNS, strict=False))
    write_results(folded, table)
