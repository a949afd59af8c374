"""The final write: the table and a run's checkpoint files become the next version of the table.

Streamed: the current table is read batch by batch and the checkpoint files bucket by bucket
(see :mod:`pipeline.store.checkpoints`), so memory follows a batch of the table and one bucket's
checkpointed rows, which hold long urls by reference only (:mod:`pipeline.store.refs`): those
are joined back from the run's copy of the manifest, slice by slice, as the rows are written.
A row finished in the run replaces the current row of its identity in place; rows new to the
table follow every current row, in manifest order. When the checkpoints do not refer to the table
as it is (it was replaced by hand, or by a write whose clean-up a kill prevented and whose
``committed`` mark is missing), the rows are folded by identity instead, in memory: correct
whatever happened, and only ever needed after an accident.

A run that only added rows to a Parquet table takes a shorter way: the table's row groups are
copied as they are and the new rows' follow (:mod:`pipeline.store.append`), with the merge as
the fallback should that way refuse.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa

from pipeline.store.append import AppendError, append_files
from pipeline.store.atomic import commit
from pipeline.store.checkpoints import Base, Checkpoints, Segment, fingerprint
from pipeline.store.chunks import ManifestChunks
from pipeline.store.files import TableFiles
from pipeline.store.journal import OWN_COLUMNS, PLACE_COLUMNS
from pipeline.store.refs import resolved, slices
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

log = logging.getLogger(__name__)


#: Called with the rows written so far, while the table is being written.
Progress = Callable[[int], None]


def finish(
    table: Path,
    checkpoints: Checkpoints,
    chunks: ManifestChunks | None = None,
    progress: Progress | None = None,
) -> None:
    """Fold ``checkpoints`` into ``table`` (atomically) and remove them; ``chunks`` (the run's
    copy of the manifest) holds the long urls the checkpoints refer to."""
    segments = checkpoints.segments()
    if segments and not checkpoints.committed_to(table):
        base = checkpoints.base()
        if base is not None and base.fingerprint == fingerprint(table):
            _merge_streamed(table, checkpoints, segments, base, chunks, progress)
        else:
            _fold_in_memory(table, checkpoints, chunks)
    checkpoints.clear()


def _target_schema(current: pl.Schema, checkpoints: Checkpoints) -> pl.Schema:
    """The table's columns (``current``), then any extra column the checkpoints bring."""
    target = dict(current)
    for name, dtype in (checkpoints.schema() or {}).items():
        if name not in target and name not in OWN_COLUMNS:
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
    table: Path,
    checkpoints: Checkpoints,
    segments: list[Segment],
    base: Base,
    chunks: ManifestChunks | None = None,
    progress: Progress | None = None,
) -> None:
    by_bucket: dict[int, list[Path]] = {}
    for segment in segments:  # in the order written: the latest row of an identity wins
        by_bucket.setdefault(segment.bucket, []).append(segment.path)
    columns = table_schema(table)
    target = _target_schema(columns, checkpoints)
    if target == columns and _only_adds(table, segments, base):
        try:
            _append(table, checkpoints, by_bucket, target, chunks, progress)
            return
        except AppendError as exc:  # the merge below writes the same rows
            log.info(f"ferry: {table.name} is rewritten whole, not appended to: {exc}")
    old = _OldRows(table)
    with TableWriter(table, target, progress=progress) as out:
        for bucket in sorted(by_bucket):
            low, high = bucket * base.width, (bucket + 1) * base.width
            for batch in old.before(low):
                out.write_arrow(batch)  # untouched rows are copied as they are
            updates = _bucket_rows(by_bucket[bucket])
            start = old.position()
            for piece in old.before(high):
                current = _conformed(table, piece)
                merged, updates = _replace(current, start, updates)
                start += piece.num_rows
                _write(out, merged, chunks)
            _write(out, updates.sort("_key"), chunks)  # the rows new to the table
        for batch in old.before(_END):
            out.write_arrow(batch)
        out.before_commit = checkpoints.mark_committed


def _write(out: TableWriter, rows: pl.DataFrame, chunks: ManifestChunks | None) -> None:
    """Write ``rows`` with their long urls joined back, a slice of bounded bytes at a time."""
    for piece in slices(rows):
        out.write(resolved(piece, chunks).drop(PLACE_COLUMNS, strict=False))


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
    table: Path,
    checkpoints: Checkpoints,
    by_bucket: dict[int, list[Path]],
    schema: pl.Schema,
    chunks: ManifestChunks | None,
    progress: Progress | None,
) -> None:
    """The run's rows after the table's own (see :mod:`pipeline.store.append`)."""
    files = TableFiles(table)
    tail, new_version = files.tail, files.temp()
    try:
        with TableWriter(tail, schema, progress=progress) as out:
            for bucket in sorted(by_bucket):
                _write(out, _bucket_rows(by_bucket[bucket]).sort("_key"), chunks)
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


def _replace(
    current: pl.DataFrame, start: int, updates: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Current rows (from position ``start``) with those an update has the identity of replaced
    in place, in order; and the updates still to place."""
    current = current.with_row_index("_key", offset=start).with_columns(
        pl.col("_key").cast(pl.Int64)
    )
    places = current.select("id", pl.col("_key").alias("_place"))
    replacing = (
        updates.join(places, on="id", how="inner")
        .with_columns(pl.col("_place").alias("_key"))
        .drop("_place")
    )
    if replacing.height == 0:
        return current, updates
    kept = current.join(replacing.select("id"), on="id", how="anti")
    merged = pl.concat([kept, replacing], how="diagonal_relaxed").sort("_key")
    return merged, updates.join(replacing.select("id"), on="id", how="anti")


def _fold_in_memory(table: Path, checkpoints: Checkpoints, chunks: ManifestChunks | None) -> None:
    updates = checkpoints.read_all()
    if updates is None:
        return
    previous = read_results(table)
    folded = fold(previous, resolved(updates, chunks).drop(PLACE_COLUMNS, strict=False))
    write_results(folded, table)
