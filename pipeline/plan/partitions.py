"""Hash partitions spilled to a folder: a large frame split by a key, one file per partition.

The planner writes the manifest and the table into the same partitions by identity, so that
each pair of partitions can be joined and checked in memory while the whole never is.
Partitions are Arrow IPC streams (no compression: they live for seconds).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc

#: Rows gathered before they are split and written: fewer, larger writes per partition.
BUFFER_ROWS = 100_000


class SpilledPartitions:
    """``count`` partition files named ``<name>-<n>.arrow`` in ``folder``."""

    def __init__(self, folder: Path, name: str, count: int) -> None:
        self.folder = folder
        self.name = name
        self.count = count
        self._writers: dict[int, ipc.RecordBatchStreamWriter] = {}
        self._schema: pa.Schema | None = None
        self._buffer: list[pl.DataFrame] = []
        self._buffered = 0

    def _path(self, number: int) -> Path:
        return self.folder / f"{self.name}-{number:03d}.arrow"

    def add(self, frame: pl.DataFrame, key: pl.Expr) -> None:
        """Append the rows of ``frame`` to the partition ``key`` (a hash of theirs) points to."""
        if frame.height == 0:
            return
        self._buffer.append(frame.with_columns((key % self.count).alias("__part")))
        self._buffered += frame.height
        if self._buffered >= BUFFER_ROWS:
            self._spill()

    def _spill(self) -> None:
        if not self._buffer:
            return
        frame = pl.concat(self._buffer, how="vertical_relaxed")
        self._buffer, self._buffered = [], 0
        parts = frame.partition_by("__part", as_dict=True, include_key=False)
        for (number,), part in parts.items():
            table = part.to_arrow()
            if self._schema is None:
                self._schema = table.schema
            elif table.schema != self._schema:
                table = table.cast(self._schema)
            writer = self._writers.get(int(number))
            if writer is None:
                writer = ipc.new_stream(str(self._path(int(number))), self._schema)
                self._writers[int(number)] = writer
            writer.write_table(table)

    def close(self) -> None:
        """Finish writing every partition."""
        self._spill()
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()

    def read(self, number: int, schema: dict[str, pl.DataType]) -> pl.DataFrame:
        """Partition ``number`` (empty, with ``schema``, when nothing went there)."""
        path = self._path(number)
        if not path.exists():
            return pl.DataFrame(schema=schema)
        with ipc.open_stream(str(path)) as reader:
            table = reader.read_all()
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        path.unlink()
        return frame
