"""Planning a run in bounded memory: the manifest against the table, one partition at a time.

Each manifest row falls in one category: ``new`` (no result yet), ``retry`` (latest result
failed), ``refresh`` (ok but expired, or expiring within ``--refresh-within``) or ``skip``.

How, for manifests and tables of millions of rows: the manifest is read batch by batch; each
batch is kept (for a real run) in the run's :class:`~pipeline.store.ManifestChunks`, and its
identities are written, with the table's, into hash partitions spilled to a scratch folder.
Each partition is then joined and checked in memory (identical rows, duplicate ids; clashing
targets have partitions of their own). What stays in memory for the whole run is the list of
rows to do: their manifest row, their place in the table and nothing else (16 bytes a row).
The order of work is manifest order.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

import polars as pl

from pipeline.core.settings import Shard
from pipeline.core.summary import PLAN_CATEGORIES as CATEGORIES
from pipeline.manifest.columns import HEADERS
from pipeline.manifest.options import INTEGRITY_FIELDS
from pipeline.manifest.rules import Violation, clash, drop_identical, duplicate_id
from pipeline.plan.partitions import SpilledPartitions
from pipeline.plan.prefetch import prefetched
from pipeline.plan.rows import PlannedRow
from pipeline.store import Base, ManifestChunks
from pipeline.upload.checksums import expected_of

#: The columns of a planned row that the workers read (``_expected`` is made from the
#: integrity columns, ``mirrors`` and the headers from theirs, when the manifest has them).
TODO_COLUMNS: Final = (
    "id",
    "url",
    "upload_path",
    "file_name",
    "_invalid",
    "_key",
    "_row",
    "_expected",
    "mirrors",
    HEADERS,
)
#: Where else a relay may fetch a row's bytes, and with which headers (aria2's options).
_ROUTES: Final = ("mirrors", HEADERS)
#: The columns read as they are; the others are made from the manifest's columns.
_READ: Final = TODO_COLUMNS[:-3]

#: The columns every manifest batch starts with; the rest are the manifest's extras.
_FRAME_COLUMNS: Final = frozenset({"id", "url", "upload_path", "file_name", "_row", "_invalid"})

#: Rows (manifest and table together) per partition, and the most partitions a plan uses.
PARTITION_ROWS: Final = 100_000
MAX_PARTITIONS: Final = 64
#: Partitions when the size of the manifest cannot be known in advance (standard input).
UNKNOWN_SIZE_PARTITIONS: Final = 16


def partitions_for(manifest_rows: int | None, table_rows: int) -> int:
    """How many partitions keep each near :data:`PARTITION_ROWS` rows."""
    if manifest_rows is None:
        return max(UNKNOWN_SIZE_PARTITIONS, min(MAX_PARTITIONS, table_rows // PARTITION_ROWS))
    return max(1, min(MAX_PARTITIONS, -(-(manifest_rows + table_rows) // PARTITION_ROWS)))


#: What the plan keeps of a manifest row to categorise it: its identity, its row, and a hash
#: of its source and target (``_same``: only compared between rows that share an identity, to
#: tell identical rows from a duplicate id, so polars' own 64-bit hash is enough).
_IDENTITY: Final = {"id": pl.String(), "_row": pl.Int64(), "_same": pl.UInt64()}
_SAME: Final = pl.struct("url", "upload_path", "file_name").hash().alias("_same")
#: ``_same`` of a hashed identity: the identity already is a hash of the source and target.
_SAME_BY_IDENTITY: Final = pl.lit(0, dtype=pl.UInt64).alias("_same")
#: What the plan keeps of a row with an explicit target, to find clashing targets: ``url`` is
#: a hash of the source (only compared, never shown; a ``data:`` URL is not spilled twice).
_TARGET: Final = {
    "upload_path": pl.String(),
    "file_name": pl.String(),
    "url": pl.UInt64(),
    "_invalid": pl.String(),
    "_row": pl.Int64(),
}
_TABLE: Final = {
    "id": pl.String(),
    "_status": pl.String(),
    "_expires": pl.Datetime("us", "UTC"),
    "_pos": pl.Int64(),
}


@dataclass(frozen=True)
class ManifestNames:
    """How messages name the manifest and its id and file_name columns."""

    label: str
    id_column: str = "id"
    file_name_column: str = "file_name"
    #: About how many rows the manifest has (None when unknown): sizes the partitions.
    expected_rows: int | None = None
    #: Every identity is a hash of its row's source and target: rows that share one are
    #: identical, so the plan need not compare their sources.
    hashed_ids: bool = False


@dataclass(frozen=True)
class PlanOptions:
    """What a run asked for, as far as choosing rows goes."""

    now: datetime
    failed_only: bool = False
    refresh_within: float | None = None
    limit: int | None = None
    shard: Shard | None = None


@dataclass
class Plan:
    """The rows to do, in manifest order, and the counts of each category."""

    counts: dict[str, int]
    todo: pl.DataFrame  # _row, _key: sorted by _row
    chunks: ManifestChunks | None

    def rows(self) -> Iterator[PlannedRow]:
        """The planned rows, chunk by chunk: only one chunk of the manifest is in memory."""
        if self.chunks is None or self.todo.height == 0:
            return
        rows = self.todo["_row"]
        firsts = self.chunks.firsts
        for number, first in enumerate(firsts):
            lo = rows.search_sorted(first, side="left")
            hi = (
                rows.search_sorted(firsts[number + 1], side="left")
                if number + 1 < len(firsts)
                else rows.len()
            )
            if hi <= lo:
                continue  # nothing to do in this chunk: it is not even read
            chunk = self.chunks.read(number)
            wanted = self.todo.slice(lo, hi - lo)
            picked = chunk.join(wanted, on="_row", how="inner", maintain_order="right")
            yield from _planned(picked)


def _planned(picked: pl.DataFrame) -> Iterator[PlannedRow]:
    """The planned rows of ``picked``; an :class:`~pipeline.upload.checksums.Expected` is made only
    when the manifest has integrity columns, mirrors and headers only when it has them (the
    common case stays one ``_make`` a row)."""
    if not any(name in picked.columns for name in (*INTEGRITY_FIELDS, *_ROUTES)):
        nothing = [pl.lit(None).alias(name) for name in ("_expected", *_ROUTES)]
        yield from map(PlannedRow._make, picked.select(*_READ, *nothing).iter_rows())
        return
    present = [
        pl.col(name) if name in picked.columns else pl.lit(None, pl.String).alias(name)
        for name in (*INTEGRITY_FIELDS, *_ROUTES)
    ]
    chosen = picked.select(*_READ, *present).iter_rows()
    for *planned, size, md5, sha256, mirrors, headers in chosen:
        yield PlannedRow._make(
            (
                *planned,
                expected_of(size, md5, sha256),
                tuple(mirrors.split()) if mirrors else None,
                _headers(headers) if headers else None,
            )
        )


def _headers(lines: str) -> tuple[tuple[str, str], ...]:
    """aria2's ``header=`` lines (``Name: value``, one a line) as (name, value) pairs."""
    pairs = (line.partition(":") for line in lines.splitlines())
    return tuple((name.strip(), value.strip()) for name, _, value in pairs)


def in_shard(ids: pl.Series, shard: Shard) -> pl.Series:
    """A boolean mask of the ids that belong to ``shard``.

    CRC-32 over the UTF-8 bytes, computed in C by zlib: polars has no stable hash to do it
    with, and CRC-32 written as polars expressions measured 25 times slower than this loop.
    """
    data: list[bytes] = ids.cast(pl.Binary).to_list()
    crc32, count, index = zlib.crc32, shard.count, shard.index - 1
    return pl.Series([crc32(value) % count == index for value in data], dtype=pl.Boolean)


def make_plan(
    batches: Iterable[pl.DataFrame],
    table: Iterator[pl.DataFrame],
    options: PlanOptions,
    *,
    base: Base,
    scratch: Path,
    chunks: ManifestChunks | None,
    names: ManifestNames,
    progress: Callable[[int], None] | None = None,
) -> Plan:
    """Categorise every manifest row (from ``batches``) against the table's rows (``table``:
    ``id``, ``status``, ``expires_at`` in batches, in table order, of the version ``base``).

    The partitions are spilled to ``scratch``; with ``chunks`` (a real run) the manifest's
    rows are kept there for :meth:`Plan.rows`, else (a dry run) only the counts are.
    Raises :class:`~pipeline.core.errors.ManifestError` for duplicate ids and clashing targets,
    as :func:`~pipeline.manifest.read_manifest` would. ``progress`` is told the manifest rows
    read so far, batch by batch.
    """
    count = partitions_for(names.expected_rows, base.rows)
    identities = SpilledPartitions(scratch, "m", count)
    targets = SpilledPartitions(scratch, "c", count)
    table_parts = SpilledPartitions(scratch, "t", count)
    same = _SAME_BY_IDENTITY if names.hashed_ids else _SAME
    stop = threading.Event()
    # the table's side runs in a thread beside the manifest's: both are mostly Arrow and polars
    # work, which releases the GIL, so the second core takes it
    with ThreadPoolExecutor(1, thread_name_prefix="ferry-plan-table") as pool:
        spilled = pool.submit(_spill_table, table, table_parts, stop)
        read = 0
        try:
            for batch in prefetched(iter(batches)):
                read += batch.height
                if progress is not None:
                    progress(read)
                if options.shard is not None:
                    batch = batch.filter(in_shard(batch["id"], options.shard))
                if chunks is not None:
                    # a row's headers are kept for its relay, never for the result table
                    extras = [c for c in batch.columns if c not in _FRAME_COLUMNS and c != HEADERS]
                    chunks.append(batch, extras)
                identities.add(batch.select("id", "_row", same), pl.col("id").hash())
                aimed = batch.filter(
                    pl.col("file_name").is_not_null() & pl.col("_invalid").is_null()
                )
                targets.add(
                    aimed.select(*_TARGET).with_columns(pl.col("url").hash()),
                    pl.struct("upload_path", "file_name").hash(),
                )
        except BaseException:
            stop.set()
            raise
        finally:
            identities.close()
            targets.close()
            wait([spilled])  # the table's thread is done with its partitions before they close
            table_parts.close()
    spilled.result()
    if chunks is not None:
        chunks.close()
    keep_rows = chunks is not None or options.limit is not None
    counts, todo = _categorise(identities, table_parts, base, options, names, keep_rows=keep_rows)
    _check_targets(targets, names)
    return Plan(counts=counts, todo=todo, chunks=chunks)


def _spill_table(
    rows: Iterator[pl.DataFrame], table: SpilledPartitions, stop: threading.Event
) -> None:
    """The table's identities, statuses and expiry times into ``table``'s partitions."""
    position = 0
    for current in rows:
        if stop.is_set():
            return
        part = current.select(
            "id",
            pl.col("status").alias("_status"),
            pl.col("expires_at").alias("_expires"),
            pl.int_range(position, position + current.height, dtype=pl.Int64).alias("_pos"),
        )
        position += current.height
        table.add(part, pl.col("id").hash())


def _categorise(
    identities: SpilledPartitions,
    table: SpilledPartitions,
    base: Base,
    options: PlanOptions,
    names: ManifestNames,
    *,
    keep_rows: bool,
) -> tuple[dict[str, int], pl.DataFrame]:
    """The counts of each category and, with ``keep_rows``, the rows to do (``_row``, ``_key``)
    in manifest order; without, only the counts are kept (a dry run holds no list of rows)."""
    horizon = options.now + timedelta(seconds=options.refresh_within or 0)
    expiring = pl.col("_expires").is_not_null() & (pl.col("_expires") <= pl.lit(horizon))
    expired = pl.col("_expires").is_not_null() & (pl.col("_expires") <= pl.lit(options.now))
    refresh = expired if options.refresh_within is None else expiring
    category = (
        pl.when(pl.col("_status").is_null())
        .then(pl.lit("new"))
        .when(pl.col("_status") == "failed")
        .then(pl.lit("retry"))
        .when(refresh)
        .then(pl.lit("refresh"))
        .otherwise(pl.lit("skip"))
    )
    if options.failed_only:
        category = pl.when(category == "retry").then(category).otherwise(pl.lit("skip"))
    rows = 0
    todo: list[pl.DataFrame] = []
    tally = {name: 0 for name in CATEGORIES}
    first: Violation | None = None
    for number in range(identities.count):
        manifest = identities.read(number, _IDENTITY)
        # distinct 64-bit hashes prove distinct ids (4x cheaper than comparing the text); a
        # repeated hash, rare, is a repeated row, a bad one or a collision, told apart in full
        if manifest["id"].hash().n_unique() < manifest.height:
            manifest = drop_identical(manifest.sort("_row"), same=["id", "_same"])
            found = duplicate_id(manifest, label=names.label, column=names.id_column)
            first = _earlier(first, found)
        rows += manifest.height
        if first is not None:
            continue  # the plan is void; only the first duplicate matters now
        current = table.read(number, _TABLE)
        joined = manifest.join(current, on="id", how="left").select(
            "_row",
            pl.coalesce("_pos", pl.lit(base.rows) + pl.col("_row")).alias("_key"),
            category.alias("category"),
        )
        if keep_rows:
            todo.append(joined.filter(pl.col("category") != "skip"))
        else:
            for name, count in joined.group_by("category").len().iter_rows():
                tally[name] += count
    if first is not None:
        raise first.error
    if not keep_rows:
        tally["skip"] = rows - sum(tally[name] for name in CATEGORIES if name != "skip")
        return tally, pl.DataFrame(schema={"_row": pl.Int64, "_key": pl.Int64})
    chosen = (
        pl.concat(todo)
        if todo
        else pl.DataFrame(schema={"_row": pl.Int64, "_key": pl.Int64, "category": pl.String})
    ).sort("_row")
    if options.limit is not None:
        chosen = chosen.head(options.limit)
    counts = {name: 0 for name in CATEGORIES}
    for name, count in chosen.group_by("category").len().iter_rows():
        counts[name] = count
    counts["skip"] = rows - chosen.height
    return counts, chosen.select("_row", "_key")


def _earlier(first: Violation | None, found: Violation | None) -> Violation | None:
    """The violation with the lower row: what a check of the whole manifest reports."""
    if found is None:
        return first
    return found if first is None or found.row < first.row else first


def _check_targets(targets: SpilledPartitions, names: ManifestNames) -> None:
    """Two valid rows with different sources and the same explicit target make a bad manifest."""
    first: Violation | None = None
    for number in range(targets.count):
        part = targets.read(number, _TARGET).sort("_row")
        first = _earlier(first, clash(part, label=names.label, column=names.file_name_column))
    if first is not None:
        raise first.error
