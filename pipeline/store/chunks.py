"""A run's copy of its manifest, in ``T.plan/``: normalised rows in chunks of consecutive rows.

The planner writes it once while it reads the manifest; the run then reads it chunk by chunk
to hand rows to the workers in manifest order, and checkpoints read the extra columns of the
rows they write from it by ``_row``. It outlives a killed run, so the next run can give the rows
its journal kept their extra columns before it plans anew.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import polars as pl

_INDEX = "index.json"


class ManifestChunks:
    """The chunks of one manifest: ``m-<n>.parquet`` holding rows ``firsts[n]`` onwards."""

    def __init__(self, folder: Path, extra_columns: list[str], firsts: list[int]) -> None:
        self.folder = folder
        self.extra_columns = extra_columns
        self.firsts = firsts

    @classmethod
    def create(cls, folder: Path) -> ManifestChunks:
        """A new, empty set of chunks in ``folder`` (whatever was there is removed)."""
        cls.remove_folder(folder)
        folder.mkdir(parents=True)
        return cls(folder, [], [])

    @classmethod
    def open(cls, folder: Path) -> ManifestChunks | None:
        """The chunks a run wrote in ``folder``, or None when they are absent or incomplete."""
        try:
            index = json.loads((folder / _INDEX).read_text())
            return cls(folder, list(index["extra_columns"]), list(index["firsts"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _path(self, number: int) -> Path:
        return self.folder / f"m-{number:06d}.parquet"

    def append(self, frame: pl.DataFrame, extra_columns: list[str]) -> None:
        """Add the next rows (in manifest order, with ``_row``)."""
        if frame.height == 0:
            return
        self.extra_columns = extra_columns
        frame.write_parquet(self._path(len(self.firsts)), compression="lz4")
        self.firsts.append(int(frame["_row"][0]))

    def close(self) -> None:
        """Write the index: from now on :meth:`open` finds these chunks."""
        index = {"extra_columns": self.extra_columns, "firsts": self.firsts}
        (self.folder / _INDEX).write_text(json.dumps(index))

    def __len__(self) -> int:
        return len(self.firsts)

    def read(self, number: int, *, columns: list[str] | None = None) -> pl.DataFrame:
        """Chunk ``number``, or only its ``columns``."""
        return pl.read_parquet(self._path(number), columns=columns)

    def columns_for(self, rows: pl.Series, columns: list[str]) -> pl.DataFrame:
        """``_row`` and ``columns`` of the manifest rows ``rows`` (absent ones left out); only
        the chunks that hold them are read, and of those only these columns."""
        wanted = rows.drop_nulls().unique()
        starts = pl.Series(self.firsts, dtype=pl.Int64)
        found = starts.search_sorted(wanted.cast(pl.Int64), side="right") - 1
        numbers = sorted(set(found.unique().to_list()))
        columns = ["_row", *columns]
        parts = [
            self.read(n, columns=columns).filter(pl.col("_row").is_in(wanted.implode()))
            for n in numbers
            if n >= 0
        ]
        if not parts:
            return self.read(0, columns=columns).head(0) if self.firsts else pl.DataFrame()
        return pl.concat(parts, how="vertical_relaxed")

    def extras_for(self, rows: pl.Series) -> pl.DataFrame:
        """``_row`` and the extra columns of the manifest rows ``rows`` (absent ones left out)."""
        return self.columns_for(rows, self.extra_columns)

    def remove(self) -> None:
        """Delete the chunks."""
        self.remove_folder(self.folder)

    @staticmethod
    def remove_folder(folder: Path) -> None:
        """Delete the chunks a run left in ``folder`` (if any)."""
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(folder)
