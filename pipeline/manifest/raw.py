"""What every format reader returns: the file's column names and types, and its rows in batches.

A raw batch has the row number column :data:`~pipeline.manifest.columns.ROW` (1-based data row)
and then the file's columns under their own names; blank lines are already dropped (but
counted). :func:`rechunk` turns the readers' batches, whose size follows the bytes read, into
batches of a fixed number of rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import polars as pl


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


def rechunk(frames: Iterator[pl.DataFrame], rows: int) -> Iterator[pl.DataFrame]:
    """``frames`` regrouped into frames of ``rows`` rows (the last may have fewer)."""
    pending: list[pl.DataFrame] = []
    held = 0
    for frame in frames:
        if frame.height == 0:
            continue
        pending.append(frame)
        held += frame.height
        while held >= rows:
            joined = (
                pl.concat(pending, how="vertical", rechunk=False)
                if len(pending) > 1
                else pending[0]
            )
            yield joined.slice(0, rows)
            rest = joined.slice(rows)
            pending = [rest] if rest.height else []
            held = rest.height
    if held:
        yield pl.concat(pending, how="vertical") if len(pending) > 1 else pending[0]
