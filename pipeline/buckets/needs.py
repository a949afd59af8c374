"""Which stores a manifest's rows use, noted while the plan reads them, so that a run without
the credentials for one stops before any upload (exit 2, one line naming the variables).

Azure's ``https://ACCOUNT.blob.core.windows.net/...`` URLs need none: without credentials for
their account they are plain web URLs (a public container), as they always were."""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

from pipeline.buckets.environment import StoreEnvironment
from pipeline.buckets.uris import STORE_SCHEMES, StoreUri

_SCHEME = r"^([A-Za-z0-9]+)://"


class StoreNeeds:
    """The schemes of the bucket URIs seen in a manifest's valid rows."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def watch(self, batches: Iterator[pl.DataFrame]) -> Iterator[pl.DataFrame]:
        """``batches`` unchanged, noting the stores each one uses."""
        for frame in batches:
            self.note(frame)
            yield frame

    def note(self, frame: pl.DataFrame) -> None:
        """Note the stores of ``frame``'s valid rows (a cheap, vectorised pass)."""
        url = pl.col("url")
        schemes = (
            frame.lazy()
            .filter(pl.col("_invalid").is_null())
            .select(url.str.extract(_SCHEME, 1).str.to_lowercase().unique())
            .collect()
            .to_series()
        )
        self.seen.update(scheme for scheme in schemes if scheme in STORE_SCHEMES)

    def require(self, environment: StoreEnvironment, *, sign: bool) -> None:
        """Raise :class:`~pipeline.core.errors.MissingCredentialsError` for the first store seen
        without credentials (``sign``: the run signs URLs)."""
        for scheme in sorted(self.seen):
            environment.require(StoreUri(scheme, "-", "-"), sign=sign)  # type: ignore[arg-type]
