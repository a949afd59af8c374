"""An S3 Inventory report as a manifest: its ``manifest.json`` (local or ``s3://``) names the
report's data files (CSV.gz or Parquet) and their columns (``fileSchema``); they are read one
batch at a time as one manifest of ``s3://`` sources, with ``size`` and ``md5``.

CSV reports have no header and URL-encode their keys (``+`` for a space); Parquet reports keep
keys as they are. With versions in the report only current objects count (``IsLatest``, no
delete marker); folder markers (an empty key ending in ``/``) are skipped. The targets mirror
the keys' folders below ``--upload-path``, as for a listed prefix.

The data files are read from the destination bucket. A local ``manifest.json`` first looks for
a local copy of each file (its key, or ``data/<name>``, below the manifest's folder or the one
above it, as ``aws s3 sync`` of the report's folder leaves them).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import polars as pl

from pipeline.buckets.listing import object_rows
from pipeline.buckets.reader import open_object_reader
from pipeline.buckets.registry import Stores
from pipeline.buckets.uris import parse_store_uri
from pipeline.core.errors import ManifestError, PipelineError

_FORMATS: Final = ("csv", "parquet")
#: The report's columns ferry reads, by their CSV (``fileSchema``) and Parquet names.
_CSV_NAMES: Final = {
    "Bucket": "bucket",
    "Key": "key",
    "Size": "size",
    "ETag": "e_tag",
    "IsLatest": "is_latest",
    "IsDeleteMarker": "is_delete_marker",
}


def is_inventory(source: str) -> bool:
    """A ``manifest.json`` given as MANIFEST (by its name: S3 Inventory always uses it)."""
    name = source.split("?", 1)[0].rstrip("/").rpartition("/")[2]
    return name.lower().endswith(".json")


def read_inventory(
    source: str, stores: Stores, *, default_upload_path: str, rows: int
) -> Iterator[pl.DataFrame]:
    """The report's objects as normalised frames of at most ``rows`` rows."""
    manifest = _load(source, stores)
    fmt = str(manifest.get("fileFormat", "")).lower()
    if fmt not in _FORMATS:
        raise ManifestError(
            source,
            f"fileFormat '{manifest.get('fileFormat')}': ferry reads "
            "CSV and Parquet inventory reports (not ORC)",
        )
    files = manifest.get("files")
    destination = str(manifest.get("destinationBucket", "")).rpartition(":")[2]
    if not isinstance(files, list) or not files or not destination:
        raise ManifestError(
            source, "not an S3 Inventory manifest.json (no files or destinationBucket)"
        )
    names = _schema(source, manifest, fmt)
    count = 0
    for entry in files:
        key = entry.get("key") if isinstance(entry, dict) else None
        if not isinstance(key, str) or not key:
            raise ManifestError(source, "a files entry has no key")
        where = _data_file(source, destination, key)
        with _open(where, stores) as handle:
            reader = _csv_batches if fmt == "csv" else _parquet_batches
            for raw in reader(handle, names, rows, where):
                objects = _current(raw, decode=fmt == "csv")
                if objects.height:
                    source_uri = pl.lit("s3://") + pl.col("bucket") + pl.lit("/") + pl.col("key")
                    yield object_rows(
                        objects, source_uri, pl.col("key"), default_upload_path, count
                    )
                    count += objects.height
    if count == 0:
        raise ManifestError(source, "the inventory lists no objects")


def _load(source: str, stores: Stores) -> dict[str, Any]:
    try:
        if parse_store_uri(source) is not None:
            with _open(source, stores) as handle:
                text = handle.read()
        else:
            text = Path(source).read_bytes()
        manifest = json.loads(text)
    except PipelineError:
        raise
    except OSError as exc:
        raise ManifestError(source, f"cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ManifestError(source, f"not JSON: {exc}") from None
    if not isinstance(manifest, dict):
        raise ManifestError(source, "not an S3 Inventory manifest.json (not a JSON object)")
    return manifest


def _schema(source: str, manifest: dict[str, Any], fmt: str) -> list[str]:
    """A CSV report's column names (``fileSchema``), in the Parquet spelling ferry reads;
    Parquet files name their own columns."""
    if fmt != "csv":
        return []
    schema = str(manifest.get("fileSchema", ""))
    names = [_CSV_NAMES.get(name.strip(), name.strip()) for name in schema.split(",")]
    for needed in ("bucket", "key"):
        if needed not in names:
            raise ManifestError(source, f"fileSchema '{schema}' has no {needed.title()} column")
    return names


def _data_file(source: str, destination: str, key: str) -> str:
    if parse_store_uri(source) is None:
        folder = Path(source).resolve().parent
        name = key.rpartition("/")[2]
        for base in (folder, folder.parent):
            for candidate in (base / key, base / "data" / name, base / name):
                if candidate.is_file():
                    return str(candidate)
    return f"s3://{destination}/{key}"


@contextlib.contextmanager
def _open(where: str, stores: Stores) -> Iterator[Any]:
    """A data file (a local path or ``s3://``) open for reading; failures are bad manifests."""
    if parse_store_uri(where) is not None:
        handle = open_object_reader(where, stores)
    else:
        try:
            handle = open(where, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise ManifestError(where, f"cannot read: {exc.strerror or exc}") from None
    try:
        yield handle
    finally:
        handle.close()


def _csv_batches(handle: Any, names: list[str], rows: int, where: str) -> Iterator[pl.DataFrame]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        stream = pa.input_stream(handle, compression="gzip" if where.endswith(".gz") else None)
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(column_names=names, block_size=rows * 128),
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string())),
        )
        for batch in reader:
            yield pl.DataFrame(pl.from_arrow(batch))
    except (pa.ArrowException, OSError) as exc:
        raise ManifestError(where, f"cannot read the inventory CSV: {exc}") from None


def _parquet_batches(
    handle: Any, _names: list[str], rows: int, where: str
) -> Iterator[pl.DataFrame]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(handle)
        wanted = [n for n in parquet.schema_arrow.names if n in _CSV_NAMES.values()]
        for batch in parquet.iter_batches(batch_size=rows, columns=wanted):
            yield pl.DataFrame(pl.from_arrow(batch))
    except (pa.ArrowException, OSError) as exc:
        raise ManifestError(where, f"cannot read the inventory Parquet: {exc}") from None


def _current(raw: pl.DataFrame, *, decode: bool) -> pl.DataFrame:
    """The rows of current objects, keys decoded, as ``bucket, path, key, size, e_tag``."""
    key = pl.col("key")
    if decode:  # URL-encoded, + for a space
        key = key.str.replace_all("+", " ", literal=True).map_batches(
            _unquote, return_dtype=pl.String
        )
    true = ("true", "True", "TRUE")
    keep = pl.lit(True)
    if "is_latest" in raw.columns:
        keep &= pl.col("is_latest").cast(pl.String).is_in(true).fill_null(True)
    if "is_delete_marker" in raw.columns:
        keep &= ~pl.col("is_delete_marker").cast(pl.String).is_in(true).fill_null(False)
    size = pl.col("size") if "size" in raw.columns else pl.lit(None)
    etag = pl.col("e_tag") if "e_tag" in raw.columns else pl.lit(None, dtype=pl.String)
    frame = raw.filter(keep).select(
        pl.col("bucket").cast(pl.String),
        key.cast(pl.String).alias("key"),
        size.cast(pl.String).str.strip_chars().cast(pl.Int64, strict=False).alias("size"),
        etag.cast(pl.String).alias("e_tag"),
    )
    marker = pl.col("key").str.ends_with("/") & (pl.col("size").fill_null(0) == 0)
    return frame.filter(~marker)


def _unquote(keys: pl.Series) -> pl.Series:
    from urllib.parse import unquote

    return pl.Series(
        keys.name, [None if k is None else unquote(k) for k in keys.to_list()], dtype=pl.String
    )
