"""SIGKILL while a real run writes its table at the end: nothing finished is lost."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
from click.testing import Result

from pipeline.core.schema import RESULT_POLARS_SCHEMA
from pipeline.manifest import read_manifest
from pipeline.store import ResultStore
from pipeline.store.files import TableFiles
from pipeline.store.leftovers import Leftovers
from pipeline.store.table import read_results, write_results
from tests.conftest import BackgroundServer
from tests.helpers.runs import spawn_run

OLD_ROWS = 300_000  # enough that the final write takes a moment to catch
NEW_ROWS = 20


def _table_of(manifest: Path) -> pl.DataFrame:
    """An all-ok, unexpired result table for every row of ``manifest``."""
    keys = read_manifest(manifest).frame.select("id", "url", "upload_path", "file_name")
    now = datetime.now(UTC)
    micros = pl.Datetime("us", "UTC")
    frame = keys.with_columns(
        pl.lit("url").alias("method"),
        pl.lit("ok").alias("status"),
        pl.lit(now, dtype=micros).alias("uploaded_at"),
        pl.lit(now + timedelta(days=2), dtype=micros).alias("expires_at"),
        pl.lit(1, dtype=pl.Int32).alias("attempts"),
        pl.lit(now, dtype=micros).alias("finished_at"),
        pl.lit("old-run").alias("run_id"),
    )
    return frame.select(
        pl.col(c) if c in frame.columns else pl.lit(None, dtype=t).alias(c)
        for c, t in RESULT_POLARS_SCHEMA.items()
    )


def test_sigkill_during_the_final_write_keeps_every_row(
    api: BackgroundServer, sources: BackgroundServer, cli: Callable[..., Result], tmp_path: Path
) -> None:
    old = tmp_path / "old.csv"
    old.write_text(
        "url\n" + "".join(f"{sources.base_url}/f000.txt?n={i}\n" for i in range(OLD_ROWS))
    )
    table = tmp_path / "m.results.parquet"
    write_results(_table_of(old), table)
    manifest = tmp_path / "m.csv"
    new = "".join(f"{sources.base_url}/f{i % 40:03d}.txt?new={i}\n" for i in range(NEW_ROWS))
    manifest.write_text(old.read_text() + new)

    process = spawn_run(manifest, api.base_url, "--results", str(table))
    files = TableFiles(table)
    caught = False
    deadline = time.monotonic() + 60
    try:
        while process.poll() is None and time.monotonic() < deadline:
            if any(files.temp(process.pid) == p for p in files.stale_temps()):
                process.send_signal(signal.SIGKILL)
                caught = True
                break
            time.sleep(0.002)
    finally:
        process.kill()
        process.wait(timeout=30)
    assert caught, "the run ended before its final write could be caught"

    # the table is the old one, readable; a reader sees the new rows through the checkpoints
    assert read_results(table).height == OLD_ROWS
    assert ResultStore(table).read().height == OLD_ROWS + NEW_ROWS
    again = cli("run", manifest, "--base-url", api.base_url, "--json")
    assert again.exit_code == 0, again.stderr
    final = read_results(table)
    assert final.height == OLD_ROWS + NEW_ROWS
    assert final["status"].to_list() == ["ok"] * final.height
    # the rows the killed run finished were folded in, not uploaded again
    assert final.filter(pl.col("run_id") != "old-run").height == NEW_ROWS
    assert json.loads(again.stdout)["ok"] == 0  # nothing was left to upload
    assert not Leftovers(table).exist()
