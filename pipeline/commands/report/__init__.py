"""``ferry report``: one self-contained HTML page about one or more result tables.

It shows the status breakdown, failed rows by error kind and by source host, the most common
error messages, throughput over each run and an expiry timeline of the ``ok`` rows.

=====================  ===================================================================
module                 job
=====================  ===================================================================
``figures``            the counts and time buckets, as polars expressions (no HTML)
``page``               the HTML document drawn from the figures (``report.css`` beside it)
``charts``             the inline SVG bar and column charts
=====================  ===================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pipeline.commands.report.figures import collect
from pipeline.commands.report.page import render
from pipeline.core.errors import UsageError
from pipeline.store.atomic import write_bytes


@dataclass(frozen=True)
class ReportSummary:
    """What :func:`write_report` wrote."""

    out: Path
    tables: list[Path]
    rows: int
    ok: int
    failed: int
    size_bytes: int


def default_report_path(table: Path) -> Path:
    """``<table stem>.report.html`` beside the table: ``m.results.parquet`` gives
    ``m.results.report.html``."""
    return table.with_name(f"{table.stem}.report.html")


def build_report(paths: list[Path], *, now: datetime | None = None) -> str:
    """The report on ``paths`` (result tables, summed) as one self-contained HTML document."""
    return render(collect(paths, now=now))


def write_report(paths: list[Path], out: Path, *, now: datetime | None = None) -> ReportSummary:
    """Write the report to ``out`` atomically (temp file, fsync, rename) and say what it holds."""
    if out.is_dir():
        raise UsageError(f"--out {out}: is a directory; name the HTML file to write")
    data = collect(paths, now=now)
    page = render(data).encode("utf-8")
    write_bytes(out, page)
    return ReportSummary(out, paths, data.rows, data.ok, data.failed, len(page))
