"""The append-only journal beside a result table: one JSON line per finished row.

A line is written to the kernel before the worker takes its next row, so a killed process
loses nothing it finished; a torn last line (killed mid-write) is ignored when read.

One ``os.write`` per row, with no wait: on Linux such a write into the page cache costs under a
microsecond. Group commit (the rows finished in one turn of the event loop sharing one write,
each worker waiting for it) was built and measured slower: the suspension and wake-up it costs
every worker is several times the write it saves (``benchmarks/RESULTS.md``, "The journal").
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from pipeline.core.schema import RESULT_COLUMNS, RESULT_POLARS_SCHEMA

_TIMESTAMP_COLUMNS = ("uploaded_at", "expires_at", "finished_at")
#: Besides the result columns, a line carries the row's place: ``_key`` (where it goes in the
#: table, see :mod:`pipeline.store.checkpoints`) and ``_row`` (its manifest row, for extras).
PLACE_COLUMNS = ("_key", "_row")
JOURNAL_COLUMNS = (*RESULT_COLUMNS, *PLACE_COLUMNS)
#: A long ``url``'s reference, in a line whose ``url`` is null (:mod:`pipeline.store.refs`).
REF_COLUMNS = ("_url_bytes", "_url_hash")
#: The columns of a journal line or a checkpoint file that the table does not have.
OWN_COLUMNS = (*PLACE_COLUMNS, *REF_COLUMNS)
#: Timestamps travel as integer microseconds since the epoch.
_JOURNAL_SCHEMA: dict[str, pl.DataType] = {
    **{
        name: (pl.Int64() if name in _TIMESTAMP_COLUMNS else dtype)
        for name, dtype in RESULT_POLARS_SCHEMA.items()
    },
    **{name: pl.Int64() for name in PLACE_COLUMNS},
    "_url_bytes": pl.Int64(),
    "_url_hash": pl.String(),
}


class Journal:
    """Appends result rows (dicts keyed by the result columns) to the journal file.

    Lines go straight to the kernel with ``os.write`` on a file opened for appending: there is
    no buffer in this process that a kill could lose.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self.rows_written = 0

    def open(self) -> Journal:
        """Open for appending; an existing journal is kept (it is folded in by the caller)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        return self

    def append(self, row: dict[str, Any]) -> None:
        """Write one finished row and hand it to the kernel (survives SIGKILL of this process).

        Raises the ``OSError`` of a failed write (disk full).
        """
        assert self._fd is not None, "journal not open"
        view = memoryview(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE))
        while view:  # a short write is rare (a full disk raises instead), but possible
            view = view[os.write(self._fd, view) :]
        self.rows_written += 1

    def sync(self) -> None:
        """fsync the journal (at checkpoints: survives a power loss too)."""
        if self._fd is not None:
            os.fsync(self._fd)

    def truncate(self) -> None:
        """Empty the journal after its rows reached the table."""
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.fsync(self._fd)

    def close(self, *, remove: bool = False) -> None:
        """Close the file; ``remove`` deletes it (its rows are in the table)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if remove and self.path.exists():
            self.path.unlink()


def read_journal(path: Path, *, places: bool = False) -> pl.DataFrame:
    """The journal's rows with the result columns; with ``places`` also ``_key`` and ``_row``
    (null when unknown) and the references of long urls (:data:`REF_COLUMNS`).

    Empty when there is no journal; a torn last line (killed mid-write) is dropped.
    """
    columns = (*JOURNAL_COLUMNS, *REF_COLUMNS) if places else RESULT_COLUMNS
    if not path.exists() or path.stat().st_size == 0:
        return (
            pl.DataFrame(schema=_JOURNAL_SCHEMA)
            .select(columns)
            .with_columns(
                pl.col(name).cast(pl.Datetime("us", "UTC")) for name in _TIMESTAMP_COLUMNS
            )
        )
    try:
        if _ends_with_newline(path):  # the common case: polars reads the file itself
            frame = pl.read_ndjson(path, schema=_JOURNAL_SCHEMA)
        else:  # killed mid-write: drop the torn last line
            data = path.read_bytes()
            frame = pl.read_ndjson(
                io.BytesIO(data[: data.rfind(b"\n") + 1]), schema=_JOURNAL_SCHEMA
            )
    except Exception:  # a damaged line: keep every line that still parses
        frame = _read_lines_leniently(path.read_bytes())
    return frame.select(columns).with_columns(
        pl.col(name).cast(pl.Datetime("us", "UTC")) for name in _TIMESTAMP_COLUMNS
    )


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def _read_lines_leniently(data: bytes) -> pl.DataFrame:
    rows = []
    for line in data.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("id"), str):
            rows.append({name: row.get(name) for name in _JOURNAL_SCHEMA})
    return pl.DataFrame(rows, schema=_JOURNAL_SCHEMA)
