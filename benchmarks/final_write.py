"""Benchmark: an increment's final write, appended or merged (issue 22 kept the append).

A run that only adds rows to a Parquet table (the nightly increment) may write the next version
of the table two ways (:mod:`pipeline.store.finish`):

* ``append``: the table's row groups copied as they are, the new rows' row groups after them,
  one footer (:mod:`pipeline.store.append`);
* ``merge``: the streamed merge every other run takes: the table decoded batch by batch and
  encoded again with the new rows.

100,000 new rows (ten checkpoint files) after a 1,000,000-row table, in this process, on the
store's own functions; rounds alternate, the median of 5 is quoted (wall and CPU seconds).
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.common import fast_dir, markdown_table, python_module, run_child

if TYPE_CHECKING:  # this module is imported by the report: polars is loaded only to measure
    import polars as pl

#: Rows a run journals between checkpoints (``pipeline.store.recorder.CHECKPOINT_ROWS``).
CHECKPOINT_ROWS = 10_000

TABLE_ROWS = 1_000_000
NEW_ROWS = 100_000
ROUNDS = 5


def _rows(start: int, count: int) -> pl.DataFrame:
    """``count`` ok result rows, identities from ``start`` on."""
    import polars as pl

    from pipeline.store.table import empty_results

    now = datetime.now(UTC)
    ids = [f"{n:020x}" for n in range(start, start + count)]
    frame = pl.DataFrame(
        {
            "id": ids,
            "url": [f"http://127.0.0.1:9/f/{i}.bin" for i in ids],
            "upload_path": "bench",
            "method": "url",
            "status": "ok",
            "download_url": [f"http://127.0.0.1:9/d/{i}.bin" for i in ids],
            "file_path": "bench/f.bin",
            "file_size": 1234,
            "mime_type": "application/octet-stream",
            "uploaded_at": now,
            "expires_at": now,
            "http_status": 200,
            "attempts": 1,
            "finished_at": now,
            "run_id": "20261206T000000Z-abcdef",
        }
    )
    return pl.concat([empty_results(), frame], how="diagonal_relaxed").select(
        empty_results().columns
    )


def _one(
    way: str, folder: Path, original: Path, table_rows: int, new: pl.DataFrame
) -> tuple[float, float]:
    """Wall and CPU seconds of the final write done the ``way`` way."""
    import polars as pl

    import pipeline.store.finish as finish_module
    from pipeline.store.checkpoints import Base, Checkpoints, fingerprint
    from pipeline.store.files import TableFiles

    table = folder / "t.parquet"
    for old in [table, *folder.glob("t.parquet.*")]:
        shutil.rmtree(old) if old.is_dir() else old.unlink(missing_ok=True)
    shutil.copyfile(original, table)
    checkpoints = Checkpoints(TableFiles(table))
    base = Base(fingerprint(table), rows=table_rows)
    checkpoints.start(base)
    for offset in range(0, new.height, CHECKPOINT_ROWS):
        part = new.slice(offset, CHECKPOINT_ROWS)
        places = pl.int_range(offset, offset + part.height, dtype=pl.Int64)
        checkpoints.write(
            part.with_columns((places + table_rows).alias("_key"), (places + 1).alias("_row")),
            base.width,
        )
    only_adds = finish_module._only_adds
    if way == "merge":
        finish_module._only_adds = lambda *_: False  # type: ignore[assignment]
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        finish_module.finish(table, checkpoints)
        return time.perf_counter() - wall, time.process_time() - cpu
    finally:
        finish_module._only_adds = only_adds


def run(*, quick: bool = False) -> dict[str, Any]:
    """The whole benchmark, in a child process (it builds a million-row table: this process
    stays small, as it is the floor under every other benchmark's children); its figures."""
    argv = python_module("benchmarks.final_write", *(["--quick"] if quick else []))
    child = run_child(argv)
    sys.stdout.write(child.stderr)
    return child.json()


def measure(*, quick: bool = False) -> dict[str, Any]:
    """The benchmark itself; returns its figures."""
    from pipeline.store.recorder import CHECKPOINT_ROWS as run_checkpoint_rows
    from pipeline.store.table import write_results

    assert run_checkpoint_rows == CHECKPOINT_ROWS, "the benchmark checkpoints as a run does"
    table_rows, new_rows, rounds = (50_000, 5_000, 1) if quick else (TABLE_ROWS, NEW_ROWS, ROUNDS)
    say(f"final write: {new_rows:,} new rows after a {table_rows:,}-row table, {rounds} rounds")
    folder = Path(tempfile.mkdtemp(prefix="ferry-final-write-", dir=fast_dir()))
    try:
        original = folder / "original.parquet"
        write_results(_rows(0, table_rows), original)
        new = _rows(table_rows, new_rows)
        times: dict[str, list[tuple[float, float]]] = {"append": [], "merge": []}
        for _ in range(rounds):
            for way in times:
                times[way].append(_one(way, folder, original, table_rows, new))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    figures: dict[str, Any] = {"table_rows": table_rows, "new_rows": new_rows, "rounds": rounds}
    for way, values in times.items():
        figures[way] = {
            "wall_seconds": statistics.median(wall for wall, _ in values),
            "cpu_seconds": statistics.median(cpu for _, cpu in values),
            "runs": [round(wall, 3) for wall, _ in values],
        }
    say(
        f"  append {figures['append']['wall_seconds']:.2f} s, "
        f"merge {figures['merge']['wall_seconds']:.2f} s"
    )
    return figures


def say(line: str) -> None:
    """A line for the person running the benchmark (stderr: stdout carries the figures)."""
    print(line, file=sys.stderr)


def section(figures: dict[str, Any]) -> list[str]:
    """The section of ``RESULTS.md``."""
    append, merge = figures["append"], figures["merge"]
    rows = [
        [
            name,
            f"{value['wall_seconds']:.2f} s",
            f"{value['cpu_seconds']:.2f} s",
            ", ".join(f"{run:.2f}" for run in value["runs"]),
        ]
        for name, value in (("append (ferry's increment)", append), ("streamed merge", merge))
    ]
    lines = [
        "## An increment's final write: appended or merged",
        "",
        f"{figures['new_rows']:,} new rows (checkpointed in files of {CHECKPOINT_ROWS:,}) after a "
        f"{figures['table_rows']:,}-row table, written by the store's own `finish`; median of "
        f"{figures['rounds']} alternating rounds.",
        "",
    ]
    lines += markdown_table(["final write", "wall", "CPU", "runs (wall)"], rows)
    lines += [
        "",
        f"The append takes {append['wall_seconds'] / merge['wall_seconds']:.2f}x the merge's "
        "time: it copies the table's row groups instead of decoding and encoding them, and its "
        "cost does not grow with the table. ferry keeps it, guarded: a file with a page index "
        "on either side is refused (its offsets are in the file's body) and takes the merge.",
        "",
        "Reproduce: `.venv/bin/python -m benchmarks final_write`.",
        "",
    ]
    return lines


if __name__ == "__main__":
    print(json.dumps(measure(quick="--quick" in sys.argv[1:])))
