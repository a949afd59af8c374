"""Benchmark 3: memory and scale.

* Peak RSS of ``ferry run`` (the CLI, a child process; the kernel's ``ru_maxrss``) over 5,000
  and over 50,000 rows: memory must not grow with the manifest (ratio under 1.3). The median
  of RSS samples taken every 50 ms (psutil) shows the footprint while rows are in flight. The stub
  server answers at once (``C`` = 64), so 50,000 rows take seconds; the bare aiohttp loop,
  which creates every task up front and keeps every answer, is measured beside it.
* Planning: ``ferry run MANIFEST --dry-run`` of a 1,000,000-row Parquet manifest (no ``id``
  column: every identity is hashed) against a 1,000,000-row result table (900,000 of the
  manifest's rows in every state, ok, expired, failed, plus 100,000 rows no longer in it):
  wall time and peak RSS, three runs, the median quoted. Goal: under 5 s and 1.5 GiB.
"""

from __future__ import annotations

import secrets
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks import measure
from benchmarks.common import BENCH_KEY, MIB, WORK, fast_dir, python_module, run_child
from benchmarks.measure import Measured
from benchmarks.servers import ServerProcess

SIZES = (5_000, 50_000)
CONCURRENCY = 64
PLAN_ROWS = 1_000_000
PLAN_REPEATS = 3


def rss_runs(*, quick: bool = False) -> dict[str, Any]:
    """Peak RSS of ``ferry run`` and of the bare loop over each size of :data:`SIZES`."""
    sizes = (500, 5_000) if quick else SIZES
    data = fast_dir() / f"ferry-bench-{secrets.token_hex(4)}"
    work = WORK / f"memory-{secrets.token_hex(4)}"
    figures: dict[str, Any] = {"sizes": list(sizes), "ferry": {}, "bare": {}}
    try:
        with ServerProcess(data, BENCH_KEY, latency_ms=0.0, stub=True) as server:
            for rows in sizes:
                manifest = measure.write_manifest(work / f"rss-{rows}.csv", server.source, rows)
                ferry = measure.ferry_cli(server, manifest, CONCURRENCY, sample_rss=True)
                bare = measure.python_client("bare", server, manifest, CONCURRENCY, sample_rss=True)
                figures["ferry"][str(rows)] = _rss(ferry)
                figures["bare"][str(rows)] = _rss(bare)
                print(
                    f"  {rows:>6} rows: peak RSS ferry run {ferry.max_rss_bytes / MIB:6.1f} MiB "
                    f"(median {ferry.median_rss_bytes / MIB:.0f}), bare loop "
                    f"{bare.max_rss_bytes / MIB:6.1f} MiB "
                    f"(median {bare.median_rss_bytes / MIB:.0f})"
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    small, large = (str(size) for size in sizes)
    for client in ("ferry", "bare"):
        by_size = figures[client]
        figures[f"{client}_ratio"] = by_size[large]["max_rss_mib"] / by_size[small]["max_rss_mib"]
        figures[f"{client}_median_ratio"] = (
            by_size[large]["median_rss_mib"] / by_size[small]["median_rss_mib"]
        )
    return figures


def _rss(measured: Measured) -> dict[str, float]:
    return {
        "max_rss_mib": measured.max_rss_bytes / MIB,
        "median_rss_mib": measured.median_rss_bytes / MIB,
        "run_rate": measured.run_rate,
        "wall_seconds": measured.wall_seconds,
    }


def write_plan_inputs(work: Path, rows: int) -> tuple[Path, Path]:
    """A ``rows``-row Parquet manifest and a ``rows``-row result table for it (see above)."""
    import polars as pl

    from pipeline.manifest import read_manifest
    from pipeline.results import write_results
    from pipeline.schema import RESULT_POLARS_SCHEMA

    work.mkdir(parents=True, exist_ok=True)
    manifest_path = work / "plan.parquet"
    index = pl.int_range(0, rows, eager=True)
    pl.DataFrame(
        {
            "url": "https://cdn.example.com/media/" + index.cast(pl.String).str.zfill(7) + ".jpg",
            "upload_path": pl.Series(["migrated/2024"] * rows),
            "sku": "SKU-" + index.cast(pl.String),
        }
    ).write_parquet(manifest_path)
    frame = read_manifest(manifest_path).frame  # the identities ferry will compute
    kept = int(rows * 0.9)
    now = datetime.now(UTC)
    n = pl.int_range(0, kept, eager=True)
    state = n % 10  # 0-6 ok and current, 7 ok but expired, 8-9 failed
    ok = state < 8
    known = frame.head(kept).select("id", "url", "upload_path", "file_name")
    gone = pl.DataFrame(
        {
            "id": "gone-" + pl.int_range(0, rows - kept, eager=True).cast(pl.String),
            "url": pl.Series(["https://cdn.example.com/old.jpg"] * (rows - kept)),
            "upload_path": pl.Series(["migrated/2023"] * (rows - kept)),
            "file_name": pl.Series([None] * (rows - kept), dtype=pl.String),
        }
    )
    micros = pl.Datetime("us", "UTC")
    table = pl.concat([known, gone]).with_columns(
        pl.lit("url").alias("method"),
        pl.when(pl.concat([ok, pl.Series([True] * (rows - kept))]))
        .then(pl.lit("ok"))
        .otherwise(pl.lit("failed"))
        .alias("status"),
    )
    status_ok = pl.col("status") == "ok"
    expired = pl.concat([state == 7, pl.Series([False] * (rows - kept))])
    table = table.with_columns(
        pl.when(status_ok)
        .then(pl.format("https://files.example.com/{}/file.jpg", pl.col("id")))
        .alias("download_url"),
        pl.when(status_ok).then(pl.format("{}/file.jpg", pl.col("upload_path"))).alias("file_path"),
        pl.when(status_ok).then(pl.lit(48_213, dtype=pl.Int64)).alias("file_size"),
        pl.when(status_ok).then(pl.lit("image/jpeg")).alias("mime_type"),
        pl.when(status_ok).then(pl.lit(now - timedelta(days=1), dtype=micros)).alias("uploaded_at"),
        pl.when(status_ok)
        .then(
            pl.when(expired)
            .then(pl.lit(now - timedelta(hours=1), dtype=micros))
            .otherwise(pl.lit(now + timedelta(days=2), dtype=micros))
        )
        .alias("expires_at"),
        pl.when(status_ok).then(None).otherwise(pl.lit("source_error")).alias("error_kind"),
        pl.when(status_ok)
        .then(None)
        .otherwise(pl.lit("File download failed: source answered HTTP 404"))
        .alias("error"),
        pl.when(status_ok)
        .then(pl.lit(200))
        .otherwise(pl.lit(400))
        .cast(pl.Int32)
        .alias("http_status"),
        pl.lit(1, dtype=pl.Int32).alias("attempts"),
        pl.lit(now - timedelta(days=1), dtype=micros).alias("finished_at"),
        pl.lit("20250101T000000Z-bench0").alias("run_id"),
    )
    table = table.select(*RESULT_POLARS_SCHEMA).cast(RESULT_POLARS_SCHEMA)  # type: ignore[arg-type]
    results_path = work / "plan.results.parquet"
    write_results(table, results_path)
    return manifest_path, results_path


def plan_runs(*, quick: bool = False) -> dict[str, Any]:
    """``ferry run --dry-run`` of the 1,000,000-row manifest against the 1,000,000-row table."""
    rows = 100_000 if quick else PLAN_ROWS
    work = WORK / f"plan-{secrets.token_hex(4)}"
    try:
        manifest, results = write_plan_inputs(work, rows)
        argv = python_module("jobs", "run", str(manifest), "--results", str(results))
        argv += ["--dry-run", "--json"]
        runs = []
        for _ in range(1 if quick else PLAN_REPEATS):
            child = run_child(argv)
            runs.append(child)
            print(
                f"  plan {rows:,} x {rows:,}: {child.wall_seconds:.2f} s, "
                f"peak RSS {child.max_rss_bytes / MIB:.0f} MiB, {child.json()}"
            )
        walls = sorted(child.wall_seconds for child in runs)
        rss = sorted(child.max_rss_bytes for child in runs)
        return {
            "rows": rows,
            "wall_seconds": walls[len(walls) // 2],
            "all_wall_seconds": [round(w, 2) for w in walls],
            "max_rss_mib": rss[len(rss) // 2] / MIB,
            "cpu_seconds": sorted(c.cpu_seconds for c in runs)[len(runs) // 2],
            "plan": runs[-1].json(),
            "manifest_mib": manifest.stat().st_size / MIB,
            "results_mib": results.stat().st_size / MIB,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(*, quick: bool = False) -> dict[str, Any]:
    """The whole benchmark; returns its figures."""
    print("memory: peak RSS over 5,000 and 50,000 rows; planning 1,000,000 rows")
    return {"rss": rss_runs(quick=quick), "plan": plan_runs(quick=quick)}
