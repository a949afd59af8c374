"""``ferry verify RESULTS``: check that the download URLs of ok rows still serve the files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from jobs.common import (
    concurrency_option,
    debug_option,
    log_format_option,
    metrics_file_option,
    progress_option,
    reports_errors,
    say,
)
from pipeline.core.settings import VERIFY_DEFAULT_RETRIES, VERIFY_DEFAULT_TIMEOUT, VerifySettings


@click.command(name="verify")
@click.argument("results", type=click.Path(path_type=Path, dir_okay=False))
@concurrency_option
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.001),
    default=VERIFY_DEFAULT_TIMEOUT,
    show_default=True,
    help="Longest wait without progress, in seconds (connecting, or bytes not moving).",
)
@click.option(
    "--retries",
    type=click.IntRange(0, 100),
    default=VERIFY_DEFAULT_RETRIES,
    show_default=True,
    help="Retries of a link that could not be checked (network error, timeout, 5xx, 429).",
)
@click.option(
    "--checksum",
    is_flag=True,
    help="Download every file (streamed) and compare its bytes with the row's size, md5 and "
    "sha256, else its file_size; a mismatch becomes a failed row (checksum_mismatch). "
    "Costs a full download of every ok row.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the counts as one JSON object on stdout."
)
@progress_option
@metrics_file_option
@log_format_option
@debug_option
@reports_errors
def verify(
    results: Path,
    concurrency: int,
    timeout: float,
    retries: int,
    checksum: bool,
    as_json: bool,
    progress: bool,
    metrics_file: Path | None,
    debug: bool,
) -> None:
    """Check the download URL of every ok row of RESULTS; mark dead links failed.

    Each link gets a HEAD (a one-byte ranged GET where HEAD is refused) and its size is
    compared with file_size. Dead links (4xx, or a different size) become failed rows with
    error_kind link_dead, so the next `ferry run` uploads them again. Links that cannot be
    checked (network errors, timeouts, 5xx, after retries) are reported as unknown and their
    rows are left as they were.

    With --checksum every file is downloaded instead and its bytes compared (size, md5,
    sha256 where the table has them, else file_size); mismatched files become failed rows
    with error_kind checksum_mismatch. --timeout then bounds each pause, not the download.

    \b
    Examples:
      ferry verify photos.results.parquet
      ferry verify photos.results.parquet --concurrency 64 --json
      ferry verify photos.results.parquet --checksum --concurrency 4
      ferry verify photos.results.parquet || ferry run photos.results.parquet
      ferry verify photos.results.parquet --metrics-file /var/lib/node_exporter/photos.prom

    Exit codes: 0 every link alive, 1 some links dead, mismatched or unknown, 2 unreadable table,
    4 table locked by a run, 130 interrupted.
    """
    from pipeline.commands.verify import verify as verify_links
    from pipeline.core.metrics import record_table

    settings = VerifySettings(
        results=results,
        concurrency=concurrency,
        timeout=timeout,
        retries=retries,
        progress=progress,
        checksum=checksum,
    )
    report = verify_links(settings)
    record_table(metrics_file, results)
    say(report.text(), **report.to_json())
    if as_json:
        click.echo(json.dumps(report.to_json()))
    sys.exit(report.exit_code)
