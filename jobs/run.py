"""``ferry run MANIFEST``: migrate a manifest's rows and write the result table."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import click

from jobs.common import (
    adaptive_concurrency_option,
    api_key,
    api_key_file_option,
    base_url_option,
    debug_option,
    duration,
    log_format_option,
    metrics_file_option,
    progress_option,
    rate,
    reports_errors,
    source_headers,
)
from pipeline.buckets.environment import read_environment
from pipeline.core.errors import LockedError, PipelineError
from pipeline.core.logs import fields
from pipeline.core.settings import (
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    DEFAULT_UPLOAD_PATH,
    DEFAULT_VIA,
    VIA_CHOICES,
    RunSettings,
    Shard,
    Via,
)
from pipeline.core.summary import CapacityEstimate, RunSummary
from pipeline.core.units import API_RETENTION, Rate
from pipeline.manifest.options import FORMATS, Format, is_remote, parse_column_option

log = logging.getLogger(__name__)


@click.command(name="run")
@click.argument("manifest", metavar="MANIFEST")
@click.option(
    "--results",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Result table (.parquet or .csv). Default: <manifest dir>/<stem>.results.parquet "
    "(./<stem>.results.parquet for a remote manifest; required with -); a result table "
    "given as MANIFEST is its own.",
)
@click.option(
    "--format",
    "manifest_format",
    type=click.Choice(FORMATS),
    help="Read MANIFEST as this format, whatever its extension (default: by extension; "
    "told by content for -, .txt, .urls and .list).",
)
@click.option(
    "--delimiter",
    help="CSV delimiter, instead of the one sniffed from the header among , ; tab | "
    "(write a tab as '\\t').",
)
@click.option(
    "--column",
    "columns",
    multiple=True,
    metavar="FIELD=NAME",
    help="Read field FIELD (url, upload_path, file_name, id, size, md5, sha256) from the "
    "manifest column NAME. Repeatable: --column url=image_url --column file_name=title.",
)
@base_url_option()
@click.option(
    "--upload-path",
    default=DEFAULT_UPLOAD_PATH,
    show_default=True,
    help="uploadPath for rows without one.",
)
@adaptive_concurrency_option
@click.option("--rate", "rate_cap", callback=rate, help="Request rate cap: 20/10s, 5/s, 300/min.")
@click.option(
    "--retries",
    type=click.IntRange(0, 100),
    default=DEFAULT_RETRIES,
    show_default=True,
    help="Retries of a retryable failure (backoff with jitter; Retry-After honoured).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.001),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="Longest wait without progress, in seconds (connecting, or bytes not moving); never "
    "a deadline for a whole transfer.",
)
@click.option(
    "--retention",
    default=API_RETENTION,
    show_default=True,
    callback=duration("--retention"),
    help="How long the API keeps a file, for answers without expiresAt.",
)
@click.option("--failed-only", is_flag=True, help="Only rows whose latest result is failed.")
@click.option(
    "--refresh-within",
    callback=duration("--refresh-within"),
    help="Also redo ok rows that expire within this (12h, 1d).",
)
@click.option("--limit", type=click.IntRange(min=0), help="At most N rows this run.")
@click.option(
    "--shard", envvar="FERRY_SHARD", show_envvar=True, help="Only shard K of N (1-based), e.g. 2/4."
)
@click.option(
    "--dry-run", is_flag=True, help="Print the plan (new, retry, refresh, skip); call nothing."
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the summary as one JSON object on stdout."
)
@progress_option
@click.option(
    "--via",
    type=click.Choice(VIA_CHOICES),
    default=DEFAULT_VIA,
    show_default=True,
    help="http(s) and bucket sources: url = the API fetches them (bucket objects from a URL "
    "signed per upload); relay = ferry downloads and streams them; auto = url, relay when the "
    "API cannot fetch the source.",
)
@click.option(
    "--presign-expiry",
    default="1h",
    show_default=True,
    callback=duration("--presign-expiry"),
    help="How long the URL signed for each upload of an s3://, gs:// or az:// object lives "
    "(at most 7d).",
)
@click.option(
    "--source-header",
    "source_header",
    multiple=True,
    metavar="'NAME: VALUE'",
    help="Header for ferry's own downloads (relay); ${VAR} in VALUE is read from the "
    "environment. Repeatable. Values are never echoed or written.",
)
@metrics_file_option
@api_key_file_option
@log_format_option
@debug_option
@reports_errors
def run(
    manifest: str,
    results: Path | None,
    manifest_format: Format | None,
    delimiter: str | None,
    columns: tuple[str, ...],
    base_url: str,
    upload_path: str,
    concurrency: tuple[int, bool],
    rate_cap: Rate | None,
    retries: int,
    timeout: float,
    retention: float,
    failed_only: bool,
    refresh_within: float | None,
    limit: int | None,
    shard: str | None,
    dry_run: bool,
    as_json: bool,
    progress: bool,
    via: Via,
    presign_expiry: float,
    source_header: tuple[str, ...],
    metrics_file: Path | None,
    api_key_file: Path | None,
    debug: bool,
) -> None:
    """Upload every row of MANIFEST that has no ok result yet.

    MANIFEST is a file (CSV, TSV, URL list, JSON Lines, each also .gz, or Parquet), a folder,
    - for standard input, or an s3://, gs:// or https:// URL; a bucket prefix (s3://, gs://,
    az://, ending in /) lists its objects; an S3 Inventory manifest.json reads its report.
    Bucket credentials come from the providers' usual variables (AWS_*,
    GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_*).

    \b
    Examples:
      ferry run photos.csv                          # writes photos.results.parquet
      ferry run photos.csv --concurrency 64 --rate 300/min
      ferry run photos.csv --concurrency auto       # find what the API sustains
      ferry run photos.results.parquet --failed-only
      ferry run photos.csv --refresh-within 12h     # cron: keep links alive
      ferry run photos.csv --dry-run                # new N, retry N, refresh N, skip N
      ferry run ./exports/                          # every file below a folder
      ferry run private.csv --via relay --source-header 'Authorization: Bearer ${SRC_TOKEN}'
      ferry run photos.csv --refresh-within 1d --metrics-file /var/lib/node_exporter/ferry.prom
      ferry run report.csv --delimiter ';'          # CSV; the delimiter is sniffed otherwise
      ferry run products.csv --column url=image_url --column file_name=sku
      ferry run transfer.tsv                        # TSV, or a TsvHttpData-1.0 list
      ferry run urls.txt                            # one URL per line; aria2c -i files too
      ferry run export.jsonl.gz                     # JSON Lines (also .ndjson), gzipped
      ferry run photos.parquet
      psql -Atc 'select url from photos' | ferry run - --results photos.results.parquet
      ferry run s3://bucket/manifests/photos.parquet  # writes ./photos.results.parquet
      ferry run s3://bucket/photos/ --upload-path photos  # every object below the prefix
      ferry run s3://bucket/photos/ --refresh-within 1d   # cron: re-signed on every upload
      ferry run gs://bucket/photos/ --via relay     # ferry reads the objects itself
      ferry run inventory/manifest.json             # an S3 Inventory report

    Exit codes: 0 all planned rows ok, 1 some rows failed, 2 bad usage or manifest,
    3 fatal API answer (bad key, no credits), 4 table locked by another run, 130 interrupted.
    """
    from pipeline import default_results_path, run_manifest
    from pipeline.core.metrics import record_failed_start, record_run

    started_at = time.time()
    source: Path | str = manifest if manifest == "-" or is_remote(manifest) else Path(manifest)
    results_path = results if results is not None else default_results_path(source)
    try:
        settings = RunSettings(
            manifest=source,
            results=results_path,
            base_url=base_url,
            api_key="" if dry_run else api_key(api_key_file),
            upload_path=upload_path.strip("/") or DEFAULT_UPLOAD_PATH,
            concurrency=concurrency[0],
            adaptive=concurrency[1],
            rate=rate_cap,
            retries=retries,
            timeout=timeout,
            retention=retention,
            failed_only=failed_only,
            refresh_within=refresh_within,
            limit=limit,
            shard=Shard.parse(shard) if shard else None,
            dry_run=dry_run,
            progress=progress,
            via=via,
            source_headers=source_headers(source_header),
            metrics_file=None if dry_run else metrics_file,
            manifest_format=manifest_format,
            delimiter="\t" if delimiter in ("\\t", "tab") else delimiter,
            columns=dict(parse_column_option(value) for value in columns),
            debug=debug,
            presign_expiry=presign_expiry,
            stores=read_environment(),
        )
        summary = run_manifest(settings)
    except LockedError:
        raise  # the run that holds the table owns its metrics file
    except PipelineError as exc:
        if not dry_run:
            record_failed_start(
                metrics_file, results_path, exit_code=exc.exit_code, started_at=started_at
            )
        raise
    if dry_run:
        _print_plan(summary, settings, as_json)
        return
    record_run(settings.metrics_file, summary, final=True)
    log.info(summary.text(), extra=fields(**summary.to_json()))
    if as_json:
        click.echo(json.dumps(summary.to_json()))
    sys.exit(summary.exit_code)


def _print_plan(summary: RunSummary, settings: RunSettings, as_json: bool) -> None:
    """``--dry-run``: the plan on stdout; with ``--rate``, how long it takes on stderr."""
    plan: dict[str, float] = dict(summary.plan)
    if settings.rate is not None:
        estimate = CapacityEstimate(summary.planned, settings.rate, settings.retention)
        plan["estimated_seconds"] = round(estimate.seconds, 1)
        facts = fields(
            estimated_seconds=plan["estimated_seconds"],
            planned=summary.planned,
            rate=str(settings.rate),
            retention_seconds=settings.retention,
        )
        log.info(estimate.line(), extra=facts)
        if estimate.too_slow:
            log.warning(estimate.warning(), extra=facts)
    click.echo(json.dumps(plan) if as_json else summary.plan_line())
