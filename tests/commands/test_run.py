"""``ferry run`` end to end: real API server and source servers on loopback, then read the table."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from click.testing import Result

from fileapi import STATS, BackgroundServer
from pipeline.core.schema import RESULT_COLUMNS
from pipeline.store.lock import table_lock
from pipeline.store.table import read_results, write_results
from tests.conftest import API_KEY, url_rows, write_manifest

Cli = Callable[..., Result]


def uploads_seen(api: BackgroundServer) -> int:
    """Upload requests the API server received."""
    counts = api.app[STATS].requests_by_route
    return sum(n for path, n in counts.items() if path.startswith("/api/file-"))


def run_ok(cli: Cli, *args: object) -> Result:
    result = cli("run", *args)
    assert result.exit_code == 0, result.stderr
    return result


def test_csv_manifest_is_migrated_and_links_serve_the_bytes(
    cli: Cli, api: BackgroundServer, sources: BackgroundServer, tmp_path: Path
) -> None:
    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 12, owner="ops"))
    result = run_ok(cli, manifest, "--base-url", api.base_url, "--json")
    summary = json.loads(result.stdout)
    assert summary["ok"] == 12 and summary["failed"] == 0 and summary["skipped"] == 0
    assert summary["results"] == str(tmp_path / "m.results.parquet")

    table = read_results(tmp_path / "m.results.parquet")
    assert table.columns == [*RESULT_COLUMNS, "owner"]
    assert table["status"].to_list() == ["ok"] * 12
    assert table["method"].unique().to_list() == ["url"]
    assert table["owner"].unique().to_list() == ["ops"]
    assert table["upload_path"].unique().to_list() == ["ferry"]
    assert table["attempts"].to_list() == [1] * 12
    row = table.row(3, named=True)
    with urllib.request.urlopen(row["download_url"], timeout=10) as resp:
        assert resp.read() == b"file 3\n" * 4
    assert row["file_size"] == len(b"file 3\n" * 4)
    expected_expiry = row["uploaded_at"] + timedelta(days=3)
    assert abs((row["expires_at"] - expected_expiry).total_seconds()) < 5


def test_result_table_has_the_contract_types(
    cli: Cli, api: BackgroundServer, sources: BackgroundServer, tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 2))
    run_ok(cli, manifest, "--base-url", api.base_url)
    schema = pq.read_schema(tmp_path / "m.results.parquet")
    assert schema.names == list(RESULT_COLUMNS)
    assert str(schema.field("uploaded_at").type) == "timestamp[us, tz=UTC]"
    assert str(schema.field("file_size").type) == "int64"
    assert str(schema.field("http_status").type) == "int32"
    assert str(schema.field("attempts").type) == "int32"


def test_parquet_manifest_with_camel_case_columns_and_extras(
    cli: Cli, api: BackgroundServer, sources: BackgroundServer, tmp_path: Path
) -> None:
    rows = [
        {
            "fileUrl": f"{sources.base_url}/f{i:03d}.txt",
            "uploadPath": "batch/a",
            "fileName": f"n{i}.txt",
            "size_hint": i * 10,
        }
        for i in range(5)
    ]
    manifest = write_manifest(tmp_path / "m.parquet", rows)
    out = tmp_path / "out.csv"
    run_ok(cli, manifest, "--base-url", api.base_url, "--results", out)
    table = read_results(out)
    assert table.height == 5
    assert table["file_name"].to_list() == [f"n{i}.txt" for i in range(5)]
    assert all(p == f"batch/a/n{i}.txt" for i, p in enumerate(table["file_path"].to_list()))
    assert table["size_hint"].cast(pl.Int64).to_list() == [0, 10, 20, 30, 40]


def test_second_run_skips_done_rows_and_calls_nothing(
    cli: Cli, api: BackgroundServer, sources: BackgroundServer, tmp_path: Path
) -> None:
    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 10))
    run_ok(cli, manifest, "--base-url", api.base_url)
    before = uploads_seen(api)
    assert before == 10
    result = run_ok(cli, manifest, "--base-url", api.base_url, "--json")
    assert uploads_seen(api) == before
    summary = json.loads(result.stdout)
    assert (summary["ok"], summary["failed"], summary["skipped"]) == (0, 0, 10)


def test_failed_rows_are_retried_and_failed_only_does_only_them(
    cli: Cli,
    api: BackgroundServer,
    start_sources: Callable[..., BackgroundServer],
    tmp_path: Path,
) -> None:
    files = {f"f{i:03d}.txt": b"x" for i in range(6)}
    src = start_sources(files)
    rows = url_rows(src.base_url, 8)  # f006 and f007 do not exist yet
    manifest = write_manifest(tmp_path / "m.csv", rows)
    first = cli("run", manifest, "--base-url", api.base_url, "--json")
    assert first.exit_code == 1
    assert json.loads(first.stdout)["error_kinds"] == {"source_error": 2}
    table = read_results(tmp_path / "m.results.parquet")
    failed = table.filter(pl.col("status") == "failed")
    assert failed["id"].to_list() == ["row-006", "row-007"]
    assert failed["error"].str.starts_with("File download failed").all()
    assert failed["http_status"].to_list() == [400, 400]

    files["f006.txt"] = files["f007.txt"] = b"now here"
    results = tmp_path / "m.results.parquet"
    before = uploads_seen(api)
    run_ok(cli, results, "--failed-only", "--base-url", api.base_url)
    assert uploads_seen(api) - before == 2
    table = read_results(results)
    assert table["status"].to_list() == ["ok"] * 8
    assert table["id"].to_list() == [f"row-{i:03d}" for i in range(8)]  # rows keep their place


def test_refresh_within_redoes_rows_about_to_expire_and_expired_rows_always(
    cli: Cli, api: BackgroundServer, sources: BackgroundServer, tmp_path: Path
) -> None:
    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 6))
    results = tmp_path / "m.results.parquet"
    run_ok(cli, manifest, "--base-url", api.base_url)
    now = datetime.now(UTC)
    table = read_results(results)
    soon = [now - timedelta(hours=1), now + timedelta(hours=2), now + timedelta(hours=30)]
    expiries = soon + table["expires_at"].to_list()[3:]
    write_results(table.with_columns(pl.Series("expires_at", expiries)), results)

    dry = cli("run", manifest, "--base-url", api.base_url, "--dry-run")
    assert dry.stdout.strip() == "new 0, retry 0, refresh 1, skip 5"
    dry = cli("run", manifest, "--dry-run", "--refresh-within", "12h", "--json")
    assert json.loads(dry.stdout) == {"new": 0, "retry": 0, "refresh": 2, "skip": 4}

    before = uploads_seen(api)
    run_ok(cli, manifest, "--base-url", api.base_url, "--refresh-within", "12h")
    assert uploads_seen(api) - before == 2
    refreshed = read_results(results)["expires_at"].to_list()
    assert all(e > now + timedelta(days=2) for e in refreshed[:2])
    assert refreshed[2] == expiries[2]


def test_dry_run_calls_nothing_and_writes_nothing(
    cli: Cli,
    api: BackgroundServer,
    sources: BackgroundServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 7))
    monkeypatch.delenv("KIE_API_KEY")
    result = cli("run", manifest, "--base-url", api.base_url, "--dry-run")
    assert result.exit_code == 0
    assert result.stdout == "new 7, retry 0, refresh 0, skip 0\n"
    assert uploads_seen(api) == 0
    assert not (tmp_path / "m.results.parquet").exists()


def test_limit_caps_the_rows_of_one_run(
    cli: Cli, api: BackgroundServer, sources: BackgroundServer, tmp_path: Path
) -> None:
    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 9))
    run_ok(cli, manifest, "--base-url", api.base_url, "--limit", "4")
    assert read_results(tmp_path / "m.results.parquet").height == 4
    run_ok(cli, manifest, "--base-url", api.base_url, "--limit", "4")
    assert read_results(tmp_path / "m.results.parquet").height == 8


def test_shards_cover_every_row_exactly_once(
    cli: Cli, api: BackgroundServer, sources: BackgroundServer, tmp_path: Path
) -> None:
    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 30))
    seen: list[str] = []
    for k in (1, 2, 3):
        out = tmp_path / f"shard-{k}.results.parquet"
        run_ok(cli, manifest, "--base-url", api.base_url, "--shard", f"{k}/3", "--results", out)
        ids = read_results(out)["id"].to_list()
        assert ids, f"shard {k} is empty"
        seen += ids
    assert sorted(seen) == [f"row-{i:03d}" for i in range(30)]
    # FERRY_SHARD is the same as --shard
    env_out = tmp_path / "env.results.parquet"
    run_ok_env = cli(
        "run",
        manifest,
        "--base-url",
        api.base_url,
        "--results",
        env_out,
        env={"FERRY_SHARD": "2/3"},
    )
    assert run_ok_env.exit_code == 0
    assert sorted(read_results(env_out)["id"].to_list()) == sorted(
        read_results(tmp_path / "shard-2.results.parquet")["id"].to_list()
    )


def test_concurrency_bounds_requests_in_flight(
    cli: Cli, api: BackgroundServer, start_sources: Callable[..., BackgroundServer], tmp_path: Path
) -> None:
    from fileapi.sources import SOURCE_STATS

    src = start_sources({f"f{i:03d}.txt": b"slow" for i in range(24)}, delay_seconds=0.05)
    manifest = write_manifest(tmp_path / "m.csv", url_rows(src.base_url, 24))
    run_ok(cli, manifest, "--base-url", api.base_url, "--concurrency", "3")
    stats = src.app[SOURCE_STATS]
    assert sum(stats.requests.values()) == 24
    assert 2 <= stats.max_in_flight <= 3


def test_status_mode_body_is_classified_by_the_body_code(
    cli: Cli, start_api: Callable[..., BackgroundServer], sources: BackgroundServer, tmp_path: Path
) -> None:
    api = start_api(status_mode="body")
    rows = [*url_rows(sources.base_url, 3), {"id": "gone", "url": f"{sources.base_url}/nope.txt"}]
    manifest = write_manifest(tmp_path / "m.csv", rows)
    result = cli("run", manifest, "--base-url", api.base_url, "--json")
    assert result.exit_code == 1
    table = read_results(tmp_path / "m.results.parquet")
    gone = table.filter(pl.col("id") == "gone").row(0, named=True)
    assert (gone["status"], gone["error_kind"], gone["http_status"]) == (
        "failed",
        "source_error",
        400,
    )
    assert table.filter(pl.col("status") == "ok").height == 3


def test_bad_key_in_body_mode_aborts_with_exit_3(
    cli: Cli, start_api: Callable[..., BackgroundServer], sources: BackgroundServer, tmp_path: Path
) -> None:
    api = start_api(status_mode="body")
    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 20))
    result = cli(
        "run",
        manifest,
        "--base-url",
        api.base_url,
        "--concurrency",
        "2",
        env={"KIE_API_KEY": "wrong-key"},
    )
    assert result.exit_code == 3
    assert "401" in result.stderr and "KIE_API_KEY" in result.stderr
    assert uploads_seen(api) <= 4
    assert (
        not (tmp_path / "m.results.parquet").exists()
        or read_results(tmp_path / "m.results.parquet").height == 0
    )


def test_exit_codes_for_missing_key_and_locked_table(
    cli: Cli,
    api: BackgroundServer,
    sources: BackgroundServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 2))
    monkeypatch.delenv("KIE_API_KEY")
    missing = cli("run", manifest, "--base-url", api.base_url)
    assert missing.exit_code == 2 and "KIE_API_KEY" in missing.stderr
    monkeypatch.setenv("KIE_API_KEY", API_KEY)
    with table_lock(tmp_path / "m.results.parquet"):
        locked = cli("run", manifest, "--base-url", api.base_url)
    assert locked.exit_code == 4
    assert "PID" in locked.stderr
    assert uploads_seen(api) == 0


def test_api_key_file_and_key_never_in_any_output(
    cli: Cli,
    api: BackgroundServer,
    sources: BackgroundServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KIE_API_KEY")
    key_file = tmp_path / "key"
    key_file.write_text(API_KEY + "\n")
    rows = [*url_rows(sources.base_url, 3), {"id": "bad", "url": "ftp://nowhere/x"}]
    manifest = write_manifest(tmp_path / "m.csv", rows)
    result = cli("run", manifest, "--base-url", api.base_url, "--api-key-file", key_file, "--json")
    assert result.exit_code == 1
    for text in (
        result.stdout,
        result.stderr,
        (tmp_path / "m.results.parquet").read_bytes().decode("latin-1"),
    ):
        assert API_KEY not in text
    status = cli("status", tmp_path / "m.results.parquet")
    assert API_KEY not in status.stdout + status.stderr


def test_status_counts_and_json(
    cli: Cli, api: BackgroundServer, sources: BackgroundServer, tmp_path: Path
) -> None:
    rows = [*url_rows(sources.base_url, 4), {"id": "bad", "url": "ftp://nowhere/x"}]
    manifest = write_manifest(tmp_path / "m.csv", rows)
    cli("run", manifest, "--base-url", api.base_url)
    result = cli("status", tmp_path / "m.results.parquet", "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert (report["ok"], report["failed"], report["error_kinds"]) == (4, 1, {"invalid_row": 1})
    assert report["expired"] == 0 and report["expiring_24h"] == 0
    text = cli("status", "--manifest", manifest)
    assert text.exit_code == 0 and "ok            4" in text.stdout
    missing = cli("status", tmp_path / "nope.parquet")
    assert missing.exit_code == 2


def test_credits_reports_and_checks_the_key(
    cli: Cli, start_api: Callable[..., BackgroundServer]
) -> None:
    api = start_api(credits=42)
    result = cli("credits", "--json", env={"FERRY_ACCOUNT_URL": api.base_url})
    assert result.exit_code == 0 and json.loads(result.stdout) == {"credits": 42}
    refused = cli("credits", env={"FERRY_ACCOUNT_URL": api.base_url, "KIE_API_KEY": "nope"})
    assert refused.exit_code == 3 and "401" in refused.stderr
