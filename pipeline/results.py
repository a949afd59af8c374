"""Reading, folding and atomically writing the result table (Parquet or CSV, by extension)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.errors import ResultsError, UsageError
from pipeline.manifest.options import STDIN, is_remote, stem_of_name
from pipeline.schema import RESULT_COLUMNS, RESULT_POLARS_SCHEMA, RESULT_SCHEMA

RESULT_SUFFIXES = (".parquet", ".csv")
_REQUIRED = ("id", "status")


def default_results_path(manifest: Path | str) -> Path:
    """``<manifest dir>/<manifest stem>.results.parquet``; a result table is its own results.

    A manifest is taken for a result table when its name says so (``*.results.*``) or when its
    header has the result table's ``status`` and ``run_id`` columns. A remote manifest's table
    is ``./<stem>.results.parquet`` in the working directory; standard input (``-``) has no
    default: :class:`UsageError` naming ``--results``.
    """
    if isinstance(manifest, str) and manifest == STDIN:
        raise UsageError("--results is required when the manifest is read from standard input (-)")
    if isinstance(manifest, str) and is_remote(manifest):
        name = manifest.split("?", 1)[0].split("#", 1)[0].rstrip("/").rpartition("/")[2]
        if ".results." in name:
            return Path(name)
        return Path(f"{stem_of_name(name) or 'manifest'}.results.parquet")
    path = Path(manifest)
    name = path.name
    if ".results." in name or looks_like_results(path):
        return path
    stem = name if path.is_dir() else stem_of_name(name)
    return path.with_name(f"{stem}.results.parquet")


def looks_like_results(path: Path) -> bool:
    """True when the file at ``path`` has ``status`` and ``run_id`` columns (header only)."""
    try:
        if path.suffix.lower() == ".parquet":
            names = set(pq.read_schema(path).names)
        elif path.suffix.lower() == ".csv":
            with open(path, encoding="utf-8-sig", errors="replace") as handle:
                names = {c.strip().strip('"') for c in handle.readline().split(",")}
        else:
            return False
    except Exception:  # unreadable: the manifest reader reports it properly
        return False
    return {"status", "run_id"} <= names


def check_results_path(path: Path) -> None:
    """Refuse a ``--results`` path whose extension ferry cannot write."""
    if path.suffix.lower() not in RESULT_SUFFIXES:
        raise ResultsError(path, "result table must end in .parquet or .csv")
    if path.is_dir():
        raise ResultsError(path, "is a directory, not a result table")


def empty_results() -> pl.DataFrame:
    """A result table with no rows."""
    return pl.DataFrame(schema=RESULT_POLARS_SCHEMA)


def read_results(path: Path) -> pl.DataFrame:
    """The result table at ``path`` conformed to the contract's types; empty when it is absent.

    Raises :class:`ResultsError` (and never overwrites the file) when it is unreadable or is
    not a result table.
    """
    if not path.exists():
        return empty_results()
    check_results_path(path)
    try:
        if path.suffix.lower() == ".csv":
            frame = pl.read_csv(path, infer_schema=False)
        else:
            frame = pl.read_parquet(path)
    except Exception as exc:
        raise ResultsError(path, f"not a readable result table ({type(exc).__name__})") from exc
    return conform(frame, path)


def conform(frame: pl.DataFrame, path: Path) -> pl.DataFrame:
    """Cast a table read from disk to the result schema; extra columns are kept as they are."""
    missing = [name for name in _REQUIRED if name not in frame.columns]
    if missing:
        raise ResultsError(path, f"not a result table: no column '{missing[0]}'", column=missing[0])
    exprs = []
    for name, dtype in RESULT_POLARS_SCHEMA.items():
        if name not in frame.columns:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
            continue
        source = frame.schema[name]
        if isinstance(dtype, pl.Datetime) and source == pl.String:
            expr = pl.col(name).str.to_datetime(time_unit="us", time_zone="UTC", strict=False)
        elif isinstance(dtype, pl.Datetime) and isinstance(source, pl.Datetime):
            expr = (
                pl.col(name).dt.replace_time_zone("UTC")
                if source.time_zone is None
                else pl.col(name).dt.convert_time_zone("UTC")
            ).dt.cast_time_unit("us")
        else:
            expr = pl.col(name).cast(dtype, strict=False)
        exprs.append(expr.alias(name))
    try:
        out = frame.with_columns(exprs)
    except Exception as exc:
        raise ResultsError(path, f"result table has columns of the wrong type: {exc}") from exc
    bad_status = out.filter(~pl.col("status").is_in(["ok", "failed"]) | pl.col("id").is_null())
    if bad_status.height:
        raise ResultsError(path, "not a result table: status must be 'ok' or 'failed' in every row")
    extras = [c for c in frame.columns if c not in RESULT_POLARS_SCHEMA]
    return out.select([*RESULT_COLUMNS, *extras])


def fold(
    previous: pl.DataFrame, updates: pl.DataFrame, extras: pl.DataFrame | None
) -> pl.DataFrame:
    """The table after ``updates`` (result rows, latest last) replace rows of ``previous``.

    One row per identity; a row keeps its place, new identities go to the end in manifest order.
    ``extras`` (``id`` plus the manifest's extra columns, in manifest order) is joined onto the
    updated rows.
    """
    if updates.height == 0:
        return previous
    order = previous.select("id").with_row_index("_previous")
    latest = (
        _latest(updates, extras, base=previous.height)
        .join(order, on="id", how="left")
        .with_columns(pl.coalesce(pl.col("_previous").cast(pl.Int64), "_order").alias("_order"))
        .drop("_previous", "_manifest")
    )
    order = order.rename({"_previous": "_order"})
    kept = previous.join(latest.select("id"), on="id", how="anti").join(order, on="id", how="left")
    kept = kept.with_columns(pl.col("_order").cast(pl.Int64))
    return pl.concat([kept, latest], how="diagonal_relaxed").sort("_order").drop("_order")


#: Rows of the previous table read at a time by :func:`merge_into_table`.
MERGE_BATCH_ROWS = 8_192


def merge_into_table(path: Path, updates: pl.DataFrame, extras: pl.DataFrame | None) -> None:
    """Apply ``updates`` to the table at ``path`` without holding the whole table in memory.

    The same result as ``write_results(fold(read_results(path), updates, extras), path)``, but a
    Parquet table is streamed batch by batch, so memory is bounded by the batch and the updates,
    however long the table. CSV tables are folded in memory.
    """
    if updates.height == 0:
        return
    if not path.exists() or path.suffix.lower() != ".parquet":
        write_results(fold(read_results(path), updates, extras), path)
        return
    try:
        source = pq.ParquetFile(path)
        previous_schema = pl.from_arrow(source.schema_arrow.empty_table())
    except Exception as exc:
        raise ResultsError(path, f"not a readable result table ({type(exc).__name__})") from exc
    assert isinstance(previous_schema, pl.DataFrame)
    latest = _latest(updates, extras, base=0)
    target = pl.concat(
        [conform(previous_schema, path), latest.drop("_order", "_manifest").head(0)],
        how="diagonal_relaxed",
    ).schema
    seen: list[pl.Series] = []
    with _AtomicParquet(path) as out:
        offset = 0
        for batch in source.iter_batches(batch_size=MERGE_BATCH_ROWS):
            chunk = pl.from_arrow(batch)
            assert isinstance(chunk, pl.DataFrame)
            previous = conform(chunk, path).with_row_index("_order", offset=offset)
            offset += previous.height
            replaced = latest.drop("_order").join(previous.select("id", "_order"), on="id")
            seen.append(replaced["id"])
            kept = previous.join(replaced.select("id"), on="id", how="anti")
            merged = pl.concat([kept, replaced.drop("_manifest")], how="diagonal_relaxed")
            out.write(_shape(merged.sort("_order").drop("_order"), target))
        done = pl.concat(seen).to_frame() if seen else latest.head(0).select("id")
        fresh = latest.join(done, on="id", how="anti")
        out.write(_shape(fresh.sort("_order").drop("_order", "_manifest"), target))


def _latest(updates: pl.DataFrame, extras: pl.DataFrame | None, *, base: int) -> pl.DataFrame:
    """One row per identity (the last), with its extras and ``_order``: manifest order, then
    journal order, after ``base``."""
    latest = updates.unique(subset="id", keep="last", maintain_order=True).with_row_index("_seen")
    if extras is not None:
        latest = latest.join(extras.with_row_index("_manifest"), on="id", how="left")
    else:
        latest = latest.with_columns(pl.lit(None, dtype=pl.UInt32).alias("_manifest"))
    spread = (extras.height if extras is not None else 0) + 1
    return latest.with_columns(
        pl.coalesce(
            pl.lit(base) + pl.col("_manifest").cast(pl.Int64),
            pl.lit(base + spread) + pl.col("_seen").cast(pl.Int64),
        ).alias("_order")
    ).drop("_seen")


def _shape(frame: pl.DataFrame, target: pl.Schema) -> pl.DataFrame:
    """``frame`` with exactly the ``target`` columns and types, in that order."""
    return frame.select(
        pl.col(name).cast(dtype, strict=False)
        if name in frame.columns
        else pl.lit(None, dtype).alias(name)
        for name, dtype in target.items()
    )


class _AtomicParquet:
    """A Parquet file written batch by batch beside ``path``, renamed over it on success."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        self._writer: pq.ParquetWriter | None = None

    def write(self, frame: pl.DataFrame) -> None:
        if frame.height == 0 and self._writer is not None:
            return
        table = _to_arrow(frame)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.tmp, table.schema, compression="zstd")
        self._writer.write_table(table)

    def __enter__(self) -> _AtomicParquet:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if self._writer is not None:
                self._writer.close()
            if exc_type is None:
                _commit(self.tmp, self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                self.tmp.unlink()


def _commit(tmp: Path, path: Path) -> None:
    """fsync ``tmp``, rename it over ``path``, fsync the folder."""
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_results(frame: pl.DataFrame, path: Path) -> None:
    """Write the table atomically: a temp file beside it, fsync, rename, fsync of the folder."""
    check_results_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        if path.suffix.lower() == ".csv":
            frame.write_csv(tmp)
        else:
            pq.write_table(_to_arrow(frame), tmp, compression="zstd")
        _commit(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _to_arrow(frame: pl.DataFrame) -> pa.Table:
    table = frame.to_arrow()
    fields = [RESULT_SCHEMA.field(name) for name in RESULT_COLUMNS]
    fields += [
        table.schema.field(name) for name in table.column_names if name not in RESULT_SCHEMA.names
    ]
    # nullable=False on ``id`` is the contract; arrow needs the data cast to the exact types.
    schema = pa.schema(fields)
    columns = [table.column(f.name).cast(f.type) for f in fields]
    return pa.Table.from_arrays(columns, schema=schema)
