"""Migrating straight from an S3 bucket (moto's S3 server on loopback): bucket URIs in a
manifest, signed per upload call or relayed, a prefix as a manifest, reruns and plans."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from fileapi import STATS, BackgroundServer
from pipeline.store.table import read_results
from tests.helpers.store_servers import AWKWARD_KEYS, S3, body_of, downloaded, migrate_keys

Cli = Callable[..., Result]


@pytest.mark.parametrize("via", ["url", "relay"])
def test_awkward_keys_migrate_by_url_and_by_relay(
    via: str,
    moto_s3: S3,
    store_env: pytest.MonkeyPatch,
    cli: Cli,
    api: BackgroundServer,
    tmp_path: Path,
) -> None:
    bucket = moto_s3.bucket(store_env, {key: body_of(key) for key in AWKWARD_KEYS})
    migrate_keys(cli, api.base_url, tmp_path, f"s3://{bucket}", AWKWARD_KEYS, "--via", via)


def test_a_prefix_is_a_manifest_like_a_folder(
    moto_s3: S3,
    store_env: pytest.MonkeyPatch,
    cli: Cli,
    api: BackgroundServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    objects = {key: body_of(key) for key in AWKWARD_KEYS}
    objects["photos/empty-folder/"] = b""  # a console's folder marker, with nothing below it
    objects["photos/deep/"] = b""  # a folder marker of a folder with objects
    objects["photosbook.txt"] = b"not below the prefix"
    objects["other/x.txt"] = b"elsewhere"
    bucket = moto_s3.bucket(store_env, objects)
    monkeypatch.chdir(tmp_path)
    prefix = f"s3://{bucket}/photos/"
    result = cli("run", prefix, "--base-url", api.base_url, "--upload-path", "up")
    assert result.exit_code == 0, result.stderr
    table = read_results(tmp_path / "photos.results.parquet").sort("id")
    expected = sorted(AWKWARD_KEYS)
    assert table["id"].to_list() == [f"s3://{bucket}/{key}" for key in expected]
    assert table["url"].to_list() == table["id"].to_list()
    rows = {row["id"].removeprefix(f"s3://{bucket}/"): row for row in table.iter_rows(named=True)}
    assert rows["photos/café/naïve é.txt"]["upload_path"] == "up/café"
    assert rows["photos/café/naïve é.txt"]["file_name"] == "naïve é.txt"
    assert rows["photos/deep/er/nested.txt"]["upload_path"] == "up/deep/er"
    assert rows["photos/q?mark.txt"]["upload_path"] == "up"
    key = "photos/plus+sign.txt"
    assert rows[key]["size"] == len(body_of(key))
    assert rows[key]["md5"] == hashlib.md5(body_of(key)).hexdigest()
    assert downloaded(rows[key]["download_url"]) == body_of(key)
    assert set(table["status"]) == {"ok"}

    calls = sum(api.app[STATS].requests_by_route.values())
    again = cli("run", prefix, "--base-url", api.base_url, "--upload-path", "up")
    assert again.exit_code == 0 and sum(api.app[STATS].requests_by_route.values()) == calls
    plan = cli("run", prefix, "--dry-run", "--refresh-within", "30d", "--json")
    assert plan.exit_code == 0, plan.stderr
    assert '"refresh": 8' in plan.stdout
    shard = cli("run", prefix, "--dry-run", "--shard", "1/2", "--refresh-within", "30d")
    other = cli("run", prefix, "--dry-run", "--shard", "2/2", "--refresh-within", "30d")
    counts = [int(r.stdout.split("refresh ")[1].split(",")[0]) for r in (shard, other)]
    assert sum(counts) == 8 and 0 < counts[0] < 8
