"""``ferry merge``: several result tables (shards, hosts, old runs) into one.

One row per identity: the latest attempt wins by ``finished_at``; on a tie the table named
later on the command line wins. Extra columns are the union of the tables' (a diagonal concat:
a table without a column has nulls there). Rows keep the order in which their identity first
appears. All of it is one polars sort and ``unique``, never a loop over rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.core.errors import ResultsError
from pipeline.core.schema import STATUS_OK
from pipeline.store import ResultStore

_TABLE = "__ferry_table"
_POS = "__ferry_pos"
_FIRST = "__ferry_first"


@dataclass(frozen=True)
class MergeReport:
    """What one merge did."""

    tables: list[Path]
    out: Path
    input_rows: int
    rows: int
    ok: int
    shared: int

    @property
    def failed(self) -> int:
        """Rows of the merged table whose latest attempt failed."""
        return self.rows - self.ok

    def line(self) -> str:
        """``merged 3 tables, 120 rows (2 identities in several tables)``."""
        tables = _plural(len(self.tables), "table")
        shared = _plural(self.shared, "identity", "identities")
        return f"merged {tables}, {_plural(self.rows, 'row')} ({shared} in several tables)"

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` object."""
        return {
            "tables": len(self.tables),
            "input_rows": self.input_rows,
            "rows": self.rows,
            "ok": self.ok,
            "failed": self.failed,
            "shared_identities": self.shared,
            "results": str(self.out),
        }


def _plural(count: int, singular: str, plural: str | None = None) -> str:
    return f"{count} {singular if count == 1 else (plural or singular + 's')}"


def merge_frames(frames: list[pl.DataFrame]) -> tuple[pl.DataFrame, int]:
    """One row per identity from ``frames`` (earliest first), and how many ids several share.

    The latest ``finished_at`` wins (a null one loses to any time); ties go to the later frame,
    then to the later row.
    """
    stacked = pl.concat(
        [frame.with_columns(pl.lit(i, pl.Int32).alias(_TABLE)) for i, frame in enumerate(frames)],
        how="diagonal_relaxed",
    ).with_row_index(_POS)
    firsts = stacked.group_by("id").agg(
        pl.col(_POS).min().alias(_FIRST), pl.col(_TABLE).n_unique().alias(_TABLE)
    )
    shared = firsts.filter(pl.col(_TABLE) > 1).height
    merged = (
        stacked.sort(["finished_at", _TABLE, _POS], nulls_last=False)
        .unique(subset="id", keep="last")
        .join(firsts.select("id", _FIRST), on="id", how="left")
        .sort(_FIRST)
        .drop(_TABLE, _POS, _FIRST)
    )
    return merged, shared


def merge_tables(tables: list[Path], out: Path) -> MergeReport:
    """Merge the result tables ``tables`` into ``out`` (Parquet or CSV), atomically, under its lock.

    Journals left beside the inputs by killed runs are folded in. ``out`` may be one of the
    inputs. Raises :class:`ResultsError` for an unreadable input (nothing is written) and
    :class:`~pipeline.core.errors.LockedError` when a run holds ``out``'s lock.
    """
    if not tables:
        raise ResultsError(out, "name at least one result table to merge")
    target = ResultStore(out)
    resolved = {p.resolve() for p in tables}
    with target.rewrite() as rewrite:
        if rewrite.leftovers and out.resolve() not in resolved:
            raise ResultsError(
                out,
                "rows left by an interrupted run are beside this table (its journal or "
                "checkpoints): name the table among the inputs so its rows are kept, or run "
                "ferry on it first",
            )
        frames = [ResultStore(path).read() for path in tables]
        try:
            merged, shared = merge_frames(frames)
        except pl.exceptions.PolarsError as exc:
            raise ResultsError(out, f"the tables cannot be combined: {exc}") from exc
        rewrite.replace(merged)  # its leftovers were folded in above
    return MergeReport(
        tables=list(tables),
        out=out,
        input_rows=sum(frame.height for frame in frames),
        rows=merged.height,
        ok=merged.filter(pl.col("status") == STATUS_OK).height,
        shared=shared,
    )
