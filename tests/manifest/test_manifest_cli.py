"""``ferry run`` with the manifests people have: options, formats and the result table."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner, Result

from fileapi import STATS, BackgroundServer
from pipeline.core.errors import UsageError
from pipeline.core.settings import default_results_path
from pipeline.store.table import read_results
from tests.conftest import API_KEY

Cli = Callable[..., Result]

MD5_B64 = "nhB9nTcrtoJr2B01QqQZ1g=="


def uploads(api: BackgroundServer) -> int:
    return sum(n for p, n in api.app[STATS].requests_by_route.items() if p.startswith("/api/"))


def test_column_mapping_and_integrity_columns_reach_the_table(
    cli: Cli, api: BackgroundServer, sources: BackgroundServer, tmp_path: Path
) -> None:
    base = sources.base_url
    manifest = tmp_path / "products.csv"
    manifest.write_text(
        "sku;image_url;bytes;md5\n"
        f"a1;{base}/f000.txt;7;{MD5_B64}\n"
        f"b2;{base}/f001.txt;seven;\n"
        f"c3;{base}/f002.txt;;\n",
        encoding="utf-8",
    )
    result = cli(
        "run",
        manifest,
        "--base-url",
        api.base_url,
        "--column",
        "url=image_url",
        "--column",
        "file_name=sku",
        "--column",
        "size=bytes",
    )
    assert result.exit_code == 1, result.stderr
    table = read_results(tmp_path / "products.results.parquet")
    assert table.columns[-2:] == ["size", "md5"]
    assert table.select("file_name", "status", "error_kind", "size", "md5").rows() == [
        ("a1", "ok", None, 7, MD5_B64),
        ("b2", "failed", "invalid_row", None, None),
        ("c3", "ok", None, None, None),
    ]
    assert "invalid size 'seven'" in table.filter(pl.col("file_name") == "b2")["error"][0]
    assert uploads(api) == 2


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        ("s3://bucket/manifests/photos.parquet", "photos.results.parquet"),
        ("a/urls.txt", "a/urls.results.parquet"),
        ("a/urls.list.gz", "a/urls.results.parquet"),
        ("a/transfer.tsv", "a/transfer.results.parquet"),
        ("export.jsonl.gz", "export.results.parquet"),
        ("export.NDJSON", "export.results.parquet"),
        ("https://host/share/urls.txt?sig=abc#x", "urls.results.parquet"),
        ("gs://bucket/deep/list.csv.gz", "list.results.parquet"),
        ("https://host/share/urls.csv?sig=abc#x", "urls.results.parquet"),
        ("https://host/export", "export.results.parquet"),
        ("s3://bucket/old.results.parquet", "old.results.parquet"),
    ],
)
def test_default_results_path_of_every_format(manifest: str, expected: str) -> None:
    assert default_results_path(manifest) == Path(expected)


def test_default_results_path_of_stdin_is_refused() -> None:
    with pytest.raises(UsageError, match="--results is required"):
        default_results_path("-")


def run_stdin(args: list[str], data: bytes) -> Result:
    from jobs.cli import main

    env: dict[str, str | None] = {"KIE_API_KEY": API_KEY, "FERRY_SHARD": None}
    return CliRunner().invoke(main, args, input=data, env=env, catch_exceptions=False)


def test_stdin_manifest_runs_and_needs_results(
    api: BackgroundServer, sources: BackgroundServer, tmp_path: Path
) -> None:
    data = "".join(f"{sources.base_url}/f{n:03d}.txt\n" for n in range(3)).encode()
    refused = run_stdin(["run", "-", "--base-url", api.base_url], data)
    assert refused.exit_code == 2
    assert "--results" in refused.stderr and refused.stderr.count("\n") == 1
    assert uploads(api) == 0

    table = tmp_path / "piped.results.parquet"
    done = run_stdin(["run", "-", "--base-url", api.base_url, "--results", str(table)], data)
    assert done.exit_code == 0, done.stderr
    assert read_results(table)["status"].to_list() == ["ok"] * 3
    again = run_stdin(
        ["run", "-", "--base-url", api.base_url, "--results", str(table), "--dry-run"], data
    )
    assert again.stdout.strip() == "new 0, retry 0, refresh 0, skip 3"
