"""Benchmark: scale. A run's cost follows the work, not the table (issue 10).

Against the stub API at zero latency (``C`` = 64), ``ferry run`` as a child process:

* ``fresh``: 100,000 new rows into an empty table (the baseline);
* ``increment``: the same number of new rows as the increment of a manifest whose other
  1,000,000 rows are already ``ok`` in a 1,000,000-row table; rows/s and peak RSS against
  ``fresh`` (goal 1.0x and 1.1x; at least 0.9x and at most 1.3x);
* ``large``: 1,000,000 new rows into an empty table, against ``fresh`` (at least 0.9x rows/s,
  at most 1.3x peak RSS);
* ``plan``: ``ferry run --dry-run`` of a 10,000,000-row Parquet manifest (no ``id`` column:
  every identity is hashed) against a 10,000,000-row table (9,000,000 of the manifest's rows in
  every state, 1,000,000 rows no longer in it): wall time and peak RSS (goal 20 s and 512 MiB;
  at most 40 s and 1 GiB).

The inputs (tables of millions of rows with the identities ferry computes) are written by a
child process, streamed, so this process stays small.
"""

from __future__ import annotations

import secrets
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import (
    BENCH_KEY,
    MIB,
    WORK,
    fast_dir,
    markdown_table,
    python_module,
    run_child,
)
from benchmarks.measure import CLIENT_ENV, write_manifest
from benchmarks.servers import ServerProcess

CONCURRENCY = 64
SIZES = {"increment": 100_000, "table": 1_000_000, "large": 1_000_000, "plan": 10_000_000}
QUICK_SIZES = {"increment": 5_000, "table": 50_000, "large": 50_000, "plan": 200_000}
#: Fresh and increment runs, in turn; the medians are compared (a single run varies by up to 10 %).
REPEATS = 5


def _ferry_run(server: ServerProcess, manifest: Path, results: Path) -> dict[str, Any]:
    argv = python_module("jobs", "run", str(manifest), "--base-url", server.api)
    argv += ["--results", str(results), "--concurrency", str(CONCURRENCY)]
    argv += ["--no-progress", "--json"]
    child = run_child(argv, env=CLIENT_ENV, sample_rss=True)
    summary = child.json()
    done = int(summary["ok"]) + int(summary["failed"])
    if summary["failed"]:
        raise RuntimeError(f"ferry run: {summary['failed']} rows failed: {child.stderr[-800:]}")
    return {
        "rows": done,
        "skipped": int(summary["skipped"]),
        "run_seconds": float(summary["elapsed_seconds"]),
        "wall_seconds": child.wall_seconds,
        "rows_per_second": done / child.wall_seconds,
        "cpu_seconds": child.cpu_seconds,
        "max_rss_mib": child.max_rss_bytes / MIB,
    }


def _fresh_table(path: Path, copy_of: Path | None = None) -> Path:
    """``path`` with nothing a run left beside it: absent, or a copy of ``copy_of``."""
    for old in [path, *path.parent.glob(f"{path.name}.*")]:
        shutil.rmtree(old) if old.is_dir() else old.unlink(missing_ok=True)
    if copy_of is not None:
        shutil.copyfile(copy_of, path)
    return path


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median rows/s, the median peak RSS, and the figures of every run."""
    chosen = sorted(runs, key=lambda run: run["rows_per_second"])[len(runs) // 2]
    peaks = sorted(run["max_rss_mib"] for run in runs)
    return {
        **chosen,
        "max_rss_mib": peaks[len(peaks) // 2],
        "runs_rows_per_second": [run["rows_per_second"] for run in runs],
        "runs_max_rss_mib": [run["max_rss_mib"] for run in runs],
    }


def _runs(sizes: dict[str, int], work: Path, repeats: int) -> dict[str, Any]:
    data = fast_dir() / f"ferry-bench-{secrets.token_hex(4)}"
    increment, table_rows, large = sizes["increment"], sizes["table"], sizes["large"]
    figures: dict[str, Any] = {}
    with ServerProcess(data, BENCH_KEY, latency_ms=0.0, stub=True) as server:
        # the increment's new rows are numbered after the table's rows; fresh runs the same rows
        fresh = write_manifest(work / "fresh.csv", server.source, increment, first=table_rows)
        grown = write_manifest(work / "grown.csv", server.source, table_rows + increment)
        base = work / "base.results.parquet"
        run_child(python_module("benchmarks.scale", "table", str(grown), str(base), str(increment)))
        # fresh and increment in turn, so that a slow moment of the machine hits both alike
        runs: dict[str, list[dict[str, Any]]] = {"fresh": [], "increment": []}
        for attempt in range(1, repeats + 1):
            print(f"  fresh {attempt}/{repeats}: {increment:,} new rows, empty table", flush=True)
            table = _fresh_table(work / "fresh.results.parquet")
            runs["fresh"].append(_ferry_run(server, fresh, table))
            print(f"    {runs['fresh'][-1]}", flush=True)
            print(
                f"  increment {attempt}/{repeats}: {increment:,} new rows on a "
                f"{table_rows:,}-row table",
                flush=True,
            )
            table = _fresh_table(work / "grown.results.parquet", copy_of=base)
            runs["increment"].append(_ferry_run(server, grown, table))
            print(f"    {runs['increment'][-1]}", flush=True)
        figures["fresh"] = _median_run(runs["fresh"])
        figures["increment"] = _median_run(runs["increment"])

        big = write_manifest(work / "large.csv", server.source, large, first=10 * table_rows)
        print(f"  large: {large:,} new rows into an empty table", flush=True)
        figures["large"] = _ferry_run(server, big, work / "large.results.parquet")
        print(f"    {figures['large']}", flush=True)
    baseline = figures["fresh"]
    for name in ("increment", "large"):
        figures[name]["rate_ratio"] = figures[name]["rows_per_second"] / baseline["rows_per_second"]
        figures[name]["rss_ratio"] = figures[name]["max_rss_mib"] / baseline["max_rss_mib"]
    figures["repeats"] = repeats
    return figures


def _plan(rows: int, work: Path) -> dict[str, Any]:
    manifest, table = work / "plan.parquet", work / "plan.results.parquet"
    print(f"  plan: writing a {rows:,}-row manifest and table", flush=True)
    run_child(
        python_module("benchmarks.scale", "plan-inputs", str(manifest), str(table), str(rows))
    )
    argv = python_module("jobs", "run", str(manifest), "--results", str(table))
    child = run_child([*argv, "--dry-run", "--json"], env=CLIENT_ENV)
    figures = {
        "rows": rows,
        "wall_seconds": child.wall_seconds,
        "cpu_seconds": child.cpu_seconds,
        "max_rss_mib": child.max_rss_bytes / MIB,
        "plan": child.json(),
        "manifest_mib": manifest.stat().st_size / MIB,
        "table_mib": table.stat().st_size / MIB,
    }
    print(f"    {figures}", flush=True)
    return figures


def run(*, quick: bool = False) -> dict[str, Any]:
    """The whole benchmark; returns its figures."""
    sizes = QUICK_SIZES if quick else SIZES
    print(f"scale: {sizes}")
    work = WORK / f"scale-{secrets.token_hex(4)}"
    work.mkdir(parents=True, exist_ok=True)
    try:
        figures = _runs(sizes, work, repeats=1 if quick else REPEATS)
        return {"sizes": sizes, **figures, "plan": _plan(sizes["plan"], work)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --- inputs, written by a child process ---------------------------------------------------------


def write_ok_table(manifest: Path, table: Path, *, leave: int) -> None:
    """A table in which every row of ``manifest`` but the last ``leave`` is ok, streamed."""
    import polars as pl
    import pyarrow.parquet as pq

    from pipeline.manifest import open_manifest

    with open_manifest(manifest) as source:
        ids = pl.concat(
            [b.select("id", "url", "upload_path", "file_name") for b in source.batches()]
        )
    keep = ids.head(ids.height - leave)
    _write_table(_table_rows(keep, states=False), table, pq)


def write_plan_inputs(manifest: Path, table: Path, rows: int) -> None:
    """A ``rows``-row Parquet manifest and a ``rows``-row table: 90 % of the manifest's rows in
    every state, and 10 % rows no longer in the manifest. Both written batch by batch."""
    import polars as pl
    import pyarrow.parquet as pq

    from pipeline.manifest import open_manifest

    batch = 1_000_000
    writer = None
    for start in range(0, rows, batch):
        index = pl.int_range(start, min(rows, start + batch), eager=True)
        frame = pl.DataFrame(
            {
                "url": "https://cdn.example.com/media/"
                + index.cast(pl.String).str.zfill(8)
                + ".jpg",
                "upload_path": pl.Series(["migrated/2024"] * index.len()),
                "sku": "SKU-" + index.cast(pl.String),
            }
        ).to_arrow()
        writer = writer or pq.ParquetWriter(manifest, frame.schema, compression="zstd")
        writer.write_table(frame)
    assert writer is not None
    writer.close()
    kept = int(rows * 0.9)
    out = None
    with open_manifest(manifest) as source:
        seen = 0
        for part in source.batches(batch):
            part = part.head(max(0, kept - seen))
            seen += part.height
            if part.height:
                frame = _table_rows(
                    part.select("id", "url", "upload_path", "file_name"), states=True
                )
                out = _append(out, frame, table, pq)
    gone = rows - kept
    for start in range(0, gone, batch):
        n = pl.int_range(start, min(gone, start + batch), eager=True)
        frame = pl.DataFrame(
            {
                "id": "gone-" + n.cast(pl.String),
                "url": pl.Series(["https://cdn.example.com/old.jpg"] * n.len()),
                "upload_path": pl.Series(["migrated/2023"] * n.len()),
                "file_name": pl.Series([None] * n.len(), dtype=pl.String),
            }
        )
        out = _append(out, _table_rows(frame, states=False), table, pq)
    assert out is not None
    out.close()


def _append(writer: Any, frame: Any, path: Path, pq: Any) -> Any:
    from pipeline.store.table import _to_arrow

    arrow = _to_arrow(frame)
    writer = writer or pq.ParquetWriter(path, arrow.schema, compression="zstd")
    writer.write_table(arrow)
    return writer


def _write_table(frame: Any, path: Path, pq: Any) -> None:
    _append(None, frame, path, pq).close()


def _table_rows(keys: Any, *, states: bool) -> Any:
    """Result rows for ``keys`` (id, url, upload_path, file_name): ok and current, or, with
    ``states``, 70 % ok and current, 10 % ok but expired, 20 % failed."""
    import polars as pl

    from pipeline.core.schema import RESULT_POLARS_SCHEMA

    now = datetime.now(UTC)
    micros = pl.Datetime("us", "UTC")
    state = (
        pl.int_range(0, keys.height, eager=True) % 10
        if states
        else pl.zeros(keys.height, eager=True)
    )
    ok = state < 8
    expired = state == 7
    frame = keys.with_columns(
        pl.lit("url").alias("method"),
        pl.when(ok).then(pl.lit("ok")).otherwise(pl.lit("failed")).alias("status"),
        pl.when(ok)
        .then(pl.format("https://files.example.com/{}/f.jpg", "id"))
        .alias("download_url"),
        pl.when(ok).then(pl.lit(48_213, dtype=pl.Int64)).alias("file_size"),
        pl.when(ok).then(pl.lit(now - timedelta(days=1), dtype=micros)).alias("uploaded_at"),
        pl.when(ok)
        .then(
            pl.when(expired)
            .then(pl.lit(now - timedelta(hours=1), dtype=micros))
            .otherwise(pl.lit(now + timedelta(days=2), dtype=micros))
        )
        .alias("expires_at"),
        pl.when(ok).then(None).otherwise(pl.lit("source_error")).alias("error_kind"),
        pl.lit(1, dtype=pl.Int32).alias("attempts"),
        pl.lit(now - timedelta(days=1), dtype=micros).alias("finished_at"),
        pl.lit("20250101T000000Z-bench0").alias("run_id"),
    )
    return frame.select(
        pl.col(name) if name in frame.columns else pl.lit(None, dtype=dtype).alias(name)
        for name, dtype in RESULT_POLARS_SCHEMA.items()
    ).cast(RESULT_POLARS_SCHEMA)  # type: ignore[arg-type]


if __name__ == "__main__":
    kind, *args = sys.argv[1:]
    if kind == "table":
        write_ok_table(Path(args[0]), Path(args[1]), leave=int(args[2]))
    elif kind == "plan-inputs":
        write_plan_inputs(Path(args[0]), Path(args[1]), int(args[2]))
    else:
        sys.exit("usage: python -m benchmarks.scale table|plan-inputs ...")
    print("{}")


# --- RESULTS.md --------------------------------------------------------------------------------

#: The issue's bounds (goals in brackets in the text): ratios against ``fresh``, and the plan's.
RATE_AT_LEAST = 0.9
RSS_AT_MOST = 1.3
PLAN_SECONDS_AT_MOST = 40.0
PLAN_MIB_AT_MOST = 1024.0


def section(figures: dict[str, Any]) -> list[str]:
    """The section of ``RESULTS.md``."""
    sizes, plan = figures["sizes"], figures["plan"]
    rows = []
    for name, label in (
        ("fresh", f"{sizes['increment']:,} new rows, empty table (baseline)"),
        ("increment", f"{sizes['increment']:,} new rows on a {sizes['table']:,}-row table"),
        ("large", f"{sizes['large']:,} new rows, empty table"),
    ):
        entry = figures[name]
        rate, rss = entry.get("rate_ratio"), entry.get("rss_ratio")
        met = ""
        if rate is not None and rss is not None:
            met = "yes" if rate >= RATE_AT_LEAST and rss <= RSS_AT_MOST else "**no**"
        rows.append(
            [
                label,
                f"{entry['rows_per_second']:,.0f}" + (f" ({rate:.2f}x)" if rate else ""),
                f"{entry['max_rss_mib']:.0f} MiB" + (f" ({rss:.2f}x)" if rss else ""),
                f"{entry['wall_seconds']:.1f} s",
                f"{entry['cpu_seconds']:.1f} s",
                f">= {RATE_AT_LEAST}x, <= {RSS_AT_MOST}x" if rate else "",
                met,
                _spread(entry),
            ]
        )
    plan_met = (
        plan["wall_seconds"] <= PLAN_SECONDS_AT_MOST and plan["max_rss_mib"] <= PLAN_MIB_AT_MOST
    )
    counts = ", ".join(f"{k} {v:,}" for k, v in plan["plan"].items())
    header = [
        "run",
        "rows/s (vs baseline)",
        "peak RSS (vs baseline)",
        "wall",
        "CPU",
        "bound",
        "met?",
        "runs: rows/s, peak",
    ]
    return [
        "## Scale: cost follows the work, not the table",
        "",
        "`ferry run` as a child process against the `stub` server at zero latency, `C` = 64. "
        "Rows/s is end to end (the rows done over the process's wall time: planning and the "
        "final table write included), peak RSS the kernel's `ru_maxrss`. A checkpoint writes "
        "the rows finished since the previous one into files beside the table; the table itself "
        "is written once, at the end, streamed bucket by bucket (a run that only adds rows, as "
        "the increment here, appends its row groups after the table's, which are copied as they "
        "are); the plan joins manifest and table in hash partitions spilled to disk, reading "
        "the manifest and the table in threads of their own. "
        f"The baseline and the increment ran {figures.get('repeats', 1)} times each, in turn "
        "(one run of either varies by up to 10 % with the machine): their rows give the "
        "median rows/s (wall and CPU are that run's) and the median peak; the last column "
        "lists every run.",
        "",
        *markdown_table(header, rows),
        "",
        f"Planning: `ferry run plan.parquet --dry-run` of a {plan['rows']:,}-row Parquet "
        f"manifest ({plan['manifest_mib']:.0f} MiB, every identity hashed) against a "
        f"{plan['rows']:,}-row table ({plan['table_mib']:.0f} MiB): {counts}. "
        f"**{plan['wall_seconds']:.1f} s, {plan['max_rss_mib']:.0f} MiB peak** "
        f"(bound {PLAN_SECONDS_AT_MOST:g} s and {PLAN_MIB_AT_MOST:,.0f} MiB, goal 20 s and "
        f"512 MiB): {'met' if plan_met else '**not met**'}.",
        "",
        "Reproduce: `python -m benchmarks scale`.",
        "",
    ]


def _spread(entry: dict[str, Any]) -> str:
    rates = entry.get("runs_rows_per_second", [entry["rows_per_second"]])
    peaks = entry.get("runs_max_rss_mib", [entry["max_rss_mib"]])
    return " / ".join(
        f"{rate:,.0f}, {peak:.0f} MiB" for rate, peak in zip(rates, peaks, strict=True)
    )


def headline(figures: dict[str, Any]) -> str:
    """One line for the headline list."""
    increment, large, plan = figures["increment"], figures["large"], figures["plan"]
    return (
        f"Scale: an increment on a {figures['sizes']['table']:,}-row table runs at "
        f"{increment['rate_ratio']:.2f}x the rows/s of the same rows into an empty table, "
        f"peak RSS {increment['rss_ratio']:.2f}x; {figures['sizes']['large']:,} rows "
        f"{large['rate_ratio']:.2f}x / {large['rss_ratio']:.2f}x; planning "
        f"{plan['rows']:,} x {plan['rows']:,} rows {plan['wall_seconds']:.0f} s, "
        f"{plan['max_rss_mib']:.0f} MiB."
    )
