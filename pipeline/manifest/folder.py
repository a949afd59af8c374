"""``ferry run DIR``: every regular file below a folder is a row, uploaded by stream.

The identity is the file's path relative to the folder; the target mirrors the tree:
``<default upload path>/<relative folder>/<file name>``. ferry's own files are skipped
(:mod:`pipeline.manifest.ownfiles`, by name first).

A folder is read like any manifest, in batches: one directory at a time with ``os.scandir``,
whose entries bring their type along (no ``stat``, but for a symbolic link); the names of many
directories are then made rows together, in one pass of polars. Rows come in the sorted order
of their paths (a directory's files and subfolders interleaved by name, depth first). Memory
holds a batch and the names of the directories on the way down, never the tree.

Every name a filesystem holds migrates (:mod:`pipeline.core.fsnames`): bytes that are not UTF-8 are
``%XX``-escaped in the identity and the target, and such a file's source is a ``file://`` URL;
control characters and backslashes, which the API refuses in a target, are escaped in the
target only. A symbolic link to a file is a file; one to a folder is not followed.
"""

from __future__ import annotations

import bisect
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

import polars as pl

from pipeline.core.errors import ManifestError
from pipeline.core.fsnames import decoded, file_url, shown, target_name
from pipeline.manifest.messages import quote
from pipeline.manifest.ownfiles import is_ferry_folder, own_files

log = logging.getLogger(__name__)

#: Names gathered (over as many directories as it takes) before they are made rows at once.
BATCH_NAMES: Final = 25_000
#: From this many names a directory's are sorted by polars.
SORT_IN_POLARS: Final = 4096
#: Characters a target cannot hold as they are (see :func:`pipeline.core.fsnames.target_name`).
_NOT_IN_TARGET: Final = r"[\x00-\x1f\x7f-\x9f\\]"


def _text(name: str) -> str:
    """An OS name (undecodable bytes as surrogates) as text, those bytes ``%XX``."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return decoded(os.fsencode(name))
    return name


def _all_text(names: list[str]) -> bool:
    """True when every OS name of ``names`` is text as it is (one C call for the lot)."""
    try:
        "".join(names).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class _Listing:
    """The files of one directory: ``names`` as text, ``real`` the OS name of each name whose
    text is escaped; where they come from and go to."""

    path: str  # as the OS names it
    rel: str  # relative to the root, as text ("" for the root)
    target: str  # the upload_path of its files
    names: list[str]
    real: dict[str, str]

    @property
    def exact(self) -> bool:
        """The directory's path is text as it is (else its files' sources are file:// URLs)."""
        return _text(self.path) == self.path

    def raw(self, text: str) -> bytes:
        """The path of the file whose name is ``text``, as bytes."""
        return os.fsencode(os.path.join(self.path, self.real.get(text, text)))


def folder_rows(folder: Path, default_upload_path: str) -> Iterator[pl.DataFrame]:
    """The normalised rows of the files below ``folder``, in batches."""
    label = shown(folder)
    pending: list[_Listing] = []
    held = 0
    row = 1
    for listing in _walk(folder, default_upload_path, label):
        pending.append(listing)
        held += len(listing.names)
        if held >= BATCH_NAMES:
            frame = _rows(pending, row)
            row += frame.height
            pending, held = [], 0
            yield frame
    if held:
        frame = _rows(pending, row)
        row += frame.height
        yield frame
    if row == 1:
        raise ManifestError(label, "the folder has no files to upload")


def _walk(folder: Path, default_upload_path: str, label: str) -> Iterator[_Listing]:
    """The folder's files, a directory's run at a time, in the sorted order of their paths:
    a directory's files up to a subfolder's name, that subfolder's (depth first), and on."""
    root = str(folder.resolve())
    try:
        stack = [(*_list(root, "", default_upload_path, label), 0)]
    except OSError as exc:
        raise ManifestError(label, f"cannot list the folder: {exc.strerror or exc}") from exc
    while stack:
        listing, subfolders, start = stack[-1]  # start: its files handed out so far
        if not subfolders:
            stack.pop()
            if start < len(listing.names):
                yield replace(listing, names=listing.names[start:])
            continue
        text, name = subfolders.pop()  # reversed: the first subfolder is last
        end = bisect.bisect_left(listing.names, text, lo=start)
        if end > start:
            yield replace(listing, names=listing.names[start:end])
            stack[-1] = (listing, subfolders, end)
        path = os.path.join(listing.path, name)
        rel = f"{listing.rel}/{text}" if listing.rel else text
        target = f"{listing.target}/{target_name(os.fsencode(name))}"
        try:
            stack.append((*_list(path, rel, target, label), 0))
        except OSError as exc:
            log.warning(
                f"ferry: cannot list {shown(path)}: {exc.strerror or exc}; its files are left out"
            )


def _list(path: str, rel: str, target: str, label: str) -> tuple[_Listing, list[tuple[str, str]]]:
    """The files of the directory at ``path``, and its subfolders as (text, OS name), sorted."""
    files: list[str] = []
    folders: list[str] = []
    with os.scandir(path) as entries:
        for entry in entries:
            if entry.is_file(follow_symlinks=False):
                files.append(entry.name)
            elif entry.is_dir(follow_symlinks=False):
                if not is_ferry_folder(entry.name):
                    folders.append(entry.name)
            elif entry.is_symlink() and entry.is_file():
                files.append(entry.name)
    texts, real = files, {}
    if not _all_text(files):  # a name that is not UTF-8 (rare): escaped
        texts = [_text(name) for name in files]
        real = {text: name for text, name in zip(texts, files, strict=True) if text is not name}
        _refuse_twins(real, files, path, label)
    subfolders = sorted(((_text(name), name) for name in folders), reverse=True)
    _refuse_twins({t: n for t, n in subfolders if t is not n}, folders, path, label)
    return _Listing(path, rel, target, _sorted(texts), real), subfolders


def _sorted(names: list[str]) -> list[str]:
    """``names`` sorted: by polars when they are many (ten times faster than ``list.sort``)."""
    if len(names) < SORT_IN_POLARS:
        names.sort()
        return names
    return pl.Series(names, dtype=pl.String).sort().to_list()


def _refuse_twins(escaped: dict[str, str], names: list[str], path: str, label: str) -> None:
    """Refuse a name that is not UTF-8 whose escaped text another name of its directory is."""
    if escaped and not escaped.keys().isdisjoint(names):
        text = sorted(escaped.keys() & set(names))[0]
        raise ManifestError(
            label,
            f"{quote(shown(os.path.join(path, text)))} names two entries: one spelt so and one "
            "whose name is not UTF-8 (written with %XX escapes): rename one",
        )


def _rows(listings: list[_Listing], first_row: int) -> pl.DataFrame:
    """The rows of the files of ``listings``, made together."""
    folders = pl.DataFrame(
        {
            "_d": pl.Series(range(len(listings)), dtype=pl.UInt32),
            "_id": [f"{item.rel}/" if item.rel else "" for item in listings],
            "_url": [item.path.rstrip("/") + "/" if item.exact else "" for item in listings],
            "upload_path": [item.target for item in listings],
        }
    )
    counts = pl.Series([len(item.names) for item in listings], dtype=pl.UInt32)
    names = pl.DataFrame({"name": [name for item in listings for name in item.names]}).with_columns(
        folders.select(pl.col("_d").repeat_by(counts).explode())["_d"]
    )
    own = own_files(
        names["name"], lambda i: Path(os.fsdecode(listings[names["_d"][i]].raw(names["name"][i])))
    )
    if own.any():
        names = names.filter(~own)
    name = pl.col("name")
    frame = names.join(folders, on="_d", how="left", maintain_order="left").select(
        "_d",
        (pl.col("_id") + name).alias("id"),
        (pl.col("_url") + name).alias("url"),
        "upload_path",
        name.alias("file_name"),
        pl.int_range(first_row, first_row + pl.len(), dtype=pl.Int64).alias("_row"),
        pl.lit(None, dtype=pl.String).alias("_invalid"),
    )
    if all(item.exact and not item.real for item in listings):
        odd = frame["file_name"].str.contains(_NOT_IN_TARGET)
        if not odd.any():
            return frame.drop("_d")  # the common case: every name is its own text
    return _escaped(frame, listings).drop("_d")


def _escaped(frame: pl.DataFrame, listings: list[_Listing]) -> pl.DataFrame:
    """``frame`` with the sources and targets that text cannot hold as they are, row by row
    (rare): the source as a ``file://`` URL, the target escaped."""
    urls = frame["url"].to_list()
    targets = frame["file_name"].to_list()
    for number, (folder, text) in enumerate(frame.select("_d", "file_name").iter_rows()):
        listing = listings[folder]
        escaped = text in listing.real
        if escaped or not listing.exact:
            urls[number] = file_url(listing.raw(text))
        if escaped or _needs_escape(text):
            targets[number] = target_name(os.fsencode(listing.real.get(text, text)))
    return frame.with_columns(
        pl.Series("url", urls, dtype=pl.String), pl.Series("file_name", targets, dtype=pl.String)
    )


def _needs_escape(text: str) -> bool:
    return target_name(text.encode()) != text
