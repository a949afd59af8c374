"""Checksums end to end: every way ferry sees the bytes, against ferry's own API on loopback."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from fileapi import BackgroundServer
from pipeline.core.errors import ChecksumMismatchError
from pipeline.store.table import read_results
from pipeline.upload.checksums import Digest, Expected, data_url_bytes, md5_bytes
from tests.conftest import write_manifest

Cli = Callable[..., Result]
GOOD = b"the bytes the manifest promised\n" * 300
BAD = b"x" * len(GOOD)  # the same size, other bytes


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def integrity_rows(url_of: Callable[[str], str]) -> list[dict[str, Any]]:
    """One row per case; every source at ``url_of(name)`` holds :data:`GOOD`."""
    size, hexed, b64, sha = len(GOOD), md5_hex(GOOD), md5_b64(GOOD), sha256_hex(GOOD)
    cases: dict[str, tuple[int | None, str | None, str | None]] = {
        "all-right": (size, hexed, sha),
        "md5-upper-hex": (None, hexed.upper(), None),
        "md5-base64": (None, b64, None),
        "size-wrong": (size + 1, None, None),
        "md5-wrong": (None, md5_hex(BAD), None),
        "md5-b64-wrong": (None, md5_b64(BAD), None),
        "sha256-wrong": (size, None, sha256_hex(BAD)),
        "nothing": (None, None, None),
    }
    return [
        {"id": key, "url": url_of(key), "size": s, "md5": m, "sha256": h}
        for key, (s, m, h) in cases.items()
    ]


def run_rows(cli: Cli, tmp_path: Path, rows: list[dict[str, Any]], *args: str) -> dict[str, Any]:
    manifest = write_manifest(tmp_path / "m.csv", rows)
    result = cli("run", manifest, *args)
    assert result.exit_code == 1, result.stderr  # the wrong ones fail
    table = read_results(tmp_path / "m.results.parquet")
    return {row["id"]: row for row in table.iter_rows(named=True)}


def stored_files(api_data: Path) -> int:
    return sum(1 for path in (api_data / "files").rglob("*") if path.is_file())


def assert_verdicts(by_id: dict[str, Any], *, uploaded_note: str, size_note: str) -> None:
    for key in ("all-right", "md5-upper-hex", "md5-base64", "nothing"):
        assert (by_id[key]["status"], by_id[key]["file_size"]) == ("ok", len(GOOD)), key
    for key in ("size-wrong", "md5-wrong", "md5-b64-wrong", "sha256-wrong"):
        assert (by_id[key]["status"], by_id[key]["error_kind"]) == ("failed", "checksum_mismatch")
        assert by_id[key]["attempts"] == 1  # permanent: not retried
    assert by_id["size-wrong"]["error"] == (
        f"size mismatch: expected {len(GOOD) + 1}, actual {len(GOOD)}{size_note}"
    )
    assert by_id["md5-wrong"]["error"] == (
        f"md5 mismatch: expected {md5_hex(BAD)}, actual {md5_hex(GOOD)}{uploaded_note}"
    )
    assert by_id["md5-b64-wrong"]["error"] == (
        f"md5 mismatch: expected {md5_b64(BAD)}, actual {md5_b64(GOOD)}{uploaded_note}"
    )
    assert by_id["sha256-wrong"]["error"] == (
        f"sha256 mismatch: expected {sha256_hex(BAD)}, actual {sha256_hex(GOOD)}{uploaded_note}"
    )


AFTER = " (found while streaming: the file was uploaded)"


@pytest.mark.parametrize("form", ["path", "file-url"])
def test_local_files_are_hashed_while_they_stream(
    cli: Cli, start_api: Callable[..., BackgroundServer], tmp_path: Path, form: str
) -> None:
    data_dir = tmp_path / "api-data"
    api = start_api(data_dir=data_dir)
    (tmp_path / "files").mkdir()
    for key in [row["id"] for row in integrity_rows(str)]:
        (tmp_path / "files" / f"{key}.txt").write_bytes(GOOD)

    def url_of(key: str) -> str:
        path = tmp_path / "files" / f"{key}.txt"
        return f"files/{key}.txt" if form == "path" else path.as_uri()

    by_id = run_rows(cli, tmp_path, integrity_rows(url_of), "--base-url", api.base_url)
    assert_verdicts(by_id, uploaded_note=AFTER, size_note=" (nothing was uploaded)")
    # a wrong size is known from the file before the upload; the hashes only after it
    assert stored_files(data_dir) == 7


def test_relayed_sources_are_hashed_on_the_way(
    cli: Cli,
    start_api: Callable[..., BackgroundServer],
    start_sources: Callable[..., BackgroundServer],
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "api-data"
    api = start_api(data_dir=data_dir)
    names = [row["id"] for row in integrity_rows(str)]
    src = start_sources({f"{key}.bin": GOOD for key in names})
    rows = integrity_rows(lambda key: f"{src.base_url}/{key}.bin")
    by_id = run_rows(cli, tmp_path, rows, "--base-url", api.base_url, "--via", "relay")
    assert_verdicts(by_id, uploaded_note=AFTER, size_note=" (the source's Content-Length)")
    assert stored_files(data_dir) == 7


def test_data_urls_are_checked_before_they_are_sent(
    cli: Cli, start_api: Callable[..., BackgroundServer], tmp_path: Path
) -> None:
    data_dir = tmp_path / "api-data"
    api = start_api(data_dir=data_dir)
    url = "data:text/plain;base64," + base64.b64encode(GOOD).decode()
    by_id = run_rows(cli, tmp_path, integrity_rows(lambda _key: url), "--base-url", api.base_url)
    assert_verdicts(by_id, uploaded_note="", size_note="")
    assert stored_files(data_dir) == 4  # the wrong ones were never sent


def test_url_uploads_compare_the_apis_file_size(
    cli: Cli,
    start_api: Callable[..., BackgroundServer],
    start_sources: Callable[..., BackgroundServer],
    tmp_path: Path,
) -> None:
    api = start_api()
    src = start_sources({"a.bin": GOOD})
    rows = [
        {"id": "right", "url": f"{src.base_url}/a.bin", "size": len(GOOD), "md5": md5_hex(BAD)},
        {"id": "wrong", "url": f"{src.base_url}/a.bin", "size": 5},
    ]
    by_id = run_rows(cli, tmp_path, rows, "--base-url", api.base_url)
    # the API fetched the bytes, ferry never saw them: only the size can be compared
    assert (by_id["right"]["status"], by_id["right"]["method"]) == ("ok", "url")
    assert by_id["wrong"]["status"] == "failed"
    assert by_id["wrong"]["error_kind"] == "checksum_mismatch"
    assert by_id["wrong"]["error"] == (
        f"size mismatch: expected 5, actual {len(GOOD)} (the API's fileSize)"
    )


def test_the_next_run_tries_a_mismatched_row_again(
    cli: Cli, api: BackgroundServer, tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_bytes(BAD)
    rows = [{"id": "a", "url": "a.txt", "md5": md5_hex(GOOD)}]
    run_rows(cli, tmp_path, rows, "--base-url", api.base_url)
    (tmp_path / "a.txt").write_bytes(GOOD)  # the user fixed the file
    result = cli("run", tmp_path / "m.csv", "--base-url", api.base_url)
    assert result.exit_code == 0, result.stderr
    assert read_results(tmp_path / "m.results.parquet")["status"].to_list() == ["ok"]


def test_digest_computes_only_what_is_expected_and_compares_md5_in_either_form() -> None:
    only_size = Digest(Expected(size=3))
    only_size.update(b"abc")
    only_size.check()
    assert (only_size._md5, only_size._sha256) == (None, None)
    for md5 in (md5_hex(b"abc").upper(), md5_b64(b"abc")):
        digest = Digest(Expected(md5=md5))
        digest.update(b"ab")
        digest.update(b"c")
        digest.check()
    digest = Digest(Expected(size=3, sha256=sha256_hex(b"abd")))
    digest.update(b"abc")
    with pytest.raises(ChecksumMismatchError, match=r"^sha256 mismatch: expected .*, actual "):
        digest.check()
    assert md5_bytes("not an md5") is None
    assert data_url_bytes("data:,plain") is None
    assert data_url_bytes("data:;base64,YW Jj") == b"abc"  # lenient like the API
