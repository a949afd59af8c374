"""Planning a run: a join of the manifest with the result table, never a loop over rows.

Each manifest row falls in one category: ``new`` (no result yet), ``retry`` (latest result
failed), ``refresh`` (ok but expired, or expiring within ``--refresh-within``) or ``skip``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from pipeline.settings import Shard
from pipeline.summary import PLAN_CATEGORIES as CATEGORIES

#: The columns of a planned row that the workers read.
TODO_COLUMNS = ("id", "url", "upload_path", "file_name", "_invalid", "category")


@dataclass(frozen=True)
class Plan:
    """The rows to do, in manifest order, with their category; and the counts of each category."""

    todo: pl.DataFrame
    counts: dict[str, int]


def shard_of(identity: str, count: int) -> int:
    """The 1-based shard of ``identity`` among ``count``: stable across runs and machines."""
    return zlib.crc32(identity.encode("utf-8")) % count + 1


def in_shard(ids: pl.Series, shard: Shard) -> pl.Series:
    """A boolean mask of the ids that belong to ``shard``."""
    return pl.Series([shard_of(i, shard.count) == shard.index for i in ids.to_list()])


def make_plan(
    manifest: pl.DataFrame,
    results: pl.DataFrame,
    *,
    now: datetime,
    failed_only: bool = False,
    refresh_within: float | None = None,
    limit: int | None = None,
    shard: Shard | None = None,
) -> Plan:
    """Categorise every manifest row against the latest results and choose what to do."""
    rows = manifest
    if shard is not None:
        rows = rows.filter(in_shard(rows["id"], shard))
    horizon = now + timedelta(seconds=refresh_within or 0)
    latest = results.select(
        "id", pl.col("status").alias("_status"), pl.col("expires_at").alias("_expires")
    )
    expiring = pl.col("_expires").is_not_null() & (pl.col("_expires") <= pl.lit(horizon))
    expired = pl.col("_expires").is_not_null() & (pl.col("_expires") <= pl.lit(now))
    refresh = expired if refresh_within is None else expiring
    category = (
        pl.when(pl.col("_status").is_null())
        .then(pl.lit("new"))
        .when(pl.col("_status") == "failed")
        .then(pl.lit("retry"))
        .when(refresh)
        .then(pl.lit("refresh"))
        .otherwise(pl.lit("skip"))
    )
    joined = rows.join(latest, on="id", how="left", maintain_order="left").with_columns(
        category.alias("category")
    )
    if failed_only:
        joined = joined.with_columns(
            pl.when(pl.col("category") == "retry")
            .then(pl.col("category"))
            .otherwise(pl.lit("skip"))
            .alias("category")
        )
    todo = joined.filter(pl.col("category") != "skip")
    if limit is not None:
        todo = todo.head(limit)
    counts = {name: 0 for name in CATEGORIES}
    for name, count in todo.group_by("category").len().iter_rows():
        counts[name] = count
    counts["skip"] = rows.height - todo.height
    # only what a worker needs: extras travel separately, joined on when the table is written
    return Plan(todo=todo.select(TODO_COLUMNS), counts=counts)
