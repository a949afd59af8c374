"""The eager way in, for small callers and the tests: the whole manifest as one checked frame."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import polars as pl

from pipeline.manifest.options import FRAME_COLUMNS, ManifestOptions
from pipeline.manifest.rules import drop_identical, find_clash, find_duplicate_id
from pipeline.manifest.source import open_manifest


@dataclass(frozen=True)
class Manifest:
    """A checked manifest.

    ``frame`` columns, in order: ``id`` (str, never null), ``url`` (str, null for an empty URL),
    ``upload_path`` (str), ``file_name`` (str or null), ``_row`` (Int64, the 1-based data row in
    the file), ``_invalid`` (str or null: why the row cannot be sent), then ``extra_columns``.
    Identical rows appear once (the first); rows keep the file's order. ``path`` is None for
    standard input and remote manifests; ``label`` names the manifest in messages.
    """

    path: Path | None
    frame: pl.DataFrame
    extra_columns: tuple[str, ...]
    is_result_table: bool
    label: str = ""

    @property
    def base_dir(self) -> Path:
        """The folder relative local paths in the manifest are taken from."""
        if self.path is None:
            return Path.cwd()
        return self.path if self.path.is_dir() else self.path.parent


def read_manifest(
    source: Path | str,
    options: ManifestOptions | None = None,
    *,
    default_upload_path: str | None = None,
    accepted_schemes: frozenset[str] | None = None,
) -> Manifest:
    """Read and check the whole manifest at ``source``; raise ``ManifestError`` if it is bad.

    ``default_upload_path`` and ``accepted_schemes`` override the fields of ``options``.
    """
    options = options if options is not None else ManifestOptions()
    if default_upload_path is not None:
        options = replace(options, default_upload_path=default_upload_path)
    if accepted_schemes is not None:
        options = replace(options, accepted_schemes=accepted_schemes)
    with open_manifest(source, options=options) as opened:
        frames = list(opened.batches())
        frame = pl.concat(frames, how="vertical") if len(frames) > 1 else frames[0]
        frame = drop_identical(frame)
        error = find_duplicate_id(frame, label=opened.label, column=opened.id_column) or find_clash(
            frame, label=opened.label, column=opened.file_name_column
        )
        if error is not None:
            raise error
        return Manifest(
            path=opened.path,
            frame=frame.select(*FRAME_COLUMNS, *opened.extra_columns),
            extra_columns=opened.extra_columns,
            is_result_table=opened.is_result_table,
            label=opened.label,
        )
