"""Why a row cannot be sent: the per-row checks behind ``_invalid`` (an ``invalid_row``).

Each check is a polars expression that is null or the reason of the first failure it finds;
the first non-null one, in order, is the row's ``_invalid``. They run side by side.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from pipeline.buckets.uris import STORE_SCHEMES
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
        .when(scheme.is_in(sorted(STORE_SCHEMES)))
        .then(_object_key_problem(url))
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
    # a file_name with folders had them moved to upload_path (:func:`split_folders`): one
    # that still holds a "/" is one whose folders cannot be taken
    file_name_form = (
        pl.when(file_name.str.contains(_CONTROL))
        .then(pl.lit("invalid file_name: control characters"))
        .when(file_name.str.contains("\\", literal=True))
        .then(pl.format("invalid file_name '{}': a path separator", file_name))
        .when(file_name.str.starts_with("/"))
        .then(pl.format("invalid file_name '{}': an absolute path", file_name))
        .when(file_name.str.contains(_DOTDOT_SEGMENT))
        .then(pl.format("invalid file_name '{}': '..' segment", file_name))
        .when(file_name.str.contains("/", literal=True))
        .then(pl.format("invalid file_name '{}': an empty or '.' folder or name", file_name))
        .when(file_name.is_in([".", ".."]))
        .then(pl.format("invalid file_name '{}'", file_name))
        .otherwise(_NO_REASON)
    )
    return [url_text, url_form, upload_path_form, file_name_form]


def _object_key_problem(url: pl.Expr) -> pl.Expr:
    """Why a bucket URI names no object ferry can address (see :func:`key_problem`)."""
    rest = url.str.replace(r"^[A-Za-z0-9]+://", "")
    bucket = rest.str.extract(r"^([^/]*)", 1)
    key = rest.str.extract(r"^[^/]*/(.*)$", 1)
    return (
        pl.when(bucket.is_null() | (bucket == ""))
        .then(pl.lit("no bucket in the URI"))
        .when(key.is_null() | (key == ""))
        .then(pl.lit("no object key (a whole bucket or prefix is a manifest: ferry run s3://b/p/)"))
        .when(key.str.ends_with("/"))
        .then(pl.lit("the key ends in '/' (a folder, not an object)"))
        .when(key.str.contains(r"(^|/)\.{0,2}(/|$)"))
        .then(pl.lit("the key has an empty, '.' or '..' path segment, which ferry cannot address"))
        .otherwise(_NO_REASON)
    )


#: A number written in decimal or scientific notation (``12``, ``12.0``, ``1e3``, ``1_000``).
_NUMBER: Final = r"^\+?([0-9][0-9_]*\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_INTEGER: Final = r"^\+?[0-9][0-9_]*$"


def whole_number(source: pl.Expr, dtype: pl.DataType) -> tuple[pl.Expr, pl.Expr]:
    """``source`` as Int64 where it is a whole number, and its value as text (null when empty).

    Whole floats count (``12.0``, ``1e3``: what pandas writes for an integer column with a
    missing value); other values are null, for the caller's check to name.
    """
    if dtype.is_integer():
        value = source.cast(pl.Int64)
        return value, value.cast(pl.String)
    if dtype.is_float():
        number = source.cast(pl.Float64)
        shown = number.cast(pl.String)
        exact = None
    else:
        shown = source.cast(pl.String).str.strip_chars()
        shown = pl.when(shown != "").then(shown)
        digits = shown.str.replace_all("_", "")
        exact = pl.when(shown.str.contains(_INTEGER)).then(digits.cast(pl.Int64, strict=False))
        number = pl.when(shown.str.contains(_NUMBER)).then(digits.cast(pl.Float64, strict=False))
    whole = number.is_finite() & (number.floor() == number)
    value = pl.when(whole).then(number.cast(pl.Int64, strict=False))
    return (value if exact is None else pl.coalesce(exact, value)), shown


def size_column(source: pl.Expr, dtype: pl.DataType) -> tuple[pl.Expr, pl.Expr]:
    """The ``size`` column as Int64, and its check: a whole, non-negative number of bytes."""
    size, shown = whole_number(source, dtype)
    reason = (
        pl.when(shown.is_not_null() & (size.is_null() | (size < 0)))
        .then(pl.format("invalid size '{}': not a whole number of bytes", shown.str.head(40)))
        .otherwise(_NO_REASON)
    )
    return size, reason


def float_id_column(source: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """A float ``id`` column as text (``12.0`` is ``12``, as the same row in a CSV), and its
    check: a whole number (a fraction is more likely a mangled id than a real one)."""
    value, shown = whole_number(source, pl.Float64())
    reason = (
        pl.when(shown.is_not_null() & value.is_null())
        .then(pl.format("invalid id '{}': not a whole number", shown.str.head(40)))
        .otherwise(_NO_REASON)
    )
    return pl.coalesce(value.cast(pl.String), shown), reason


def split_folders(file_name: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """``(folders, name)`` of a ``file_name`` like rclone's ``dir/name``: the folders (null
    when there are none) go under ``upload_path``. A name whose folders cannot be taken (an
    absolute path, ``..``, ``.`` or empty parts, a backslash) is left whole, for
    :func:`row_checks` to refuse."""
    name = file_name.str.replace_all("/{2,}", "/")
    takes = (
        name.str.contains(_FOLDERS)
        & ~name.str.contains(_BAD_FOLDER)
        & ~name.str.contains("\\", literal=True)
    )
    folders = pl.when(takes).then(name.str.extract(r"^(.*)/[^/]*$", 1))
    last = pl.when(takes).then(name.str.extract(r"([^/]*)$", 1)).otherwise(file_name)
    return folders, last


def mirrors_column(source: pl.Expr, dtype: pl.DataType) -> tuple[pl.Expr, pl.Expr]:
    """The ``mirrors`` column as one line of URLs separated by spaces (from text separated by
    white space, or a list), and its check: every mirror an http(s) URL."""
    listed = source if isinstance(dtype, pl.List) else source.cast(pl.String).str.split("\t")
    text = listed.list.join(" ").str.strip_chars()
    text = pl.when(text != "").then(text.str.replace_all(r"\s+", " "))
    bad = (
        text.str.split(" ")
        .list.eval(pl.element().filter(~pl.element().str.contains(_MIRROR)))
        .list.first()
    )
    reason = (
        pl.when(bad.is_not_null())
        .then(pl.format("invalid mirror '{}': not an http(s) URL", bad.str.head(80)))
        .otherwise(_NO_REASON)
    )
    return text, reason


def headers_check(source: pl.Expr) -> pl.Expr:
    """The check of the hidden headers column: every line ``Name: value``. The message names
    no value: a header may be a credential."""
    bad = (
        source.str.split("\n")
        .list.eval(pl.element().filter(~pl.element().str.contains(_HEADER)))
        .list.len()
    )
    return (
        pl.when(source.is_not_null() & (bad > 0))
        .then(pl.lit("invalid header= line: expected 'Name: value'"))
        .otherwise(_NO_REASON)
    )


_MIRROR: Final = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\x00-\x20\x7F-\x9F]+$"
_HEADER: Final = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+:[^\x00-\x08\x0A-\x1F\x7F]*$"


#: A relative path with at least one folder: ``a/b.jpg``, ``a/b/c.jpg``.
_FOLDERS: Final = r"^[^/]+(/[^/]+)+$"
_BAD_FOLDER: Final = r"(^|/)\.{1,2}(/|$)"


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
        return "http(s), s3, gs, az, file: and data: URLs and local paths"
    if schemes and schemes <= HTTP_SCHEMES:
        return "http(s) URLs" if len(schemes) == 2 else f"{next(iter(schemes))} URLs"
    return ", ".join(sorted(schemes)) + " URLs"
