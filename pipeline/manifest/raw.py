"""What every format reader returns: the file's column names and types, and its rows in batches.

A raw batch has the row number column :data:`~pipeline.manifest.columns.ROW` (1-based data row)
and then the file's columns under their own names; blank lines are already dropped (but
counted). :func:`rechunk` turns the readers' batches, whose size follows the bytes read, into
batches of a fixed number of rows, fewer where the rows are large
(:mod:`pipeline.core.batching`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import polars as pl

from pipeline.core.batching import BATCH_BYTES, pieces, size_of


@dataclass(frozen=True)
class RawTable:
    """A manifest as a reader sees it, before its columns are mapped to fields.

    ``batches(rows)`` reads the rows (once: a stream cannot be read twice); ``delimiter`` is the
    CSV delimiter used, for the "wrong delimiter?" hint; ``close`` releases the input.
    """

    names: tuple[str, ...]
    schema: Mapping[str, pl.DataType]
    batches: Callable[[int], Iterator[pl.DataFrame]]
    close: Callable[[], None]
    delimiter: str | None = None
    empty: bool = False


def rechunk(
    frames: Iterator[pl.DataFrame], rows: int, max_bytes: int = BATCH_BYTES
) -> Iterator[pl.DataFrame]:
    """``frames`` regrouped into frames of ``rows`` rows (the last may have fewer), or fewer
    rows where they would pass ``max_bytes`` (large rows: ``data:`` URLs)."""
    pending: list[pl.DataFrame] = []
    held = size = 0
    for frame in frames:
        for piece in pieces(frame, max_bytes):
            if piece.height == 0:
                continue
            piece_size = size_of(piece)
            if pending and size + piece_size > max_bytes:
                yield _joined(pending)
                pending, held, size = [], 0, 0
            pending.append(piece)
            held += piece.height
            size += piece_size
            while held >= rows:
                joined = _joined(pending, rechunk=False)
                yield joined.slice(0, rows)
                rest = joined.slice(rows)
                pending = [rest] if rest.height else []
                held, size = rest.height, size_of(rest)
    if held:
        yield _joined(pending)


def _joined(frames: list[pl.DataFrame], *, rechunk: bool = True) -> pl.DataFrame:
    return pl.concat(frames, how="vertical", rechunk=rechunk) if len(frames) > 1 else frames[0]
