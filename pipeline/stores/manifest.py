"""Manifests that live in a bucket's own terms: a prefix to list, or an S3 Inventory report.

:func:`open_store_manifest` is what :func:`pipeline.manifest.open_manifest` asks first; it
answers None for anything else (a file, standard input, a remote CSV, ...).
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

from pipeline.manifest.options import ManifestOptions
from pipeline.manifest.source import ManifestSource
from pipeline.stores.inventory import is_inventory, read_inventory
from pipeline.stores.listing import LISTING_COLUMNS, list_objects
from pipeline.stores.registry import Stores
from pipeline.stores.uris import parse_store_uri


def open_store_manifest(
    source: str, options: ManifestOptions, stores: Stores | None = None
) -> ManifestSource | None:
    """A :class:`ManifestSource` for a bucket prefix or an inventory ``manifest.json``, or
    None when ``source`` is neither. Credentials are checked before anything is read."""
    uri = parse_store_uri(source)
    listing = uri is not None and uri.is_prefix
    if not listing and (options.format is not None or not is_inventory(source)):
        return None
    run_stores = stores if stores is not None else Stores()

    def frames(rows: int) -> Iterator[pl.DataFrame]:
        if uri is not None and listing:
            return list_objects(
                uri, run_stores, default_upload_path=options.default_upload_path, rows=rows
            )
        return read_inventory(
            source, run_stores, default_upload_path=options.default_upload_path, rows=rows
        )

    if uri is not None:
        run_stores.environment.require(uri, sign=False)
    return ManifestSource.of_frames(
        label=source, frames=frames, extra_columns=LISTING_COLUMNS, options=options
    )
