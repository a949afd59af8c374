"""``ferry merge TABLES... --out TABLE``: combine result tables, the latest attempt winning."""

from __future__ import annotations

import json
from pathlib import Path

import click

from jobs.common import debug_option, log_format_option, reports_errors, say


@click.command(name="merge")
@click.argument("tables", nargs=-1, required=True)
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="The merged table (.parquet or .csv); may be one of the inputs.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the counts as one JSON object on stdout."
)
@log_format_option
@debug_option
@reports_errors
def merge(tables: tuple[str, ...], out: Path, as_json: bool, debug: bool) -> None:
    """Combine result tables (paths or quoted globs) into one, one row per identity.

    The latest attempt of each identity wins (by finished_at; on a tie, the table named
    later). Extra columns are unioned. --out is written atomically, under its lock.

    \b
    Examples:
      ferry merge 'shards/shard-*.results.parquet' --out photos.results.parquet
      ferry merge old.results.csv new.results.parquet --out all.results.parquet --json

    Exit codes: 0 merged, 2 an input is missing or unreadable, 4 --out locked by a run.
    """
    from pipeline.commands.merge import merge_tables
    from pipeline.commands.status import expand_tables

    report = merge_tables(expand_tables(list(tables)), out)
    say(f"ferry: {report.line()}", **report.to_json())
    if as_json:
        click.echo(json.dumps(report.to_json()))
