"""Which manifest column is which field: aliases, ``--column`` mappings, names and types.

A column is matched to a field by its canonical spelling (lower-cased, without ``_``, ``-`` and
spaces: ``fileUrl``, ``file_url`` and ``FILE URL`` agree) against
:data:`pipeline.core.schema.MANIFEST_ALIASES`, unless ``--column FIELD=NAME`` names it (matched
case-insensitively). The integrity columns (``size``, ``md5``, ``sha256``) stay among the
extra columns, in their place, under those names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import polars as pl

from pipeline.core.errors import ManifestError, UsageError
from pipeline.core.schema import MANIFEST_ALIASES, OUTPUT_ONLY_COLUMNS
from pipeline.manifest.csvquotes import QUOTED
from pipeline.manifest.messages import dtype_name, quote, show
from pipeline.manifest.options import INTEGRITY_FIELDS

#: A column of every raw frame: the 1-based data row. Reserved, like the frame's own columns.
ROW: Final = "__ferry_row__"
#: aria2's ``header=`` lines of a row (one ``Name: value`` a line): carried to the planner for
#: the relay's request, after the extra columns, and never to the result table or a log.
HEADERS: Final = "_headers"
RESERVED: Final = frozenset({"_row", "_invalid", ROW, HEADERS, QUOTED})
#: Fields carried to the result table as extra columns, under these names.
CARRIED_FIELDS: Final = (*INTEGRITY_FIELDS, "mirrors")

#: How people write the url column's names, for messages.
URL_SPELLINGS: Final = "url, source_url, fileUrl"
_URL_ALIASES: Final = frozenset(MANIFEST_ALIASES["url"])

_ALIAS_TO_FIELD: Final = {
    alias: field for field, aliases in MANIFEST_ALIASES.items() for alias in aliases
}


@dataclass(frozen=True)
class ColumnMap:
    """``fields``: ``{field: column name in the file}``; ``extras``: ``(name in the file, name
    in the frame)`` of every other carried column, in the file's order."""

    fields: Mapping[str, str]
    extras: tuple[tuple[str, str], ...]
    #: Columns the normalised frame carries after the extras, never to the result table.
    hidden: tuple[str, ...] = ()

    @property
    def extra_columns(self) -> tuple[str, ...]:
        """The extra columns' names in the normalised frame."""
        return tuple(out for _, out in self.extras)

    def name_of(self, field: str) -> str:
        """The file's name of ``field``, for messages (the field itself when absent)."""
        return self.fields.get(field, field)


def canonical(name: str) -> str:
    """The spelling aliases are matched in."""
    return name.lower().replace("_", "").replace("-", "").replace(" ", "")


def check_names(label: str, names: Sequence[str]) -> None:
    """Refuse unnamed, repeated and reserved column names."""
    seen: set[str] = set()
    for position, name in enumerate(names, start=1):
        if not name.strip():
            raise ManifestError(label, f"column {position} has no name in the header")
        if name in seen:
            raise ManifestError(label, f"column name {quote(name)} appears twice in the header")
        if name in RESERVED:
            raise ManifestError(
                label, "this column name is reserved by ferry: rename it", column=show(name)
            )
        seen.add(name)


def map_columns(
    label: str,
    names: Sequence[str],
    mapping: Mapping[str, str],
    *,
    delimiter_hint: str | None = None,
) -> ColumnMap:
    """The :class:`ColumnMap` of a manifest with columns ``names``.

    ``mapping`` is ``--column``: a name it gives that is not in ``names`` is a
    :class:`UsageError`. ``delimiter_hint`` is added to the "no url column" message when the
    header is one column holding another delimiter.
    """
    by_lower = {name.lower(): name for name in names}
    mapped: dict[str, str] = {}
    for asked, wanted in mapping.items():
        name = by_lower.get(wanted.lower())
        if name is None:
            found = ", ".join(show(n) for n in names)
            raise UsageError(
                f"--column {asked}={wanted}: {label} has no column {quote(wanted)} "
                f"(columns: {found})"
            )
        mapped[name] = asked
    fields: dict[str, str] = {}
    extras: list[tuple[str, str]] = []
    hidden = tuple(name for name in names if name == HEADERS)
    for name in names:
        if (name in OUTPUT_ONLY_COLUMNS and name not in mapped) or name in hidden:
            continue
        field: str | None = mapped.get(name) or _ALIAS_TO_FIELD.get(canonical(name))
        if field is None:
            extras.append((name, name))
        elif field in fields:
            raise ManifestError(
                label,
                f"columns {quote(fields[field])} and {quote(name)} both name the "
                f"{field} column: keep one",
            )
        else:
            fields[field] = name
            if field in CARRIED_FIELDS:
                extras.append((name, field))
    if "url" not in fields:
        raise ManifestError(label, _no_url_message(names, delimiter_hint))
    clash = {out for _, out in extras} & {"id", "url", "upload_path", "file_name"}
    if clash:  # only reachable through an output column such as "status"; kept as a guard
        raise ManifestError(label, f"column {quote(sorted(clash)[0])} is taken twice")
    return ColumnMap(fields=fields, extras=tuple(extras), hidden=hidden)


def _no_url_message(names: Sequence[str], delimiter_hint: str | None) -> str:
    found = ", ".join(show(name) for name in names)
    message = f"no url column (expected one of: {URL_SPELLINGS}); found: {found}"
    if any(canonical(name.strip(' "')) in _URL_ALIASES and '"' in name for name in names):
        return message + (
            "; the names hold double quotes, which were read as part of them: quote each "
            'whole cell ("url") or none'
        )
    if len(names) == 1 and delimiter_hint is not None:
        for delimiter, shown in ((",", "','"), (";", "';'"), ("\t", "a tab"), ("|", "'|'")):
            if delimiter != delimiter_hint and delimiter in names[0]:
                return message + f"; the header is one column holding {shown}: wrong --delimiter?"
    return message + " (or name it: --column url=NAME)"


def check_types(label: str, columns: ColumnMap, schema: Mapping[str, pl.DataType]) -> None:
    """Refuse a known column whose type cannot hold its values (Parquet, JSON Lines)."""
    for field in ("url", "upload_path", "file_name", "id", "md5", "sha256", "size", "mirrors"):
        name = columns.fields.get(field)
        if name is None:
            continue
        dtype = schema[name]
        if isinstance(dtype, pl.String | pl.Categorical | pl.Enum | pl.Null):
            continue
        if field == "mirrors" and dtype in (pl.List(pl.String), pl.List(pl.Null)):
            continue
        if field in ("id", "size") and dtype.is_numeric():
            continue  # whole floats (pandas' 12.0) count; the rest fail their rows
        expected = {"id": "text or integer", "size": "text or integer"}.get(field, "text")
        if field == "mirrors":
            expected = "text or a list of text"
        raise ManifestError(
            label, f"expected {expected}, found {dtype_name(dtype)}", column=show(name)
        )
