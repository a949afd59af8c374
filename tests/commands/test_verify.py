"""``ferry verify`` end to end: real API and link servers on loopback, then read the table."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from aiohttp import web
from click.testing import Result

from fileapi import BackgroundServer
from pipeline.commands.links import content_range_total
from pipeline.core.schema import RESULT_COLUMNS, RESULT_POLARS_SCHEMA
from pipeline.store.files import TableFiles
from pipeline.store.journal import Journal
from pipeline.store.lock import table_lock
from pipeline.store.table import read_results, write_results
from tests.conftest import url_rows, write_manifest
from tests.helpers import REPO

Cli = Callable[..., Result]
Seen = list[tuple[str, str, str | None]]


def run_ok(cli: Cli, *args: object) -> Result:
    result = cli("run", *args)
    assert result.exit_code == 0, result.stderr
    return result


def verify_json(cli: Cli, results: Path, *args: object, code: int) -> dict[str, Any]:
    result = cli("verify", results, "--json", *args)
    assert result.exit_code == code, result.stderr
    payload: dict[str, Any] = json.loads(result.stdout)  # stdout carries only the JSON
    return payload


def ok_table(links: Mapping[str, tuple[str | None, int | None]]) -> pl.DataFrame:
    """A result table of ``ok`` rows: id -> (download_url, file_size)."""
    now = datetime.now(UTC)
    rows = [
        {
            "id": key,
            "url": f"https://source.example/{key}",
            "upload_path": "ferry",
            "method": "url",
            "status": "ok",
            "download_url": url,
            "file_size": size,
            "uploaded_at": now,
            "expires_at": now.replace(year=now.year + 1),
            "http_status": 200,
            "attempts": 1,
            "finished_at": now,
            "run_id": "r1",
        }
        for key, (url, size) in links.items()
    ]
    return pl.DataFrame(rows, schema=RESULT_POLARS_SCHEMA)


def wait_until_gone(urls: list[str], *, within: float = 5.0) -> None:
    """Poll until every URL answers 404 (bounded)."""
    deadline = time.monotonic() + within
    pending = list(urls)
    while pending:
        assert time.monotonic() < deadline, f"links still alive after {within} s: {pending}"
        still = []
        for url in pending:
            try:
                with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=2):
                    still.append(url)
            except urllib.error.HTTPError as exc:
                if exc.code != 404:
                    still.append(url)
        pending = still
        if pending:
            time.sleep(0.1)


def link_app(
    files: Mapping[str, bytes],
    *,
    head_status: int | None = None,
    ignore_range: bool = False,
    statuses: list[int] | None = None,
    delay: float = 0.0,
    slow_prefix: str = "",
) -> tuple[web.Application, Seen, dict[str, int]]:
    """A file server for links: ``head_status`` refuses HEAD; ``statuses`` are answered first.

    ``delay`` slows the answers for names that start with ``slow_prefix``. Returns the app, the
    (method, name, Range) of every request, and the peak requests in flight.
    """
    seen: Seen = []
    gauge = {"now": 0, "peak": 0}
    queue = list(statuses or [])

    async def handle(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        seen.append((request.method, name, request.headers.get("Range")))
        gauge["now"] += 1
        gauge["peak"] = max(gauge["peak"], gauge["now"])
        try:
            if delay and name.startswith(slow_prefix):
                await asyncio.sleep(delay)
            if queue:
                return web.Response(status=queue.pop(0))
            if request.method == "HEAD" and head_status is not None:
                return web.Response(status=head_status)
            body = files.get(name)
            if body is None:
                return web.Response(status=404, text="gone")
            if request.method == "HEAD" or ignore_range or "Range" not in request.headers:
                return web.Response(body=body)
            if not body:
                return web.Response(status=416, headers={"Content-Range": "bytes */0"})
            return web.Response(
                status=206, body=body[:1], headers={"Content-Range": f"bytes 0-0/{len(body)}"}
            )
        finally:
            gauge["now"] -= 1

    app = web.Application()
    app.router.add_route("*", "/{name}", handle)
    return app, seen, gauge


@pytest.fixture
def start_links(stack: Any) -> Callable[..., tuple[BackgroundServer, Seen, dict[str, int]]]:
    """Start :func:`link_app` on loopback."""

    def start(files: Mapping[str, bytes], **options: Any) -> tuple[Any, Seen, dict[str, int]]:
        app, seen, gauge = link_app(files, **options)
        return stack.enter_context(BackgroundServer(app)), seen, gauge

    return start


def test_expired_links_are_marked_dead_and_the_next_run_uploads_them_again(
    cli: Cli,
    start_api: Callable[..., BackgroundServer],
    sources: BackgroundServer,
    tmp_path: Path,
) -> None:
    lasting = start_api()
    short = start_api(ttl_seconds=1, sweep_interval_seconds=0.2)
    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 8, owner="ops"))
    results = tmp_path / "m.results.parquet"
    run_ok(cli, manifest, "--base-url", lasting.base_url, "--limit", "4")  # rows 0-3 last
    run_ok(cli, manifest, "--base-url", short.base_url)  # rows 4-7 die within a second
    before = read_results(results)
    wait_until_gone(before["download_url"].to_list()[4:])

    assert verify_json(cli, results, code=1) == {
        "alive": 4,
        "dead": 4,
        "unknown": 0,
        "checked": 8,
        "results": str(results),
    }
    after = read_results(results)
    assert after["id"].to_list() == before["id"].to_list()
    assert after.head(4).to_dicts() == before.head(4).to_dicts()  # alive rows untouched
    dead = after.tail(4)
    assert dead["status"].to_list() == ["failed"] * 4
    assert dead["error_kind"].to_list() == ["link_dead"] * 4
    assert dead["error"].to_list() == ["download URL answered HTTP 404"] * 4
    assert dead["http_status"].to_list() == [404] * 4
    assert dead["attempts"].to_list() == [1] * 4
    assert dead["download_url"].to_list() == before["download_url"].to_list()[4:]
    assert dead["owner"].to_list() == ["ops"] * 4
    assert dead["run_id"].n_unique() == 1 and dead["run_id"][0].endswith("-verify")
    assert (dead["finished_at"] > before["finished_at"].tail(4)).all()

    # they are failed rows now: the next run retries them (not a refresh of expired rows)
    dry = cli("run", manifest, "--dry-run")
    assert dry.stdout.strip() == "new 0, retry 4, refresh 0, skip 4"
    run_ok(cli, manifest, "--base-url", lasting.base_url)
    again = read_results(results)
    assert again["status"].to_list() == ["ok"] * 8
    assert again["error_kind"].null_count() == 8
    assert verify_json(cli, results, code=0)["alive"] == 8


def test_size_mismatch_is_dead_and_a_csv_table_is_rewritten_in_place(
    cli: Cli, api: BackgroundServer, sources: BackgroundServer, tmp_path: Path
) -> None:
    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 5))
    results = tmp_path / "out.csv"
    run_ok(cli, manifest, "--base-url", api.base_url, "--results", results)
    table = read_results(results)
    sizes = table["file_size"].to_list()
    wrong = [*sizes[:3], sizes[3] + 2, sizes[4]]
    write_results(table.with_columns(pl.Series("file_size", wrong)), results)

    result = cli("verify", results)
    assert result.exit_code == 1
    assert result.stdout == ""  # people's messages go to stderr
    assert "alive 4, dead 1, unknown 0" in result.stderr
    row = read_results(results).row(3, named=True)
    assert row["status"] == "failed" and row["error_kind"] == "link_dead"
    assert row["error"] == f"size {sizes[3]} != {sizes[3] + 2} recorded"
    assert row["http_status"] == 200
    assert read_results(results)["status"].to_list().count("ok") == 4


def test_all_alive_leaves_the_table_file_alone(
    cli: Cli, api: BackgroundServer, sources: BackgroundServer, tmp_path: Path
) -> None:
    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 6))
    results = tmp_path / "m.results.parquet"
    run_ok(cli, manifest, "--base-url", api.base_url)
    stat = os.stat(results)
    payload = verify_json(cli, results, "--concurrency", "2", code=0)
    assert payload == {"alive": 6, "dead": 0, "unknown": 0, "checked": 6, "results": str(results)}
    after = os.stat(results)
    assert (after.st_ino, after.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)


def test_servers_without_head_get_a_one_byte_ranged_get(
    cli: Cli, start_links: Callable[..., Any], tmp_path: Path
) -> None:
    files = {"a.bin": b"0123456789ab", "b.bin": b"0123456789ab", "empty.bin": b""}
    server, seen, _ = start_links(files, head_status=405)
    base = server.base_url
    results = tmp_path / "t.results.parquet"
    links = {
        "a": (f"{base}/a.bin", 12),
        "b": (f"{base}/b.bin", 10),
        "gone": (f"{base}/gone.bin", 3),
        "empty": (f"{base}/empty.bin", 0),
        "unsized": (f"{base}/a.bin", None),
    }
    write_results(ok_table(links), results)

    payload = verify_json(cli, results, code=1)
    assert (payload["alive"], payload["dead"], payload["unknown"]) == (3, 2, 0)
    table = read_results(results)
    verdicts = dict(zip(table["id"], table["error"], strict=True))
    assert verdicts == {
        "a": None,
        "b": "size 12 != 10 recorded",
        "gone": "download URL answered HTTP 404",
        "empty": None,
        "unsized": None,
    }
    assert dict(zip(table["id"], table["http_status"], strict=True))["b"] == 206
    gets = [(name, rng) for method, name, rng in seen if method == "GET"]
    heads = [name for method, name, _ in seen if method == "HEAD"]
    assert sorted(heads) == sorted(name for name, _ in gets)  # HEAD first, then the GET
    assert {rng for _, rng in gets} == {"bytes=0-0"}


def test_ranged_get_that_ignores_range_uses_content_length(
    cli: Cli, start_links: Callable[..., Any], tmp_path: Path
) -> None:
    server, _, _ = start_links({"a.bin": b"x" * 5000}, head_status=501, ignore_range=True)
    results = tmp_path / "t.results.parquet"
    links = {"right": (f"{server.base_url}/a.bin", 5000), "wrong": (f"{server.base_url}/a.bin", 9)}
    write_results(ok_table(links), results)
    assert verify_json(cli, results, code=1)["dead"] == 1
    table = read_results(results)
    assert table["error"].to_list() == [None, "size 5000 != 9 recorded"]


def test_flaky_network_is_unknown_and_never_marks_a_row_dead(
    cli: Cli, start_links: Callable[..., Any], tmp_path: Path
) -> None:
    always_503, seen_503, _ = start_links({"a.bin": b"abc"}, statuses=[503] * 100)
    flaky, seen_flaky, _ = start_links({"a.bin": b"abc"}, statuses=[503, 429])
    closed = BackgroundServer(web.Application())
    with closed:
        refused = f"{closed.base_url}/a.bin"  # nothing listens there any more
    results = tmp_path / "t.results.parquet"
    links = {
        "busy": (f"{always_503.base_url}/a.bin", 3),
        "refused": (refused, 3),
        "recovers": (f"{flaky.base_url}/a.bin", 3),
    }
    write_results(ok_table(links), results)
    stat = os.stat(results)

    result = cli("verify", results, "--retries", "2", "--timeout", "5", "--json")
    assert result.exit_code == 1, result.stderr
    payload = json.loads(result.stdout)
    assert (payload["alive"], payload["dead"], payload["unknown"]) == (1, 0, 2)
    assert "left as they were" in result.stderr
    assert len(seen_503) == 3  # one try and two retries
    assert len(seen_flaky) == 3  # 503, 429, then the answer
    assert read_results(results)["status"].to_list() == ["ok"] * 3
    assert os.stat(results).st_mtime_ns == stat.st_mtime_ns  # nothing changed, nothing written


def test_concurrency_bounds_the_checks_in_flight(
    cli: Cli, start_links: Callable[..., Any], tmp_path: Path
) -> None:
    server, seen, gauge = start_links({"a.bin": b"abc"}, delay=0.1)
    results = tmp_path / "t.results.parquet"
    write_results(ok_table({f"r{i}": (f"{server.base_url}/a.bin", 3) for i in range(12)}), results)
    assert verify_json(cli, results, "--concurrency", "3", code=0)["alive"] == 12
    assert len(seen) == 12
    assert gauge["peak"] == 3


def test_failed_rows_and_rows_without_a_link_are_not_checked(
    cli: Cli, start_links: Callable[..., Any], tmp_path: Path
) -> None:
    server, seen, _ = start_links({"a.bin": b"abc"})
    table = ok_table({"ok": (f"{server.base_url}/a.bin", 3), "nolink": (None, None)})
    failed = ok_table({"bad": (f"{server.base_url}/a.bin", 3)}).with_columns(
        pl.lit("failed").alias("status"), pl.lit("source_error").alias("error_kind")
    )
    results = tmp_path / "t.results.parquet"
    write_results(pl.concat([table, failed]), results)
    result = cli("verify", results, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["checked"] == 1
    assert "1 ok rows have no download URL" in result.stderr
    assert len(seen) == 1


def test_a_held_lock_is_exit_4_and_a_bad_table_exit_2(
    cli: Cli, start_links: Callable[..., Any], tmp_path: Path
) -> None:
    server, seen, _ = start_links({"a.bin": b"abc"})
    results = tmp_path / "t.results.parquet"
    write_results(ok_table({"a": (f"{server.base_url}/a.bin", 3)}), results)
    with table_lock(results):
        locked = cli("verify", results)
    assert locked.exit_code == 4
    assert "another ferry run" in locked.stderr
    assert seen == []

    garbage = tmp_path / "garbage.results.parquet"
    garbage.write_bytes(b"not parquet at all")
    bad = cli("verify", garbage)
    assert bad.exit_code == 2 and "not a readable result table" in bad.stderr
    missing = cli("verify", tmp_path / "nope.results.parquet")
    assert missing.exit_code == 2 and "no such result table" in missing.stderr
    wrong_suffix = cli("verify", tmp_path / "m.txt")
    assert wrong_suffix.exit_code == 2


def test_content_range_total() -> None:
    assert content_range_total("bytes 0-0/1234") == 1234
    assert content_range_total("bytes */0") == 0
    assert content_range_total("bytes 0-0/*") is None
    assert content_range_total(None) is None


def test_a_journal_left_by_a_killed_run_is_folded_in_first(
    cli: Cli, start_links: Callable[..., Any], tmp_path: Path
) -> None:
    server, _, _ = start_links({"a.bin": b"abc"})
    results = tmp_path / "t.results.parquet"
    links = {"a": (f"{server.base_url}/a.bin", 3), "b": (f"{server.base_url}/a.bin", 3)}
    write_results(ok_table(links).with_columns(pl.lit("ops").alias("owner")), results)
    journal = Journal(TableFiles(results).journal).open()
    row = ok_table({"b": (f"{server.base_url}/gone.bin", 3)}).row(0, named=True)
    for name in ("uploaded_at", "expires_at", "finished_at"):
        row[name] = int(row[name].timestamp() * 1_000_000)
    journal.append({name: row[name] for name in RESULT_COLUMNS})
    journal.close()

    assert verify_json(cli, results, code=1)["dead"] == 1
    table = read_results(results)
    assert table["id"].to_list() == ["a", "b"]
    assert table["status"].to_list() == ["ok", "failed"]
    assert table["download_url"][1].endswith("/gone.bin")  # the journal's row was checked
    assert table["owner"].to_list() == ["ops", "ops"]
    assert not TableFiles(results).journal.exists()


def test_sigterm_keeps_the_dead_links_found_so_far(
    start_links: Callable[..., Any], tmp_path: Path
) -> None:
    server, seen, _ = start_links({"slow.bin": b"abc"}, delay=1.0, slow_prefix="slow")
    results = tmp_path / "t.results.parquet"
    links = {"dead": (f"{server.base_url}/gone.bin", 3)}
    links |= {f"slow{i}": (f"{server.base_url}/slow.bin", 3) for i in range(3)}
    write_results(ok_table(links), results)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobs", "verify", str(results), "--no-progress"],
        env=env,
        cwd=REPO,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 15
    while len(seen) < 4:  # every check is in flight or done
        assert time.monotonic() < deadline and proc.poll() is None, "verify did not start"
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 130, err.decode()
    assert "interrupted" in err.decode()
    table = read_results(results)
    assert table["status"].to_list() == ["failed", "ok", "ok", "ok"]
    assert table["error_kind"][0] == "link_dead"
