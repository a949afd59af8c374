"""Manifests: the lists of sources ferry migrates, read into checked, normalised frames.

Two ways in:

* :func:`open_manifest` (streaming) reads the header or schema and checks the columns; its
  :meth:`~ManifestSource.batches` hands out the rows as normalised frames, a batch at a time,
  with per-row and per-batch checks done. The whole-manifest rules are separate functions over
  a normalised frame, so a planner can apply them per hash partition: :func:`drop_identical`,
  :func:`find_duplicate_id`, :func:`find_clash`.
* :func:`read_manifest` (eager) is the batches concatenated and those rules applied.

The normalised frame has the columns ``id, url, upload_path, file_name, _row, _invalid``
(:data:`FRAME_COLUMNS`), then the manifest's extra columns. ``_row`` is the 1-based data row
(the first row after a header is row 1); blank lines are counted but skipped. A result table
is itself a valid manifest: its output-only columns are dropped.

Identity: with an ``id`` column, the id is its value (stripped; integers become text); without
one, :func:`row_identity` of the effective ``url``, ``upload_path`` and ``file_name``.
Identical rows (same id, url, upload_path and file_name) appear once, the first. The same id on
different rows, or two valid rows sending different sources to one explicit target, make a bad
manifest.

Two kinds of problem: a bad row fails alone (its ``_invalid`` says why it cannot be sent);
a bad manifest raises :class:`~pipeline.core.errors.ManifestError`, one line naming the file and,
where it applies, row and column. No exception of polars, pyarrow or the OS escapes.

Where things live: ``options`` (what can be asked), ``inputs`` and ``sniff`` (where the bytes
come from, which format), ``textio`` (text read in blocks of whole lines), one reader per format
(``csvfile``, ``parquetfile``, ``folder``), ``columns`` (which column is which field),
``normalise`` and ``validity`` (per row), ``identity``, ``rules`` (whole manifest), ``source``
and ``eager`` (the two ways in), ``ownfiles`` (ferry's own files in a folder).

The names are exported lazily, so importing :mod:`pipeline.manifest.options` (the CLI does, for
its defaults) does not import polars.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "DEFAULT_UPLOAD_PATH": "options",
    "FRAME_COLUMNS": "options",
    "HTTP_SCHEMES": "options",
    "MAX_URL_CHARS": "options",
    "SOURCE_SCHEMES": "options",
    "ManifestOptions": "options",
    "Manifest": "eager",
    "read_manifest": "eager",
    "ManifestSource": "source",
    "open_manifest": "source",
    "drop_identical": "rules",
    "find_clash": "rules",
    "find_duplicate_id": "rules",
    "row_identity": "identity",
    "is_ferry_file": "ownfiles",
}

if TYPE_CHECKING:
    from pipeline.manifest.eager import Manifest, read_manifest
    from pipeline.manifest.identity import row_identity
    from pipeline.manifest.options import (
        DEFAULT_UPLOAD_PATH,
        FRAME_COLUMNS,
        HTTP_SCHEMES,
        MAX_URL_CHARS,
        SOURCE_SCHEMES,
        ManifestOptions,
    )
    from pipeline.manifest.ownfiles import is_ferry_file
    from pipeline.manifest.rules import drop_identical, find_clash, find_duplicate_id
    from pipeline.manifest.source import ManifestSource, open_manifest

__all__ = [
    "DEFAULT_UPLOAD_PATH",
    "FRAME_COLUMNS",
    "HTTP_SCHEMES",
    "MAX_URL_CHARS",
    "SOURCE_SCHEMES",
    "Manifest",
    "ManifestOptions",
    "ManifestSource",
    "drop_identical",
    "find_clash",
    "find_duplicate_id",
    "is_ferry_file",
    "open_manifest",
    "read_manifest",
    "row_identity",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pipeline.manifest' has no attribute {name!r}")
    return getattr(importlib.import_module(f"pipeline.manifest.{module}"), name)
