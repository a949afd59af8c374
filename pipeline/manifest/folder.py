"""``ferry run DIR``: every regular file below a folder is a row, uploaded by stream.

The identity is the file's path relative to the folder; the target mirrors the tree:
``<default upload path>/<relative folder>/<file name>``. ferry's own files are skipped.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipeline.errors import ManifestError
from pipeline.manifest.options import FRAME_COLUMNS, SOURCE_SCHEMES
from pipeline.manifest.ownfiles import is_ferry_file
from pipeline.manifest.validity import with_invalid


def read_folder(folder: Path, default_upload_path: str) -> pl.DataFrame:
    """The normalised frame of the files below ``folder``."""
    root = folder.resolve()
    try:
        files = sorted(p for p in root.rglob("*") if p.is_file() and not is_ferry_file(p))
    except OSError as exc:
        raise ManifestError(folder, f"cannot list the folder: {exc.strerror or exc}") from exc
    if not files:
        raise ManifestError(folder, "the folder has no files to upload")
    relative = [p.relative_to(root) for p in files]
    parents = [rel.parent.as_posix() for rel in relative]
    frame = pl.DataFrame(
        {
            "id": [rel.as_posix() for rel in relative],
            "url": [str(p) for p in files],
            "upload_path": [
                default_upload_path if parent == "." else f"{default_upload_path}/{parent}"
                for parent in parents
            ],
            "file_name": [p.name for p in files],
            "_row": pl.Series(range(1, len(files) + 1), dtype=pl.Int64),
        },
        schema_overrides={"file_name": pl.String},
    )
    return with_invalid(frame, SOURCE_SCHEMES).select(FRAME_COLUMNS)
