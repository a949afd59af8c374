"""The whole-manifest rules, over a normalised frame (or one hash partition of it).

Apply them in this order: :func:`drop_identical`, then :func:`find_duplicate_id` and
:func:`find_clash`. They only need the rows that share an ``id`` (or a target): a planner may
apply them to each partition of the rows by a hash of ``id`` (of ``upload_path``/``file_name``
for clashes), given the rows of a partition in file order.
"""

from __future__ import annotations

from typing import NamedTuple

import polars as pl

from pipeline.core.errors import ManifestError
from pipeline.manifest.messages import quote, show

_KEY = ["id", "url", "upload_path", "file_name"]


class Violation(NamedTuple):
    """A broken rule and the row that broke it (the later of the two rows involved).

    A planner that applies the rules per partition reports the violation with the lowest row,
    which is the one the whole manifest in one piece would have reported.
    """

    row: int
    error: ManifestError


def drop_identical(frame: pl.DataFrame, *, same: list[str] | None = None) -> pl.DataFrame:
    """``frame`` without the rows identical to an earlier one (same id, url and target).

    ``same`` names the columns that tell rows apart (default: ``id``, ``url``, ``upload_path``,
    ``file_name``); a planner may give ``id`` and one hash of the other three instead.
    """
    key = same if same is not None else _KEY
    # identical rows share their id: unique ids (one column to hash) settle the common case
    if frame["id"].n_unique() == frame.height or not frame.select(key).is_duplicated().any():
        return frame
    return frame.unique(subset=key, keep="first", maintain_order=True)


def find_duplicate_id(
    frame: pl.DataFrame, *, label: str, column: str = "id"
) -> ManifestError | None:
    """The error for an id on two different rows (after :func:`drop_identical`), or None.

    ``label`` names the manifest, ``column`` its id column, in the message.
    """
    found = duplicate_id(frame, label=label, column=column)
    return found.error if found else None


def duplicate_id(frame: pl.DataFrame, *, label: str, column: str = "id") -> Violation | None:
    """:func:`find_duplicate_id` with the row that repeats the id."""
    if frame["id"].n_unique() == frame.height:
        return None
    later = (
        frame.select("id", "_row", pl.col("_row").first().over("id").alias("first"))
        .filter(pl.col("_row") != pl.col("first"))
        .row(0, named=True)
    )
    return Violation(
        int(later["_row"]),
        ManifestError(
            label,
            f"duplicate id {quote(later['id'])} in rows {later['first']} and {later['_row']}",
            column=show(column),
        ),
    )


def find_clash(
    frame: pl.DataFrame, *, label: str, column: str = "file_name"
) -> ManifestError | None:
    """The error for two valid rows with different sources and one explicit target, or None.

    Rows without a ``file_name`` never clash (the API names the file), nor do invalid rows
    (never sent). ``column`` is the manifest's file_name column, for the message.
    """
    found = clash(frame, label=label, column=column)
    return found.error if found else None


def clash(frame: pl.DataFrame, *, label: str, column: str = "file_name") -> Violation | None:
    """:func:`find_clash` with the row whose source clashes with an earlier row's."""
    targets = frame.filter(pl.col("file_name").is_not_null() & pl.col("_invalid").is_null())
    if targets.height < 2:
        return None
    target = ["upload_path", "file_name"]
    if not targets.select(pl.struct(target).is_duplicated().any()).item():
        return None
    clashes = targets.select(
        "_row",
        *target,
        pl.col("url").first().over(target).alias("first_url"),
        pl.col("_row").first().over(target).alias("first"),
        "url",
    ).filter(pl.col("url") != pl.col("first_url"))
    if clashes.height == 0:
        return None
    first = clashes.row(0, named=True)
    where = f"{first['upload_path']}/{first['file_name']}"
    return Violation(
        int(first["_row"]),
        ManifestError(
            label,
            f"rows {first['first']} and {first['_row']} both upload to {quote(where)} "
            "from different sources",
            column=show(column),
        ),
    )
