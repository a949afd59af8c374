"""A bucket prefix as a manifest: ``ferry run s3://bucket/photos/`` lists the objects page by
page and hands them out as normalised frames, like a local folder.

Each object is a row: identity and ``url`` its URI, target ``<--upload-path>/<folders of the
key below the prefix>``, ``file_name`` the key's last segment, and the integrity columns
``size`` and ``md5`` (the ETag, when it is a single-part MD5: 32 hex digits, no ``-N``). The
listing streams as Arrow batches (obstore's ``return_arrow``): memory holds one batch, whatever
the bucket's size. Folder markers (the empty ``photos/2024/`` objects that consoles make) are
skipped. A listing that fails is a bad manifest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Final

import polars as pl

from pipeline.buckets.registry import Stores, failure_reason
from pipeline.buckets.uris import StoreUri
from pipeline.core.errors import ManifestError, PipelineError
from pipeline.manifest.options import FRAME_COLUMNS, SOURCE_SCHEMES
from pipeline.manifest.validity import with_invalid

#: The integrity columns a listing carries, after :data:`FRAME_COLUMNS`.
LISTING_COLUMNS: Final = ("size", "md5")
_MD5_ETAG: Final = r'^"?([0-9a-fA-F]{32})"?$'


def list_objects(
    uri: StoreUri, stores: Stores, *, default_upload_path: str, rows: int
) -> Iterator[pl.DataFrame]:
    """The objects below ``uri`` (a prefix) as normalised frames of at most ``rows`` rows."""
    label = str(uri)
    prefix = uri.key.rstrip("/")
    pending: pl.DataFrame | None = None  # the last object of a page: a marker needs the next
    count = 0
    for page in _pages(uri, stores, prefix, rows, label):
        objects = page if pending is None else pl.concat([pending, page])
        objects, pending = objects.head(-1), objects.tail(1)
        objects = _without_markers(objects, pending, uri, stores)
        if objects.height:
            yield _frame(uri, objects, prefix, default_upload_path, count)
            count += objects.height
    if pending is not None and pending.height:
        last = _without_markers(pending, None, uri, stores)
        if last.height:
            yield _frame(uri, last, prefix, default_upload_path, count)
            count += last.height
    if count == 0:
        raise ManifestError(label, "no objects below this prefix (is it misspelt?)")


def _pages(
    uri: StoreUri, stores: Stores, prefix: str, rows: int, label: str
) -> Iterator[pl.DataFrame]:
    import obstore

    try:
        stream = obstore.list(
            stores.client(uri), prefix or None, chunk_size=rows, return_arrow=True
        )
        for batch in stream:
            yield pl.DataFrame(batch).select(
                pl.col("path"), pl.col("size").cast(pl.Int64), pl.col("e_tag")
            )
    except PipelineError:
        raise
    except Exception as exc:  # obstore's errors, translated in one place
        reason = failure_reason(uri, exc, missing="no such bucket")
        if "invalid path" in str(exc):
            reason = (
                f"an object's key cannot be read ({reason}): keys with an empty, '.' or '..' "
                "segment cannot be listed; list the others in a manifest"
            )
        raise ManifestError(label, f"the listing failed: {reason}") from None


def _without_markers(
    objects: pl.DataFrame, following: pl.DataFrame | None, uri: StoreUri, stores: Stores
) -> pl.DataFrame:
    """``objects`` without folder markers (``photos/2024/``, empty). The store library drops a
    key's last ``/``, so a marker shows as an empty ``photos/2024``: it is one when the next key
    lies below it (keys come sorted), or, for the few other empty objects, when no object of
    that very name exists."""
    paths = (
        objects["path"] if following is None else pl.concat([objects["path"], following["path"]])
    )
    following_path = paths.shift(-1).head(objects.height).alias("_next")
    path = pl.col("path")
    below = pl.col("_next").str.starts_with(path + "/").fill_null(False)
    objects = objects.with_columns(following_path).filter(~((pl.col("size") == 0) & below))
    empty = objects.filter(pl.col("size") == 0)["path"].to_list()
    markers = _markers(uri, stores, empty) if empty else set()
    return objects.filter(~path.is_in(list(markers))).drop("_next")


def _markers(uri: StoreUri, stores: Stores, empty: list[str]) -> set[str]:
    """Which of the ``empty`` objects do not exist under their listed name (markers), asked
    16 at a time."""
    import obstore

    client = stores.client(uri)

    async def missing(key: str, slots: asyncio.Semaphore) -> str | None:
        async with slots:
            try:
                await obstore.head_async(client, key)
            except FileNotFoundError:
                return key
        return None

    async def ask() -> set[str]:
        slots = asyncio.Semaphore(16)
        found = await asyncio.gather(*(missing(key, slots) for key in empty))
        return {key for key in found if key is not None}

    return asyncio.run(ask())


def _frame(
    uri: StoreUri, objects: pl.DataFrame, prefix: str, default_upload_path: str, start: int
) -> pl.DataFrame:
    path = pl.col("path")
    if uri.account is None:
        source = pl.lit(f"{uri.scheme}://{uri.bucket}/") + path
    else:  # Azure's https form: the children keep it, their names escaped
        source = path.map_elements(uri.child, return_dtype=pl.String)
    relative = path.str.slice(len(prefix) + 1) if prefix else path
    return object_rows(objects, source, relative, default_upload_path, start)


def object_rows(
    objects: pl.DataFrame, source: pl.Expr, relative: pl.Expr, default_upload_path: str, start: int
) -> pl.DataFrame:
    """The normalised frame of ``objects`` (columns ``size``, ``e_tag`` and those ``source``
    and ``relative`` read): the target mirrors ``relative``'s folders below the upload path."""
    folder = relative.str.extract(r"^(.*)/[^/]*$", 1)
    frame = objects.select(
        source.alias("id"),
        source.alias("url"),
        pl.when(folder.is_null() | (folder == ""))
        .then(pl.lit(default_upload_path))
        .otherwise(pl.lit(f"{default_upload_path}/") + folder)
        .alias("upload_path"),
        relative.str.extract(r"([^/]*)$", 1).alias("file_name"),
        pl.int_range(start + 1, start + 1 + objects.height, dtype=pl.Int64).alias("_row"),
        pl.col("size").cast(pl.Int64),
        pl.col("e_tag").str.extract(_MD5_ETAG, 1).str.to_lowercase().alias("md5"),
    )
    return with_invalid(frame, SOURCE_SCHEMES).select(*FRAME_COLUMNS, *LISTING_COLUMNS)
