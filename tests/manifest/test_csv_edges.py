"""CSV at the edges (issue 24, rows G and H): over-long fields get their real cause and row,
records longer than a block are read whole, quoted paths keep their spaces, a path's tab is a
file's name."""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from fileapi import BackgroundServer
from pipeline.manifest import textio
from pipeline.manifest.csvquotes import quoted_spaces
from pipeline.manifest.textio import blocks
from pipeline.store.table import read_results

Cli = Callable[..., Result]


def _data_url(size: int) -> str:
    return "data:application/octet-stream;base64," + base64.b64encode(os.urandom(size)).decode()


def test_an_unquoted_data_url_past_pythons_field_limit_names_its_row_and_cause(
    cli: Cli, tmp_path: Path
) -> None:
    big = _data_url(120_000)  # 160,000 characters: over the csv module's 131,072
    manifest = tmp_path / "m.csv"
    manifest.write_text(f'url,file_name\n"{big}",a.bin\n{big},b.bin\n')
    result = cli("run", manifest, "--dry-run")
    assert result.exit_code == 2
    assert "m.csv: row 2: has 3 fields, the header has 2 (ragged row)" in result.stderr
    assert "a data: URL holds a comma, so its field must be quoted" in result.stderr
    assert "stray quote" not in result.stderr

    manifest.write_text(f'url,file_name\n"{big}",a.bin\n')  # quoted: a row like any other
    assert cli("run", manifest, "--dry-run").stdout.strip().startswith("new 1,")


def test_a_record_longer_than_ferry_reads_is_said_so_with_its_line(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(textio, "MAX_RECORD_BYTES", 1 << 20)
    manifest = tmp_path / "m.csv"
    manifest.write_text(f'url\nhttp://a/1\n"{_data_url(4_500_000)}\nhttp://a/2\n')
    result = cli("run", manifest, "--dry-run")
    assert result.exit_code == 2
    assert "m.csv: line 3: a row longer than 1 MiB (a quote that never closes" in result.stderr


def test_a_record_longer_than_a_block_is_read_whole_quotes_and_all() -> None:
    long = '"' + "a,\n" * 5_000 + 'b""c"'  # a quoted field of 15 kB with commas and newlines
    text = f"url\n{long}\nhttp://x/2\n".encode()
    read = io.BytesIO(text).read
    got = list(blocks(read, "m.csv", "csv", quoted=True, block_bytes=1024))
    assert b"".join(block.data for block in got) == text
    assert all(block.data.count(b'"') % 2 == 0 for block in got)  # never cut inside quotes
    assert any(long.encode() in block.data for block in got)


def test_quoted_fields_with_spaces_around_them_are_found() -> None:
    text = b'a,b,c\n" x",y,"z "\r\nplain ,"q""uote","  "\n\n"in ""x"" ",,\nx, "y" ,z\n'
    found = quoted_spaces(text, ("a", "b", "c"), ",", 5)
    assert found.to_list() == [["a", "c"], ["c"], None, ["a"], None]
    assert quoted_spaces(b"a\n x \n", ("a",), ",", 1).to_list() == [None]  # unquoted: no


def test_a_quoted_path_keeps_its_spaces_and_a_paths_tab_is_a_files_name(
    cli: Cli, api: BackgroundServer, tmp_path: Path
) -> None:
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "end space ").write_bytes(b"1")
    (folder / "tab\tname.txt").write_bytes(b"2")
    (folder / "plain.txt").write_bytes(b"3")
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "id,url\n"
        f'a,"{folder}/end space "\n'
        f'b,"{folder}/tab\tname.txt"\n'
        f"c,  {folder}/plain.txt  \n"  # unquoted: the spaces around it are not its name
        'd,"http://example.com/a\tb"\n'
    )
    result = cli("run", manifest, "--base-url", api.base_url, "--json")
    table = read_results(tmp_path / "m.results.parquet").sort("id")
    assert table["status"].to_list() == ["ok", "ok", "ok", "failed"], result.stderr
    assert table["url"][0] == f"{folder}/end space "
    assert table["error"][3] == "control characters in URL"  # a URL's tab is still refused
