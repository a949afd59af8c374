"""Manifests that live in a bucket's own terms: a prefix to list, or an S3 Inventory report.

:func:`bucket_frames` is what :func:`pipeline.manifest.open_manifest` asks first; it answers
None for anything else (a file, standard input, a remote CSV, ...). The rows come from
:mod:`pipeline.buckets` (listing, inventory), already normalised: their extra columns are
:data:`LISTING_COLUMNS` (``size``, ``md5``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import polars as pl

from pipeline.buckets.inventory import is_inventory, read_inventory
from pipeline.buckets.listing import LISTING_COLUMNS as LISTING_COLUMNS
from pipeline.buckets.listing import list_objects
from pipeline.buckets.registry import Stores
from pipeline.buckets.uris import parse_store_uri
from pipeline.manifest.options import ManifestOptions

#: A listed manifest's normalised frames, ``rows`` at a time.
Frames = Callable[[int], Iterator[pl.DataFrame]]


def bucket_frames(
    source: str, options: ManifestOptions, stores: Stores | None = None
) -> Frames | None:
    """The frames of a bucket prefix or an inventory ``manifest.json``, or None when
    ``source`` is neither. Credentials are checked before anything is read."""
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
    return frames
