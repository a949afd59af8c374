"""Signed URLs are credentials: made per upload call, and never written anywhere.

An API in front of ferry's own records what ferry sends; in ``echo_failure`` mode it answers
as the live service does when it cannot fetch a source, echoing the ``fileUrl`` in its message.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import Result

from fileapi import BackgroundServer
from pipeline.store.table import read_results
from tests.conftest import write_manifest
from tests.helpers.store_servers import S3, Recorder

Cli = Callable[..., Result]
Proxy = Callable[..., tuple[BackgroundServer, Recorder]]


def test_every_try_and_every_run_signs_afresh(
    moto_s3: S3, store_env: pytest.MonkeyPatch, cli: Cli, recording_api: Proxy, tmp_path: Path
) -> None:
    bucket = moto_s3.bucket(store_env, {"a/one.txt": b"one"})
    proxy, recorder = recording_api(refuse_first=1)  # a 429, Retry-After: 1, then on
    manifest = write_manifest(tmp_path / "m.csv", [{"url": f"s3://{bucket}/a/one.txt"}])
    first = cli("run", manifest, "--base-url", proxy.base_url, "--presign-expiry", "2h")
    assert first.exit_code == 0, first.stderr
    time.sleep(1.1)  # SigV4 dates have whole seconds: a later signature differs
    again = cli("run", manifest, "--base-url", proxy.base_url, "--refresh-within", "30d")
    assert again.exit_code == 0, again.stderr
    urls = [body["fileUrl"] for body in recorder.bodies]
    assert len(urls) == 3 and len(set(urls)) == 3  # the retry and the refresh signed again
    queries = [parse_qs(urlsplit(url).query) for url in urls]
    assert [q["X-Amz-Expires"] for q in queries] == [["7200"], ["7200"], ["3600"]]
    stamps = [datetime.strptime(q["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ") for q in queries]
    assert stamps[0] < stamps[1] < stamps[2]
    assert all(urlsplit(url).path == f"/{bucket}/a/one.txt" for url in urls)
    table = read_results(tmp_path / "m.results.parquet")
    assert table["url"].to_list() == [f"s3://{bucket}/a/one.txt"]


def test_s3_signature_is_sigv4_as_botocore_computes_it(
    moto_s3: S3, store_env: pytest.MonkeyPatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto does not check query signatures: botocore's own signer, at the same instant,
    must make the very same URL."""
    import boto3
    import botocore.auth
    from botocore.config import Config

    from pipeline.buckets.environment import read_environment
    from pipeline.buckets.registry import Stores
    from pipeline.buckets.signing import Signer
    from pipeline.buckets.uris import parse_store_uri

    bucket = moto_s3.bucket(store_env, {})
    client = boto3.client(
        "s3",
        endpoint_url=moto_s3.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing-secret",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    for key in ("plain.txt", "dir/sp ace+%?#;é~(1).txt"):
        uri = parse_store_uri(f"s3://{bucket}/{key}")
        assert uri is not None
        signed = Signer(Stores(read_environment()), 600).sign(uri)
        query = {k: v[0] for k, v in parse_qs(urlsplit(signed).query).items()}
        instant = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
        monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda i=instant: i)
        theirs = client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=600
        )
        their_query = {k: v[0] for k, v in parse_qs(urlsplit(theirs).query).items()}
        assert urlsplit(signed).path == urlsplit(theirs).path, key
        assert query["X-Amz-Signature"] == their_query["X-Amz-Signature"], key


def test_a_signed_url_is_written_nowhere(
    moto_s3: S3,
    store_env: pytest.MonkeyPatch,
    cli: Cli,
    recording_api: Proxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bucket = moto_s3.bucket(store_env, {"a/one.txt": b"one", "a/two words.txt": b"two"})
    proxy, recorder = recording_api(echo_failure=True)  # every URL upload fails, echoing it
    rows = [{"url": f"s3://{bucket}/a/one.txt"}, {"url": f"s3://{bucket}/a/two words.txt"}]
    manifest = write_manifest(tmp_path / "m.csv", rows)
    metrics = tmp_path / "ferry.prom"
    outputs: list[str] = []
    for log_format in ("text", "json"):
        result = cli(
            "run",
            manifest,
            "--base-url",
            proxy.base_url,
            "--metrics-file",
            metrics,
            "--log-format",
            log_format,
            "--retries",
            "0",
            "--json",
            "--debug",
        )
        assert result.exit_code == 1, result.stderr
        outputs += [result.stdout, result.stderr, metrics.read_text()]
    table_path = tmp_path / "m.results.parquet"
    status = cli("status", table_path, "--json")
    report = cli("report", table_path, "--out", tmp_path / "r.html")
    outputs += [status.stdout, status.stderr, report.stderr, (tmp_path / "r.html").read_text()]
    table = read_results(table_path)
    outputs += [json.dumps(table.rows(), default=str)]
    outputs += [
        p.read_text(errors="replace")
        for p in tmp_path.glob("m.results.parquet*")
        if p.is_file() and p.suffix != ".parquet"
    ]

    signed = [body["fileUrl"] for body in recorder.bodies]
    assert len(signed) == 4 and all("X-Amz-Signature=" in url for url in signed)
    text = "\n".join(outputs)
    for url in signed:
        signature = parse_qs(urlsplit(url).query)["X-Amz-Signature"][0]
        assert signature not in text
    assert "X-Amz-Credential=testing" not in text and "X-Amz-Signature" not in text
    assert table["error_kind"].to_list() == ["source_error"] * 2
    assert table["error"][0] == (
        f"File download failed: could not fetch s3://{bucket}/a/one.txt (HTTP 403)"
    )
    assert table["url"].to_list() == [row["url"] for row in rows]


def test_auto_relays_what_the_api_cannot_fetch(
    moto_s3: S3, store_env: pytest.MonkeyPatch, cli: Cli, recording_api: Proxy, tmp_path: Path
) -> None:
    bucket = moto_s3.bucket(store_env, {"a/one.txt": b"one"})
    proxy, recorder = recording_api(echo_failure=True)
    manifest = write_manifest(tmp_path / "m.csv", [{"url": f"s3://{bucket}/a/one.txt"}])
    result = cli("run", manifest, "--base-url", proxy.base_url, "--via", "auto")
    assert result.exit_code == 0, result.stderr
    table = read_results(tmp_path / "m.results.parquet")
    assert table["method"].to_list() == ["stream"] and len(recorder.bodies) == 1
    assert table["file_size"].to_list() == [3]


def test_signed_urls_expire_as_asked(
    moto_s3: S3, store_env: pytest.MonkeyPatch, cli: Cli, tmp_path: Path, api: BackgroundServer
) -> None:
    manifest = write_manifest(tmp_path / "m.csv", [{"url": "s3://b/k.txt"}])
    result = cli("run", manifest, "--base-url", api.base_url, "--presign-expiry", "8d")
    assert result.exit_code == 2 and "--presign-expiry" in result.stderr
    assert datetime.now(UTC)  # the option is parsed as a duration: 8d is too long for S3
