"""A plan hands out its rows in manifest order, reading only the manifest chunks that hold some."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from pipeline.plan.planner import Plan
from pipeline.store import ManifestChunks


def chunks_of(folder: Path, sizes: list[int]) -> ManifestChunks:
    chunks = ManifestChunks.create(folder)
    first = 0
    for size in sizes:
        rows = list(range(first, first + size))
        chunks.append(
            pl.DataFrame(
                {
                    "id": [f"id{r}" for r in rows],
                    "url": [f"http://127.0.0.1:9/f{r}" for r in rows],
                    "upload_path": ["p"] * size,
                    "file_name": [None] * size,
                    "_row": rows,
                    "_invalid": [None] * size,
                },
                schema_overrides={"file_name": pl.String, "_invalid": pl.String},
            ),
            [],
        )
        first += size
    chunks.close()
    return chunks


@pytest.mark.parametrize(
    "todo_rows",
    [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [9, 10, 11], [3], [0, 11], [4, 5, 6, 7], []],
)
def test_rows_come_in_order_from_the_chunks_that_hold_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, todo_rows: list[int]
) -> None:
    chunks = chunks_of(tmp_path / "plan", [4, 4, 1, 3])  # rows 0-3, 4-7, 8, 9-11
    read: list[int] = []
    original = ManifestChunks.read

    def spy(self: ManifestChunks, number: int, **options: Any) -> pl.DataFrame:
        read.append(number)
        return original(self, number, **options)

    monkeypatch.setattr(ManifestChunks, "read", spy)
    todo = pl.DataFrame(
        {"_row": todo_rows, "_key": [100 + r for r in todo_rows]},
        schema={"_row": pl.Int64, "_key": pl.Int64},
    )
    plan = Plan(counts={}, todo=todo, chunks=chunks)
    planned = list(plan.rows())
    assert [p.row for p in planned] == todo_rows
    assert [p.key for p in planned] == [100 + r for r in todo_rows]
    assert [p.url for p in planned] == [f"http://127.0.0.1:9/f{r}" for r in todo_rows]
    holding = sorted({0 if r < 4 else 1 if r < 8 else 2 if r < 9 else 3 for r in todo_rows})
    assert read == holding  # the others were not read at all
