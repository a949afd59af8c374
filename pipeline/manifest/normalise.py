"""One raw batch (the file's columns plus the row number) to the normalised frame.

The normalised frame's columns: ``id`` (str, never null), ``url`` (str, null for an empty URL),
``upload_path`` (str, the default applied), ``file_name`` (str or null), ``_row`` (Int64, the
1-based data row), ``_invalid`` (str or null: why the row cannot be sent), then the extra
columns (the integrity columns ``size`` as Int64, ``md5`` and ``sha256`` as text, the others as
the file has them). Everything here is per row, so a batch is normalised alone.
"""

from __future__ import annotations

import polars as pl

from pipeline.core.errors import ManifestError
from pipeline.manifest.columns import ROW, ColumnMap, check_types
from pipeline.manifest.csvquotes import QUOTED
from pipeline.manifest.identity import identities
from pipeline.manifest.messages import show
from pipeline.manifest.options import FRAME_COLUMNS, ManifestOptions
from pipeline.manifest.validity import (
    digest_column,
    float_id_column,
    headers_check,
    mirrors_column,
    size_column,
    split_folders,
    with_invalid,
)

_PATH_ENDS = r"^[\s/]+|[\s/]+$"
_SCHEME = r"^[A-Za-z][A-Za-z0-9+.\-]*:"


def normalise(
    raw: pl.DataFrame, columns: ColumnMap, options: ManifestOptions, label: str
) -> pl.DataFrame:
    """The normalised frame of ``raw``; an empty ``id`` raises :class:`ManifestError`."""
    check_types(label, columns, raw.schema)
    fields = columns.fields

    def text(field: str) -> pl.Expr:
        return pl.col(fields[field]).cast(pl.String)

    url = text("url").str.strip_chars()
    if QUOTED in raw.columns:  # a quoted local path keeps its spaces: they are its name's
        kept = pl.col(QUOTED).list.contains(pl.lit(fields["url"])).fill_null(False)
        url = pl.when(kept & ~url.str.contains(_SCHEME)).then(text("url")).otherwise(url)
    exprs: dict[str, pl.Expr] = {"url": pl.when(url != "").then(url)}
    if "upload_path" in fields:
        upload_path = text("upload_path").str.replace_all(_PATH_ENDS, "")
        upload_path = (
            pl.when(upload_path != "")
            .then(upload_path)
            .otherwise(pl.lit(options.default_upload_path))
        )
    else:
        upload_path = pl.lit(options.default_upload_path, dtype=pl.String)
    if "file_name" in fields:
        file_name = text("file_name").str.strip_chars()
        # rclone's "dir/name": the folders go under upload_path, the last part is the name
        folders, last = split_folders(pl.when(file_name != "").then(file_name))
        upload_path = (
            pl.when(folders.is_null())
            .then(upload_path)
            .otherwise(pl.concat_str(upload_path, pl.lit("/"), folders))
        )
        exprs["file_name"] = last
    else:
        exprs["file_name"] = pl.lit(None, dtype=pl.String)
    exprs["upload_path"] = upload_path

    reasons: list[pl.Expr] = []
    if "id" in fields:
        exprs["id"] = text("id").str.strip_chars()
        if raw.schema[fields["id"]].is_float():  # pandas writes ids as floats past a gap
            exprs["id"], reason = float_id_column(pl.col(fields["id"]))
            reasons.append(reason.alias("__check_id__"))

    extras: list[pl.Expr] = []
    for name, out in columns.extras:
        if out == "size" and fields.get("size") == name:
            value, reason = size_column(pl.col(name), raw.schema[name])
        elif out in ("md5", "sha256") and fields.get(out) == name:
            value, reason = digest_column(out, pl.col(name))
        elif out == "mirrors" and fields.get(out) == name:
            value, reason = mirrors_column(pl.col(name), raw.schema[name])
        else:
            extras.append(pl.col(name).alias(out))
            continue
        extras.append(value.alias(out))
        reasons.append(reason.alias(f"__check_{out}__"))

    for name in columns.hidden:  # aria2's header= lines
        reasons.append(headers_check(pl.col(name)).alias(f"__check_{name}__"))
    frame = raw.select(
        pl.col(ROW).cast(pl.Int64).alias("_row"),
        *[expr.alias(name) for name, expr in exprs.items()],
        *extras,
        *columns.hidden,
        *reasons,
    )
    if "id" in fields:
        empty = frame.filter(pl.col("id").is_null() | (pl.col("id") == ""))
        if empty.height:
            raise ManifestError(label, "empty id", row=empty["_row"][0], column=show(fields["id"]))
    else:
        frame = frame.with_columns(identities(frame))
    # The integrity checks were evaluated on the file's values (a size of "ten" is null once
    # cast), so they come along as columns and join the row checks here.
    checks = [pl.col(name) for name in frame.columns if name.startswith("__check_")]
    frame = with_invalid(frame, options.accepted_schemes, checks)
    return frame.select(*FRAME_COLUMNS, *columns.extra_columns, *columns.hidden)
