"""Checkpoint files: a run's finished rows made durable and visible without rewriting the table.

Every planned row has a place in the next version of the table, its ``_key``: its position in
the current table when its identity is there already, else ``base.rows + _row`` (after every
current row, in manifest order). A checkpoint writes the journal's rows, with their manifest
extras, into ``T.checkpoints/b<bucket>-<seq>.parquet``: one file per bucket of ``base.width``
keys that the rows fall in, sorted by ``_key``. So a checkpoint costs the rows finished since the
previous one, and the final write (:mod:`pipeline.store.finish`) walks the buckets in order beside
the current table, holding one bucket at a time.

``base.json`` says which version of the table the keys refer to (its inode, size and
modification time); ``committed`` is written just before the final rename and names the new
version, so a run killed after the rename is told apart from one killed before it.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

import polars as pl
import pyarrow.parquet as pq

from pipeline.store.atomic import atomic_target, fsync_folder, write_bytes
from pipeline.store.files import TableFiles

#: Keys per bucket: the final write holds at most this many current rows at once.
BUCKET_WIDTH: Final = 16_384

_SEGMENT = re.compile(r"^b(\d+)-(\d+)\.parquet$")
_BASE = "base.json"
_COMMITTED = "committed"


@dataclass(frozen=True)
class Base:
    """The version of the table a run's keys refer to."""

    fingerprint: list[int] | None
    rows: int
    width: int = BUCKET_WIDTH


@dataclass(frozen=True)
class Segment:
    """One checkpoint file: its bucket, its sequence number and where it is."""

    bucket: int
    seq: int
    path: Path


def fingerprint(path: Path) -> list[int] | None:
    """Inode, size and modification time of ``path``: changes whenever the table is replaced."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return [st.st_ino, st.st_size, st.st_mtime_ns]


class Checkpoints:
    """The checkpoint folder of one table."""

    def __init__(self, files: TableFiles) -> None:
        self.folder = files.checkpoints
        self._next_seq: int | None = None

    def exists(self) -> bool:
        """True when a run (running or killed) left checkpoint files."""
        return self.folder.is_dir()

    def start(self, base: Base) -> None:
        """Begin a run's checkpoints against ``base`` (the folder must not exist)."""
        self.folder.mkdir(parents=True)
        write_bytes(self.folder / _BASE, json.dumps(asdict(base)).encode())
        fsync_folder(self.folder.parent)
        self._next_seq = 1

    def base(self) -> Base | None:
        """The base of the run that wrote these checkpoints, or None when there is none."""
        try:
            data = json.loads((self.folder / _BASE).read_text())
            return Base(fingerprint=data["fingerprint"], rows=data["rows"], width=data["width"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def segments(self) -> list[Segment]:
        """Every checkpoint file, in the order they were written."""
        if not self.folder.is_dir():
            return []
        found = []
        for path in self.folder.iterdir():
            match = _SEGMENT.match(path.name)
            if match:
                found.append(Segment(int(match[1]), int(match[2]), path))
        return sorted(found, key=lambda s: (s.seq, s.bucket))

    def write(self, rows: pl.DataFrame, width: int) -> None:
        """Write ``rows`` (result columns, ``_key``, extras) as the next checkpoint, durably."""
        if rows.height == 0:
            return
        if self._next_seq is None:
            self._next_seq = max((s.seq for s in self.segments()), default=0) + 1
        seq = self._next_seq
        bucketed = rows.with_columns((pl.col("_key") // width).alias("_bucket"))
        for (bucket,), part in bucketed.partition_by("_bucket", as_dict=True).items():
            path = self.folder / f"b{int(bucket):08d}-{seq:06d}.parquet"
            with atomic_target(path, sync_folder=False) as tmp:
                part.drop("_bucket").sort("_key").write_parquet(tmp, compression="lz4")
        fsync_folder(self.folder)
        self._next_seq = seq + 1

    def read_all(self, columns: Sequence[str] | None = None) -> pl.DataFrame | None:
        """Every checkpointed row, in the order written (None when there are none); with
        ``columns``, only those of them that the files have."""
        segments = self.segments()
        if not segments:
            return None
        frames = []
        for segment in segments:
            present = None
            if columns is not None:
                names = set(pq.read_schema(segment.path).names)
                present = [name for name in columns if name in names]
            frames.append(pl.read_parquet(segment.path, columns=present))
        return pl.concat(frames, how="diagonal_relaxed")

    def schema(self) -> pl.Schema | None:
        """The columns of the checkpoint files (all of one run share them)."""
        segments = self.segments()
        if not segments:
            return None
        # polars' own reader: building a pyarrow table here imports pandas when it is installed
        # (pyarrow checks every table for a pandas frame): 0.3 to 0.45 s of CPU in every run
        return pl.Schema(pl.read_parquet_schema(segments[0].path))

    def mark_committed(self, new_version: Path) -> None:
        """Record that ``new_version`` (about to be renamed over the table) holds every row."""
        write_bytes(self.folder / _COMMITTED, json.dumps(fingerprint(new_version)).encode())

    def committed_to(self, table: Path) -> bool:
        """True when ``table`` is the version :meth:`mark_committed` recorded: it holds every
        checkpointed row already (a run was killed after its final rename, before clean-up)."""
        try:
            value = json.loads((self.folder / _COMMITTED).read_text())
        except (OSError, ValueError):
            return False
        return isinstance(value, list) and value == fingerprint(table)

    def clear(self) -> None:
        """Remove the folder (its rows are in the table)."""
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(self.folder)
        self._next_seq = None
