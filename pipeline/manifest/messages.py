"""Small helpers that turn values, types and exceptions into parts of a one-line message."""

from __future__ import annotations

import polars as pl


def show(value: object, limit: int = 80) -> str:
    """``value`` as one printable line: control characters escaped, long values cut."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quote(value: object) -> str:
    """``value`` shown in single quotes."""
    return f"'{show(value)}'"


def fields(count: int) -> str:
    """``1 field``, ``3 fields``."""
    return f"{count} field" if count == 1 else f"{count} fields"


def first_line(exc: BaseException) -> str:
    """The first non-blank line of an exception's text, at most 200 characters."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"


def dtype_name(dtype: pl.DataType) -> str:
    """Polars' short name of a type (``i64``, ``f64``, ``list[str]``), else its repr."""
    try:
        return str(dtype._string_repr())
    except AttributeError:  # pragma: no cover - depends on the polars version
        return str(dtype)


def looks_like_text(head: bytes) -> bool:
    """True when ``head`` is printable ASCII (a CSV given the name of a binary format)."""
    return bool(head) and all(32 <= byte < 127 or byte in b"\t\r\n" for byte in head)
