"""``ferry status RESULTS...``: counts by status and error kind, and what expires soon."""

from __future__ import annotations

import json
from pathlib import Path

import click

from jobs.common import debug_option, log_format_option, reports_errors


@click.command(name="status")
@click.argument("results", nargs=-1)
@click.option(
    "--manifest",
    type=click.Path(path_type=Path),
    help="Report on the default result table of this manifest.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@log_format_option
@debug_option
@reports_errors
def status(results: tuple[str, ...], manifest: Path | None, as_json: bool, debug: bool) -> None:
    """Summarise one or more result tables (paths or a quoted glob), summed.

    \b
    Examples:
      ferry status photos.results.parquet
      ferry status 'shards/*.results.parquet' --json

    Exit 0 whenever the tables could be read (2 when not): status reports, it does not judge.
    """
    from pipeline import default_results_path
    from pipeline.commands.status import expand_tables, table_status

    patterns = list(results)
    if manifest is not None:
        patterns.append(str(default_results_path(manifest)))
    if not patterns:
        raise click.UsageError("name at least one result table (or --manifest)")
    report = table_status(expand_tables(patterns))
    click.echo(json.dumps(report.to_json()) if as_json else report.text())
