"""Bad input through the CLI: exit 2, one clear line naming the file, nothing called or written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner, Result

from fileapi import STATS, BackgroundServer
from jobs.cli import main
from pipeline.store.table import read_results
from tests.conftest import API_KEY, url_rows, write_manifest
from tests.helpers.bad_manifests import BAD_ROWS, CASES, BadManifest, BadRow

Cli = Callable[..., Result]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_manifest_exits_2_with_one_line_and_calls_nothing(
    case: BadManifest, cli: Cli, api: BackgroundServer, tmp_path: Path
) -> None:
    if case.skip_reason:
        pytest.skip(case.skip_reason)
    path = case.build(tmp_path)
    if case.stdin:
        result = CliRunner().invoke(
            main,
            ["run", "-", "--base-url", api.base_url, "--results", str(tmp_path / "t.parquet")],
            input=path.read_bytes(),
            env={"KIE_API_KEY": API_KEY},
        )
    else:
        result = cli("run", path, "--base-url", api.base_url)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ferry: error: ")
    assert ("-: " if case.stdin else path.name) in lines[0] and case.expect in lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert sum(api.app[STATS].requests_by_route.values()) == 0
    assert not list(tmp_path.glob("*.results.*"))


@pytest.mark.parametrize(
    ("name", "content", "expect"),
    [
        ("corrupt", b"PAR1\x00\x01garbage", "not a readable result table"),
        ("foreign", None, "no column 'id'"),
    ],
)
def test_bad_results_table_exits_2_and_is_never_overwritten(
    cli: Cli,
    api: BackgroundServer,
    sources: BackgroundServer,
    tmp_path: Path,
    name: str,
    content: bytes | None,
    expect: str,
) -> None:
    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 3))
    results = tmp_path / f"{name}.parquet"
    if content is None:
        pl.DataFrame({"something": ["else"]}).write_parquet(results)
    else:
        results.write_bytes(content)
    before = results.read_bytes()
    result = cli("run", manifest, "--base-url", api.base_url, "--results", results)
    assert result.exit_code == 2
    assert str(results) in result.stderr and expect in result.stderr
    assert results.read_bytes() == before
    assert sum(api.app[STATS].requests_by_route.values()) == 0


@pytest.mark.parametrize(
    "args",
    [
        ["--concurrency", "0"],
        ["--rate", "lots"],
        ["--shard", "4/3"],
        ["--refresh-within", "soon"],
        ["--results", "out.xlsx"],
        ["--via", "carrier-pigeon"],
        ["--source-header", "no colon here"],
        ["--base-url", "ftp://example"],
        ["--format", "xlsx"],
        ["--delimiter", ";;"],
        ["--column", "colour=paint"],
        ["--column", "url"],
    ],
)
def test_bad_options_exit_2_before_any_request(
    cli: Cli, api: BackgroundServer, sources: BackgroundServer, tmp_path: Path, args: list[str]
) -> None:
    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 2))
    result = cli("run", manifest, "--base-url", api.base_url, *args)
    assert result.exit_code == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert sum(api.app[STATS].requests_by_route.values()) == 0


def test_column_not_in_the_manifest_exits_2_naming_both(
    cli: Cli, api: BackgroundServer, sources: BackgroundServer, tmp_path: Path
) -> None:
    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 2))
    result = cli("run", manifest, "--base-url", api.base_url, "--column", "url=image_url")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "--column url=image_url" in result.stderr and "'image_url'" in result.stderr
    assert sum(api.app[STATS].requests_by_route.values()) == 0


def test_unknown_column_field_exits_2_naming_both(cli: Cli, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "m.csv", url_rows("https://e.com", 1))
    result = cli("run", manifest, "--dry-run", "--column", "colour=paint")
    assert result.exit_code == 2
    assert "unknown field 'colour'" in result.stderr and "colour=paint" in result.stderr


def test_bad_rows_fail_alone_as_invalid_row(
    cli: Cli, api: BackgroundServer, sources: BackgroundServer, tmp_path: Path
) -> None:
    rows = [
        *url_rows(sources.base_url, 2),
        {"id": "empty", "url": ""},
        {"id": "ftp", "url": "ftp://files.example/a.bin"},
        {"id": "long", "url": "https://example.com/" + "a" * 9000},
        {"id": "control", "url": "https://example.com/a\x07b"},
    ]
    manifest = write_manifest(tmp_path / "m.parquet", rows)
    result = cli("run", manifest, "--base-url", api.base_url)
    assert result.exit_code == 1
    table = read_results(tmp_path / "m.results.parquet")
    kinds = dict(zip(table["id"], table["error_kind"], strict=True))
    assert kinds == {
        "row-000": None,
        "row-001": None,
        "empty": "invalid_row",
        "ftp": "invalid_row",
        "long": "invalid_row",
        "control": "invalid_row",
    }
    assert table.filter(pl.col("error_kind") == "invalid_row")["attempts"].to_list() == [0] * 4
    uploads = api.app[STATS].requests_by_route
    assert sum(n for p, n in uploads.items() if p.startswith("/api/")) == 2


@pytest.mark.parametrize("case", BAD_ROWS, ids=[case.name for case in BAD_ROWS])
def test_bad_row_of_every_format_fails_alone(
    case: BadRow, cli: Cli, api: BackgroundServer, sources: BackgroundServer, tmp_path: Path
) -> None:
    manifest = case.build(tmp_path, sources.base_url)
    result = cli("run", manifest, "--base-url", api.base_url)
    assert result.exit_code == 1, result.stderr
    table = read_results(manifest.with_name(manifest.name.split(".")[0] + ".results.parquet"))
    failed = table.filter(pl.col("status") == "failed")
    assert failed["error_kind"].to_list() == ["invalid_row"]
    assert case.expect in failed["error"][0]
    assert table.filter(pl.col("status") == "ok").height == table.height - 1 >= 1


def test_a_table_damaged_inside_is_found_while_planning(
    cli: Cli, api: BackgroundServer, sources: BackgroundServer, tmp_path: Path
) -> None:
    """The header reads, the id pages do not: the plan's table thread finds it, one line, exit 2,
    before any request, with nothing left beside the table."""
    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 3))
    results = tmp_path / "damaged.parquet"
    rows = 20_000
    table = pl.DataFrame(
        {
            "id": [f"{n:020d}" for n in range(rows)],
            "status": ["failed"] * rows,
            "run_id": ["r"] * rows,
        }
    )
    table.write_parquet(results, compression="uncompressed", row_group_size=rows)
    data = bytearray(results.read_bytes())
    data[100:4000] = b"\x07" * 3900  # inside the id column's pages; the footer is intact
    results.write_bytes(bytes(data))
    before = results.read_bytes()
    result = cli("run", manifest, "--base-url", api.base_url, "--results", results)
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and str(results) in lines[0], result.stderr
    assert "not a readable result table" in lines[0]
    assert results.read_bytes() == before
    assert sum(api.app[STATS].requests_by_route.values()) == 0
    assert sorted(p.name for p in tmp_path.glob("damaged.parquet*")) == ["damaged.parquet"]
