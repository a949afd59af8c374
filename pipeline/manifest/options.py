"""How a manifest is to be read: formats, fields, schemes and the :class:`ManifestOptions`.

Light on purpose (no polars): ``pipeline.core.settings`` and the CLI import it at start-up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, get_args

from pipeline.buckets.uris import STORE_SCHEMES
from pipeline.core.errors import UsageError

DEFAULT_UPLOAD_PATH: Final = "ferry"
HTTP_SCHEMES: Final = frozenset({"http", "https"})
#: Every source ferry uploads from: http(s) URLs, bucket URIs (``s3://``, ``gs://``, ``az://``),
#: ``file://`` URLs and local paths (stream upload) and ``data:`` URLs (Base64 upload).
SOURCE_SCHEMES: Final = HTTP_SCHEMES | STORE_SCHEMES | {"file", "data"}
MAX_URL_CHARS: Final = 8192

#: The columns every normalised frame starts with, in this order.
FRAME_COLUMNS: Final = ("id", "url", "upload_path", "file_name", "_row", "_invalid")

Format = Literal["csv", "tsv", "txt", "jsonl", "parquet"]
FORMATS: Final[tuple[Format, ...]] = get_args(Format)

#: The fields ``--column FIELD=NAME`` can map; the last three are the integrity columns.
FIELDS: Final = ("url", "upload_path", "file_name", "id", "size", "md5", "sha256")
INTEGRITY_FIELDS: Final = ("size", "md5", "sha256")

#: The delimiters a CSV header is sniffed among, in order of preference on a tie.
DELIMITERS: Final = (",", ";", "\t", "|")

#: Extensions and their formats, checked case-insensitively, longest first. A text format
#: may also be gzip-compressed: ``.csv.gz``, ``.jsonl.gz``, ...
EXTENSIONS: Final[tuple[tuple[str, Format], ...]] = (
    (".parquet", "parquet"),
    (".ndjson", "jsonl"),
    (".jsonl", "jsonl"),
    (".urls", "txt"),
    (".list", "txt"),
    (".csv", "csv"),
    (".tsv", "tsv"),
    (".txt", "txt"),
)

#: What the person is told when an extension is unknown.
KNOWN_EXTENSIONS: Final = (
    ".csv, .tsv, .txt, .urls, .list, .jsonl, .ndjson (each also .gz) or .parquet"
)

#: Standard input as MANIFEST.
STDIN: Final = "-"
REMOTE_SCHEMES: Final = ("s3://", "gs://", "az://", "https://", "http://")


@dataclass(frozen=True)
class ManifestOptions:
    """How to read a manifest; every field has the CLI's default.

    ``format`` overrides the extension (``None``: by extension, sniffed for stdin);
    ``delimiter`` overrides the sniffed CSV delimiter; ``columns`` maps fields to the
    manifest's column names (``--column url=image_url``), names matched case-insensitively.
    """

    default_upload_path: str = DEFAULT_UPLOAD_PATH
    accepted_schemes: frozenset[str] = SOURCE_SCHEMES
    format: Format | None = None
    delimiter: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.format is not None and self.format not in FORMATS:
            raise UsageError(f"--format: '{self.format}' is not one of {', '.join(FORMATS)}")
        if self.delimiter is not None and (len(self.delimiter) != 1 or self.delimiter in '"\r\n'):
            raise UsageError(
                f"--delimiter: {self.delimiter!r} is not one character (use ',' ';' '|' or "
                "'\\t' for a tab)"
            )
        for name, column in self.columns.items():
            if name not in FIELDS:
                raise UsageError(
                    f"--column {name}={column}: unknown field '{name}' "
                    f"(fields: {', '.join(FIELDS)})"
                )
            if not column.strip():
                raise UsageError(f"--column {name}=: the column name is empty")
        object.__setattr__(self, "default_upload_path", strip_path(self.default_upload_path))
        object.__setattr__(
            self, "accepted_schemes", frozenset(s.lower() for s in self.accepted_schemes)
        )


def parse_column_option(text: str) -> tuple[str, str]:
    """``FIELD=NAME`` as (field, name); an unknown field is a :class:`UsageError`."""
    name, sep, column = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise UsageError(f"--column: expected FIELD=NAME, such as url=image_url, got '{text}'")
    if name not in FIELDS:
        raise UsageError(f"--column {text}: unknown field '{name}' (fields: {', '.join(FIELDS)})")
    if not column.strip():
        raise UsageError(f"--column {text}: the column name is empty")
    return name, column.strip()


_PATH_ENDS: Final = r"^[\s/]+|[\s/]+$"


def strip_path(value: str) -> str:
    """``value`` without surrounding whitespace and slashes, as the upload_path column is."""
    return re.sub(_PATH_ENDS, "", value)


def is_remote(source: str) -> bool:
    """True for ``s3://``, ``gs://``, ``az://`` and ``http(s)://`` manifests."""
    return source.lower().startswith(REMOTE_SCHEMES)


def remote_name(url: str) -> str:
    """The last part of a remote manifest's URL, without query, fragment or trailing slash."""
    return url.split("?", 1)[0].split("#", 1)[0].rstrip("/").rpartition("/")[2]


def format_of_name(name: str) -> tuple[Format | None, bool]:
    """The format an extension names, and whether the name ends in ``.gz``."""
    lower = name.lower()
    gz = lower.endswith(".gz")
    if gz:
        lower = lower[:-3]
    for suffix, fmt in EXTENSIONS:
        if lower.endswith(suffix) and len(lower) > len(suffix):
            if gz and fmt == "parquet":
                return None, gz
            return fmt, gz
    return None, gz


def stem_of_name(name: str) -> str:
    """``name`` without a known manifest extension (``photos.csv.gz`` → ``photos``)."""
    lower = name.lower()
    cut = 3 if lower.endswith(".gz") else 0
    for suffix, _ in EXTENSIONS:
        if lower[: len(lower) - cut].endswith(suffix) and len(lower) - cut > len(suffix):
            return name[: len(name) - cut - len(suffix)]
    return name[: len(name) - cut] if cut else name.rpartition(".")[0] or name
