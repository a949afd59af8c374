"""Every upload method: relay with source headers, auto fallback, local files, folders, data:."""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Callable
from pathlib import Path

import polars as pl
from click.testing import Result

from fileapi import BackgroundServer
from fileapi.sources import SOURCE_STATS
from pipeline.store.table import read_results
from tests.conftest import write_manifest

Cli = Callable[..., Result]
SECRET = "s3cret-source-token"


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as resp:
        body: bytes = resp.read()
        return body


def private_sources(start_sources: Callable[..., BackgroundServer]) -> BackgroundServer:
    files = {f"p{i}.bin": bytes([i]) * (1000 + i) for i in range(5)}
    return start_sources(files, required_header=("X-Token", SECRET))


def test_relay_sends_source_headers_from_the_environment_and_never_writes_them(
    cli: Cli, api: BackgroundServer, start_sources: Callable[..., BackgroundServer], tmp_path: Path
) -> None:
    src = private_sources(start_sources)
    rows = [{"id": f"p{i}", "url": f"{src.base_url}/p{i}.bin"} for i in range(5)]
    manifest = write_manifest(tmp_path / "m.csv", rows)
    result = cli(
        "run", manifest, "--base-url", api.base_url, "--via", "relay",
        "--source-header", "X-Token: ${SRC_TOKEN}", "--json",
        env={"SRC_TOKEN": SECRET},
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    table = read_results(tmp_path / "m.results.parquet")
    assert table["method"].to_list() == ["stream"] * 5
    assert table["file_name"].to_list() == [None] * 5
    assert fetch(table["download_url"][3]) == bytes([3]) * 1003
    assert table["file_path"][3].endswith("/p3.bin")
    assert src.app[SOURCE_STATS].refused == 0
    table_bytes = (tmp_path / "m.results.parquet").read_bytes()
    for text in (result.stdout, result.stderr, table_bytes.decode("latin-1")):
        assert SECRET not in text


def test_relay_without_the_header_is_a_source_error(
    cli: Cli, api: BackgroundServer, start_sources: Callable[..., BackgroundServer], tmp_path: Path
) -> None:
    src = private_sources(start_sources)
    manifest = write_manifest(tmp_path / "m.csv", [{"url": f"{src.base_url}/p1.bin"}])
    result = cli("run", manifest, "--base-url", api.base_url, "--via", "relay")
    assert result.exit_code == 1
    row = read_results(tmp_path / "m.results.parquet").row(0, named=True)
    assert (row["error_kind"], row["http_status"], row["attempts"]) == ("source_error", 403, 1)


def test_auto_relays_only_what_the_api_could_not_fetch(
    cli: Cli, api: BackgroundServer, start_sources: Callable[..., BackgroundServer], tmp_path: Path
) -> None:
    private = private_sources(start_sources)
    public = start_sources({"open.txt": b"public bytes"})
    rows = [
        {"id": "public", "url": f"{public.base_url}/open.txt"},
        {"id": "private", "url": f"{private.base_url}/p2.bin", "file_name": "two.bin"},
    ]
    manifest = write_manifest(tmp_path / "m.csv", rows)
    result = cli(
        "run", manifest, "--base-url", api.base_url, "--via", "auto",
        "--source-header", f"X-Token: {SECRET}",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    table = read_results(tmp_path / "m.results.parquet")
    by_id = {r["id"]: r for r in table.iter_rows(named=True)}
    assert (by_id["public"]["method"], by_id["public"]["attempts"]) == ("url", 1)
    assert (by_id["private"]["method"], by_id["private"]["attempts"]) == ("stream", 2)
    assert by_id["private"]["file_path"].endswith("/two.bin")
    assert fetch(by_id["private"]["download_url"]) == bytes([2]) * 1002


def test_local_paths_and_file_urls_use_the_stream_upload(
    cli: Cli, api: BackgroundServer, tmp_path: Path
) -> None:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "a.txt").write_bytes(b"alpha")
    (tmp_path / "files" / "b b.json").write_bytes(b'{"b": 1}')
    rows = [
        {"id": "relative", "url": "files/a.txt"},
        {"id": "file-url", "url": (tmp_path / "files" / "b b.json").as_uri()},
        {"id": "missing", "url": "files/nope.txt"},
    ]
    manifest = write_manifest(tmp_path / "m.csv", rows)
    result = cli("run", manifest, "--base-url", api.base_url, "--upload-path", "local")
    assert result.exit_code == 1
    table = read_results(tmp_path / "m.results.parquet")
    by_id = {r["id"]: r for r in table.iter_rows(named=True)}
    assert by_id["relative"]["method"] == "stream"
    assert fetch(by_id["relative"]["download_url"]) == b"alpha"
    assert by_id["file-url"]["file_path"] == "local/b b.json"
    assert by_id["file-url"]["mime_type"] == "application/json"
    assert fetch(by_id["file-url"]["download_url"]) == b'{"b": 1}'
    assert (by_id["missing"]["status"], by_id["missing"]["error_kind"]) == (
        "failed",
        "source_error",
    )


def test_a_folder_is_a_manifest_of_its_files(
    cli: Cli, api: BackgroundServer, tmp_path: Path
) -> None:
    folder = tmp_path / "exports"
    (folder / "2024" / "q1").mkdir(parents=True)
    (folder / "top.txt").write_bytes(b"top")
    (folder / "2024" / "q1" / "deep.csv").write_bytes(b"a,b\n1,2\n")
    result = cli("run", folder, "--base-url", api.base_url, "--upload-path", "backup", "--json")
    assert result.exit_code == 0, result.stderr
    results = tmp_path / "exports.results.parquet"
    assert json.loads(result.stdout)["results"] == str(results)
    table = read_results(results)
    assert table["id"].to_list() == ["2024/q1/deep.csv", "top.txt"]
    assert table["file_path"].to_list() == ["backup/2024/q1/deep.csv", "backup/top.txt"]
    assert fetch(table["download_url"][0]) == b"a,b\n1,2\n"
    again = cli("run", folder, "--base-url", api.base_url, "--json")
    assert json.loads(again.stdout)["skipped"] == 2


def test_data_urls_use_the_base64_upload(cli: Cli, api: BackgroundServer, tmp_path: Path) -> None:
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg=="
    )
    data_url = "data:image/png;base64," + base64.b64encode(png).decode()
    manifest = write_manifest(
        tmp_path / "m.parquet", [{"url": data_url, "upload_path": "inline", "file_name": "dot.png"}]
    )
    result = cli("run", manifest, "--base-url", api.base_url)
    assert result.exit_code == 0, result.stderr
    row = read_results(tmp_path / "m.results.parquet").row(0, named=True)
    assert (row["method"], row["mime_type"], row["file_size"]) == ("base64", "image/png", len(png))
    assert fetch(row["download_url"]) == png
    assert pl.read_parquet(tmp_path / "m.results.parquet")["url"][0] == data_url
