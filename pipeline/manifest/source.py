"""The streaming way in: :func:`open_manifest` reads the header (or schema), checks the
columns, and hands out the rows as normalised batches.

Per-batch problems (a ragged row, an empty id, bytes that are not UTF-8, ...) raise
:class:`~pipeline.core.errors.ManifestError` from :meth:`ManifestSource.batches` when their batch is
read; the whole-manifest rules (:mod:`pipeline.manifest.rules`) are the caller's to apply.
Memory holds about one batch: nothing keeps the rows already handed out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from pipeline.core.errors import ManifestError
from pipeline.manifest.columns import ColumnMap, check_types, map_columns
from pipeline.manifest.csvfile import read_csv
from pipeline.manifest.folder import folder_rows
from pipeline.manifest.inputs import Input, open_input
from pipeline.manifest.jsonl import read_jsonl
from pipeline.manifest.normalise import normalise
from pipeline.manifest.options import STDIN, ManifestOptions, is_remote
from pipeline.manifest.parquetfile import read_parquet
from pipeline.manifest.raw import RawTable, rechunk
from pipeline.manifest.remote import open_remote
from pipeline.manifest.tsvfile import read_tsv
from pipeline.manifest.urllist import read_urls

if TYPE_CHECKING:
    from pipeline.buckets.registry import Stores

DEFAULT_BATCH_ROWS = 100_000

_READERS: dict[str, Callable[[Input, ManifestOptions], RawTable]] = {
    "csv": read_csv,
    "tsv": read_tsv,
    "txt": read_urls,
    "jsonl": read_jsonl,
    "parquet": read_parquet,
}


class ManifestSource:
    """An opened manifest: its name, its columns, and its rows in normalised batches.

    ``label`` names it in messages (the path, ``-`` for standard input, the URL); ``path`` is
    the local file or folder (None for standard input and remote manifests). Use it as a
    context manager, or call :meth:`close`, when the batches are not read to the end.
    """

    def __init__(
        self,
        *,
        label: str,
        path: Path | None,
        columns: ColumnMap | None,
        raw: RawTable | None,
        reopen: Callable[[], RawTable] | None,
        options: ManifestOptions,
        names: tuple[str, ...] = (),
        frames: Callable[[int], Iterator[pl.DataFrame]] | None = None,
    ) -> None:
        self.label = label
        self.path = path
        self.columns = columns
        self.extra_columns: tuple[str, ...] = columns.extra_columns if columns else ()
        #: The manifest is a result table (it has ``status`` and ``run_id`` columns).
        self.is_result_table = {"status", "run_id"} <= set(names)
        self._raw = raw
        self._reopen = reopen
        self._options = options
        self._frames = frames

    @classmethod
    def of_frames(
        cls,
        *,
        label: str,
        frames: Callable[[int], Iterator[pl.DataFrame]],
        extra_columns: tuple[str, ...],
        options: ManifestOptions,
    ) -> ManifestSource:
        """A manifest whose normalised frames ``frames(rows)`` makes (a listed bucket prefix,
        an inventory report): no file, no column mapping, ids never hashed."""
        source = cls(
            label=label,
            path=None,
            columns=None,
            raw=None,
            reopen=None,
            options=options,
            frames=frames,
        )
        source.extra_columns = extra_columns
        return source

    @property
    def id_column(self) -> str:
        """The manifest's name of its id column, for messages."""
        return self.columns.name_of("id") if self.columns else "id"

    @property
    def hashes_ids(self) -> bool:
        """Every identity is the hash of its row's source and target (the file has no id)."""
        return self.columns is not None and "id" not in self.columns.fields

    @property
    def file_name_column(self) -> str:
        """The manifest's name of its file_name column, for messages."""
        return self.columns.name_of("file_name") if self.columns else "file_name"

    def batches(self, rows: int = DEFAULT_BATCH_ROWS) -> Iterator[pl.DataFrame]:
        """The normalised rows, ``rows`` at a time, in file order.

        A local file can be read again; standard input and remote manifests only once.
        """
        if rows < 1:
            raise ValueError("rows must be at least 1")
        if self._frames is not None:
            yield from self._frames(rows)
            return
        if self.columns is None:
            assert self.path is not None
            yield from rechunk(folder_rows(self.path, self._options.default_upload_path), rows)
            return
        raw = self._take_raw()
        count = 0
        try:
            for chunk in rechunk(raw.batches(rows), rows):
                frame = normalise(chunk, self.columns, self._options, self.label)
                count += frame.height
                yield frame
        finally:
            raw.close()
        if count == 0:
            raise ManifestError(self.label, "no data rows (only a header)")

    def close(self) -> None:
        """Release the input (an open file, a stream)."""
        if self._raw is not None:
            self._raw.close()
            self._raw = None

    def __enter__(self) -> ManifestSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _take_raw(self) -> RawTable:
        raw, self._raw = self._raw, None
        if raw is not None:
            return raw
        if self._reopen is None:
            raise ManifestError(self.label, "a stream can be read only once")
        return self._reopen()


def open_manifest(
    source: Path | str, *, options: ManifestOptions | None = None, stores: Stores | None = None
) -> ManifestSource:
    """Open the manifest at ``source`` (a path, ``-`` for standard input, an s3://, gs:// or
    https:// URL; a bucket prefix or an S3 Inventory manifest.json, read through ``stores``,
    see :mod:`pipeline.manifest.bucket`): read its header or schema and check its columns.

    Raises :class:`ManifestError` for a bad manifest found so far, and
    :class:`~pipeline.core.errors.UsageError` for a ``--column`` name the manifest does not have.
    """
    options = options if options is not None else ManifestOptions()
    if source != STDIN:
        from pipeline.manifest.bucket import LISTING_COLUMNS, bucket_frames  # obstore: late

        frames = bucket_frames(str(source), options, stores)
        if frames is not None:
            return ManifestSource.of_frames(
                label=str(source), frames=frames, extra_columns=LISTING_COLUMNS, options=options
            )
    streamed = isinstance(source, str) and (source == STDIN or is_remote(source))
    if not streamed:
        path = Path(source)
        if path.is_dir():
            return ManifestSource(
                label=str(path), path=path, columns=None, raw=None, reopen=None, options=options
            )

    opened = 0

    def read() -> RawTable:
        nonlocal opened
        opened += 1  # say what is worth saying about the input once, not on every reading
        inp = open_input(source, options, opener=open_remote, announce=opened == 1)
        try:
            return _READERS[inp.format](inp, options)
        except BaseException:
            inp.close()
            raise

    raw = read()
    label = str(source)
    try:
        columns = map_columns(label, raw.names, options.columns, delimiter_hint=raw.delimiter)
        if raw.empty:
            raise ManifestError(label, "no data rows (only a header)")
        check_types(label, columns, raw.schema)
    except BaseException:
        raw.close()
        raise
    return ManifestSource(
        label=label,
        path=None if streamed else Path(source),
        columns=columns,
        raw=raw,
        reopen=None if streamed else read,
        options=options,
        names=raw.names,
    )
