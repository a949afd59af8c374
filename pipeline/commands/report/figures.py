"""The figures of ``ferry report``: every count, bucket and breakdown the page shows.

Every aggregation is a polars expression (``group_by``, ``dt.truncate``, ``str.extract``);
Python only loops over the few dozen buckets and bars the page draws. Time buckets adapt to the
span they cover (:func:`pick_bucket`): a 10-second run and a 10-hour run both get about 20 to 60
columns. Nothing here knows HTML: :mod:`pipeline.commands.report.page` draws :class:`ReportData`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from pipeline.commands.status import EXPIRING_WINDOW
from pipeline.core.schema import RESULT_POLARS_SCHEMA, STATUS_FAILED, STATUS_OK
from pipeline.store import ResultStore

#: Bars a time chart aims to stay under; the bucket ladder keeps it above about 20.
MAX_BARS = 60
#: Rows of the "top errors" table.
TOP_ERRORS = 20
#: Source hosts drawn one by one; the rest are summed into one bar.
TOP_HOSTS = 15
#: Runs that get a throughput chart of their own (the most recent ones).
MAX_RUN_CHARTS = 6

#: Bucket sizes, as polars durations and as timedeltas (months and years approximated).
BUCKETS: tuple[tuple[str, timedelta], ...] = (
    ("1ms", timedelta(milliseconds=1)),
    ("2ms", timedelta(milliseconds=2)),
    ("5ms", timedelta(milliseconds=5)),
    ("10ms", timedelta(milliseconds=10)),
    ("20ms", timedelta(milliseconds=20)),
    ("50ms", timedelta(milliseconds=50)),
    ("100ms", timedelta(milliseconds=100)),
    ("200ms", timedelta(milliseconds=200)),
    ("500ms", timedelta(milliseconds=500)),
    ("1s", timedelta(seconds=1)),
    ("2s", timedelta(seconds=2)),
    ("5s", timedelta(seconds=5)),
    ("10s", timedelta(seconds=10)),
    ("15s", timedelta(seconds=15)),
    ("30s", timedelta(seconds=30)),
    ("1m", timedelta(minutes=1)),
    ("2m", timedelta(minutes=2)),
    ("5m", timedelta(minutes=5)),
    ("10m", timedelta(minutes=10)),
    ("15m", timedelta(minutes=15)),
    ("30m", timedelta(minutes=30)),
    ("1h", timedelta(hours=1)),
    ("2h", timedelta(hours=2)),
    ("3h", timedelta(hours=3)),
    ("6h", timedelta(hours=6)),
    ("12h", timedelta(hours=12)),
    ("1d", timedelta(days=1)),
    ("2d", timedelta(days=2)),
    ("1w", timedelta(weeks=1)),
    ("1mo", timedelta(days=31)),
    ("3mo", timedelta(days=92)),
    ("1y", timedelta(days=366)),
)

_SCHEME = r"^([A-Za-z][A-Za-z0-9+.\-]*):"
# scheme://[userinfo@]host[:port]...: the host, without credentials or port; IPv6 in brackets
#: How much of a URL its host is looked for in.
_HOST_CHARS = 4096
_HOST = r"^[A-Za-z][A-Za-z0-9+.\-]*://(?:[^/?#@]*@)?(\[[^\]/?#]*\]|[^:/?#]*)"


@dataclass(frozen=True)
class TimeBuckets:
    """Counts per time bucket, gaps filled with zeros."""

    every: str
    size: timedelta
    frame: pl.DataFrame  # columns: bucket (datetime UTC) and one count column per series


@dataclass(frozen=True)
class RunThroughput:
    """One run's rows per bucket of ``finished_at``."""

    run_id: str
    rows: int
    ok: int
    failed: int
    first: datetime
    last: datetime
    buckets: TimeBuckets


@dataclass
class ReportData:
    """Everything the page shows, aggregated; :func:`render` turns it into HTML."""

    tables: list[Path]
    now: datetime
    rows: int = 0
    ok: int = 0
    failed: int = 0
    kinds: list[tuple[str, int]] = field(default_factory=list)
    hosts: list[tuple[str, int, int]] = field(default_factory=list)  # host, failed, rows
    other_hosts: tuple[int, int, int] = (0, 0, 0)  # hosts, failed, rows
    top_errors: list[tuple[str, str, int]] = field(default_factory=list)  # kind, message, count
    runs: pl.DataFrame = field(default_factory=pl.DataFrame)
    run_charts: list[RunThroughput] = field(default_factory=list)
    expired: int = 0
    expiring_24h: int = 0
    expiring_7d: int = 0
    later: int = 0
    no_expiry: int = 0
    next_expiry: datetime | None = None
    last_expiry: datetime | None = None
    expiry: TimeBuckets | None = None


def pick_bucket(span: timedelta, *, minimum: timedelta = timedelta(0)) -> tuple[str, timedelta]:
    """The smallest bucket of :data:`BUCKETS`, at least ``minimum``, that cuts ``span`` into
    fewer than :data:`MAX_BARS` buckets (the largest one when none does)."""
    for every, size in BUCKETS:
        if size >= minimum and span / size <= MAX_BARS - 2:
            return every, size
    return BUCKETS[-1]


def source_host() -> pl.Expr:
    """The lower-cased host of ``url`` (no credentials, no port), or a label for non-http rows."""
    # the host is at the start: a data: URL's megabyte is neither copied nor searched
    url = pl.col("url").fill_null("").str.head(_HOST_CHARS).str.strip_chars()
    scheme = url.str.extract(_SCHEME, 1).str.to_lowercase()
    host = url.str.extract(_HOST, 1).str.to_lowercase()
    return (
        pl.when(url == "")
        .then(pl.lit("(empty url)"))
        .when(scheme == "data")
        .then(pl.lit("(data: URL)"))
        .when(scheme.is_null() | (scheme == "file") | (scheme.str.len_chars() == 1))
        .then(pl.lit("(local file)"))
        .when(host.is_null() | (host == ""))
        .then(pl.lit("(no host)"))
        .otherwise(host)
        .alias("host")
    )


#: The columns the report reads of a table (the others are not even decoded).
REPORT_COLUMNS = (
    "id",
    "url",
    "status",
    "expires_at",
    "error_kind",
    "error",
    "finished_at",
    "run_id",
)


def load_tables(paths: list[Path]) -> pl.DataFrame:
    """What the report needs of the result tables (with their journals folded in), stacked:
    ``url`` read batch by batch and kept as its ``host`` only (a ``data:`` URL is a file)."""
    frames = [
        batch.with_columns(source_host()).drop("url")
        for path in paths
        for batch in ResultStore(path).batches(REPORT_COLUMNS)
    ]
    if not frames:
        empty = pl.DataFrame(schema={name: RESULT_POLARS_SCHEMA[name] for name in REPORT_COLUMNS})
        return empty.with_columns(source_host()).drop("url")
    return pl.concat(frames, how="vertical")


def truncate(moment: datetime, every: str) -> datetime:
    """``moment`` truncated to the start of its ``every`` bucket, as polars buckets it."""
    value = pl.Series([moment], dtype=pl.Datetime("us", "UTC")).dt.truncate(every)[0]
    assert isinstance(value, datetime)
    return value


def count_by_bucket(
    frame: pl.DataFrame,
    column: str,
    every: str,
    size: timedelta,
    series: dict[str, pl.Expr],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> TimeBuckets:
    """Count ``frame`` rows per ``every`` bucket of ``column``, one count per ``series`` filter.

    Buckets run from ``start`` (else the first row's) to ``end`` (else the last row's), with
    empty buckets present as zeros.
    """
    aggs = [expr.cast(pl.Int64).sum().alias(name) for name, expr in series.items()]
    counted = (
        frame.filter(pl.col(column).is_not_null())
        .group_by(pl.col(column).dt.truncate(every).alias("bucket"))
        .agg(aggs)
    )
    low = truncate(start, every) if start is not None else counted["bucket"].min()
    high = truncate(end, every) if end is not None else counted["bucket"].max()
    if not isinstance(low, datetime) or not isinstance(high, datetime) or high < low:
        return TimeBuckets(every, size, counted.clear())
    grid = pl.datetime_range(
        low, high, interval=every, time_unit="us", time_zone="UTC", eager=True
    ).alias("bucket")
    filled = (
        grid.to_frame()
        .join(counted, on="bucket", how="left")
        .with_columns(pl.col(name).fill_null(0) for name in series)
        .sort("bucket")
    )
    return TimeBuckets(every, size, filled)


def collect(paths: list[Path], *, now: datetime | None = None) -> ReportData:
    """Read the tables and compute every aggregate the page shows."""
    moment = now or datetime.now(UTC)
    frame = load_tables(paths)
    data = ReportData(tables=paths, now=moment, rows=frame.height)
    is_ok = pl.col("status") == STATUS_OK
    is_failed = pl.col("status") == STATUS_FAILED
    by_status = dict(frame.group_by("status").len().iter_rows())
    data.ok, data.failed = by_status.get(STATUS_OK, 0), by_status.get(STATUS_FAILED, 0)
    failed = frame.filter(is_failed)

    kinds = (
        failed.group_by(pl.col("error_kind").fill_null("unknown"))
        .len()
        .sort(["len", "error_kind"], descending=[True, False])
    )
    data.kinds = [(str(k), int(n)) for k, n in kinds.iter_rows()]

    hosts = (
        frame.group_by("host")
        .agg(failed=is_failed.sum(), rows=pl.len())
        .filter(pl.col("failed") > 0)
        .sort(["failed", "host"], descending=[True, False])
    )
    data.hosts = [(str(h), int(f), int(r)) for h, f, r in hosts.head(TOP_HOSTS).iter_rows()]
    rest = hosts.slice(TOP_HOSTS)
    if rest.height:
        data.other_hosts = (rest.height, int(rest["failed"].sum()), int(rest["rows"].sum()))

    top = (
        failed.group_by(
            pl.col("error_kind").fill_null("unknown"), pl.col("error").fill_null("(no message)")
        )
        .len()
        .sort(["len", "error_kind", "error"], descending=[True, False, False])
        .head(TOP_ERRORS)
    )
    data.top_errors = [(str(k), str(m), int(n)) for k, m, n in top.iter_rows()]

    _collect_runs(frame, data, is_ok, is_failed)
    _collect_expiry(frame.filter(is_ok), data, moment)
    return data


def _collect_runs(
    frame: pl.DataFrame, data: ReportData, is_ok: pl.Expr, is_failed: pl.Expr
) -> None:
    finished = frame.filter(pl.col("finished_at").is_not_null())
    data.runs = (
        finished.group_by(pl.col("run_id").fill_null("(no run id)"))
        .agg(
            rows=pl.len(),
            ok=is_ok.sum(),
            failed=is_failed.sum(),
            first=pl.col("finished_at").min(),
            last=pl.col("finished_at").max(),
        )
        .sort(["first", "run_id"])
    )
    series = {"ok": is_ok, "failed": is_failed}
    recent = data.runs.tail(MAX_RUN_CHARTS)
    for run_id, rows, ok, failed, first, last in recent.iter_rows():
        every, size = pick_bucket(last - first)
        rows_of_run = finished.filter(pl.col("run_id").fill_null("(no run id)") == run_id)
        buckets = count_by_bucket(rows_of_run, "finished_at", every, size, series)
        data.run_charts.append(RunThroughput(run_id, rows, ok, failed, first, last, buckets))


def _collect_expiry(ok: pl.DataFrame, data: ReportData, now: datetime) -> None:
    expires = pl.col("expires_at")
    soon_limit = now + EXPIRING_WINDOW
    week_limit = now + timedelta(days=7)
    counts = ok.select(
        expired=(expires <= now).sum(),
        soon=((expires > now) & (expires <= soon_limit)).sum(),
        week=((expires > soon_limit) & (expires <= week_limit)).sum(),
        later=(expires > week_limit).sum(),
        missing=expires.is_null().sum(),
        next=expires.filter(expires > now).min(),
        last=expires.max(),
    ).row(0, named=True)
    data.expired, data.expiring_24h = int(counts["expired"]), int(counts["soon"])
    data.expiring_7d, data.later = int(counts["week"]), int(counts["later"])
    data.no_expiry = int(counts["missing"])
    data.next_expiry, data.last_expiry = counts["next"], counts["last"]
    future = ok.filter(expires > now)
    if future.height == 0 or data.last_expiry is None:
        return
    every, size = pick_bucket(data.last_expiry - now, minimum=timedelta(hours=1))
    series = {"soon": expires <= soon_limit, "later": expires > soon_limit}
    data.expiry = count_by_bucket(
        future, "expires_at", every, size, series, start=now, end=data.last_expiry
    )
