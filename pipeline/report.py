"""``ferry report``: one self-contained HTML page about one or more result tables.

The page opens offline: inline CSS, inline SVG charts (:mod:`pipeline.charts`), no JavaScript,
no fonts, images or links to fetch, and a Content-Security-Policy that forbids them anyway. It
shows the status breakdown, failed rows by error kind and by source host, the most common error
messages, throughput over each run and an expiry timeline of the ``ok`` rows.

Every aggregation is a polars expression (``group_by``, ``dt.truncate``, ``str.extract``);
Python only loops over the few dozen buckets and bars it draws. Every value that comes from a
table (URLs, hosts, error messages, run ids, paths) is escaped with :func:`html.escape`.

Time buckets adapt to the span they cover (:func:`pick_bucket`): a 10-second run and a 10-hour
run both draw about 20 to 60 columns.
"""

from __future__ import annotations

import contextlib
import os
import shlex
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from pipeline import __version__
from pipeline.charts import Bar, Column, Segment, column_chart, esc, fmt_int, hbar_chart, legend
from pipeline.errors import UsageError
from pipeline.schema import RESULT_COLUMNS, STATUS_FAILED, STATUS_OK
from pipeline.status import EXPIRING_WINDOW, load_table
from pipeline.store import empty_results

#: Bars a time chart aims to stay under; the bucket ladder keeps it above about 20.
MAX_BARS = 60
#: Rows of the "top errors" table.
TOP_ERRORS = 20
#: Source hosts drawn one by one; the rest are summed into one bar.
TOP_HOSTS = 15
#: Runs that get a throughput chart of their own (the most recent ones).
MAX_RUN_CHARTS = 6
#: Error messages longer than this are cut in the table (the full text is in the cell's title).
MESSAGE_CHARS = 240

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
_HOST = r"^[A-Za-z][A-Za-z0-9+.\-]*://(?:[^/?#@]*@)?(\[[^\]/?#]*\]|[^:/?#]*)"


@dataclass(frozen=True)
class ReportSummary:
    """What :func:`write_report` wrote."""

    out: Path
    tables: list[Path]
    rows: int
    ok: int
    failed: int
    size_bytes: int


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


def default_report_path(table: Path) -> Path:
    """``<table stem>.report.html`` beside the table: ``m.results.parquet`` gives
    ``m.results.report.html``."""
    return table.with_name(f"{table.stem}.report.html")


def pick_bucket(span: timedelta, *, minimum: timedelta = timedelta(0)) -> tuple[str, timedelta]:
    """The smallest bucket of :data:`BUCKETS`, at least ``minimum``, that cuts ``span`` into
    fewer than :data:`MAX_BARS` buckets (the largest one when none does)."""
    for every, size in BUCKETS:
        if size >= minimum and span / size <= MAX_BARS - 2:
            return every, size
    return BUCKETS[-1]


def source_host() -> pl.Expr:
    """The lower-cased host of ``url`` (no credentials, no port), or a label for non-http rows."""
    url = pl.col("url").fill_null("").str.strip_chars()
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


def load_tables(paths: list[Path]) -> pl.DataFrame:
    """The result tables (with their journals folded in) stacked, contract columns only."""
    frames = [load_table(path).select(RESULT_COLUMNS) for path in paths]
    return pl.concat(frames, how="vertical") if frames else empty_results()


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
    frame = load_tables(paths).with_columns(source_host())
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


# ---------------------------------------------------------------------------------------------
# rendering


CSS = """
:root { --ink: #1d2330; --muted: #5b6475; --line: #d9dde5; --card: #f6f7f9;
  --ok: #2e7d32; --failed: #c62828; --soon: #e69500; --later: #3b6fb6; --run: #3b6fb6;
  --neutral: #5c6bc0; --host: #8e4b9e; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", "Liberation Sans",
  Arial, sans-serif; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 34px 0 10px; padding-bottom: 4px;
  border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 20px 0 6px; }
p { margin: 6px 0; }
.muted, .meta { color: var(--muted); }
.meta { font-size: 13px; }
code { font: 13px/1.3 ui-monospace, "DejaVu Sans Mono", "Liberation Mono", monospace;
  background: var(--card); padding: 1px 4px; border-radius: 3px; overflow-wrap: anywhere; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 10px;
  margin: 18px 0 4px; padding: 0; list-style: none; }
.cards li { background: var(--card); border-radius: 8px; padding: 10px 14px;
  border-left: 5px solid var(--line); }
.cards .num { display: block; font-size: 26px; font-weight: 650;
  font-variant-numeric: tabular-nums; }
.cards .what { font-size: 13px; color: var(--muted); }
.cards .ok { border-left-color: var(--ok); } .cards .failed { border-left-color: var(--failed); }
.cards .soon { border-left-color: var(--soon); }
.cards .expired { border-left-color: var(--failed); }
.chart { display: block; max-width: 100%; height: auto; margin: 6px 0; }
.chart text { fill: var(--ink); font-family: inherit; }
.chart .tick, .chart .axis-title { fill: var(--muted); }
.chart .count { fill: var(--muted); font-variant-numeric: tabular-nums; }
.chart .value { font-variant-numeric: tabular-nums; }
.chart .grid { stroke: #eceef2; } .chart .axis { stroke: #9aa3b2; }
.chart .marker { stroke: var(--soon); stroke-width: 1.5; stroke-dasharray: 4 3; }
.chart .marker-text { fill: #9a6400; }
table.expiry-summary { width: auto; min-width: 380px; }
.tone-ok { fill: var(--ok); } .tone-failed { fill: var(--failed); }
.tone-expired { fill: var(--failed); } .tone-soon { fill: var(--soon); }
.tone-later { fill: var(--later); } .tone-run { fill: var(--run); }
.tone-neutral { fill: var(--neutral); } .tone-host { fill: var(--host); }
.legend { font-size: 13px; color: var(--muted); }
.legend .key { margin-right: 18px; white-space: nowrap; }
.legend .swatch { vertical-align: -1px; margin-right: 5px; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; margin: 6px 0; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { background: var(--card); font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.msg { overflow-wrap: anywhere; }
.kind { display: inline-block; padding: 0 6px; border-radius: 3px; background: #fdecea;
  color: #8e1c1c; font-size: 12.5px; white-space: nowrap; }
details { margin: 6px 0 0; } summary { cursor: pointer; color: var(--muted); font-size: 13px; }
.hint { background: #f1f6fd; border-left: 4px solid var(--later); padding: 8px 12px;
  border-radius: 4px; margin: 10px 0; font-size: 14px; }
footer { margin-top: 40px; font-size: 12.5px; color: var(--muted); }
@media print { .hint { display: none; } }
"""

# No script, font, image, frame or connection is ever allowed: the page is complete as sent.
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'"
)


def build_report(paths: list[Path], *, now: datetime | None = None) -> str:
    """The report on ``paths`` (result tables, summed) as one self-contained HTML document."""
    return render(collect(paths, now=now))


def write_report(paths: list[Path], out: Path, *, now: datetime | None = None) -> ReportSummary:
    """Write the report to ``out`` atomically (temp file, fsync, rename) and say what it holds."""
    if out.is_dir():
        raise UsageError(f"--out {out}: is a directory; name the HTML file to write")
    data = collect(paths, now=now)
    page = render(data).encode("utf-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            handle.write(page)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return ReportSummary(out, paths, data.rows, data.ok, data.failed, len(page))


def render(data: ReportData) -> str:
    """The HTML page for ``data``."""
    first = data.tables[0].name if data.tables else "no tables"
    more = f" and {len(data.tables) - 1} more" if len(data.tables) > 1 else ""
    title = f"ferry report: {first}{more}"
    sections = [
        _header(data, title),
        _status_section(data),
        _errors_section(data),
        _throughput_section(data),
        _expiry_section(data),
        f"<footer>Generated by ferry {esc(__version__)}. Every count comes from the tables' "
        "latest attempt per row. Times are UTC.</footer>",
    ]
    body = "\n".join(s for s in sections if s)
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="generator" content="ferry">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def _pct(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "0%"


def _time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return f"{value:{fmt}} UTC" if value is not None else "none"


def _span_text(span: timedelta) -> str:
    seconds = span.total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _shell_path(data: ReportData) -> str:
    """The first table's path as a shell word, escaped for HTML."""
    return esc(shlex.quote(str(data.tables[0])))


def _rate_text(rows: int, span: timedelta) -> str:
    per_second = rows / span.total_seconds()
    if per_second >= 10:
        return f"{per_second:,.0f} rows/s"
    if per_second >= 1:
        return f"{per_second:.1f} rows/s"
    if per_second * 60 >= 1:
        return f"{per_second * 60:.1f} rows/min"
    return f"{per_second * 3600:.1f} rows/h"


def _header(data: ReportData, title: str) -> str:
    tables = ", ".join(f"<code>{esc(p)}</code>" for p in data.tables) or "none"
    cards = [
        ("", data.rows, "rows"),
        ("ok", data.ok, f"ok · {_pct(data.ok, data.rows)}"),
        ("failed", data.failed, f"failed · {_pct(data.failed, data.rows)}"),
        ("expired" if data.expired else "", data.expired, "ok rows expired"),
        ("soon" if data.expiring_24h else "", data.expiring_24h, "expire within 24 h"),
        ("", data.runs.height, "runs"),
    ]
    items = "".join(
        f'<li class="{tone}"><span class="num">{fmt_int(n)}</span>'
        f'<span class="what">{esc(what)}</span></li>'
        for tone, n, what in cards
    )
    return (
        f"<header>\n<h1>{esc(title)}</h1>\n"
        f'<p class="meta">Generated {_time(data.now)} from {len(data.tables)} '
        f"result table{'s' if len(data.tables) != 1 else ''}: {tables}</p>\n"
        f'<ul class="cards" aria-label="Summary">{items}</ul>\n</header>'
    )


def _status_section(data: ReportData) -> str:
    if not data.rows:
        return '<section>\n<h2 id="status">Status</h2>\n<p>The tables have no rows.</p>\n</section>'
    bars = [
        Bar("ok", data.ok, "ok", f"({_pct(data.ok, data.rows)})"),
        Bar("failed", data.failed, "failed", f"({_pct(data.failed, data.rows)})"),
    ]
    hint = ""
    if data.failed and len(data.tables) == 1:
        hint = (
            f'<p class="hint">Retry the failed rows: <code>ferry run {_shell_path(data)} '
            "--failed-only</code></p>"
        )
    return (
        '<section>\n<h2 id="status">Status</h2>\n'
        f"{hbar_chart(bars, title='Rows by status')}\n{hint}\n</section>"
    )


def _errors_section(data: ReportData) -> str:
    head = '<section>\n<h2 id="errors">Errors</h2>\n'
    if not data.failed:
        return head + "<p>No failed rows.</p>\n</section>"
    kinds = [Bar(kind, n, "failed", f"({_pct(n, data.failed)})") for kind, n in data.kinds]
    hosts = [Bar(h, f, "host", f"of {fmt_int(r)} rows") for h, f, r in data.hosts]
    count, other_failed, other_rows = data.other_hosts
    if count:
        hosts.append(
            Bar(f"{count} other hosts", other_failed, "host", f"of {fmt_int(other_rows)} rows")
        )
    rows = "".join(
        f'<tr><td><span class="kind">{esc(kind)}</span></td>'
        f'<td class="msg" title="{esc(message)}">{esc(_cut(message))}</td>'
        f'<td class="n">{fmt_int(n)}</td></tr>'
        for kind, message, n in data.top_errors
    )
    return (
        head
        + '<h3 id="errors-by-kind">Failed rows by error kind</h3>\n'
        + hbar_chart(kinds, title="Failed rows by error kind")
        + '\n<h3 id="errors-by-host">Failed rows by source host</h3>\n'
        + '<p class="meta">Each bar: failed rows whose source URL is on that host, out of all '
        "rows from the host.</p>\n"
        + hbar_chart(hosts, title="Failed rows by source host")
        + f'\n<h3 id="top-errors">Top {min(TOP_ERRORS, len(data.top_errors))} error messages</h3>\n'
        + '<table>\n<thead><tr><th scope="col">kind</th><th scope="col">message</th>'
        + f'<th scope="col" class="n">rows</th></tr></thead>\n<tbody>{rows}</tbody>\n</table>\n'
        + "</section>"
    )


def _cut(message: str) -> str:
    return message if len(message) <= MESSAGE_CHARS else message[: MESSAGE_CHARS - 1] + "…"


def _bucket_label(moment: datetime, size: timedelta) -> str:
    if size < timedelta(seconds=1):
        return f"{moment:%H:%M:%S}.{moment.microsecond // 1000:03d}"
    if size < timedelta(minutes=1):
        return f"{moment:%H:%M:%S}"
    if size < timedelta(days=1):
        return f"{moment:%H:%M}"
    if size < timedelta(days=28):
        return f"{moment:%b %d}"
    return f"{moment:%Y-%m}"


def _bucket_name(size: timedelta, every: str) -> str:
    names = {"1mo": "month", "3mo": "3 months", "1y": "year", "1w": "week", "1d": "day"}
    if every in names:
        return names[every]
    if size < timedelta(seconds=1):
        return f"{size.total_seconds() * 1000:.0f} ms"
    if size < timedelta(minutes=1):
        return f"{size.total_seconds():.0f} s"
    if size < timedelta(hours=1):
        return f"{size.total_seconds() / 60:.0f} min"
    if size < timedelta(days=1):
        return f"{size.total_seconds() / 3600:.0f} h"
    return f"{size.days} days"


def _columns(
    frame: pl.DataFrame, buckets: TimeBuckets, tones: list[tuple[str, str, str]]
) -> list[Column]:
    """One column per bucket row of ``frame``; ``tones`` lists (count column, tone, name)."""
    names = [name for name, _, _ in tones]
    out = []
    for row in frame.select("bucket", *names).iter_rows():
        moment, counts = row[0], row[1:]
        segments = tuple(
            Segment(int(v), tone, label) for v, (_, tone, label) in zip(counts, tones, strict=True)
        )
        sublabel = f"{moment:%b %d}" if buckets.size < timedelta(days=1) else ""
        out.append(Column(_bucket_label(moment, buckets.size), segments, sublabel=sublabel))
    return out


def _data_table(columns: list[Column], heads: list[str]) -> str:
    rows = "".join(
        f"<tr><td>{esc(c.label)}</td>"
        + "".join(f'<td class="n">{fmt_int(s.value)}</td>' for s in c.segments)
        + f'<td class="n">{fmt_int(c.total)}</td></tr>'
        for c in columns
        if c.total
    )
    head = "".join(f'<th scope="col" class="n">{esc(h)}</th>' for h in heads)
    return (
        "<details><summary>The numbers behind this chart</summary>\n<table>\n"
        f'<thead><tr><th scope="col">bucket</th>{head}<th scope="col" class="n">total</th></tr>'
        f"</thead>\n<tbody>{rows}</tbody>\n</table>\n</details>"
    )


def _throughput_section(data: ReportData) -> str:
    head = '<section>\n<h2 id="throughput">Throughput</h2>\n'
    if data.runs.height == 0:
        return head + "<p>No finished rows.</p>\n</section>"
    run_rows = "".join(
        f"<tr><td><code>{esc(run_id)}</code></td><td class='n'>{fmt_int(rows)}</td>"
        f"<td class='n'>{fmt_int(ok)}</td><td class='n'>{fmt_int(failed)}</td>"
        f"<td>{_time(first)}</td><td class='n'>{_span_text(last - first)}</td></tr>"
        for run_id, rows, ok, failed, first, last in data.runs.iter_rows()
    )
    parts = [
        head,
        '<p class="meta">Rows finished per time bucket, by the run that last touched them. '
        "A row retried by a later run counts in that run only.</p>\n",
        '<table>\n<thead><tr><th scope="col">run</th><th scope="col" class="n">rows</th>'
        '<th scope="col" class="n">ok</th><th scope="col" class="n">failed</th>'
        '<th scope="col">first row finished</th><th scope="col" class="n">span</th></tr></thead>'
        f"\n<tbody>{run_rows}</tbody>\n</table>\n",
        legend([("ok", "ok"), ("failed", "failed")]),
    ]
    hidden = data.runs.height - len(data.run_charts)
    if hidden > 0:
        parts.append(
            f"<p class='meta'>Charts for the {len(data.run_charts)} most recent runs; "
            f"{hidden} earlier run{'s' if hidden != 1 else ''} only in the table.</p>\n"
        )
    tones = [("ok", "ok", "ok"), ("failed", "failed", "failed")]
    for run in data.run_charts:
        span = run.last - run.first
        bucket = _bucket_name(run.buckets.size, run.buckets.every)
        columns = _columns(run.buckets.frame, run.buckets, tones)
        rate = f", {_rate_text(run.rows, span)} on average" if span >= timedelta(seconds=1) else ""
        parts.append(
            f"<h3>Run <code>{esc(run.run_id)}</code></h3>\n"
            f'<p class="meta">{fmt_int(run.rows)} rows finished between {_time(run.first)} and '
            f"{_time(run.last)} ({_span_text(span)}{rate}); one column per {esc(bucket)}.</p>\n"
            + column_chart(
                columns,
                title=f"Rows finished per {bucket} in run {run.run_id}",
                y_label=f"rows per {bucket}",
                x_label="finished at (UTC)",
            )
            + "\n"
            + _data_table(columns, ["ok", "failed"])
            + "\n"
        )
    parts.append("</section>")
    return "".join(parts)


def _expiry_section(data: ReportData) -> str:
    head = '<section>\n<h2 id="expiry">Expiry timeline</h2>\n'
    if not data.ok:
        return head + "<p>No ok rows, so nothing expires.</p>\n</section>"
    summary = [
        ("expired", data.expired, "already expired: the links are gone"),
        ("soon", data.expiring_24h, "expire within 24 h"),
        ("later", data.expiring_7d, "expire in 1 to 7 days"),
        ("later", data.later, "expire after 7 days"),
    ]
    if data.no_expiry:
        summary.append(("neutral", data.no_expiry, "have no expiry time"))
    rows = "".join(
        f'<tr><td class="n">{fmt_int(n)}</td><td>{esc(what)}</td></tr>' for _, n, what in summary
    )
    parts = [
        head,
        f"<p>Next expiry: <strong>{_time(data.next_expiry)}</strong>; "
        f"last: {_time(data.last_expiry)}.</p>\n",
        f'<table class="expiry-summary">\n<thead><tr><th scope="col" class="n">ok rows</th>'
        f'<th scope="col">when</th></tr></thead>\n<tbody>{rows}</tbody>\n</table>\n',
    ]
    if (data.expired or data.expiring_24h) and len(data.tables) == 1:
        parts.append(
            f'<p class="hint">Upload again what has expired or expires within 24 h: '
            f"<code>ferry run {_shell_path(data)} --refresh-within 24h</code></p>\n"
        )
    if data.expiry is not None:
        buckets = data.expiry
        bucket = _bucket_name(buckets.size, buckets.every)
        tones = [("expired", "expired", "expired"), ("soon", "soon", "within 24 h")]
        tones.append(("later", "later", "later"))
        columns = _columns(buckets.frame.with_columns(expired=pl.lit(0)), buckets, tones)
        start = buckets.frame["bucket"][0]
        soon_limit = data.now + EXPIRING_WINDOW
        offset = 1 if data.expired else 0
        if data.expired:
            first = Segment(data.expired, "expired", "expired")
            zeros = tuple(Segment(0, tone, name) for _, tone, name in tones[1:])
            columns.insert(0, Column("expired", (first, *zeros)))
        parts.append(
            legend([("expired", "expired"), ("soon", "expires within 24 h"), ("later", "later")])
            + column_chart(
                columns,
                title=f"Ok rows by expiry time, one column per {bucket}",
                y_label=f"rows per {bucket}",
                x_label="expires at (UTC)",
                markers=[(offset + (soon_limit - start) / buckets.size, "24 h from now")],
            )
            + "\n"
            + _data_table(columns, ["expired", "within 24 h", "later"])
        )
    parts.append("\n</section>")
    return "".join(parts)
