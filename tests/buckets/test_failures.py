"""What goes wrong with buckets, and how it shows: a missing object or bucket fails its row as
source_error; a listing that fails is a bad manifest; a store without credentials stops the run
before any upload, at once (no cloud metadata endpoint is asked), naming the variables."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from fileapi import STATS, BackgroundServer
from pipeline.store.table import read_results
from tests.conftest import write_manifest
from tests.helpers.store_servers import S3

Cli = Callable[..., Result]


def api_calls(api: BackgroundServer) -> int:
    return sum(api.app[STATS].requests_by_route.values())


@pytest.mark.parametrize("via", ["url", "relay"])
def test_missing_objects_and_buckets_fail_their_rows(
    via: str,
    moto_s3: S3,
    store_env: pytest.MonkeyPatch,
    cli: Cli,
    api: BackgroundServer,
    tmp_path: Path,
) -> None:
    bucket = moto_s3.bucket(store_env, {"here.txt": b"here"})
    rows = [
        {"url": f"s3://{bucket}/here.txt"},
        {"url": f"s3://{bucket}/missing.txt"},
        {"url": "s3://no-such-bucket-ferry/x.txt"},
    ]
    manifest = write_manifest(tmp_path / "m.csv", rows)
    result = cli("run", manifest, "--base-url", api.base_url, "--via", via, "--retries", "1")
    assert result.exit_code == 1, result.stderr
    table = read_results(tmp_path / "m.results.parquet")
    assert table["status"].to_list() == ["ok", "failed", "failed"]
    assert table["error_kind"].to_list()[1:] == ["source_error", "source_error"]
    assert table["attempts"].to_list() == [1, 1, 1]  # permanent: not retried
    if via == "relay":
        assert table["error"][1] == f"s3://{bucket}/missing.txt: no such object or bucket"


def test_rows_that_name_no_object_are_invalid(
    moto_s3: S3, store_env: pytest.MonkeyPatch, cli: Cli, api: BackgroundServer, tmp_path: Path
) -> None:
    bucket = moto_s3.bucket(store_env, {"ok.txt": b"ok"})
    rows = [
        {"url": f"s3://{bucket}/ok.txt"},
        {"url": f"s3://{bucket}"},
        {"url": f"s3://{bucket}/folder/"},
        {"url": f"s3://{bucket}/a//b.txt"},
        {"url": f"gs://{bucket}/../b.txt"},
        {"url": "s3:///key.txt"},
    ]
    manifest = write_manifest(tmp_path / "m.csv", rows)
    result = cli("run", manifest, "--base-url", api.base_url)
    assert result.exit_code == 1, result.stderr
    table = read_results(tmp_path / "m.results.parquet")
    assert table["error_kind"].to_list() == [None] + ["invalid_row"] * 5
    errors = table["error"].to_list()
    assert errors[1].startswith("no object key") and "ends in '/'" in errors[2]
    assert "'.' or '..' path segment" in errors[3] and "'.' or '..'" in errors[4]
    assert errors[5] == "no bucket in the URI"


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("url", "variables"),
    [
        ("s3://bucket/a.txt", "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
        ("gs://bucket/a.txt", "GOOGLE_APPLICATION_CREDENTIALS"),
        ("az://container/a.txt", "AZURE_STORAGE_CONNECTION_STRING"),
        ("s3://bucket/photos/", "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
    ],
)
def test_a_store_without_credentials_stops_the_run_before_any_upload(
    url: str,
    variables: str,
    store_env: pytest.MonkeyPatch,
    cli: Cli,
    api: BackgroundServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    rows = [{"url": f"{api.base_url}/nothing"}, {"url": url}]
    manifest = url if url.endswith("/") else write_manifest(tmp_path / "m.csv", rows)
    for extra in ((), ("--dry-run",)):
        result = cli("run", manifest, "--base-url", api.base_url, *extra)
        assert result.exit_code == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(
            f"ferry: error: {url.split('://')[0]}:// sources"
        )
        assert variables in lines[0]
    assert api_calls(api) == 0


def test_gcs_needs_a_service_account_key_to_sign(
    store_env: pytest.MonkeyPatch, cli: Cli, api: BackgroundServer, tmp_path: Path
) -> None:
    key = tmp_path / "user.json"
    key.write_text('{"type": "authorized_user", "client_id": "x"}')
    store_env.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    manifest = write_manifest(tmp_path / "m.csv", [{"url": "gs://bucket/a.txt"}])
    result = cli("run", manifest, "--base-url", api.base_url)
    assert result.exit_code == 2 and "not a service account key" in result.stderr
    assert api_calls(api) == 0


def test_a_failing_listing_is_a_bad_manifest(
    moto_s3: S3,
    store_env: pytest.MonkeyPatch,
    cli: Cli,
    api: BackgroundServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bucket = moto_s3.bucket(store_env, {"photos/a.txt": b"a", "odd/x//y.txt": b"odd"})
    monkeypatch.chdir(tmp_path)
    for prefix, reason in [
        ("s3://no-such-bucket-ferry/photos/", "the listing failed: no such bucket"),
        (f"s3://{bucket}/nothing/", "no objects below this prefix"),
        (f"s3://{bucket}/odd/", "empty, '.' or '..' segment cannot be listed"),
    ]:
        result = cli("run", prefix, "--base-url", api.base_url)
        assert result.exit_code == 2, result.stderr
        assert result.stderr.startswith(f"ferry: error: {prefix}: ") and reason in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert api_calls(api) == 0
