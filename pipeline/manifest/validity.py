"""Why a row cannot be sent: the per-row checks behind ``_invalid`` (an ``invalid_row``).

Each check is a polars expression that is null or the reason of the first failure it finds;
the first non-null one, in order, is the row's ``_invalid``. They run side by side.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from pipeline.manifest.options import HTTP_SCHEMES, MAX_URL_CHARS, SOURCE_SCHEMES

_CONTROL: Final = r"[\x00-\x1F\x7F-\x9F]"
_SCHEME: Final = r"^([A-Za-z][A-Za-z0-9+.\-]*):"
_HTTP_URL: Final = (
    r"^[A-Za-z][A-Za-z0-9+.\-]*://"  # scheme
    r"([^/?#@]*@)?"  # user info
    r"(\[[0-9A-Fa-f:.]+\]|[^/?#@:\[\]\s]+)"  # host
    r"(:[0-9]*)?"  # port
    r"([/?#]|$)"
)
_DOTDOT_SEGMENT: Final = r"(^|/)\.\.(/|$)"
_MD5: Final = r"^([0-9A-Fa-f]{32}|[A-Za-z0-9+/]{22}==)$"
_SHA256: Final = r"^[0-9A-Fa-f]{64}$"
_NO_REASON: Final = pl.lit(None, dtype=pl.String)


def with_invalid(
    frame: pl.DataFrame, accepted_schemes: frozenset[str], extra: list[pl.Expr] | None = None
) -> pl.DataFrame:
    """``frame`` with ``_invalid``: why a row cannot be sent (its first reason), or null.

    ``extra`` are further checks (the integrity columns'), after the source and target ones.
    """
    checks = [*row_checks(accepted_schemes), *(extra or [])]
    if extra:  # integrity columns: every row is checked in full
        where = pl.int_range(frame.height, dtype=pl.UInt32, eager=True)
    else:
        where = frame.select(_suspect(accepted_schemes)).to_series().arg_true()
    invalid = pl.repeat(None, frame.height, dtype=pl.String, eager=True).alias("_invalid")
    if where.len():
        # the reasons are formatted only for rows that may have one: the rest are plainly fine
        doubtful = frame[where]
        reasons = doubtful.select(check.alias(str(n)) for n, check in enumerate(checks))
        found = reasons.select(pl.coalesce(reasons.columns)).to_series()
        invalid = invalid.scatter(where, found)
    return frame.with_columns(invalid)


#: A plain web URL: http(s), an optional user, a host, an optional port, then a path, query or
#: fragment, with no control character anywhere. One pass of one pattern over each URL (a third
#: of the time of the three checks it stands for); rows it does not match are checked in full.
_PLAIN_WEB_URL: Final = (
    r"^[Hh][Tt][Tt][Pp][Ss]?://"
    r"([^/?#@\x00-\x1F\x7F-\x9F]*@)?"
    r"(\[[0-9A-Fa-f:.]+\]|[^/?#@:\[\]\s\x00-\x1F\x7F-\x9F]+)"
    r"(:[0-9]*)?"
    r"([/?#][^\x00-\x1F\x7F-\x9F]*)?$"
)


def _suspect(accepted_schemes: frozenset[str]) -> pl.Expr:
    """True for every row a check of :func:`row_checks` might fail (and a few more): cheap
    conditions, no text formatted. Rows it leaves out have no reason to be invalid."""
    url = pl.col("url")
    upload_path = pl.col("upload_path")
    file_name = pl.col("file_name")
    plain = url.str.contains(_PLAIN_WEB_URL) & HTTP_SCHEMES.issubset(accepted_schemes)
    return (
        url.is_null()
        | ~plain  # other schemes, local paths, data: URLs, odd ones: checked in full
        | (url.str.len_bytes() > MAX_URL_CHARS)
        | upload_path.is_null()
        | (upload_path == "")
        | upload_path.str.contains(_CONTROL)
        | upload_path.str.contains("\\", literal=True)
        | upload_path.str.contains(_DOTDOT_SEGMENT)
        | file_name.str.contains(r"[\x00-\x1F\x7F-\x9F/\\]").fill_null(False)
        | file_name.is_in([".", ".."]).fill_null(False)
    ).fill_null(True)


def row_checks(accepted_schemes: frozenset[str]) -> list[pl.Expr]:
    """The checks of ``url``, ``upload_path`` and ``file_name``, in order."""
    url = pl.col("url")
    upload_path = pl.col("upload_path")
    file_name = pl.col("file_name")
    scheme = url.str.extract(_SCHEME, 1).str.to_lowercase()
    is_data = scheme == "data"
    # a local path is a file's name: a tab, a newline or a backslash are part of it
    is_path = scheme.is_null()
    url_text = (
        pl.when(url.is_null())
        .then(pl.lit("empty URL"))
        .when(is_data)
        .then(_NO_REASON)  # a data: URL is the file itself: long, and its Base64 may wrap
        .when(url.str.contains(_CONTROL) & ~is_path)
        .then(pl.lit("control characters in URL"))
        .when(url.str.len_chars() > MAX_URL_CHARS)
        .then(
            pl.when(is_path)
            .then(pl.lit(f"path longer than {MAX_URL_CHARS} characters"))
            .otherwise(pl.lit(f"URL longer than {MAX_URL_CHARS} characters"))
        )
        .otherwise(_NO_REASON)
    )
    url_form = (
        pl.when(scheme.is_null())
        .then(_NO_REASON if "file" in accepted_schemes else pl.lit("not a URL"))
        .when(~scheme.is_in(sorted(accepted_schemes)))
        .then(
            pl.format(
                "unsupported scheme '{}' (ferry uploads from {})",
                scheme,
                pl.lit(_describe_schemes(accepted_schemes)),
            )
        )
        .when(scheme.is_in(sorted(HTTP_SCHEMES)) & ~url.str.contains(_HTTP_URL))
        .then(pl.lit("not a URL"))
        .otherwise(_NO_REASON)
    )
    upload_path_form = (
        pl.when(upload_path.str.contains(_CONTROL))
        .then(pl.lit("invalid upload_path: control characters"))
        .when(upload_path.str.contains("\\", literal=True))
        .then(pl.format("invalid upload_path '{}': backslash", upload_path))
        .when(upload_path.str.contains(_DOTDOT_SEGMENT))
        .then(pl.format("invalid upload_path '{}': '..' segment", upload_path))
        .when(upload_path == "")
        .then(pl.lit("invalid upload_path: empty"))
        .otherwise(_NO_REASON)
    )
    file_name_form = (
        pl.when(file_name.str.contains(_CONTROL))
        .then(pl.lit("invalid file_name: control characters"))
        .when(file_name.str.contains(r"[/\\]"))
        .then(pl.format("invalid file_name '{}': a path separator", file_name))
        .when(file_name.is_in([".", ".."]))
        .then(pl.format("invalid file_name '{}'", file_name))
        .otherwise(_NO_REASON)
    )
    return [url_text, url_form, upload_path_form, file_name_form]


def size_column(source: pl.Expr, dtype: pl.DataType) -> tuple[pl.Expr, pl.Expr]:
    """The ``size`` column as Int64, and its check: a whole, non-negative number of bytes."""
    if dtype.is_integer():
        size = source.cast(pl.Int64)
        shown = size.cast(pl.String)
    else:
        shown = source.cast(pl.String).str.strip_chars()
        shown = pl.when(shown != "").then(shown)
        size = shown.str.replace_all("_", "").cast(pl.Int64, strict=False)
        size = pl.when(shown.str.contains(r"^\+?[0-9][0-9_]*$")).then(size)
    reason = (
        pl.when(shown.is_not_null() & (size.is_null() | (size < 0)))
        .then(pl.format("invalid size '{}': not a whole number of bytes", shown.str.head(40)))
        .otherwise(_NO_REASON)
    )
    return size, reason


def digest_column(field: str, source: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """An ``md5`` or ``sha256`` column as stripped text, and its check."""
    text = source.cast(pl.String).str.strip_chars()
    text = pl.when(text != "").then(text)
    pattern, expected = (
        (_MD5, "32 hex digits or 24 Base64 characters")
        if field == "md5"
        else (_SHA256, "64 hex digits")
    )
    reason = (
        pl.when(text.is_not_null() & ~text.str.contains(pattern))
        .then(pl.format(f"invalid {field} '{{}}': not {expected}", text.str.head(80)))
        .otherwise(_NO_REASON)
    )
    return text, reason


def _describe_schemes(schemes: frozenset[str]) -> str:
    if schemes == SOURCE_SCHEMES:
        return "http(s), file: and data: URLs and local paths"
    if schemes and schemes <= HTTP_SCHEMES:
        return "http(s) URLs" if len(schemes) == 2 else f"{next(iter(schemes))} URLs"
    return ", ".join(sorted(schemes)) + " URLs"
