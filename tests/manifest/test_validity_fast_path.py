"""The per-row checks format reasons only for suspect rows: the result must not change."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.manifest.options import SOURCE_SCHEMES
from pipeline.manifest.validity import row_checks, with_invalid

_PIECES = st.sampled_from(
    [
        "http://",
        "https://",
        "HTTPS://",
        "ftp://",
        "file:",
        "data:",
        "h",
        "x.org",
        "/",
        "\\",
        "..",
        ".",
        "a",
        "?",
        "#",
        "@",
        ":",
        "[",
        "]",
        " ",
        "\x00",
        "\x1f",
        "\x7f",
        "\x85",
        "\x9f",
        "\t",
        "é",
        "80",
    ]
)
_TEXT = st.lists(_PIECES, max_size=8).map("".join)


def _full(frame: pl.DataFrame) -> list[str | None]:
    checks = row_checks(SOURCE_SCHEMES)
    reasons = frame.select(check.alias(str(n)) for n, check in enumerate(checks))
    return reasons.select(pl.coalesce(reasons.columns)).to_series().to_list()


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.none() | _TEXT, _TEXT, st.none() | _TEXT), min_size=1, max_size=20))
def test_the_fast_path_gives_the_same_reasons_as_checking_every_row(
    rows: list[tuple[str | None, str, str | None]],
) -> None:
    frame = pl.DataFrame(
        rows,
        schema={"url": pl.String, "upload_path": pl.String, "file_name": pl.String},
        orient="row",
    )
    assert with_invalid(frame, SOURCE_SCHEMES)["_invalid"].to_list() == _full(frame)
