"""``ferry report``: the HTML page after a real migration, its aggregates, escaping, and a real
headless Chromium that renders it and takes a screenshot.

Set ``FERRY_UPDATE_SCREENSHOT=1`` to also copy the browser test's screenshot (a render of the
demo data) to ``docs/report-screenshot.png``.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import struct
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import Result

from fileapi import BackgroundServer
from pipeline.commands.report import build_report, default_report_path, write_report
from pipeline.commands.report.charts import (
    Bar,
    Column,
    Segment,
    column_chart,
    hbar_chart,
    nice_ticks,
)
from pipeline.commands.report.figures import (
    MAX_BARS,
    collect,
    count_by_bucket,
    pick_bucket,
    source_host,
)
from pipeline.core.schema import RESULT_POLARS_SCHEMA
from pipeline.store.table import write_results
from tests.conftest import url_rows, write_manifest
from tests.helpers import REPO
from tests.helpers.browser import chromium, run_chromium

Cli = Callable[..., Result]

NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HEADINGS = (
    "Status",
    "Errors",
    "Failed rows by error kind",
    "Failed rows by source host",
    "Throughput",
    "Expiry timeline",
)


def make_table(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write a result table of ``rows`` (missing columns null, ``status`` defaults to ``ok``)."""
    full = [
        {
            "id": f"r{i}",
            "url": f"http://src.example/{i}",
            "upload_path": "ferry",
            "method": "url",
            "status": "ok",
            "attempts": 1,
            "finished_at": NOW,
            "run_id": "run-1",
            **row,
        }
        for i, row in enumerate(rows)
    ]
    frame = pl.DataFrame(full, schema_overrides=RESULT_POLARS_SCHEMA)
    frame = frame.with_columns(
        pl.lit(None, dtype=dtype).alias(name)
        for name, dtype in RESULT_POLARS_SCHEMA.items()
        if name not in frame.columns
    ).select(list(RESULT_POLARS_SCHEMA))
    write_results(frame, path)
    return path


def outside_table_cells(page: str) -> str:
    """The page without the contents of its ``<td>`` cells (where table values are shown)."""
    return re.sub(r"<td\b[^>]*>.*?</td>", "", page, flags=re.DOTALL)


def assert_self_contained(page: str) -> None:
    """No script, no stylesheet or font or image to fetch, no URL outside the table values."""
    lowered = page.lower()
    for needle in ("<script", "<link", "<iframe", "<img", "src=", "href=", "url(", "@import"):
        assert needle not in lowered, needle
    rest = outside_table_cells(page)
    assert "http://" not in rest and "https://" not in rest


# ---------------------------------------------------------------------------------------------
# end to end: a real migration, then `ferry report`


def migrate_with_failures(
    cli: Cli, api: BackgroundServer, sources: BackgroundServer, tmp_path: Path
) -> Path:
    """12 rows uploaded, 2 missing sources (source_error) and one ftp:// row (invalid_row)."""
    rows = url_rows(sources.base_url, 12)
    rows += [
        {"id": "gone-1", "url": f"{sources.base_url}/missing-1.txt"},
        {"id": "gone-2", "url": f"{sources.base_url}/missing-2.txt"},
        {"id": "bad", "url": "ftp://nowhere.example/x"},
    ]
    manifest = write_manifest(tmp_path / "m.csv", rows)
    result = cli("run", manifest, "--base-url", api.base_url, "--retries", "0")
    assert result.exit_code == 1, result.stderr
    return tmp_path / "m.results.parquet"


def test_report_after_a_real_migration(
    cli: Cli, api: BackgroundServer, sources: BackgroundServer, tmp_path: Path
) -> None:
    table = migrate_with_failures(cli, api, sources, tmp_path)
    out = tmp_path / "out" / "report.html"
    result = cli("report", table, "--out", out)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert f"ferry: report written to {out}" in result.stderr
    page = out.read_text(encoding="utf-8")

    assert page.startswith("<!doctype html>")
    assert "<title>ferry report: m.results.parquet</title>" in page
    for heading in HEADINGS:
        assert f">{heading}</h" in page
    # the summary cards and the status bars carry the numbers as text
    assert '<span class="num">15</span><span class="what">rows</span>' in page
    assert '<span class="num">12</span><span class="what">ok · 80.0%</span>' in page
    assert '<span class="num">3</span><span class="what">failed · 20.0%</span>' in page
    assert ">12 (80.0%)</text>" in page and ">3 (20.0%)</text>" in page
    # errors by kind, by host, and the messages
    assert ">source_error</text>" in page and ">2 (66.7%)</text>" in page
    assert ">invalid_row</text>" in page and ">1 (33.3%)</text>" in page
    assert ">127.0.0.1</text>" in page and ">2 of 14 rows</text>" in page
    assert ">nowhere.example</text>" in page and ">1 of 1 rows</text>" in page
    assert "File download failed" in page
    assert "unsupported scheme &#x27;ftp&#x27;" in page
    # one run, all 12 ok rows expire in about 3 days
    assert "Rows finished per" in page and "expire in 1 to 7 days" in page
    assert '<td class="n">12</td><td>expire in 1 to 7 days</td>' in page
    assert_self_contained(page)


def test_report_defaults_to_a_file_beside_the_first_table_and_sums_a_glob(
    cli: Cli, tmp_path: Path
) -> None:
    shards = tmp_path / "shards"
    shards.mkdir()
    make_table(
        shards / "a.results.parquet", [{}, {}, {"status": "failed", "error_kind": "timeout"}]
    )
    make_table(shards / "b.results.parquet", [{}, {"status": "failed", "error_kind": "network"}])
    result = cli("report", str(shards / "*.results.parquet"))
    assert result.exit_code == 0, result.stderr
    out = shards / "a.results.report.html"
    assert out == default_report_path(shards / "a.results.parquet")
    assert f"report written to {out}" in result.stderr
    page = out.read_text(encoding="utf-8")
    assert "a.results.parquet and 1 more" in page
    assert '<span class="num">5</span><span class="what">rows</span>' in page
    assert ">timeout</text>" in page and ">network</text>" in page


def test_report_on_a_missing_table_or_into_a_directory_exits_2(cli: Cli, tmp_path: Path) -> None:
    result = cli("report", tmp_path / "nope.results.parquet")
    assert result.exit_code == 2
    assert "no such result table" in result.stderr
    table = make_table(tmp_path / "t.results.parquet", [{}])
    result = cli("report", table, "--out", tmp_path)
    assert result.exit_code == 2
    assert "is a directory" in result.stderr
    assert cli("report").exit_code == 2
    help_text = cli("report", "--help")
    assert help_text.exit_code == 0 and "--out" in help_text.stdout


def test_write_report_is_atomic_and_summarises(tmp_path: Path) -> None:
    table = make_table(tmp_path / "t.results.parquet", [{}, {"status": "failed"}])
    out = tmp_path / "r.html"
    out.write_text("old")
    summary = write_report([table], out, now=NOW)
    assert (summary.rows, summary.ok, summary.failed) == (2, 1, 1)
    assert summary.size_bytes == out.stat().st_size
    assert out.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# ---------------------------------------------------------------------------------------------
# escaping


def test_values_from_tables_are_escaped(tmp_path: Path) -> None:
    attack = "<script>alert(1)</script>"
    table = make_table(
        tmp_path / "x<i>y.results.parquet",
        [
            {
                "url": f"http://evil.example/{attack}",
                "status": "failed",
                "error_kind": "<b>kind</b>",
                "error": f"File download failed: {attack}",
                "run_id": '"><img src=x onerror=alert(2)>',
            },
            {"url": f"http://{attack}/x", "status": "failed", "error_kind": "source_error"},
            {"expires_at": NOW + timedelta(hours=3)},
        ],
    )
    page = build_report([table], now=NOW)
    assert attack not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>" not in page and "&lt;b&gt;kind&lt;/b&gt;" in page
    assert "<img" not in page and "&quot;&gt;&lt;img src=x" in page
    assert "x<i>y" not in page and "x&lt;i&gt;y" in page
    assert "<script" not in page.lower()


# ---------------------------------------------------------------------------------------------
# aggregates


def test_source_host_is_extracted_with_a_regex() -> None:
    urls = [
        "http://user:secret@Example.COM:8080/a?b#c",
        "https://[::1]:8443/x",
        "https://files.example",
        "ftp://nowhere/x",
        "data:text/plain;base64,aGk=",
        "/tmp/local.txt",
        "file:///tmp/x",
        "C:\\data\\x",
        "http:///no-host",
        "",
        None,
    ]
    hosts = pl.DataFrame({"url": urls}, schema={"url": pl.String}).select(source_host())
    assert hosts["host"].to_list() == [
        "example.com",
        "[::1]",
        "files.example",
        "nowhere",
        "(data: URL)",
        "(local file)",
        "(local file)",
        "(local file)",
        "(no host)",
        "(empty url)",
        "(empty url)",
    ]


@pytest.mark.parametrize(
    "span",
    [
        timedelta(milliseconds=80),
        timedelta(seconds=10),
        timedelta(minutes=7),
        timedelta(hours=10),
        timedelta(days=3),
        timedelta(days=45),
    ],
)
def test_time_buckets_adapt_to_the_span(span: timedelta) -> None:
    every, size = pick_bucket(span)
    start = datetime(2026, 11, 27, 3, 17, 11, 123000, tzinfo=UTC)
    frame = pl.DataFrame(
        {"t": [start, start + span / 3, start + span]}, schema={"t": pl.Datetime("us", "UTC")}
    )
    buckets = count_by_bucket(frame, "t", every, size, {"rows": pl.lit(True)})
    assert 20 <= buckets.frame.height <= MAX_BARS, (every, buckets.frame.height)
    assert buckets.frame["rows"].sum() == 3
    assert buckets.frame["bucket"].is_sorted()
    assert (buckets.frame["rows"] == 0).sum() == buckets.frame.height - 3  # gaps are zeros


def test_throughput_of_a_ten_hour_run_and_a_ten_second_run(tmp_path: Path) -> None:
    long_run = [
        {"finished_at": NOW - timedelta(hours=10) + timedelta(minutes=7 * i), "run_id": "long"}
        for i in range(86)
    ]
    short_run = [
        {"finished_at": NOW + timedelta(seconds=i / 10), "run_id": "short", "status": "failed"}
        for i in range(101)
    ]
    table = make_table(tmp_path / "t.results.parquet", long_run + short_run)
    data = collect([table], now=NOW)
    assert data.runs["run_id"].to_list() == ["long", "short"]
    charts = {run.run_id: run for run in data.run_charts}
    for run in charts.values():
        assert 20 <= run.buckets.frame.height <= MAX_BARS
    assert charts["long"].buckets.frame["ok"].sum() == 86
    assert charts["short"].buckets.frame["failed"].sum() == 101
    page = build_report([table], now=NOW)
    assert "one column per 15 min" in page and "one column per 200 ms" in page


def test_expiry_timeline_counts_and_highlights(tmp_path: Path) -> None:
    rows = [
        {"expires_at": NOW - timedelta(days=2)},
        {"expires_at": NOW - timedelta(minutes=1)},
        {"expires_at": NOW + timedelta(hours=2)},
        {"expires_at": NOW + timedelta(hours=23)},
        {"expires_at": NOW + timedelta(days=3)},
        {"expires_at": NOW + timedelta(days=30)},
        {"expires_at": None},
        {"status": "failed", "expires_at": NOW + timedelta(hours=1)},  # failed rows never count
    ]
    table = make_table(tmp_path / "t.results.parquet", rows)
    data = collect([table], now=NOW)
    assert (data.expired, data.expiring_24h, data.expiring_7d, data.later) == (2, 2, 1, 1)
    assert data.no_expiry == 1
    assert data.next_expiry == NOW + timedelta(hours=2)
    assert data.expiry is not None
    assert data.expiry.frame["soon"].sum() == 2 and data.expiry.frame["later"].sum() == 2
    assert data.expiry.size >= timedelta(hours=1)
    page = build_report([table], now=NOW)
    assert '<rect class="tone-expired"' in page and '<rect class="tone-soon"' in page
    assert "24 h from now" in page and "--refresh-within 24h" in page
    assert '<td class="n">2</td><td>already expired: the links are gone</td>' in page


def test_many_hosts_and_runs_are_summarised(tmp_path: Path) -> None:
    failing = [
        {
            "url": f"https://host-{i:02d}.example/f",
            "status": "failed",
            "error_kind": "timeout",
            "run_id": "run-0",
        }
        for i in range(20)
    ]
    runs = [
        {"run_id": f"run-{r}", "finished_at": NOW + timedelta(hours=r, seconds=40 * i)}
        for r in range(8)
        for i in range(5)
    ]
    table = make_table(tmp_path / "t.results.parquet", failing + runs)
    data = collect([table], now=NOW)
    assert len(data.hosts) == 15 and data.other_hosts == (5, 5, 5)
    assert data.runs["run_id"].to_list() == [f"run-{r}" for r in range(8)]
    assert [r.run_id for r in data.run_charts] == [f"run-{r}" for r in range(2, 8)]
    page = build_report([table], now=NOW)
    assert ">5 other hosts</text>" in page and ">5 of 5 rows</text>" in page
    assert "2 earlier runs only in the table" in page
    assert "(2.7 min, 1.9 rows/min on average); one column per 5 s" in page


def test_empty_table_renders_a_page_that_says_so(tmp_path: Path) -> None:
    table = make_table(tmp_path / "t.results.parquet", [])
    page = build_report([table], now=NOW)
    assert "The tables have no rows." in page and "No failed rows." in page
    assert "No finished rows." in page and "nothing expires" in page
    assert_self_contained(page)


# ---------------------------------------------------------------------------------------------
# chart helpers


def test_nice_ticks() -> None:
    assert nice_ticks(0) == [0, 1]
    assert nice_ticks(1) == [0, 1]
    assert nice_ticks(4) == [0, 1, 2, 3, 4]
    assert nice_ticks(7) == [0, 2, 4, 6, 8]
    assert nice_ticks(30) == [0, 10, 20, 30]
    assert nice_ticks(1234) == [0, 500, 1000, 1500]
    for value in (3, 17, 99, 101, 5000, 123_457):
        ticks = nice_ticks(value)
        assert ticks[0] == 0 and ticks[-1] >= value and 2 <= len(ticks) <= 7


def test_hbar_chart_writes_numbers_next_to_bars_and_escapes_labels() -> None:
    svg = hbar_chart([Bar("<ok>", 1234, "ok", "(50%)"), Bar("zero", 0, "failed")], title="T & <t>")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert 'role="img" aria-label="T &amp; &lt;t&gt;"' in svg
    assert ">&lt;ok&gt;</text>" in svg and ">1,234 (50%)</text>" in svg and ">0</text>" in svg
    assert 'width="0"' in svg  # a zero bar has no length
    assert hbar_chart([], title="none") == ""


def test_column_chart_axis_labels_do_not_crowd_and_counts_fit() -> None:
    columns = [
        Column(
            f"12:{i:02d}", (Segment(i, "ok", "ok"), Segment(1, "failed", "failed")), "", "Nov 27"
        )
        for i in range(60)
    ]
    svg = column_chart(columns, title="t", y_label="rows per minute", x_label="finished at")
    labels = re.findall(r'font-size="11">(12:\d\d)</text>', svg)
    assert 6 <= len(labels) < 60 and labels[0] == "12:00"
    assert svg.count(">Nov 27</text>") == 1  # a sublabel is drawn once, where it changes
    assert ">rows per minute</text>" in svg and ">finished at</text>" in svg
    assert "<title>12:05: 6 (5 ok, 1 failed)</title>" in svg
    few = column_chart(columns[:5], title="t", y_label="y", markers=[(2.5, "mark")])
    assert re.findall(r'class="count"[^>]*>(\d+)</text>', few) == ["1", "2", "3", "4", "5"]
    assert 'class="marker"' in few and ">mark</text>" in few
    assert column_chart([], title="t", y_label="y") == ""


# ---------------------------------------------------------------------------------------------
# a real browser


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (which must come first)."""
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_report_renders_in_headless_chromium(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jobs.demo_run import run_demo

    exe = chromium()
    demo = tmp_path / "demo"
    assert run_demo(workdir=demo, out=io.StringIO()) == 0
    report = tmp_path / "report.html"
    monkeypatch.chdir(demo)  # the page shows the table's path as given: keep it short
    write_report([Path("demo.results.parquet")], report)
    url = report.resolve().as_uri()

    shot = tmp_path / "report.png"
    done = run_chromium(exe, tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", url)
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert png_size(data) == (1280, 2000)
    assert len(data) > 30_000  # a blank page of this size compresses to a few KB

    dom = run_chromium(exe, tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "<h1>ferry report: demo.results.parquet</h1>" in dom.stdout
    for heading in HEADINGS:
        assert f">{heading}</h" in dom.stdout
    assert "<svg" in dom.stdout and "<script" not in dom.stdout

    if os.environ.get("FERRY_UPDATE_SCREENSHOT") == "1":
        target = REPO / "docs" / "report-screenshot.png"
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, target)
