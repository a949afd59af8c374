"""``--column FIELD=NAME`` and the integrity columns ``size``, ``md5``, ``sha256``."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pipeline.core.errors import ManifestError, UsageError
from pipeline.manifest import FRAME_COLUMNS, ManifestOptions, read_manifest
from pipeline.manifest.options import parse_column_option
from tests.helpers.bad_manifests import parquet_bytes


def write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def test_column_maps_a_field_to_any_column(tmp_path: Path) -> None:
    path = write(tmp_path / "products.csv", "image_url,title,price\nhttps://e.com/a.jpg,a.jpg,3\n")
    manifest = read_manifest(
        path, ManifestOptions(columns={"url": "IMAGE_URL", "file_name": "Title"})
    )
    assert manifest.frame.select("url", "file_name", "price").rows() == [
        ("https://e.com/a.jpg", "a.jpg", "3")
    ]
    assert manifest.extra_columns == ("price",)


def test_column_and_an_alias_of_the_same_field_are_ambiguous(tmp_path: Path) -> None:
    path = write(tmp_path / "m.csv", "image_url,url\nhttps://e.com/a.jpg,https://shop/a\n")
    with pytest.raises(ManifestError, match="columns 'image_url' and 'url' both name the url"):
        read_manifest(path, ManifestOptions(columns={"url": "image_url"}))


def test_column_name_not_in_the_manifest_is_a_usage_error(tmp_path: Path) -> None:
    path = write(tmp_path / "m.csv", "link,title\nhttps://e.com/a.jpg,a\n")
    with pytest.raises(UsageError) as info:
        read_manifest(path, ManifestOptions(columns={"url": "image_url"}))
    message = str(info.value)
    assert "--column url=image_url" in message and "no column 'image_url'" in message
    assert "link, title" in message


def test_unknown_field_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"unknown field .colour..*fields: url, upload_path"):
        parse_column_option("colour=paint")
    with pytest.raises(UsageError, match="expected FIELD=NAME"):
        parse_column_option("url")
    with pytest.raises(UsageError, match="unknown field 'colour'"):
        ManifestOptions(columns={"colour": "paint"})
    assert parse_column_option(" md5 = checksum ") == ("md5", "checksum")


def test_output_columns_can_be_mapped(tmp_path: Path) -> None:
    # "status" is a result table's output column, dropped unless a --column names it.
    path = write(tmp_path / "m.csv", "status,note\nhttps://e.com/a,x\n")
    manifest = read_manifest(path, ManifestOptions(columns={"url": "status"}))
    assert manifest.frame["url"].to_list() == ["https://e.com/a"]


MD5_HEX = "9e107d9d372bb6826bd81d3542a419d6"
MD5_B64 = "nhB9nTcrtoJr2B01QqQZ1g=="
SHA = "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592"


def test_integrity_columns_are_checked_per_row_and_carried(tmp_path: Path) -> None:
    data = (
        "url,Size,MD5,sha256,note\n"
        f"https://e.com/1,10,{MD5_HEX},{SHA},a\n"
        f"https://e.com/2, 1_024 ,{MD5_B64},,b\n"
        "https://e.com/3,,,,c\n"
        "https://e.com/4,ten,,,d\n"
        "https://e.com/5,-1,,,e\n"
        "https://e.com/6,,abc,,f\n"
        f"https://e.com/7,,,{SHA[:-1]},g\n"
        "https://e.com/8,1.5,,,h\n"
    )
    manifest = read_manifest(write(tmp_path / "m.csv", data))
    assert manifest.extra_columns == ("size", "md5", "sha256", "note")
    frame = manifest.frame
    assert frame.columns == [*FRAME_COLUMNS, "size", "md5", "sha256", "note"]
    assert frame.schema["size"] == pl.Int64
    assert frame["size"].to_list()[:3] == [10, 1024, None]
    assert frame["md5"].to_list()[:3] == [MD5_HEX, MD5_B64, None]
    assert frame["_invalid"].to_list() == [
        None,
        None,
        None,
        "invalid size 'ten': not a whole number of bytes",
        "invalid size '-1': not a whole number of bytes",
        "invalid md5 'abc': not 32 hex digits or 24 Base64 characters",
        f"invalid sha256 '{SHA[:-1]}': not 64 hex digits",
        "invalid size '1.5': not a whole number of bytes",
    ]


def test_integrity_columns_from_parquet_and_by_mapping(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {"url": ["https://e.com/1", "https://e.com/2"], "bytes": [5, -2], "hash": [MD5_HEX, None]}
    )
    path = write(tmp_path / "m.parquet", parquet_bytes(frame))
    manifest = read_manifest(path, ManifestOptions(columns={"size": "bytes", "md5": "hash"}))
    assert manifest.extra_columns == ("size", "md5")
    assert manifest.frame.select("size", "md5", "_invalid").rows() == [
        (5, MD5_HEX, None),
        (-2, None, "invalid size '-2': not a whole number of bytes"),
    ]


def test_a_float_size_column_takes_whole_numbers(tmp_path: Path) -> None:
    """pandas writes an integer column with a gap as floats (12.0): whole ones are sizes."""
    frame = pl.DataFrame(
        {"url": [f"https://e.com/{n}" for n in range(5)], "size": [12.0, 1e3, 1.5, None, -1.0]}
    )
    manifest = read_manifest(write(tmp_path / "m.parquet", parquet_bytes(frame)))
    assert manifest.frame.select("size", "_invalid").rows() == [
        (12, None),
        (1000, None),
        (None, "invalid size '1.5': not a whole number of bytes"),
        (None, None),
        (-1, "invalid size '-1.0': not a whole number of bytes"),
    ]


def test_a_bool_size_column_is_a_bad_manifest(tmp_path: Path) -> None:
    frame = pl.DataFrame({"url": ["https://e.com/1"], "size": [True]})
    with pytest.raises(ManifestError, match="column 'size': expected text or integer, found bool"):
        read_manifest(write(tmp_path / "m.parquet", parquet_bytes(frame)))
