"""Manifests exactly as the real tools write them, fed to ``ferry run`` against ferry's own API
on loopback: each test writes its input as the tool's documentation shows it and, where the
tool is a Debian package (aria2, wget), checks that the tool itself accepts the same file
against the same loopback source server (skipped, with the reason, where it is not installed).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner, Result

from fileapi import BackgroundServer
from fileapi.sources import SOURCE_STATS
from pipeline.store.table import read_results
from tests.conftest import API_KEY

Cli = Callable[..., Result]
FILES = {
    "a.bin": b"first file\n",
    "b.bin": b"second file, twelve\n",
    "c.bin": b"third\n",
    "photo.jpg": b"\xff\xd8 a photo",
    "demo/image/upload/w_100,h_200/sample.jpg": b"\xff\xd8 a cloudinary sample",
    "foo/bar.json": b'{"bar": 1}\n',
    "qux/baz.json": b'{"baz": 2}\n',
}
TOOL_TIMEOUT = 60
QUIET = ("--console-log-level=error", "--summary-interval=0", "--show-console-readout=false")


def need(tool: str) -> str:
    """The path of ``tool``, or skip saying why (``make test`` installs it as root)."""
    found = shutil.which(tool)
    if found is None:
        pytest.skip(f"{tool} is not installed (make test installs Debian's package as root)")
    return found


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def uploaded(api: BackgroundServer, table: Path) -> dict[str, bytes]:
    """``file_path`` → the bytes the API serves, for every ok row of ``table``."""
    frame = read_results(table).filter(pl.col("status") == "ok")
    found = {}
    for path, url in frame.select("file_path", "download_url").iter_rows():
        with urllib.request.urlopen(url, timeout=10) as answer:  # loopback: ferry's own API
            found[path] = answer.read()
    return found


def downloaded(folder: Path) -> dict[str, bytes]:
    """Every finished file below ``folder`` (aria2's ``.aria2`` control files left out)."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and p.suffix != ".aria2"
    }


def run_stdin(args: list[str], data: bytes) -> Result:
    from jobs.cli import main

    env: dict[str, str | None] = {"KIE_API_KEY": API_KEY, "FERRY_SHARD": None}
    return CliRunner().invoke(main, args, input=data, env=env, catch_exceptions=False)


@pytest.fixture
def src(start_sources: Callable[..., BackgroundServer]) -> BackgroundServer:
    return start_sources(FILES)


# --- aria2 input files ---------------------------------------------------------------------


def aria2_input(base: str) -> str:
    """An input file as aria2c's manual shows one: URI lines, TAB-separated mirrors, indented
    option lines (``dir=``, ``out=``, ``checksum=``), and an option ferry does not use."""
    return (
        "# made for aria2c -i\n"
        f"{base}/a.bin\n"
        "  dir=sub\n"
        "  out=renamed.bin\n"
        "  split=4\n"
        f"{base}/b.bin\n"
        f"  checksum=sha-256={sha256(b'not the bytes')}\n"
        f"{base}/missing.bin\t{base}/c.bin\n"
        f"{base}/photo.jpg\n"
        "  out=deep/er/photo.jpg\n"
        f"  checksum=md5={hashlib.md5(FILES['photo.jpg']).hexdigest()}\n"
    )


def test_aria2_input_file_as_documented(
    cli: Cli, api: BackgroundServer, src: BackgroundServer, tmp_path: Path
) -> None:
    """aria2c's manual, "Input File" (https://aria2.github.io/manual/en/html/aria2c.html#input-file):
    "separate URIs on a single line using the TAB character", "options can be specified after
    each line of URIs. These optional lines must start with white space(s)", ``dir`` and ``out``
    as in its uri.txt example, ``checksum=<TYPE>=<DIGEST>`` as under ``--checksum``.

    ferry gives aria2c's result: every file under the same relative path, the mirror used when
    the first URI fails, the bad checksum refused (with ``--via relay``, which sees the bytes).
    """
    manifest = tmp_path / "uri.txt"
    manifest.write_text(aria2_input(src.base_url))
    table = tmp_path / "uri.results.parquet"
    done = cli("run", manifest, "--base-url", api.base_url, "--via", "relay", "--upload-path", "m")
    assert done.exit_code == 1, done.stderr
    rows = read_results(table).sort("url")
    assert rows.select("upload_path", "file_name", "status", "error_kind").rows() == [
        ("m/sub", "renamed.bin", "ok", None),
        ("m", None, "failed", "checksum_mismatch"),
        ("m", None, "ok", None),  # missing.bin failed: its mirror c.bin was relayed
        ("m/deep/er", "photo.jpg", "ok", None),
    ]
    assert rows["mirrors"].to_list() == [None, None, f"{src.base_url}/c.bin", None]
    assert "sha256 mismatch" in rows["error"][1]
    assert done.stderr.count("aria2 options ferry does not use were ignored: split (1 line)") == 1
    from_ferry = {path.removeprefix("m/"): data for path, data in uploaded(api, table).items()}
    assert from_ferry == {
        "sub/renamed.bin": FILES["a.bin"],
        "c.bin": FILES["c.bin"],
        "deep/er/photo.jpg": FILES["photo.jpg"],
    }

    aria2c = need("aria2c")
    out = tmp_path / "aria2"
    out.mkdir()
    tool = subprocess.run(
        [aria2c, "--no-conf", "-i", str(manifest), "-d", str(out), "--max-tries=1", *QUIET],
        cwd=out,  # aria2c takes a relative dir= from where it runs, as ferry from --upload-path
        capture_output=True,
        timeout=TOOL_TIMEOUT,
        check=False,
    )
    assert tool.returncode == 32, tool.stdout  # 32: "checksum validation failed"
    finished = {k: v for k, v in downloaded(out).items() if k != "b.bin"}  # b.bin: refused
    assert finished == from_ferry


def test_aria2_checksum_with_url_uploads_is_reported_unchecked(
    cli: Cli, api: BackgroundServer, src: BackgroundServer, tmp_path: Path
) -> None:
    """Default ``--via url``: the API fetches the bytes, so a wrong checksum cannot be seen;
    the run says so once and counts the rows (``unchecked_hashes``)."""
    manifest = tmp_path / "uri.txt"
    manifest.write_text(aria2_input(src.base_url))
    done = cli("run", manifest, "--base-url", api.base_url, "--json")
    summary = json.loads(done.stdout)
    assert summary["unchecked_hashes"] == 2  # b.bin (wrong, undetected) and photo.jpg
    assert done.stderr.count("md5/sha256 of 2 rows not checked") == 1
    assert "--via relay" in done.stderr and "ferry verify --checksum" in done.stderr
    auto = cli("run", manifest, "--base-url", api.base_url, "--via", "auto", "--json",
               "--results", tmp_path / "auto.parquet")  # fmt: skip
    assert json.loads(auto.stdout)["failed"] == 0  # the mirror is relayed after a source_error


def test_aria2_header_lines_go_with_the_relay_only(
    cli: Cli, api: BackgroundServer, start_sources: Callable[..., BackgroundServer], tmp_path: Path
) -> None:
    """``header=`` (aria2c's ``--header``, per entry) reaches the source on a relay; it is a
    credential: never in the result table, the journal's folded rows, stderr or ``--json``."""
    secret = "Bearer s3cret-9d8c7b"
    private = start_sources(FILES, required_header=("Authorization", secret))
    manifest = tmp_path / "private.txt"
    manifest.write_text(f"{private.base_url}/a.bin\n  header=Authorization: {secret}\n")
    refused = cli("run", manifest, "--base-url", api.base_url, "--json")
    assert refused.exit_code == 1
    assert "header= lines of 1 row not sent" in refused.stderr
    relayed = cli("run", manifest, "--base-url", api.base_url, "--via", "relay", "--json")
    assert relayed.exit_code == 0, relayed.stderr
    table = tmp_path / "private.results.parquet"
    frame = read_results(table)
    assert frame["status"].to_list() == ["ok"] and "_headers" not in frame.columns
    for text in (refused.stdout, refused.stderr, relayed.stdout, relayed.stderr):
        assert "s3cret" not in text
    assert not any(b"s3cret" in p.read_bytes() for p in tmp_path.glob("private.results*"))
    assert private.app[SOURCE_STATS].refused == 1  # the API's own fetch, without the header

    aria2c = need("aria2c")
    out = tmp_path / "aria2"
    out.mkdir()
    tool = subprocess.run(
        [aria2c, "--no-conf", "-i", str(manifest), "-d", str(out), "--max-tries=1"],
        capture_output=True,
        timeout=TOOL_TIMEOUT,
        check=False,
    )
    assert tool.returncode == 0 and (out / "a.bin").read_bytes() == FILES["a.bin"]


# --- rclone copyurl --urls -----------------------------------------------------------------


def rclone_urls(base: str) -> str:
    """The CSV of rclone's ``copyurl`` help (https://rclone.org/commands/rclone_copyurl/): "Each
    FILENAME in the CSV file can start with a relative path which will be appended to the
    destination path" (rclone has no Debian package recent enough to run here)."""
    return (
        f"{base}/foo/bar.json,local/path/bar.json\n"
        f"{base}/qux/baz.json,another/local/directory/qux.json\n"
    )


@pytest.mark.parametrize("name", ["myurls.csv", "myurls.txt"])
def test_rclone_names_with_folders(
    cli: Cli, api: BackgroundServer, src: BackgroundServer, tmp_path: Path, name: str
) -> None:
    """rclone writes ``remote:dir/local/path/bar.json``: ferry puts the folders under
    ``--upload-path`` (the same CSV saved as .txt is recognised by its content, and says so)."""
    manifest = tmp_path / name
    manifest.write_text(rclone_urls(src.base_url))
    done = cli("run", manifest, "--base-url", api.base_url, "--upload-path", "dir")
    assert done.exit_code == 0, done.stderr
    assert ("rclone copyurl --urls" in done.stderr) == name.endswith(".txt")
    table = tmp_path / "myurls.results.parquet"
    assert uploaded(api, table) == {
        "dir/local/path/bar.json": FILES["foo/bar.json"],
        "dir/another/local/directory/qux.json": FILES["qux/baz.json"],
    }


# --- standard input ------------------------------------------------------------------------


def test_url_list_with_commas_on_stdin(
    api: BackgroundServer, src: BackgroundServer, tmp_path: Path
) -> None:
    """A URL list whose first URL has a comma (a query ``?w=100,h=200``, Cloudinary's
    ``/w_100,h_200/`` path) is a URL list, never a header-less CSV; the guess is said once.
    wget reads the same list with ``-i -`` (https://www.gnu.org/software/wget/manual/wget.html,
    "Logging and Input File Options": "URLs are read from the standard input")."""
    urls = [
        f"{src.base_url}/photo.jpg?w=100,h=200",
        f"{src.base_url}/demo/image/upload/w_100,h_200/sample.jpg",
    ]
    data = "".join(f"{url}\n" for url in urls).encode()
    table = tmp_path / "piped.results.parquet"
    done = run_stdin(["run", "-", "--base-url", api.base_url, "--results", str(table)], data)
    assert done.exit_code == 0, done.stderr
    frame = read_results(table)
    assert frame.select("url", "file_name", "status").rows() == [(u, None, "ok") for u in urls]
    assert done.stderr.count("read as a URL list, one URL a line, commas and all") == 1
    assert sorted(uploaded(api, table).values()) == sorted(
        [FILES["photo.jpg"], FILES["demo/image/upload/w_100,h_200/sample.jpg"]]
    )

    wget = need("wget")
    out = tmp_path / "wget"
    out.mkdir()
    before = dict(src.app[SOURCE_STATS].requests)
    tool = subprocess.run(
        [wget, "-q", "--no-config", "-t", "1", "-T", "10", "-P", str(out), "-i", "-"],
        input=data,
        capture_output=True,
        timeout=TOOL_TIMEOUT,
        check=False,
    )
    assert tool.returncode == 0, tool.stderr
    fetched = src.app[SOURCE_STATS].requests
    assert {k: fetched[k] - before.get(k, 0) for k in fetched if fetched[k] != before.get(k)} == {
        "photo.jpg": 1,
        "demo/image/upload/w_100,h_200/sample.jpg": 1,
    }


def test_bare_file_names_from_ls(api: BackgroundServer, tmp_path: Path) -> None:
    """``ls | ferry run - --results x.parquet``: bare names (no path, no URL), a ``%`` and a
    space among them, are local files in the working directory."""
    folder = tmp_path / "photos"
    folder.mkdir()
    names = {"100%.txt": b"full\n", "b c.txt": b"spaced\n", "README": b"plain\n"}
    for name, data in names.items():
        (folder / name).write_bytes(data)
    listing = subprocess.run(["ls"], cwd=folder, capture_output=True, check=True).stdout
    table = tmp_path / "x.parquet"
    done = subprocess.run(
        [sys.executable, "-m", "jobs", "run", "-", "--base-url", api.base_url, "--results", table],
        input=listing,
        cwd=folder,
        env={**os.environ, "KIE_API_KEY": API_KEY},
        capture_output=True,
        timeout=TOOL_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(uploaded(api, table).values()) == sorted(names.values())


# --- STS lists and TSV ---------------------------------------------------------------------


def test_sts_list_saved_as_txt(
    cli: Cli, api: BackgroundServer, src: BackgroundServer, tmp_path: Path
) -> None:
    """A Storage Transfer Service URL list (https://cloud.google.com/storage-transfer/docs/
    create-url-list: first line ``TsvHttpData-1.0``, then URL, size, Base64 MD5, TAB-separated)
    saved as .txt is that list, not a list of paths."""
    import base64

    data = FILES["a.bin"]
    md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
    manifest = tmp_path / "transfer.txt"
    manifest.write_text(f"TsvHttpData-1.0\n{src.base_url}/a.bin\t{len(data)}\t{md5}\n")
    done = cli("run", manifest, "--base-url", api.base_url, "--via", "relay")
    assert done.exit_code == 0, done.stderr
    frame = read_results(tmp_path / "transfer.results.parquet")
    assert frame.select("url", "size", "md5", "status").rows() == [
        (f"{src.base_url}/a.bin", len(data), md5, "ok")
    ]


def test_sts_list_with_a_wrong_md5(
    cli: Cli, api: BackgroundServer, src: BackgroundServer, tmp_path: Path
) -> None:
    """The default URL upload cannot see a wrong MD5, and says so; a relay fails the row."""
    manifest = tmp_path / "transfer.tsv"
    manifest.write_text(f"TsvHttpData-1.0\n{src.base_url}/a.bin\t11\tAAAAAAAAAAAAAAAAAAAAAA==\n")
    by_url = cli("run", manifest, "--base-url", api.base_url, "--json")
    assert by_url.exit_code == 0 and json.loads(by_url.stdout)["unchecked_hashes"] == 1
    assert "md5/sha256 of 1 row not checked" in by_url.stderr
    relayed = cli("run", manifest, "--base-url", api.base_url, "--via", "relay", "--json",
                  "--results", tmp_path / "relayed.parquet")  # fmt: skip
    assert relayed.exit_code == 1
    assert json.loads(relayed.stdout)["error_kinds"] == {"checksum_mismatch": 1}


def test_tsv_exported_by_libreoffice(
    cli: Cli, api: BackgroundServer, src: BackgroundServer, tmp_path: Path
) -> None:
    """LibreOffice's Text CSV export with a tab separator and "Quote all text cells"
    (https://help.libreoffice.org/latest/en-US/text/shared/guide/csv_params.html): every text
    cell in double quotes, a quote inside doubled; the quotes are quoting, not part of names."""
    manifest = tmp_path / "export.tsv"
    manifest.write_text(
        f'"URL"\t"file_name"\t"note"\n"{src.base_url}/a.bin"\t"a copy.bin"\t"5"" print\tframed"\n'
    )
    done = cli("run", manifest, "--base-url", api.base_url)
    assert done.exit_code == 0, done.stderr
    frame = read_results(tmp_path / "export.results.parquet")
    assert frame.select("file_name", "note", "status").rows() == [
        ("a copy.bin", '5" print\tframed', "ok")
    ]


# --- JSON Lines from pandas ----------------------------------------------------------------


def test_json_lines_written_by_pandas(
    cli: Cli, api: BackgroundServer, src: BackgroundServer, tmp_path: Path
) -> None:
    """pandas' ``DataFrame.to_json(orient="records", lines=True)``
    (https://pandas.pydata.org/docs/reference/api/pandas.DataFrame.to_json.html) writes an
    integer column with a gap as floats (``12.0``) and escapes ``/``; ``1e3`` is how other
    exporters write a whole number. pandas reads it back as integers; so does ferry. A size that
    is not whole fails its row alone."""
    pd = pytest.importorskip("pandas", reason="pandas is in the dev extras")
    frame = pd.DataFrame(
        {
            "url": [f"{src.base_url}/{name}" for name in ("a.bin", "b.bin", "c.bin")],
            "size": [len(FILES["a.bin"]), len(FILES["b.bin"]), None],
        }
    )
    text = frame.to_json(orient="records", lines=True)
    assert '"size":11.0' in text and "\\/" in text  # what pandas writes, as its docs say
    text += f'{{"url": "{src.base_url}/photo.jpg", "size": 1e1}}\n'
    text += f'{{"url": "{src.base_url}/foo/bar.json", "size": 12.5}}\n'
    manifest = tmp_path / "export.jsonl"
    manifest.write_text(text)
    assert pd.read_json(io.StringIO(text), lines=True)["size"].tolist()[:2] == [11, 20]
    done = cli("run", manifest, "--base-url", api.base_url)
    assert done.exit_code == 1, done.stderr  # the one row whose size is not whole
    rows = read_results(tmp_path / "export.results.parquet").sort("url")
    # URL uploads compare size with the API's fileSize: the sizes read are the true ones
    assert rows.select("size", "status", "error").rows() == [
        (11, "ok", None),
        (20, "ok", None),
        (None, "ok", None),
        (None, "failed", "invalid size '12.5': not a whole number of bytes"),
        (10, "ok", None),
    ]
