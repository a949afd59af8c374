"""``ferry report RESULTS... --out report.html``: one self-contained HTML page about the tables."""

from __future__ import annotations

from pathlib import Path

import click

from jobs.common import debug_option, log_format_option, reports_errors, say


@click.command(name="report")
@click.argument("results", nargs=-1, required=True)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="HTML file to write.  [default: <first table stem>.report.html beside the first table]",
)
@log_format_option
@debug_option
@reports_errors
def report(results: tuple[str, ...], out: Path | None, debug: bool) -> None:
    """Write an HTML report on one or more result tables (paths or a quoted glob), summed.

    The page opens offline (no scripts, no external resources): status breakdown, errors by
    kind and by source host, top error messages, throughput over each run, and an expiry
    timeline of the ok rows.

    \b
    Examples:
      ferry report photos.results.parquet
      ferry report 'shards/*.results.parquet' --out migration.html
    """
    from pipeline.commands.report import default_report_path, write_report
    from pipeline.commands.status import expand_tables

    tables = expand_tables(list(results))
    summary = write_report(tables, out or default_report_path(tables[0]))
    say(f"ferry: report written to {summary.out}", report=str(summary.out))
