"""An S3 Inventory report as MANIFEST: its manifest.json (in a bucket or local) and its CSV.gz
or Parquet data files, read as one manifest of s3:// sources with size and md5."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote_plus

import polars as pl
import pytest
from click.testing import Result

from fileapi import BackgroundServer
from pipeline.store.table import read_results
from tests.helpers.store_servers import S3, body_of

Cli = Callable[..., Result]
KEYS = ("photos/sp ace.txt", "photos/plus+sign.txt", "photos/ü/deep.txt", "top.txt")
CSV_SCHEMA = "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag"


def csv_report(source: str) -> bytes:
    """The data file of a CSV report: no header, every field quoted, keys URL-encoded."""
    rows = [
        [
            source,
            key,
            "v1",
            "true",
            "false",
            str(len(body_of(key))),
            "2026-01-01T00:00:00.000Z",
            hashlib.md5(body_of(key)).hexdigest(),
        ]
        for key in KEYS
    ]
    rows.append([source, "gone.txt", "v2", "true", "true", "", "2026-01-01T00:00:00.000Z", ""])
    rows.append([source, "top.txt", "v0", "false", "false", "3", "2025-01-01T00:00:00.000Z", ""])
    rows.append([source, "photos/", "v1", "true", "false", "0", "2026-01-01T00:00:00.000Z", ""])
    lines = []
    for row in rows:
        row[1] = quote_plus(row[1], safe="/")
        lines.append(",".join(f'"{field}"' for field in row))
    return gzip.compress(("\n".join(lines) + "\n").encode())


def manifest_json(source: str, destination: str, fmt: str, keys: list[str], schema: str) -> bytes:
    return json.dumps(
        {
            "sourceBucket": source,
            "destinationBucket": f"arn:aws:s3:::{destination}",
            "version": "2016-11-30",
            "fileFormat": fmt,
            "fileSchema": schema,
            "files": [{"key": key, "size": 1, "MD5checksum": "0" * 32} for key in keys],
        }
    ).encode()


def test_a_csv_report_in_a_bucket(
    moto_s3: S3,
    store_env: pytest.MonkeyPatch,
    cli: Cli,
    api: BackgroundServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = moto_s3.bucket(store_env, {key: body_of(key) for key in KEYS})
    prefix = f"inv/{source}/daily"
    data = [f"{prefix}/data/part-1.csv.gz"]
    report = moto_s3.bucket(
        store_env,
        {
            data[0]: csv_report(source),
            f"{prefix}/2026-01-02T00-00Z/manifest.json": manifest_json(
                source, "ignored", "CSV", data, CSV_SCHEMA
            ),
        },
    )
    body = manifest_json(source, report, "CSV", data, CSV_SCHEMA)
    moto_s3.client.put_object(Bucket=report, Key=f"{prefix}/m/manifest.json", Body=body)
    monkeypatch.chdir(tmp_path)
    manifest = f"s3://{report}/{prefix}/m/manifest.json"
    result = cli("run", manifest, "--base-url", api.base_url, "--upload-path", "inv")
    assert result.exit_code == 0, result.stderr
    table = read_results(tmp_path / "manifest.results.parquet").sort("id")
    assert table["id"].to_list() == sorted(f"s3://{source}/{key}" for key in KEYS)
    rows = {row["id"]: row for row in table.iter_rows(named=True)}
    deep = rows[f"s3://{source}/photos/ü/deep.txt"]
    assert (deep["upload_path"], deep["file_name"]) == ("inv/photos/ü", "deep.txt")
    plus = rows[f"s3://{source}/photos/plus+sign.txt"]
    assert plus["size"] == len(body_of("photos/plus+sign.txt"))
    assert plus["md5"] == hashlib.md5(body_of("photos/plus+sign.txt")).hexdigest()
    assert set(table["status"]) == {"ok"}


def test_a_local_parquet_report(
    moto_s3: S3, store_env: pytest.MonkeyPatch, cli: Cli, api: BackgroundServer, tmp_path: Path
) -> None:
    source = moto_s3.bucket(store_env, {key: body_of(key) for key in KEYS})
    folder = tmp_path / "report" / "2026-01-02T00-00Z"
    (tmp_path / "report" / "data").mkdir(parents=True)
    folder.mkdir()
    frame = pl.DataFrame(
        {
            "bucket": [source] * len(KEYS),
            "key": list(KEYS),  # Parquet keeps keys as they are
            "size": [len(body_of(key)) for key in KEYS],
            "e_tag": [hashlib.md5(body_of(key)).hexdigest() for key in KEYS],
            "is_latest": [True] * len(KEYS),
        }
    )
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    (tmp_path / "report" / "data" / "part-1.parquet").write_bytes(buffer.getvalue())
    schema = (
        "message s3.inventory { required binary bucket (STRING); required binary key (STRING); }"
    )
    manifest = folder / "manifest.json"
    manifest.write_bytes(
        manifest_json(
            source, "not-fetched", "Parquet", [f"inv/{source}/daily/data/part-1.parquet"], schema
        )
    )
    plan = cli("run", manifest, "--dry-run", "--json")
    assert plan.exit_code == 0, plan.stderr
    assert json.loads(plan.stdout)["new"] == len(KEYS)
    result = cli("run", manifest, "--base-url", api.base_url, "--via", "relay")
    assert result.exit_code == 0, result.stderr
    assert (
        read_results(folder / "manifest.results.parquet")["size"].to_list()
        == frame["size"].to_list()
    )


def test_reports_ferry_cannot_read(cli: Cli, tmp_path: Path, store_env: pytest.MonkeyPatch) -> None:
    orc = tmp_path / "manifest.json"
    orc.write_bytes(manifest_json("s", "d", "ORC", ["x.orc"], ""))
    result = cli("run", orc, "--dry-run")
    assert result.exit_code == 2 and "fileFormat 'ORC'" in result.stderr
    orc.write_text("[1, 2]")
    result = cli("run", orc, "--dry-run")
    assert result.exit_code == 2 and "not an S3 Inventory manifest.json" in result.stderr
