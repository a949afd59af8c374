"""A folder at the edges (issue 24, rows A, C and H): every name a filesystem holds migrates, a
folder is listed in batches like any manifest, ferry's own files are known by name first."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from click.testing import Result

from fileapi import BackgroundServer
from pipeline.manifest import folder as folder_module
from pipeline.manifest import ownfiles
from pipeline.manifest.folder import folder_rows
from pipeline.store.table import read_results, write_results
from tests.conftest import write_manifest

Cli = Callable[..., Result]


def _write(root: Path, raw_name: bytes, data: bytes) -> None:
    with open(os.path.join(os.fsencode(root), raw_name), "wb") as handle:
        handle.write(data)


def _download(url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as answer:
        data: bytes = answer.read()
    return data


def test_every_name_a_filesystem_holds_migrates_with_a_stable_identity(
    cli: Cli, api: BackgroundServer, tmp_path: Path
) -> None:
    folder = tmp_path / "odd"
    folder.mkdir()
    os.mkdir(os.path.join(os.fsencode(folder), b"d\xe9j\xe0"))
    names = {
        b"ok.txt": b"plain",
        b"caf\xe9.txt": b"latin-1 bytes",
        "caf\u00e9 utf8.txt".encode(): b"utf-8 name",
        b"tab\tname.txt": b"a tab",
        b"back\\slash.txt": b"a backslash",
        b"end space ": b"a space at the end",
        b"d\xe9j\xe0/inner.txt": b"below a folder that is not UTF-8",
    }
    for raw, data in names.items():
        _write(folder, raw, data)
    results = tmp_path / "odd.results.parquet"

    dry = cli("run", folder, "--dry-run", "--json")
    assert dry.exit_code == 0, dry.stderr
    assert '"new": 7' in dry.stdout

    done = cli("run", folder, "--base-url", api.base_url, "--json")
    assert done.exit_code == 0, done.stderr
    table = read_results(results).sort("id")
    assert table["status"].to_list() == ["ok"] * 7
    rows = {row["id"]: row for row in table.iter_rows(named=True)}
    assert set(rows) == {
        "back\\slash.txt",
        "caf%E9.txt",
        "café utf8.txt",
        "d%E9j%E0/inner.txt",
        "end space ",
        "ok.txt",
        "tab\tname.txt",
    }
    # the targets: undecodable bytes, tabs and backslashes escaped; UTF-8 kept as it is
    assert rows["caf%E9.txt"]["file_name"] == "caf%E9.txt"
    assert rows["tab\tname.txt"]["file_name"] == "tab%09name.txt"
    assert rows["back\\slash.txt"]["file_name"] == "back%5Cslash.txt"
    assert rows["café utf8.txt"]["file_name"] == "café utf8.txt"
    assert rows["d%E9j%E0/inner.txt"]["upload_path"] == "ferry/d%E9j%E0"
    # a name text cannot hold travels as a file:// URL; the others as plain paths
    assert rows["caf%E9.txt"]["url"].startswith("file://")
    assert rows["d%E9j%E0/inner.txt"]["url"].startswith("file://")
    assert rows["ok.txt"]["url"] == str((folder / "ok.txt").resolve())
    # the bytes that arrived are each file's own
    by_id = {
        "ok.txt": b"plain",
        "caf%E9.txt": b"latin-1 bytes",
        "tab\tname.txt": b"a tab",
        "back\\slash.txt": b"a backslash",
        "end space ": b"a space at the end",
        "d%E9j%E0/inner.txt": b"below a folder that is not UTF-8",
    }
    for identity, data in by_id.items():
        assert _download(rows[identity]["download_url"]) == data, identity

    again = cli("run", folder, "--base-url", api.base_url, "--json")
    assert again.exit_code == 0, again.stderr
    assert '"skipped": 7' in again.stdout  # the same identities: nothing is uploaded twice


def test_a_file_url_with_escaped_bytes_in_a_manifest_is_that_file(
    cli: Cli, api: BackgroundServer, tmp_path: Path
) -> None:
    folder = tmp_path / "src"
    folder.mkdir()
    _write(folder, b"caf\xe9.txt", b"the latin-1 file")
    url = "file://" + str(folder.resolve()) + "/caf%E9.txt"
    manifest = write_manifest(tmp_path / "m.csv", [{"url": url}])
    done = cli("run", manifest, "--base-url", api.base_url, "--json")
    assert done.exit_code == 0, done.stderr
    row = read_results(tmp_path / "m.results.parquet").row(0, named=True)
    assert _download(row["download_url"]) == b"the latin-1 file"


def test_two_names_that_would_read_the_same_are_refused_naming_the_path(
    cli: Cli, tmp_path: Path
) -> None:
    folder = tmp_path / "twins"
    folder.mkdir()
    _write(folder, b"caf\xe9.txt", b"1")
    _write(folder, b"caf%E9.txt", b"2")
    result = cli("run", folder, "--dry-run")
    assert result.exit_code == 2
    assert "caf%E9.txt" in result.stderr and "names two entries" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_folder_comes_in_batches_in_path_order_without_its_own_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(folder_module, "BATCH_NAMES", 4)
    folder = tmp_path / "tree"
    for rel in ["b.txt", "a/x.txt", "a/y.txt", "a.txt", "c/d/e.txt", "c/f.txt", "z.bin"]:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(rel)
    # ferry's own: a result table (by its header, whatever its name), a journal, a plan folder
    write_results(pl.DataFrame({"id": ["x"], "status": ["ok"], "run_id": ["r"]}), folder / "t.csv")
    (folder / "t.csv.journal").write_text("{}\n")
    (folder / "t.csv.plan").mkdir()
    (folder / "t.csv.plan" / "m-000000.parquet").write_text("not for upload")
    (folder / "notes.csv").write_text("a,b\n1,2\n")  # a CSV that is not a table: uploaded
    headers_read: list[str] = []
    real = ownfiles.looks_like_results

    def spy(path: Path) -> bool:
        headers_read.append(path.name)
        return real(path)

    monkeypatch.setattr(ownfiles, "looks_like_results", spy)
    batches = list(folder_rows(folder, "up"))
    assert len(batches) > 1  # a batch is a few directories' runs, not the tree
    frame = pl.concat(batches)
    assert frame["id"].to_list() == [
        "a/x.txt",
        "a/y.txt",
        "a.txt",
        "b.txt",
        "c/d/e.txt",
        "c/f.txt",
        "notes.csv",
        "z.bin",
    ]
    assert frame["_row"].to_list() == list(range(1, 9))
    assert frame["upload_path"].to_list()[:3] == ["up/a", "up/a", "up"]
    assert sorted(headers_read) == ["notes.csv", "t.csv"]  # only names a table may have


def test_an_empty_folder_and_a_missing_one_are_bad_manifests(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = cli("run", tmp_path / "empty", "--dry-run")
    assert result.exit_code == 2 and "no files to upload" in result.stderr
