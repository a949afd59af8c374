"""A reader never sees a half-replaced table: checkpoints rename a new file over the table while
``ferry status``, ``report`` or a test reads it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import polars as pl

from pipeline.store.table import empty_results, read_results, write_results


def table_of(rows: int) -> pl.DataFrame:
    ids = pl.DataFrame({"id": [f"r{i}" for i in range(rows)], "status": ["ok"] * rows})
    return pl.concat([empty_results(), ids], how="diagonal_relaxed")


def test_reading_while_the_table_is_replaced_never_fails(tmp_path: Path) -> None:
    path = tmp_path / "t.results.parquet"
    write_results(table_of(1), path)
    stop = threading.Event()
    writes = 0

    def replace_again_and_again() -> None:
        nonlocal writes
        while not stop.is_set():
            write_results(table_of(50 + writes % 50), path)  # sizes differ from file to file
            writes += 1

    writer = threading.Thread(target=replace_again_and_again)
    writer.start()
    reads, deadline = 0, time.monotonic() + 2.0
    try:
        while time.monotonic() < deadline:
            assert read_results(path).height in (1, *range(50, 100))
            reads += 1
    finally:
        stop.set()
        writer.join(timeout=10)
    assert reads > 10 and writes > 10
