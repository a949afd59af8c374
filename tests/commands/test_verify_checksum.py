"""``ferry verify --checksum``: every ok row's file is downloaded and its bytes compared, against
ferry's own API on loopback whose stored files the test changes behind its back."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from click.testing import Result

from fileapi import BackgroundServer
from pipeline.store.table import read_results
from tests.conftest import url_rows, write_manifest

Cli = Callable[..., Result]


def stored(data_dir: Path, row: dict[str, Any]) -> Path:
    """The file the API keeps for a result row (``files/<token>/<file_path>``; the token is
    the download URL's first path segment)."""
    token = urlsplit(row["download_url"]).path.split("/")[1]
    return data_dir / "files" / token / row["file_path"]


def verify(cli: Cli, results: Path, *args: str, code: int) -> dict[str, Any]:
    result = cli("verify", results, "--json", *args)
    assert result.exit_code == code, result.stderr
    payload: dict[str, Any] = json.loads(result.stdout)
    return payload


def test_checksum_finds_bytes_changed_on_the_server_and_the_next_run_uploads_them(
    cli: Cli, start_api: Callable[..., BackgroundServer], tmp_path: Path
) -> None:
    data_dir = tmp_path / "api-data"
    api = start_api(data_dir=data_dir)
    contents = {name: f"{name} holds these bytes\n".encode() * 50 for name in "abcd"}
    for name, data in contents.items():
        (tmp_path / f"{name}.txt").write_bytes(data)
    rows = [
        {"id": "a", "url": "a.txt", "md5": hashlib.md5(contents["a"]).hexdigest()},
        {"id": "b", "url": "b.txt", "md5": None},  # no values: file_size is compared
        {"id": "c", "url": "c.txt", "md5": None},
        {"id": "d", "url": "d.txt", "sha256": hashlib.sha256(contents["d"]).hexdigest()},
    ]
    manifest = write_manifest(tmp_path / "m.csv", rows)
    results = tmp_path / "m.results.parquet"
    assert cli("run", manifest, "--base-url", api.base_url).exit_code == 0
    before = {row["id"]: row for row in read_results(results).iter_rows(named=True)}
    stored(data_dir, before["a"]).write_bytes(
        b"X" * len(contents["a"])
    )  # same size: a HEAD cannot tell
    stored(data_dir, before["b"]).write_bytes(contents["b"] + b"tail")
    stored(data_dir, before["d"]).write_bytes(b"Y" * len(contents["d"]))

    assert verify(cli, results, code=1) == {  # without --checksum: only b's size shows
        "alive": 3,
        "dead": 1,
        "unknown": 0,
        "checked": 4,
        "results": str(results),
    }
    assert cli("run", manifest, "--base-url", api.base_url).exit_code == 0  # b uploaded again
    b_now = read_results(results).row(1, named=True)
    stored(data_dir, b_now).write_bytes(contents["b"] + b"tail")

    payload = verify(cli, results, "--checksum", "--concurrency", "2", code=1)
    assert (payload["alive"], payload["dead"], payload["mismatched"]) == (1, 0, 3)
    after = {row["id"]: row for row in read_results(results).iter_rows(named=True)}
    assert after["c"]["status"] == "ok"
    for key in "abd":
        assert (after[key]["status"], after[key]["error_kind"]) == ("failed", "checksum_mismatch")
        assert after[key]["download_url"] is not None  # kept: the user sees which file changed
        assert after[key]["run_id"].endswith("-verify")
    x_md5 = hashlib.md5(b"X" * len(contents["a"])).hexdigest()
    assert after["a"]["error"] == f"md5 mismatch: expected {rows[0]['md5']}, actual {x_md5}"
    size_b = len(contents["b"])
    assert after["b"]["error"] == f"size mismatch: expected {size_b}, actual {size_b + 4}"
    assert after["d"]["error"].startswith(f"sha256 mismatch: expected {rows[3]['sha256']}, ")

    # mismatched rows are failed rows: the next run uploads them again, and they check out
    assert cli("run", manifest, "--base-url", api.base_url).exit_code == 0
    assert read_results(results)["status"].to_list() == ["ok"] * 4
    assert verify(cli, results, "--checksum", code=0)["mismatched"] == 0


def test_checksum_without_integrity_columns_compares_file_size(
    cli: Cli, start_api: Callable[..., BackgroundServer], sources: BackgroundServer, tmp_path: Path
) -> None:
    data_dir = tmp_path / "api-data"
    api = start_api(data_dir=data_dir)
    manifest = write_manifest(tmp_path / "m.csv", url_rows(sources.base_url, 3))
    results = tmp_path / "out.csv"  # a CSV table: its columns come back as text or integers
    assert cli("run", manifest, "--base-url", api.base_url, "--results", results).exit_code == 0
    table = read_results(results)
    stored(data_dir, table.row(2, named=True)).write_bytes(b"short")

    result = cli("verify", results, "--checksum")
    assert result.exit_code == 1
    assert "alive 2, dead 0, mismatched 1, unknown 0" in result.stderr
    assert "mismatched: 1 x size differs" in result.stderr
    row = read_results(results).row(2, named=True)
    assert (row["error_kind"], row["http_status"]) == ("checksum_mismatch", 200)
    assert row["error"] == f"size mismatch: expected {table['file_size'][2]}, actual 5"
