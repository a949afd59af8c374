"""Batches bounded in bytes as well as rows: what memory follows when rows are large.

A manifest's or a table's row is mostly a URL of a hundred bytes, but a ``data:`` URL holds a
whole file: a batch of 25,000 such rows would be gigabytes. Batches end at their row count or
at :data:`BATCH_BYTES`, whichever comes first. Polars frames know their size
(``estimated_size``, proportional for a slice); a Parquet file's row groups say theirs in the
footer, so a reader can ask for as many rows as fit (:func:`parquet_batches`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Final

import polars as pl

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

#: The most bytes (as Arrow holds them) a batch of rows takes, whatever its row count.
BATCH_BYTES: Final = 16 << 20


def size_of(frame: pl.DataFrame) -> int:
    """The bytes ``frame`` holds (a slice: its share of the buffers it views)."""
    return int(frame.estimated_size())


def pieces(frame: pl.DataFrame, max_bytes: int = BATCH_BYTES) -> Iterator[pl.DataFrame]:
    """``frame`` in consecutive slices of at most about ``max_bytes`` each (at least a row)."""
    size = size_of(frame)
    if size <= max_bytes or frame.height <= 1:
        yield frame
        return
    step = max(1, frame.height * max_bytes // size)
    for start in range(0, frame.height, step):
        yield frame.slice(start, step)


def parquet_batch_rows(
    metadata: pq.FileMetaData,
    rows: int,
    max_bytes: int = BATCH_BYTES,
    *,
    columns: Sequence[str] | None = None,
) -> int:
    """How many rows of the Parquet file with ``metadata`` to read at a time: ``rows``, or
    fewer when its densest row group's rows (uncompressed; only ``columns``, when given) would
    pass ``max_bytes``."""
    wanted = None if columns is None else set(columns)
    densest = 0.0
    for number in range(metadata.num_row_groups):
        group = metadata.row_group(number)
        if not group.num_rows:
            continue
        if wanted is None:
            size = group.total_byte_size
        else:
            size = sum(
                group.column(i).total_uncompressed_size
                for i in range(group.num_columns)
                if group.column(i).path_in_schema in wanted
            )
        densest = max(densest, size / group.num_rows)
    if densest <= 0:
        return rows
    return max(1, min(rows, int(max_bytes // densest)))


def parquet_batches(
    source: pq.ParquetFile, rows: int, *, columns: Sequence[str] | None = None
) -> Iterator[pa.RecordBatch]:
    """The batches of ``source`` (of ``columns``), ``rows`` at a time or fewer
    (:func:`parquet_batch_rows`), read one row group at a time: pyarrow's reader of a whole
    file holds on to what it decoded of large values until it ends (a 1 GB table of ``data:``
    URLs read 17 rows at a time reached 700 MB), a reader per row group lets go of each."""
    size = parquet_batch_rows(source.metadata, rows, columns=columns)
    for group in range(source.num_row_groups):
        yield from source.iter_batches(
            batch_size=size, row_groups=[group], columns=None if columns is None else list(columns)
        )
