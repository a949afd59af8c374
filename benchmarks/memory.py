"""Benchmark: memory and scale.

* Peak RSS of ``ferry run`` (the CLI, a child process; the kernel's ``ru_maxrss``) over 5,000,
  50,000 and 200,000 rows. The issue's figure is peak RSS at 50,000 rows / at 5,000 rows (goal:
  under 1.3); 200,000 / 50,000 shows whether memory still grows once the run is past its first
  checkpoints (every 10,000 finished rows): at 5,000 rows no checkpoint runs before the end, so
  that ratio also holds the warm-up of the allocators' arenas. The median of RSS samples taken
  every 50 ms (psutil) shows the footprint while rows are in flight. ferry runs
  :data:`FERRY_REPEATS` times per size (the medians are quoted); the bare aiohttp loop, which
  creates every task up front and keeps every answer, once, up to :data:`BARE_MAX_ROWS` rows.
  The stub server answers at once (``C`` = 64), so 200,000 rows take about half a minute.
* Planning: ``ferry run MANIFEST --dry-run`` of a 1,000,000-row Parquet manifest (no ``id``
  column: every identity is hashed) against a 1,000,000-row result table (900,000 of the
  manifest's rows in every state, ok, expired, failed, plus 100,000 rows no longer in it):
  wall time and peak RSS, three runs, the median quoted. Goal: under 5 s and 1.5 GiB.
"""

from __future__ import annotations

import secrets
import shutil
import statistics
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks import measure
from benchmarks.common import (
    BENCH_KEY,
    MIB,
    WORK,
    Child,
    Samples,
    fast_dir,
    own_peak_rss_bytes,
    python_module,
    run_child,
)
from benchmarks.measure import CLIENT_ENV, Measured
from benchmarks.servers import ServerProcess

SIZES = (5_000, 50_000, 200_000)
QUICK_SIZES = (500, 5_000, 20_000)
#: The ratios quoted, as (larger, smaller) indexes into the sizes: the issue's 50,000 / 5,000
#: first, then 200,000 / 50,000.
RATIOS = ((1, 0), (2, 1))
FERRY_REPEATS = 3
#: The bare loop holds every task and answer: 200,000 rows take ~25 s and ~700 MiB of RSS.
BARE_MAX_ROWS = 200_000
CONCURRENCY = 64
PLAN_ROWS = 1_000_000
QUICK_PLAN_ROWS = 100_000
PLAN_REPEATS = 3


def rss_runs(*, quick: bool = False) -> dict[str, Any]:
    """Peak and median RSS of ``ferry run`` and of the bare loop over each size of :data:`SIZES`.

    ferry's runs of one size alternate with the other sizes' (size by size, round after round),
    so that noise on the machine is spread over every size alike.
    """
    sizes = QUICK_SIZES if quick else SIZES
    repeats = 1 if quick else FERRY_REPEATS
    data = fast_dir() / f"ferry-bench-{secrets.token_hex(4)}"
    work = WORK / f"memory-{secrets.token_hex(4)}"
    ferry: dict[int, list[Measured]] = {rows: [] for rows in sizes}
    bare: dict[int, Measured] = {}
    dry_run: dict[int, Child] = {}
    try:
        with ServerProcess(data, BENCH_KEY, latency_ms=0.0, stub=True) as server:
            manifests = {
                rows: measure.write_manifest(work / f"rss-{rows}.csv", server.source, rows)
                for rows in sizes
            }
            for round_ in range(repeats):
                for rows in sizes:
                    measured = measure.ferry_cli(
                        server, manifests[rows], CONCURRENCY, sample_rss=True
                    )
                    ferry[rows].append(measured)
                    print(
                        f"  {rows:>7} rows: ferry run peak RSS {measured.max_rss_bytes / MIB:6.1f} "
                        f"MiB (median {measured.median_rss_bytes / MIB:.0f}), "
                        f"{measured.run_rate:,.0f} rows/s",
                        flush=True,
                    )
                    if round_ == 0:
                        dry_run[rows] = _dry_run(manifests[rows], rows)
                    if round_ == 0 and rows <= BARE_MAX_ROWS:
                        bare[rows] = measure.python_client(
                            "bare", server, manifests[rows], CONCURRENCY, sample_rss=True
                        )
                        print(
                            f"  {rows:>7} rows: bare loop peak RSS "
                            f"{bare[rows].max_rss_bytes / MIB:6.1f} MiB "
                            f"(median {bare[rows].median_rss_bytes / MIB:.0f})",
                            flush=True,
                        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    floor = own_peak_rss_bytes()  # no child's peak was below this (see benchmarks.common)

    figures: dict[str, Any] = {
        "sizes": list(sizes),
        "rss_floor_mib": floor / MIB,
        "ferry_repeats": repeats,
        "bare_max_rows": BARE_MAX_ROWS,
        "checkpoint_rows": _checkpoint_rows(),
        "ferry": {str(rows): _rss(runs) for rows, runs in ferry.items()},
        "bare": {str(rows): _rss([measured]) for rows, measured in bare.items()},
        "dry_run": {
            str(rows): {
                "runs": 1,
                "max_rss_mib": child.max_rss_bytes / MIB,
                "median_rss_mib": child.median_rss_bytes / MIB,
                "all_max_rss_mib": [round(child.max_rss_bytes / MIB, 1)],
                "spread": 0.0,
                "wall_seconds": child.wall_seconds,
            }
            for rows, child in dry_run.items()
        },
        "ratios": [],
    }
    for larger, smaller in RATIOS:
        large, small = sizes[larger], sizes[smaller]
        ratio: dict[str, Any] = {"large": large, "small": small}
        for client in ("ferry", "bare", "dry_run"):
            by_size = figures[client]
            for figure, name in (("max_rss_mib", "peak"), ("median_rss_mib", "median")):
                present = str(large) in by_size and str(small) in by_size
                ratio[f"{client}_{name}"] = (
                    by_size[str(large)][figure] / by_size[str(small)][figure] if present else None
                )
            # What each further row costs at the peak, between the two sizes.
            if present:
                grown = by_size[str(large)]["max_rss_mib"] - by_size[str(small)]["max_rss_mib"]
                ratio[f"{client}_peak_bytes_per_row"] = grown * MIB / (large - small)
        figures["ratios"].append(ratio)
    return figures


def _dry_run(manifest: Path, rows: int) -> Child:
    """``ferry run MANIFEST --dry-run``: the plan alone (manifest read, identities, no table)."""
    results = manifest.with_name(manifest.stem + ".dry-run.results.parquet")
    argv = python_module("jobs", "run", str(manifest), "--results", str(results))
    child = run_child([*argv, "--dry-run", "--json"], env=CLIENT_ENV, sample_rss=True)
    print(f"  {rows:>7} rows: ferry run --dry-run peak RSS {child.max_rss_bytes / MIB:6.1f} MiB")
    return child


def _checkpoint_rows() -> int:
    """``pipeline.store.recorder.CHECKPOINT_ROWS``, read in a child: polars stays out of here."""
    code = "from pipeline.store.recorder import CHECKPOINT_ROWS as n; print('{\"rows\": %d}' % n)"
    return int(run_child([sys.executable, "-c", code]).json()["rows"])


def _rss(runs: list[Measured]) -> dict[str, Any]:
    """Medians over ``runs`` of one client at one size, with every run's peak and its spread."""
    peaks = [m.max_rss_bytes / MIB for m in runs]
    return {
        "runs": len(runs),
        "max_rss_mib": statistics.median(peaks),
        "median_rss_mib": statistics.median(m.median_rss_bytes / MIB for m in runs),
        "all_max_rss_mib": [round(peak, 1) for peak in peaks],
        "spread": Samples(peaks).spread,
        "run_rate": statistics.median(m.run_rate for m in runs),
        "wall_seconds": statistics.median(m.wall_seconds for m in runs),
    }


def write_plan_inputs(work: Path, rows: int) -> tuple[Path, Path]:
    """A ``rows``-row Parquet manifest and a ``rows``-row result table for it (see above)."""
    import polars as pl

    from pipeline.core.schema import RESULT_POLARS_SCHEMA
    from pipeline.manifest import read_manifest
    from pipeline.store.table import write_results

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
    rows = QUICK_PLAN_ROWS if quick else PLAN_ROWS
    work = WORK / f"plan-{secrets.token_hex(4)}"
    try:
        # In a child: building a million-row table here would raise the floor under the plan's
        # peak RSS to this process's own peak (see benchmarks.common).
        written = run_child(python_module("benchmarks.memory", "plan-inputs", str(work), str(rows)))
        manifest, results = (Path(path) for path in written.json()["paths"])
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
            "rss_floor_mib": own_peak_rss_bytes() / MIB,
            "manifest_mib": manifest.stat().st_size / MIB,
            "results_mib": results.stat().st_size / MIB,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(*, quick: bool = False) -> dict[str, Any]:
    """The whole benchmark; returns its figures."""
    sizes = " / ".join(f"{rows:,}" for rows in (QUICK_SIZES if quick else SIZES))
    plan = QUICK_PLAN_ROWS if quick else PLAN_ROWS
    print(f"memory: peak RSS over {sizes} rows; planning {plan:,} rows")
    return {"rss": rss_runs(quick=quick), "plan": plan_runs(quick=quick)}


if __name__ == "__main__":  # python -m benchmarks.memory plan-inputs WORK ROWS
    import json

    if len(sys.argv) != 4 or sys.argv[1] != "plan-inputs":
        sys.exit("usage: python -m benchmarks.memory plan-inputs WORK ROWS")
    paths = write_plan_inputs(Path(sys.argv[2]), int(sys.argv[3]))
    print(json.dumps({"paths": [str(path) for path in paths]}))
