"""Remote manifests read in place: ``s3://`` against a real S3 API (moto in server mode) on
127.0.0.1, and ``http(s)://`` from a source server on loopback."""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import Result

from fileapi import STATS, BackgroundServer
from pipeline.core.errors import ManifestError
from pipeline.manifest import read_manifest
from pipeline.store.table import read_results

Cli = Callable[..., Result]
BUCKET = "manifests"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A real S3 API on loopback (moto's server), with the usual environment pointing at it;
    yields a boto3 client of a bucket ``manifests``."""
    boto3 = pytest.importorskip("boto3")
    server_module = pytest.importorskip("moto.server")
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ALLOW_HTTP": "true",
            "AWS_EC2_METADATA_DISABLED": "true",
        }.items():
            monkeypatch.setenv(name, value)
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client
    finally:
        server.stop()


def put(s3: Any, key: str, body: bytes) -> str:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return f"s3://{BUCKET}/{key}"


def parquet(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def test_s3_manifests_of_each_kind(s3: Any) -> None:
    csv = put(s3, "m/photos.csv", b"url;file_name\nhttps://e.com/a;a.jpg\n")
    manifest = read_manifest(csv)
    assert manifest.label == csv and manifest.path is None
    assert manifest.frame.select("url", "file_name").rows() == [("https://e.com/a", "a.jpg")]

    frame = pl.DataFrame({"url": ["https://e.com/b"], "n": [3]})
    assert read_manifest(put(s3, "m/p.parquet", parquet(frame))).frame["n"].to_list() == [3]
    lines = gzip.compress(b'{"url": "https://e.com/c"}\n')
    assert read_manifest(put(s3, "m/rows.jsonl.gz", lines)).frame["url"].to_list() == [
        "https://e.com/c"
    ]
    sniffed = put(s3, "m/export", b"https://e.com/d\n")
    assert read_manifest(sniffed).frame["url"].to_list() == ["https://e.com/d"]


def test_s3_problems_are_bad_manifests(s3: Any) -> None:
    with pytest.raises(ManifestError, match=r"^s3://manifests/m/missing.csv: no such object"):
        read_manifest(f"s3://{BUCKET}/m/missing.csv")
    torn = put(s3, "m/torn.jsonl", b'{"url": "https://e.com/a"}\n{"url"\n')
    with pytest.raises(ManifestError, match=r"^s3://manifests/m/torn.jsonl: row 2: malformed"):
        read_manifest(torn)


def test_run_of_an_s3_manifest_writes_its_table_in_the_working_directory(
    s3: Any,
    cli: Cli,
    api: BackgroundServer,
    sources: BackgroundServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = "".join(f"{sources.base_url}/f{n:03d}.txt\n" for n in range(4)).encode()
    url = put(s3, "jobs/photos.txt", body)
    monkeypatch.chdir(tmp_path)
    result = cli("run", url, "--base-url", api.base_url)
    assert result.exit_code == 0, result.stderr
    table = read_results(tmp_path / "photos.results.parquet")
    assert table["status"].to_list() == ["ok"] * 4
    again = cli("run", url, "--base-url", api.base_url, "--dry-run")
    assert again.stdout.strip() == "new 0, retry 0, refresh 0, skip 4"


def test_http_manifest_from_a_server(
    start_sources: Callable[..., BackgroundServer], cli: Cli, api: BackgroundServer
) -> None:
    server = start_sources({"lists/urls.txt": b"https://e.com/a\n# done\n"})
    manifest = read_manifest(f"{server.base_url}/lists/urls.txt")
    assert manifest.frame.select("url", "_row").rows() == [("https://e.com/a", 1)]
    missing = f"{server.base_url}/lists/none.csv"
    with pytest.raises(ManifestError, match=r"lists/none.csv: HTTP 404"):
        read_manifest(missing)
    result = cli("run", missing, "--base-url", api.base_url)
    assert result.exit_code == 2 and "HTTP 404" in result.stderr
    assert sum(api.app[STATS].requests_by_route.values()) == 0
