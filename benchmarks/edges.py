"""Benchmarks: at the edges (issue 24).

* ``folder``: ``ferry run DIR --dry-run`` over a folder of 1,000,000 files (1,000 folders of
  1,000 empty files) against the very same paths given as a CSV manifest, beside
  ``find DIR -type f | wc -l``. Goal: the folder within 2x the time and 1.3x the peak RSS of
  the CSV. Runs alternate; the median of :data:`REPEATS` is quoted.
* ``large_rows``: ``ferry run`` over manifests of ``data:`` URLs (700 KiB files, 956 kB a row)
  of 239 MB and 956 MB, against ``fileapi`` in a process of its own (a fresh one per run).
  Goal: the 956 MB run peaks at <= 1.3x the RSS of the 239 MB one (bound 1.5x); then
  ``ferry status``, ``report`` and ``verify`` on the 956 MB run's table, ``status`` under
  300 MiB. The summary's time against the command's wall time shows planning and the final
  write are counted.

The folder tree and the manifests are made once and kept under ``benchmarks/work/`` (made by
this process with ``os`` and ``csv`` only: it imports no polars, whose RSS would be the floor
under every child's peak).
"""

from __future__ import annotations

import base64
import csv
import os
import secrets
import shutil
import statistics
from pathlib import Path
from typing import Any

from benchmarks.common import (
    BENCH_KEY,
    MIB,
    WORK,
    fast_dir,
    loadavg,
    markdown_table,
    python_module,
    run_child,
)
from benchmarks.measure import CLIENT_ENV
from benchmarks.servers import ServerProcess

REPEATS = 3
FOLDERS, FILES_PER_FOLDER = 1_000, 1_000
QUICK_FOLDERS = 20
ROW_RAW_BYTES = 700 * 1024
ROW_COUNTS = (250, 1_000)
QUICK_ROW_COUNTS = (25, 100)
CONCURRENCY = 16
FOLDER_TIME_GOAL, FOLDER_RSS_GOAL = 2.0, 1.3
ROWS_RSS_GOAL, ROWS_RSS_BOUND, STATUS_GOAL_MIB = 1.3, 1.5, 300


def _tree(folders: int) -> tuple[Path, Path]:
    """The folder of ``folders`` x 1,000 files and a CSV of the same paths (made once)."""
    root = WORK / f"folder-{folders * FILES_PER_FOLDER}"
    manifest = root.with_suffix(".csv")
    done = root.with_suffix(".complete")
    if done.exists() and manifest.exists():
        return root, manifest
    shutil.rmtree(root, ignore_errors=True)
    with manifest.open("w", newline="") as out:
        out.write("url\n")
        for number in range(folders):
            folder = root / f"d{number:04d}"
            folder.mkdir(parents=True)
            for file in range(FILES_PER_FOLDER):
                path = folder / f"file-{file:05d}.jpg"
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
                out.write(f"{path}\n")
    done.touch()
    return root, manifest


def run_folder(*, quick: bool = False) -> dict[str, Any]:
    """Benchmark: a folder of a million files planned, against the same paths as a CSV."""
    folders = QUICK_FOLDERS if quick else FOLDERS
    repeats = 1 if quick else REPEATS
    root, manifest = _tree(folders)
    files = folders * FILES_PER_FOLDER
    print(f"folder: ferry run DIR --dry-run over {files:,} files, beside the same paths as CSV")
    results = WORK / "folder.results.parquet"
    argv = {
        "folder": python_module("jobs", "run", str(root), "--dry-run", "--results", str(results)),
        "csv": python_module("jobs", "run", str(manifest), "--dry-run", "--results", str(results)),
        "find": ["sh", "-c", f"find '{root}' -type f | wc -l"],
    }
    runs: dict[str, list[tuple[float, int]]] = {name: [] for name in argv}
    load = loadavg()
    for _ in range(repeats):
        for name, command in argv.items():
            child = run_child(command)
            if name != "find":
                assert f"new {files}," in child.stdout, child.stdout + child.stderr
            runs[name].append((child.wall_seconds, child.max_rss_bytes))
    figures: dict[str, Any] = {"files": files, "repeats": repeats, "load_before": load}
    for name, values in runs.items():
        figures[name] = {
            "wall_seconds": statistics.median(wall for wall, _ in values),
            "max_rss_mib": statistics.median(rss for _, rss in values) / MIB,
            "walls": [round(wall, 2) for wall, _ in values],
        }
    figures["load_after"] = loadavg()
    figures["time_ratio"] = figures["folder"]["wall_seconds"] / figures["csv"]["wall_seconds"]
    figures["rss_ratio"] = figures["folder"]["max_rss_mib"] / figures["csv"]["max_rss_mib"]
    print(f"  folder/csv: time {figures['time_ratio']:.2f}x, RSS {figures['rss_ratio']:.2f}x")
    return figures


def _data_manifest(rows: int) -> Path:
    """A CSV of ``rows`` ``data:`` URLs of :data:`ROW_RAW_BYTES` each (made once)."""
    path = WORK / f"data-urls-{rows}.csv"
    if path.exists():
        return path
    partial = path.with_suffix(".partial")
    with partial.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["url", "file_name"])
        for number in range(rows):
            payload = base64.b64encode(os.urandom(ROW_RAW_BYTES)).decode()
            writer.writerow([f"data:application/octet-stream;base64,{payload}", f"b{number}.bin"])
    partial.rename(path)
    return path


def _command(name: str, table: Path) -> list[str]:
    """``ferry status``, ``report`` or ``verify`` on ``table``."""
    extra = ["--json"] if name == "status" else []
    if name == "report":
        extra = ["--out", str(table.with_suffix(".html"))]
    return python_module("jobs", name, str(table), *extra)


def run_large_rows(*, quick: bool = False) -> dict[str, Any]:
    """Benchmark: runs over hundreds of MB of ``data:`` URLs; status, report and verify."""
    counts = QUICK_ROW_COUNTS if quick else ROW_COUNTS
    repeats = 1 if quick else REPEATS
    manifests = {rows: _data_manifest(rows) for rows in counts}
    sizes = {rows: manifests[rows].stat().st_size for rows in counts}
    print(f"large rows: ferry run over {', '.join(f'{s / 1e6:.0f} MB' for s in sizes.values())}")
    peaks: dict[int, list[int]] = {rows: [] for rows in counts}
    timing: dict[int, list[tuple[float, float]]] = {rows: [] for rows in counts}
    readers: dict[str, dict[str, float]] = {}
    load = loadavg()
    for round_ in range(repeats):
        for rows in counts:
            data = fast_dir() / f"ferry-bench-{secrets.token_hex(4)}"
            table = WORK / f"data-urls-{rows}.results.parquet"
            _remove_table(table)
            with ServerProcess(data, BENCH_KEY) as server:
                argv = python_module("jobs", "run", str(manifests[rows]), "--base-url", server.api)
                argv += ["--results", str(table), "--concurrency", str(CONCURRENCY)]
                child = run_child([*argv, "--no-progress", "--json"], env=CLIENT_ENV)
                summary = child.json()
                assert summary["ok"] == rows, child.stderr[-2000:]
                peaks[rows].append(child.max_rss_bytes)
                timing[rows].append((float(summary["elapsed_seconds"]), child.wall_seconds))
                if rows == counts[-1] and round_ == repeats - 1:
                    for name in ("status", "report", "verify"):
                        reader = run_child(_command(name, table), env=CLIENT_ENV)
                        readers[name] = {
                            "max_rss_mib": reader.max_rss_bytes / MIB,
                            "wall_seconds": reader.wall_seconds,
                        }
            _remove_table(table)
    small, large = counts
    figures: dict[str, Any] = {
        "counts": list(counts),
        "bytes": {str(rows): sizes[rows] for rows in counts},
        "repeats": repeats,
        "load_before": load,
        "load_after": loadavg(),
        "peak_rss_mib": {str(r): statistics.median(peaks[r]) / MIB for r in counts},
        "peaks_mib": {str(r): [round(p / MIB) for p in peaks[r]] for r in counts},
        "summary_vs_wall": {
            str(r): statistics.median(summary / wall for summary, wall in timing[r]) for r in counts
        },
        "wall_seconds": {str(r): statistics.median(w for _, w in timing[r]) for r in counts},
        "readers": readers,
    }
    figures["rss_ratio"] = figures["peak_rss_mib"][str(large)] / figures["peak_rss_mib"][str(small)]
    print(
        f"  peak RSS {large}/{small} rows: {figures['rss_ratio']:.2f}x; status "
        f"{readers['status']['max_rss_mib']:.0f} MiB"
    )
    return figures


def _remove_table(table: Path) -> None:
    for path in [table, *table.parent.glob(table.name + ".*"), table.with_suffix(".html")]:
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)


def _verdict(value: float, goal: float) -> str:
    return "met" if value <= goal else "**not met**"


def _section(
    title: str, intro: str, header: list[str], rows: list[list[str]], reading: str, name: str
) -> list[str]:
    """A section: its title, what was run, the table, what it says, how to run it again."""
    lines = [f"## {title}", "", intro, ""]
    lines += markdown_table(header, rows)
    reproduce = f"Reproduce: `.venv/bin/python -m benchmarks {name}` (its files are made once, "
    return [*lines, "", reading, "", reproduce + "in `benchmarks/work/`).", ""]


def _load(figures: dict[str, Any]) -> str:
    return f"load average {figures['load_before']} before, {figures['load_after']} after"


def folder_section(figures: dict[str, Any]) -> list[str]:
    """Section 9 of ``RESULTS.md``."""
    commands = (
        ("find", "`find DIR -type f \\| wc -l`"),
        ("csv", "`ferry run paths.csv --dry-run` (the same paths)"),
        ("folder", "`ferry run DIR --dry-run`"),
    )
    rows = [
        [
            label,
            f"{figures[key]['wall_seconds']:.2f} s",
            "" if key == "find" else f"{figures[key]['max_rss_mib']:.0f} MiB",
            ", ".join(f"{wall:.2f}" for wall in figures[key]["walls"]),
        ]
        for key, label in commands
    ]
    time_ratio, rss_ratio = figures["time_ratio"], figures["rss_ratio"]
    return _section(
        "A folder of a million files",
        f"{figures['files']:,} empty files in {figures['files'] // FILES_PER_FOLDER:,} folders, "
        f"planned as a folder and as a CSV of the same paths; median of {figures['repeats']} "
        f"alternating runs ({_load(figures)}).",
        ["command", "wall", "peak RSS", "runs (wall)"],
        rows,
        f"The folder takes {time_ratio:.2f}x the CSV's time (goal <= {FOLDER_TIME_GOAL:g}: "
        f"{_verdict(time_ratio, FOLDER_TIME_GOAL)}) and {rss_ratio:.2f}x its peak RSS (goal <= "
        f"{FOLDER_RSS_GOAL:g}: {_verdict(rss_ratio, FOLDER_RSS_GOAL)}): it is listed a "
        "directory at a time with `os.scandir` (no `stat` per file), its rows made in batches.",
        "folder",
    )


def large_rows_section(figures: dict[str, Any]) -> list[str]:
    """Section 10 of ``RESULTS.md``."""
    small, large = figures["counts"]
    rows = [
        [
            f"`ferry run`, {count:,} rows ({figures['bytes'][str(count)] / 1e6:.0f} MB)",
            f"{figures['peak_rss_mib'][str(count)]:.0f} MiB",
            ", ".join(str(p) for p in figures["peaks_mib"][str(count)]),
            f"{figures['wall_seconds'][str(count)]:.1f} s "
            f"(the summary's {figures['summary_vs_wall'][str(count)]:.2f} of it)",
        ]
        for count in figures["counts"]
    ]
    rows += [
        [
            f"`ferry {name}` on the {large:,}-row table",
            f"{reader['max_rss_mib']:.0f} MiB",
            "",
            f"{reader['wall_seconds']:.1f} s",
        ]
        for name, reader in figures["readers"].items()
    ]
    ratio, status = figures["rss_ratio"], figures["readers"]["status"]["max_rss_mib"]
    return _section(
        "Large rows: manifests of `data:` URLs",
        f"Files of {ROW_RAW_BYTES // 1024} KiB as `data:` URLs, {CONCURRENCY} at once, into "
        f"`fileapi` (a fresh process per run); median of {figures['repeats']} alternating runs "
        f"({_load(figures)}).",
        ["command", "peak RSS", "runs (MiB)", "wall"],
        rows,
        f"Peak RSS at {large:,} / {small:,} rows: {ratio:.2f}x (goal <= {ROWS_RSS_GOAL:g}: "
        f"{_verdict(ratio, ROWS_RSS_GOAL)}; bound {ROWS_RSS_BOUND:g}: "
        f"{_verdict(ratio, ROWS_RSS_BOUND)}); `ferry status` {status:.0f} MiB (goal < "
        f"{STATUS_GOAL_MIB} MiB: {_verdict(status, STATUS_GOAL_MIB)}). Batches end at "
        "16 MiB whatever their row count; a long URL is journaled and checkpointed by "
        "reference and joined back from the run's copy of the manifest as the table is written; "
        "readers take only the columns they need. The summary's time is the command's, "
        "planning and the final write included (what it leaves out is the interpreter's start).",
        "large_rows",
    )


def headline(results: dict[str, Any]) -> list[str]:
    """The headline lines of the folder and large-row sections, when present."""
    lines = []
    if "folder" in results:
        folder = results["folder"]["figures"]
        planned = folder["folder"]
        lines.append(
            f"A folder of {folder['files']:,} files plans in {planned['wall_seconds']:.1f} s "
            f"and {planned['max_rss_mib']:.0f} MiB: {folder['time_ratio']:.2f}x the time "
            f"and {folder['rss_ratio']:.2f}x the peak RSS of the same paths as a CSV (goals 2x, "
            f"1.3x); `find` lists them in {folder['find']['wall_seconds']:.2f} s."
        )
    if "large_rows" in results:
        rows = results["large_rows"]["figures"]
        small, large = rows["counts"]
        lines.append(
            f"`data:` URLs: peak RSS {rows['peak_rss_mib'][str(small)]:.0f} / "
            f"{rows['peak_rss_mib'][str(large)]:.0f} MiB over "
            f"{rows['bytes'][str(small)] / 1e6:.0f} / {rows['bytes'][str(large)] / 1e6:.0f} MB = "
            f"{rows['rss_ratio']:.2f}x (goal 1.3x); `ferry status` on the table "
            f"{rows['readers']['status']['max_rss_mib']:.0f} MiB (goal < {STATUS_GOAL_MIB} MiB)."
        )
    return lines
