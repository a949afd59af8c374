"""Read a manifest (CSV, gzip-compressed CSV or Parquet) into one checked, normalised table.

:func:`read_manifest` is the only way in. It returns a :class:`Manifest` whose ``frame`` has the
columns ``id, url, upload_path, file_name, row, invalid`` followed by the manifest's extra columns,
with their original names and types (every CSV column is text). A result table is itself a valid
manifest: its output-only columns (``status``, ``download_url``, ... ``run_id``) are dropped.

Formats, by extension: ``.csv`` and ``.csv.gz`` (UTF-8, header row, comma-separated, a UTF-8 BOM is
tolerated, every column is read as text so that ids like ``007`` survive) and ``.parquet``.
Column names are matched case-insensitively, snake_case or camelCase (``fileUrl`` is ``url``).

Row numbers. ``_row`` is the 1-based number of the data row in the file: the first row after the
header is row 1, in CSV and in Parquet alike. In a CSV whose values hold no line breaks, row ``n``
is on line ``n + 1``. Blank CSV lines (every field empty) are counted but skipped.

Identity. With an ``id`` column, the id is its value (stripped; Parquet integers become text).
Without one, it is :func:`row_identity` of the row's effective ``url``, ``upload_path`` and
``file_name``: a BLAKE2b digest, stable across runs, platforms and library versions.

Identical rows (same ``id``, ``url``, ``upload_path`` and ``file_name``) appear once: the first.
The same id on different rows, or two valid rows that send different URLs to the same
``upload_path`` and explicit ``file_name``, make a bad manifest. Rows without a ``file_name``
never clash, nor do invalid rows (they are never sent). A CSV row with more or fewer fields than
the header is a bad manifest, never padded or cut. ``_row`` and ``_invalid`` are the frame's own
columns: a manifest column of that name is refused.

Two kinds of problem:

* a bad row fails alone: the manifest is returned and the row's ``_invalid`` says why it cannot be
  sent (empty URL, a scheme ferry does not upload from, a ``..`` in ``upload_path``, ...);
* a bad manifest raises :class:`~pipeline.errors.ManifestError` with one line that names the file
  and, where it applies, row and column: unreadable or undecodable files, no url column, duplicate
  ids, two sources aimed at the same target, wrong Parquet types, malformed CSV. No exception of
  polars, pyarrow or the OS escapes: they are translated where the file is read.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import hashlib
import io
import re
import stat
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from pipeline.errors import ManifestError
from pipeline.schema import MANIFEST_ALIASES, OUTPUT_ONLY_COLUMNS

__all__ = [
    "DEFAULT_UPLOAD_PATH",
    "FRAME_COLUMNS",
    "HTTP_SCHEMES",
    "MAX_URL_CHARS",
    "SOURCE_SCHEMES",
    "Manifest",
    "read_manifest",
    "row_identity",
]

DEFAULT_UPLOAD_PATH: Final = "ferry"
HTTP_SCHEMES: Final = frozenset({"http", "https"})
#: Every source ferry uploads from: http(s) URLs, ``file://`` URLs and local paths (stream
#: upload) and ``data:`` URLs (Base64 upload).
SOURCE_SCHEMES: Final = HTTP_SCHEMES | {"file", "data"}
MAX_URL_CHARS: Final = 8192

#: The columns ``Manifest.frame`` always starts with, in this order.
FRAME_COLUMNS: Final = ("id", "url", "upload_path", "file_name", "_row", "_invalid")

#: How the extensions map to formats; checked case-insensitively, longest first.
_FORMATS: Final = ((".csv.gz", "csv.gz"), (".csv", "csv"), (".parquet", "parquet"))

_IDENTITY_SEPARATOR: Final = "\x1f"
_IDENTITY_DIGEST_SIZE: Final = 10

#: Columns of the frame that a manifest cannot also bring as extra columns.
_ROW: Final = "__ferry_row__"
_RESERVED: Final = frozenset({"_row", "_invalid", _ROW})

#: How people write the url column's names, for messages.
_URL_SPELLINGS: Final = "url, source_url, fileUrl"

_ALIAS_TO_FIELD: Final = {
    alias: field for field, aliases in MANIFEST_ALIASES.items() for alias in aliases
}

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
_PATH_ENDS: Final = r"^[\s/]+|[\s/]+$"

_PARQUET_MAGIC: Final = b"PAR1"
_GZIP_MAGIC: Final = b"\x1f\x8b"
_ZIP_MAGIC: Final = b"PK\x03\x04"


@dataclass(frozen=True)
class Manifest:
    """A checked manifest.

    ``frame`` columns, in order: ``id`` (str, never null), ``url`` (str, null for an empty URL),
    ``upload_path`` (str), ``file_name`` (str or null), ``_row`` (Int64, the 1-based data row in
    the file), ``_invalid`` (str or null: why the row cannot be sent), then ``extra_columns``.
    Identical rows appear once (the first); rows keep the file's order.
    """

    path: Path
    frame: pl.DataFrame
    extra_columns: tuple[str, ...]
    is_result_table: bool


def row_identity(url: str | None, upload_path: str, file_name: str | None) -> str:
    """The identity of a row without an ``id``: 20 hex digits, stable everywhere.

    BLAKE2b (digest size 10) of the UTF-8 bytes of ``url``, ``upload_path`` and ``file_name``
    joined by ``\\x1f``, ``None`` counting as ``""``. The arguments are the effective values
    (as in ``Manifest.frame``: stripped, default ``upload_path`` applied).
    """
    joined = _IDENTITY_SEPARATOR.join((url or "", upload_path, file_name or ""))
    # surrogatepass: a lone surrogate (never in a polars string) still hashes, and every
    # other string encodes exactly as UTF-8.
    data = joined.encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=_IDENTITY_DIGEST_SIZE).hexdigest()


def read_manifest(
    path: Path | str,
    *,
    default_upload_path: str = DEFAULT_UPLOAD_PATH,
    accepted_schemes: frozenset[str] = SOURCE_SCHEMES,
) -> Manifest:
    """Read and check the manifest at ``path``; raise :class:`ManifestError` if it is bad.

    ``default_upload_path`` is the folder of rows without one; ``accepted_schemes`` the URL
    schemes a row may use (others are invalid rows). With ``file`` among them, a value with no
    scheme is a local path.
    """
    path = Path(path)
    if path.is_dir():
        return _read_folder(path, _strip_path(default_upload_path))
    fmt = _check_file(path)
    if fmt == "parquet":
        raw = _read_parquet(path)
    else:
        data = _read_bytes(path)
        if fmt == "csv.gz":
            data = _gunzip(path, data)
        raw = _read_csv(path, data)
    return _build(
        path,
        raw,
        default_upload_path=_strip_path(default_upload_path),
        accepted_schemes=frozenset(s.lower() for s in accepted_schemes),
    )


#: Files ferry writes beside a result table; a folder being migrated never uploads them.
_OWN_FILES: Final = re.compile(r"\.results\.(parquet|csv)(\.journal|\.lock)?$|^\.[^/]*\.tmp-\d+$")


def _read_folder(folder: Path, default_upload_path: str) -> Manifest:
    """``ferry run DIR``: every regular file below ``folder`` is a row, uploaded by stream.

    The identity is the file's path relative to ``folder``; the target mirrors the tree:
    ``<default upload path>/<relative folder>/<file name>``.
    """
    root = folder.resolve()
    try:
        files = sorted(p for p in root.rglob("*") if p.is_file() and not _OWN_FILES.search(p.name))
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
    frame = _with_invalid(frame, SOURCE_SCHEMES).select(FRAME_COLUMNS)
    return Manifest(path=folder, frame=frame, extra_columns=(), is_result_table=False)


# --- the read boundary: files, bytes and parsers --------------------------------------------


def _check_file(path: Path) -> str:
    """The manifest's format, after checking that ``path`` is a non-empty regular file."""
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise ManifestError(path, "no such file") from exc
    except PermissionError as exc:
        raise ManifestError(path, "permission denied") from exc
    except OSError as exc:
        raise ManifestError(path, f"cannot read: {exc.strerror or exc}") from exc
    if stat.S_ISDIR(st.st_mode):
        # The one place a directory is turned away: `ferry run DIR` will expand it here.
        raise ManifestError(
            path, "is a directory: give a manifest file (.csv, .csv.gz or .parquet)"
        )
    fmt = _format_of(path)
    if not stat.S_ISREG(st.st_mode):
        raise ManifestError(path, "not a regular file")
    if st.st_size == 0:
        raise ManifestError(path, "empty file (0 bytes)")
    return fmt


def _format_of(path: Path) -> str:
    name = path.name.lower()
    for suffix, fmt in _FORMATS:
        if name.endswith(suffix) and len(name) > len(suffix):
            return fmt
    raise ManifestError(
        path, f"unknown extension {_quote(path.suffix)}: use .csv, .csv.gz or .parquet"
    )


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except PermissionError as exc:
        raise ManifestError(path, "permission denied") from exc
    except OSError as exc:
        raise ManifestError(path, f"cannot read: {exc.strerror or exc}") from exc


def _gunzip(path: Path, data: bytes) -> bytes:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise ManifestError(path, f"not a valid gzip file ({_first_line(exc)})") from exc


def _read_parquet(path: Path) -> pl.DataFrame:
    """The Parquet file as polars reads it, with the row number column ``_ROW`` added."""
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
            size = fh.seek(0, io.SEEK_END)
            fh.seek(max(size - 4, 0))
            tail = fh.read(4)
    except PermissionError as exc:
        raise ManifestError(path, "permission denied") from exc
    except OSError as exc:
        raise ManifestError(path, f"cannot read: {exc.strerror or exc}") from exc
    if head != _PARQUET_MAGIC:
        hint = ": is it a CSV file?" if _looks_like_text(head) else ""
        raise ManifestError(
            path, f"not a readable Parquet file (no Parquet magic bytes at the start{hint})"
        )
    if size < 12 or tail != _PARQUET_MAGIC:
        raise ManifestError(path, "not a readable Parquet file (truncated: no Parquet footer)")
    try:
        frame = pl.read_parquet(path, glob=False, hive_partitioning=False)
    except (Exception, pl.exceptions.PanicException) as exc:
        raise ManifestError(path, f"not a readable Parquet file ({_first_line(exc)})") from exc
    _check_names(path, frame.columns)
    return frame.with_row_index(_ROW, offset=1)


def _read_csv(path: Path, data: bytes) -> pl.DataFrame:
    """The CSV as text columns, with ``_ROW`` added and blank lines dropped."""
    data = _check_text(path, data)
    header = _parse_csv(path, data, has_header=False, n_rows=1)
    names = [name if name is not None else "" for name in header.row(0)]
    _check_names(path, names)
    frame = _parse_csv(path, data, has_header=True)
    if frame.width != len(names):  # pragma: no cover - polars reads the same header twice
        raise ManifestError(path, "malformed CSV header")
    frame.columns = names
    frame = frame.with_row_index(_ROW, offset=1)
    frame = frame.filter(~pl.all_horizontal(pl.exclude(_ROW).is_null()))
    if len(names) > 1 and frame.select(pl.col(names[-1]).is_null().any()).item():
        # polars pads a row with too few fields with nulls; pyarrow tells them apart.
        short = _find_short_row(data, names[0])
        if short is not None:
            row, fields = short
            raise ManifestError(
                path, f"has {_fields(fields)}, the header has {len(names)} (ragged row)", row=row
            )
    return frame


def _check_text(path: Path, data: bytes) -> bytes:
    """``data`` without its UTF-8 BOM, once it is known to be UTF-8 text."""
    if data.startswith(_PARQUET_MAGIC):
        raise ManifestError(path, "this is a Parquet file, not CSV: name it .parquet")
    if data.startswith(_GZIP_MAGIC):
        raise ManifestError(path, "this is gzip-compressed, not CSV: name it .csv.gz")
    if data.startswith(_ZIP_MAGIC):
        raise ManifestError(
            path, "this is a ZIP archive (an Excel workbook?), not CSV: export it as CSV UTF-8"
        )
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ManifestError(path, "this is UTF-16 or UTF-32 text: save it as UTF-8")
    data = data.removeprefix(codecs.BOM_UTF8)
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise ManifestError(path, f"binary data, not CSV text (a NUL byte on line {line})")
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise ManifestError(
                path,
                f"not UTF-8: byte 0x{data[exc.start]:02X} on line {line} cannot be decoded "
                "(save the file as UTF-8)",
            ) from exc
    if not data.strip():
        raise ManifestError(path, "empty file (no header row)")
    return data


def _parse_csv(
    path: Path, data: bytes, *, has_header: bool, n_rows: int | None = None
) -> pl.DataFrame:
    try:
        return pl.read_csv(
            data,
            has_header=has_header,
            n_rows=n_rows,
            infer_schema=False,
            truncate_ragged_lines=False,
            raise_if_empty=True,
        )
    except (Exception, pl.exceptions.PanicException) as exc:
        row, message = _locate_csv_problem(data)
        if message is None:
            message = "malformed CSV: a stray quote? (a quote must open and close a whole field)"
        raise ManifestError(path, message, row=row) from exc


def _locate_csv_problem(data: bytes) -> tuple[int | None, str | None]:
    """Row and description of the first quoting or field-count problem, found by ``csv``.

    Only called after polars has refused the file, to tell the person where to look.
    """
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""), strict=True)
    width: int | None = None
    row = 0
    try:
        for record in reader:
            if width is None:
                width = len(record)
                continue
            row += 1
            if record and len(record) != width:
                return row, f"has {_fields(len(record))}, the header has {width} (ragged row)"
    except csv.Error as exc:
        where = row + 1 if width is not None else None
        prefix = "" if where is not None else "header: "
        text = str(exc)
        if "unexpected end of data" in text:
            return where, prefix + "unbalanced quote: a quoted field opens here and never closes"
        if "expected after" in text:
            return where, prefix + "malformed quoting: text after a closing quote"
        return None, None
    return None, None


def _find_short_row(data: bytes, first_column: str) -> tuple[int, int] | None:
    """The first data row with fewer fields than the header, as (row, fields), or None."""
    found: list[tuple[int, int]] = []

    def handler(invalid: pacsv.InvalidRow) -> str:
        if invalid.number is not None:
            found.append((int(invalid.number) - 1, int(invalid.actual_columns)))
        return "error"

    # A diagnostic: if pyarrow fails for another reason, it has nothing to tell.
    with contextlib.suppress(Exception):
        pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(use_threads=False),
            parse_options=pacsv.ParseOptions(
                newlines_in_values=True, ignore_empty_lines=False, invalid_row_handler=handler
            ),
            convert_options=pacsv.ConvertOptions(
                include_columns=[first_column], column_types={first_column: pa.string()}
            ),
        )
    return found[0] if found else None


def _check_names(path: Path, names: list[str]) -> None:
    seen: set[str] = set()
    for position, name in enumerate(names, start=1):
        if not name.strip():
            raise ManifestError(path, f"column {position} has no name in the header")
        if name in seen:
            raise ManifestError(path, f"column name {_quote(name)} appears twice in the header")
        if name in _RESERVED:
            raise ManifestError(
                path, "this column name is reserved by ferry: rename it", column=_show(name)
            )
        seen.add(name)


# --- from the raw table to the manifest -------------------------------------------------------


def _build(
    path: Path,
    raw: pl.DataFrame,
    *,
    default_upload_path: str,
    accepted_schemes: frozenset[str],
) -> Manifest:
    names = [name for name in raw.columns if name != _ROW]
    fields, extras = _map_columns(path, names)
    if raw.height == 0:
        raise ManifestError(path, "no data rows (only a header)")
    for field in ("url", "upload_path", "file_name", "id"):
        if field in fields:
            _check_type(path, fields[field], raw.schema[fields[field]], allow_int=field == "id")

    def text(field: str) -> pl.Expr:
        return pl.col(fields[field]).cast(pl.String)

    url = text("url").str.strip_chars()
    columns: dict[str, pl.Expr] = {"url": pl.when(url != "").then(url)}
    if "upload_path" in fields:
        upload_path = text("upload_path").str.replace_all(_PATH_ENDS, "")
        columns["upload_path"] = (
            pl.when(upload_path != "").then(upload_path).otherwise(pl.lit(default_upload_path))
        )
    else:
        columns["upload_path"] = pl.lit(default_upload_path, dtype=pl.String)
    if "file_name" in fields:
        file_name = text("file_name").str.strip_chars()
        columns["file_name"] = pl.when(file_name != "").then(file_name)
    else:
        columns["file_name"] = pl.lit(None, dtype=pl.String)
    if "id" in fields:
        columns["id"] = text("id").str.strip_chars()

    frame = raw.select(pl.col(_ROW), *[expr.alias(name) for name, expr in columns.items()], *extras)
    key = ["url", "upload_path", "file_name"]
    if "id" in fields:
        _check_ids(path, frame, fields["id"])
        frame = _first_of_identical(frame, ["id", *key])
    else:
        frame = _first_of_identical(frame, key)
        frame = frame.with_columns(_identities(frame))
    _check_duplicate_ids(path, frame, fields.get("id", "id"))
    frame = _with_invalid(frame, accepted_schemes)
    _check_clashes(path, frame, fields.get("file_name", "file_name"))

    frame = frame.select(
        "id",
        "url",
        "upload_path",
        "file_name",
        pl.col(_ROW).cast(pl.Int64).alias("_row"),
        "_invalid",
        *extras,
    )
    return Manifest(
        path=path,
        frame=frame,
        extra_columns=tuple(extras),
        is_result_table={"status", "run_id"} <= set(names),
    )


def _map_columns(path: Path, names: list[str]) -> tuple[dict[str, str], list[str]]:
    """``{field: column name}`` for the fields ferry knows, and the extra columns in order."""
    fields: dict[str, str] = {}
    extras: list[str] = []
    for name in names:
        if name in OUTPUT_ONLY_COLUMNS:
            continue
        field = _ALIAS_TO_FIELD.get(_canonical(name))
        if field is None:
            extras.append(name)
        elif field in fields:
            raise ManifestError(
                path,
                f"columns {_quote(fields[field])} and {_quote(name)} both name the "
                f"{field} column: keep one",
            )
        else:
            fields[field] = name
    if "url" not in fields:
        found = ", ".join(_show(name) for name in names)
        message = f"no url column (expected one of: {_URL_SPELLINGS}); found: {found}"
        if len(names) == 1:
            for delimiter, label in ((";", "';'"), ("\t", "a tab"), ("|", "'|'")):
                if delimiter in names[0]:
                    message += (
                        f"; the header is one column holding {label}: wrong delimiter? "
                        "ferry reads comma-separated CSV"
                    )
                    break
        raise ManifestError(path, message)
    return fields, extras


def _canonical(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "").replace(" ", "")


def _check_type(path: Path, name: str, dtype: pl.DataType, *, allow_int: bool) -> None:
    if isinstance(dtype, pl.String | pl.Categorical | pl.Enum | pl.Null):
        return
    if allow_int and dtype.is_integer():
        return
    expected = "text or integer" if allow_int else "text"
    raise ManifestError(
        path, f"expected {expected}, found {_dtype_name(dtype)}", column=_show(name)
    )


def _check_ids(path: Path, frame: pl.DataFrame, column: str) -> None:
    empty = frame.filter(pl.col("id").is_null() | (pl.col("id") == ""))
    if empty.height:
        raise ManifestError(path, "empty id", row=empty[_ROW][0], column=_show(column))


def _first_of_identical(frame: pl.DataFrame, key: list[str]) -> pl.DataFrame:
    """``frame`` without the rows identical in ``key`` to an earlier one."""
    if not frame.select(key).is_duplicated().any():
        return frame
    return frame.unique(subset=key, keep="first", maintain_order=True)


def _check_duplicate_ids(path: Path, frame: pl.DataFrame, column: str) -> None:
    if frame["id"].n_unique() == frame.height:
        return
    later = (
        frame.select("id", _ROW, pl.col(_ROW).first().over("id").alias("first"))
        .filter(pl.col(_ROW) != pl.col("first"))
        .row(0, named=True)
    )
    raise ManifestError(
        path,
        f"duplicate id {_quote(later['id'])} in rows {later['first']} and {later[_ROW]}",
        column=_show(column),
    )


def _check_clashes(path: Path, frame: pl.DataFrame, column: str) -> None:
    """Two valid rows with different sources and the same explicit target are a bad manifest."""
    targets = frame.filter(pl.col("file_name").is_not_null() & pl.col("_invalid").is_null())
    if targets.height < 2:
        return
    target = ["upload_path", "file_name"]
    if not targets.select(pl.struct(target).is_duplicated().any()).item():
        return
    clashes = targets.select(
        _ROW,
        *target,
        pl.col("url").first().over(target).alias("first_url"),
        pl.col(_ROW).first().over(target).alias("first"),
        "url",
    ).filter(pl.col("url") != pl.col("first_url"))
    if clashes.height == 0:
        return
    clash = clashes.row(0, named=True)
    where = f"{clash['upload_path']}/{clash['file_name']}"
    raise ManifestError(
        path,
        f"rows {clash['first']} and {clash[_ROW]} both upload to {_quote(where)} "
        "from different sources",
        column=_show(column),
    )


def _identities(frame: pl.DataFrame) -> pl.Series:
    """:func:`row_identity` of every row: the one per-row Python loop, over C-level hashing."""
    joined = frame.select(
        pl.concat_str(
            [pl.col("url").fill_null(""), "upload_path", pl.col("file_name").fill_null("")],
            separator=_IDENTITY_SEPARATOR,
        )
    ).to_series()
    blake2b = hashlib.blake2b
    size = _IDENTITY_DIGEST_SIZE
    # Polars hands out the UTF-8 bytes directly: no str round trip.
    utf8: list[bytes] = joined.cast(pl.Binary).to_list()
    digests = [blake2b(value, digest_size=size).hexdigest() for value in utf8]
    return pl.Series("id", digests, dtype=pl.String)


def _with_invalid(frame: pl.DataFrame, accepted_schemes: frozenset[str]) -> pl.DataFrame:
    """``frame`` with ``_invalid``: why a row cannot be sent (its first reason), or null.

    The checks are four independent expressions, so polars runs them side by side; the first
    non-null one wins, which keeps the order of the reasons.
    """
    checks = frame.select(
        check.alias(str(n)) for n, check in enumerate(_invalid_checks(accepted_schemes))
    )
    invalid = checks.select(pl.coalesce(checks.columns).alias("_invalid")).to_series()
    return frame.with_columns(invalid)


def _invalid_checks(accepted_schemes: frozenset[str]) -> list[pl.Expr]:
    """The row checks, in order: each is null or the reason of the first failure it finds."""
    url = pl.col("url")
    upload_path = pl.col("upload_path")
    file_name = pl.col("file_name")
    scheme = url.str.extract(_SCHEME, 1).str.to_lowercase()
    no_reason = pl.lit(None, dtype=pl.String)
    is_data = scheme == "data"
    url_text = (
        pl.when(url.is_null())
        .then(pl.lit("empty URL"))
        .when(is_data)
        .then(no_reason)  # a data: URL is the file itself: long, and its Base64 may wrap
        .when(url.str.contains(_CONTROL))
        .then(pl.lit("control characters in URL"))
        .when(url.str.len_chars() > MAX_URL_CHARS)
        .then(pl.lit(f"URL longer than {MAX_URL_CHARS} characters"))
        .otherwise(no_reason)
    )
    url_form = (
        pl.when(scheme.is_null())
        .then(no_reason if "file" in accepted_schemes else pl.lit("not a URL"))
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
        .otherwise(no_reason)
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
        .otherwise(no_reason)
    )
    file_name_form = (
        pl.when(file_name.str.contains(_CONTROL))
        .then(pl.lit("invalid file_name: control characters"))
        .when(file_name.str.contains(r"[/\\]"))
        .then(pl.format("invalid file_name '{}': a path separator", file_name))
        .when(file_name.is_in([".", ".."]))
        .then(pl.format("invalid file_name '{}'", file_name))
        .otherwise(no_reason)
    )
    return [url_text, url_form, upload_path_form, file_name_form]


# --- small helpers ------------------------------------------------------------------------------


def _strip_path(value: str) -> str:
    """``value`` without surrounding whitespace and slashes, as the upload_path column is."""
    return re.sub(_PATH_ENDS, "", value)


def _describe_schemes(schemes: frozenset[str]) -> str:
    if schemes == SOURCE_SCHEMES:
        return "http(s), file: and data: URLs and local paths"
    if schemes and schemes <= HTTP_SCHEMES:
        return "http(s) URLs" if len(schemes) == 2 else f"{next(iter(schemes))} URLs"
    return ", ".join(sorted(schemes)) + " URLs"


def _fields(count: int) -> str:
    return f"{count} field" if count == 1 else f"{count} fields"


def _dtype_name(dtype: pl.DataType) -> str:
    """Polars' short name of a type (``i64``, ``f64``, ``list[str]``), else its repr."""
    try:
        return str(dtype._string_repr())
    except AttributeError:  # pragma: no cover - depends on the polars version
        return str(dtype)


def _looks_like_text(head: bytes) -> bool:
    return bool(head) and all(32 <= byte < 127 or byte in b"\t\r\n" for byte in head)


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"


def _show(value: object, limit: int = 80) -> str:
    """``value`` as one printable line: control characters escaped, long values cut."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _quote(value: object) -> str:
    return f"'{_show(value)}'"
