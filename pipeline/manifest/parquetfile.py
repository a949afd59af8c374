"""Parquet manifests, read batch by batch (``pyarrow.parquet.ParquetFile.iter_batches``).

Columns keep their types; the known columns are checked to be text (``id`` and ``size`` may
be integers). The magic bytes at both ends are checked first, to tell a CSV named
``.parquet`` or a truncated file from a corrupt one.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO

import polars as pl
import pyarrow.parquet as pq

from pipeline.core.batching import parquet_batches
from pipeline.core.errors import ManifestError
from pipeline.manifest.columns import ROW, check_names
from pipeline.manifest.inputs import Input
from pipeline.manifest.messages import first_line, looks_like_text
from pipeline.manifest.options import ManifestOptions
from pipeline.manifest.raw import RawTable
from pipeline.manifest.textio import PARQUET_MAGIC


def read_parquet(source: Input, options: ManifestOptions) -> RawTable:
    """The :class:`RawTable` of a Parquet manifest."""
    label = source.label
    handle = source.seekable_file()
    try:
        _check_magic(label, handle)
        try:
            parquet = pq.ParquetFile(handle)
            schema = pl.from_arrow(parquet.schema_arrow.empty_table())
        except Exception as exc:
            raise _unreadable(label, exc) from exc
    except BaseException:
        handle.close()
        raise
    assert isinstance(schema, pl.DataFrame)
    names = tuple(schema.columns)
    check_names(label, names)

    def batches(rows: int) -> Iterator[pl.DataFrame]:
        done = 0
        reader = parquet_batches(parquet, rows)
        while True:
            try:
                batch = next(reader, None)
                if batch is None:
                    return
                frame = pl.from_arrow(batch)
            except Exception as exc:
                raise _unreadable(label, exc) from exc
            assert isinstance(frame, pl.DataFrame)
            frame = frame.with_row_index(ROW, offset=done + 1)
            done += frame.height
            yield frame

    def close() -> None:
        handle.close()
        source.close()

    return RawTable(
        names=names,
        schema=dict(schema.schema),
        batches=batches,
        close=close,
        empty=parquet.metadata.num_rows == 0,
    )


def _check_magic(label: str, handle: IO[bytes]) -> None:
    try:
        head = handle.read(4)
        size = handle.seek(0, io.SEEK_END)
        handle.seek(max(size - 4, 0))
        tail = handle.read(4)
        handle.seek(0)
    except PermissionError as exc:
        raise ManifestError(label, "permission denied") from exc
    except OSError as exc:
        raise ManifestError(label, f"cannot read: {exc.strerror or exc}") from exc
    if head != PARQUET_MAGIC:
        hint = ": is it a CSV file?" if looks_like_text(head) else ""
        raise ManifestError(
            label, f"not a readable Parquet file (no Parquet magic bytes at the start{hint})"
        )
    if size < 12 or tail != PARQUET_MAGIC:
        raise ManifestError(label, "not a readable Parquet file (truncated: no Parquet footer)")


def _unreadable(label: str, exc: BaseException) -> ManifestError:
    return ManifestError(label, f"not a readable Parquet file ({first_line(exc)})")
