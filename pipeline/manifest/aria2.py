"""aria2 input files: a line of URIs (mirrors of one file, TAB-separated), then option lines
that start with white space (https://aria2.github.io/manual/en/html/aria2c.html#input-file).

What ferry takes from an entry: its first URI is the source and the others its ``mirrors``
(tried in turn when a relay cannot fetch the source); ``out=`` is the target ``file_name`` (its
folders go under ``upload_path``, as aria2 puts them under ``dir``); ``dir=`` is a folder under
``--upload-path``; ``checksum=md5=…`` and ``checksum=sha-256=…`` fill the integrity columns
``md5`` and ``sha256``; ``header=`` lines go with a relay's request (in the hidden column
:data:`~pipeline.manifest.columns.HEADERS`, never written to the result table or a log). Other
options are counted, for one warning that names them.

An option line is white space, an option name and ``=``; any other indented line is a source
(wget's lists indent some), as are unindented lines; blank lines and ``#`` comments are skipped.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Final

import polars as pl

from pipeline.core.errors import ManifestError
from pipeline.manifest.columns import HEADERS, ROW
from pipeline.manifest.textio import Block

_OPTION_LINE: Final = r"^[ \t]+(?P<option>[A-Za-z][A-Za-z0-9-]*)=(?P<value>.*)$"
_OPTION_BYTES: Final = re.compile(rb"(?m)^[ \t]+[A-Za-z][A-Za-z0-9-]*=")
#: aria2's hash types that are ferry's integrity columns (aria2 also accepts "sha256").
_DIGESTS: Final = {"md5": "md5", "sha-256": "sha256", "sha256": "sha256"}
_TAKEN: Final = ("out", "dir", "header")


@dataclass
class Layout:
    """What an aria2 input file holds, learnt from all its lines: the options given (by name;
    ``checksum=TYPE`` for a checksum) with the count of lines, and whether any line has mirrors.
    """

    options: Counter[str] = field(default_factory=Counter)
    mirrors: bool = False

    @property
    def plain(self) -> bool:
        """A plain URL list: one source a line, nothing more."""
        return not self.options and not self.mirrors

    def columns(self) -> tuple[str, ...]:
        """The raw columns of the file, ``url`` first."""
        wanted = {
            "file_name": "out" in self.options,
            "upload_path": "dir" in self.options,
            "md5": "checksum=md5" in self.options,
            "sha256": bool({"checksum=sha-256", "checksum=sha256"} & set(self.options)),
            "mirrors": self.mirrors,
            HEADERS: "header" in self.options,
        }
        return ("url", *(name for name, present in wanted.items() if present))

    def ignored(self) -> dict[str, int]:
        """The options ferry does not use, with their count of lines."""
        used = {*_TAKEN, *(f"checksum={kind}" for kind in _DIGESTS)}
        return {name: n for name, n in sorted(self.options.items()) if name not in used}

    def learn(self, block: Block) -> None:
        """Add what ``block`` holds (plain lines cost one scan of the bytes)."""
        if not has_entries(block.data):
            return
        lines = _classified(block)
        self.mirrors = self.mirrors or bool(
            lines.filter(pl.col("option").is_null() & pl.col("text").str.contains("\t")).height
        )
        for name, value, count in _options(lines).group_by("name", "kind").len().iter_rows():
            self.options[f"checksum={value}" if name == "checksum" else name] += count


def has_entries(data: bytes) -> bool:
    """True when ``data`` may hold option lines or mirrors (else it is a plain URL list)."""
    return b"\t" in data or _OPTION_BYTES.search(data) is not None


def _classified(block: Block) -> pl.DataFrame:
    """The block's lines that count: ``ROW``, ``text`` (stripped), ``option`` and ``value``
    (null for a source line) and ``owner`` (the line of the source an option belongs to)."""
    text = pl.col("text")
    lines = (
        pl.DataFrame({"text": [block.data.decode("utf-8")]})
        .select(text.str.split("\n"))
        .explode("text")
        .with_row_index(ROW, offset=block.line)
        .with_columns(text.str.strip_chars_end("\r"))
        .with_columns(text.str.extract_groups(_OPTION_LINE).alias("parts"))
        .unnest("parts")
        .with_columns(text.str.strip_chars(" \t"))
    )
    source = pl.col("option").is_null() & (text != "") & ~text.str.starts_with("#")
    return lines.filter(source | pl.col("option").is_not_null()).with_columns(
        pl.when(source).then(pl.col(ROW)).forward_fill().alias("owner")
    )


def _options(lines: pl.DataFrame) -> pl.DataFrame:
    """The option lines: ``owner``, ``name`` (lower case), ``value`` (stripped) and for a
    checksum its ``kind`` (hash type, lower case) and ``digest``."""
    value = pl.col("value").str.strip_chars()
    return lines.filter(pl.col("option").is_not_null()).select(
        ROW,
        "owner",
        pl.col("option").str.to_lowercase().alias("name"),
        value.alias("value"),
        value.str.extract(r"^([^=]*)=", 1).str.to_lowercase().alias("kind"),
        value.str.extract(r"^[^=]*=(.*)$", 1).str.strip_chars().alias("digest"),
    )


def entries(block: Block, layout: Layout, upload_path: str, label: str) -> pl.DataFrame:
    """The rows of ``block`` (whole entries): ``ROW`` and the layout's columns, as text."""
    lines = _classified(block)
    options = _options(lines)
    orphan = options.filter(pl.col("owner").is_null())
    if orphan.height:
        raise ManifestError(
            label,
            f"an aria2 option line ({orphan['name'][0]}=…) comes before any URL line",
            row=int(orphan[ROW][0]),
        )
    uris = pl.col("text").str.split("\t").list.eval(pl.element().str.strip_chars(" "))
    uris = uris.list.eval(pl.element().filter(pl.element() != ""))
    sources = lines.filter(pl.col("option").is_null()).select(ROW, uris.alias("uris"))
    name, kind = pl.col("name"), pl.col("kind")
    headers = pl.col("value").filter(name == "header")
    per_entry = options.group_by("owner").agg(
        pl.col("value").filter(name == "out").last().alias("file_name"),
        pl.col("value").filter(name == "dir").last().str.strip_chars("/ ").alias("dir"),
        pl.col("digest").filter((name == "checksum") & (kind == "md5")).last().alias("md5"),
        pl.col("digest")
        .filter((name == "checksum") & kind.is_in(["sha-256", "sha256"]))
        .last()
        .alias("sha256"),
        pl.when(headers.len() > 0).then(headers.str.join("\n")).alias(HEADERS),
    )
    folder = pl.col("dir")
    frame = sources.join(per_entry, left_on=ROW, right_on="owner", how="left").with_columns(
        pl.col("uris").list.first().alias("url"),
        pl.when(pl.col("uris").list.len() > 1)
        .then(pl.col("uris").list.slice(1).list.join(" "))
        .alias("mirrors"),
        pl.when(folder.is_not_null() & (folder != ""))
        .then(pl.concat_str(pl.lit(upload_path), pl.lit("/"), folder))
        .alias("upload_path"),
    )
    return frame.select(ROW, *(pl.col(c).cast(pl.String) for c in layout.columns()))


def last_entry_start(data: bytes) -> int:
    """Where the last entry of ``data`` starts: its last unindented source line (0 if none)."""
    end = len(data)
    while end > 0:
        start = data.rfind(b"\n", 0, end - 1) + 1
        if data[start : start + 1] not in (b" ", b"\t", b"#", b"\n", b"\r", b""):
            return start
        end = start
    return 0
