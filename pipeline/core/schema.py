"""Column names and types of manifests and of the result table: the contract in one place."""

from __future__ import annotations

import polars as pl
import pyarrow as pa

#: Manifest columns ferry understands, with their accepted spellings (matched after
#: lower-casing and dropping ``_`` and ``-``, so ``fileUrl``, ``file_url`` and ``FILEURL`` agree).
MANIFEST_ALIASES: dict[str, tuple[str, ...]] = {
    "url": ("url", "sourceurl", "fileurl"),
    "upload_path": ("uploadpath",),
    "file_name": ("filename",),
    "id": ("id",),
    # The optional integrity columns, carried to the result table under these names.
    "size": ("size",),
    "md5": ("md5",),
    "sha256": ("sha256",),
    # Further URLs of the same file (aria2's TAB-separated mirrors), tried by a relay in turn.
    "mirrors": ("mirrors",),
}

#: The result table's columns, in order, with their Arrow types.
RESULT_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("url", pa.string()),
        pa.field("upload_path", pa.string()),
        pa.field("file_name", pa.string()),
        pa.field("method", pa.string()),
        pa.field("status", pa.string()),
        pa.field("download_url", pa.string()),
        pa.field("file_path", pa.string()),
        pa.field("file_size", pa.int64()),
        pa.field("mime_type", pa.string()),
        pa.field("uploaded_at", pa.timestamp("us", tz="UTC")),
        pa.field("expires_at", pa.timestamp("us", tz="UTC")),
        pa.field("error_kind", pa.string()),
        pa.field("error", pa.string()),
        pa.field("http_status", pa.int32()),
        pa.field("attempts", pa.int32()),
        pa.field("finished_at", pa.timestamp("us", tz="UTC")),
        pa.field("run_id", pa.string()),
    ]
)

RESULT_COLUMNS: tuple[str, ...] = tuple(RESULT_SCHEMA.names)

#: The same schema for polars.
RESULT_POLARS_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),
    "url": pl.String(),
    "upload_path": pl.String(),
    "file_name": pl.String(),
    "method": pl.String(),
    "status": pl.String(),
    "download_url": pl.String(),
    "file_path": pl.String(),
    "file_size": pl.Int64(),
    "mime_type": pl.String(),
    "uploaded_at": pl.Datetime("us", "UTC"),
    "expires_at": pl.Datetime("us", "UTC"),
    "error_kind": pl.String(),
    "error": pl.String(),
    "http_status": pl.Int32(),
    "attempts": pl.Int32(),
    "finished_at": pl.Datetime("us", "UTC"),
    "run_id": pl.String(),
}

#: Columns of the result table that are ferry's output, not the manifest's input: a result table
#: read as a manifest drops these and keeps ``id``, ``url``, ``upload_path``, ``file_name`` and
#: its extra columns.
OUTPUT_ONLY_COLUMNS: frozenset[str] = frozenset(RESULT_COLUMNS) - {
    "id",
    "url",
    "upload_path",
    "file_name",
}

STATUS_OK = "ok"
STATUS_FAILED = "failed"
