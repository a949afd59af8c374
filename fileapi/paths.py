"""Sanitising of ``uploadPath`` and ``fileName``: nothing a client sends can escape the data dir.

Client-given values are either accepted unchanged or refused with a :class:`PathError` whose
message names the field (the handler answers 400 with it). Names the server derives itself
(from a URL or a multipart filename) go through :func:`derive_file_name`, which repairs
instead of refusing.
"""

from __future__ import annotations

import os
import secrets
import unicodedata
from pathlib import Path

MAX_UPLOAD_PATH_CHARS = 512
MAX_SEGMENT_BYTES = 255
MAX_FILE_NAME_BYTES = 255


class PathError(ValueError):
    """A client-given path or name is unusable; ``str(exc)`` is the API's 400 ``msg``."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"Invalid parameter: {field} {problem}")
        self.field = field


def _bad_char(text: str) -> str | None:
    """A description of the first forbidden character in ``text``, or ``None``."""
    for char in text:
        if char == "\\":
            return "must not contain backslashes"
        if unicodedata.category(char) in ("Cc", "Cs") or char in "\u2028\u2029":
            return "must not contain control characters"
    return None


def _check_segment(field: str, segment: str) -> None:
    if segment == "":
        raise PathError(field, "must not contain empty segments ('//')")
    if segment in (".", ".."):
        raise PathError(field, "must not contain '.' or '..' segments")
    if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
        raise PathError(field, f"has a segment longer than {MAX_SEGMENT_BYTES} bytes")


def clean_upload_path(value: str) -> str:
    """``value`` as a relative folder path, leading and trailing slashes stripped.

    Raises :class:`PathError` for backslashes, control characters, empty, ``.`` or ``..``
    segments and values over 512 characters. An empty result (``""`` or ``"/"``) is refused
    as missing: the API requires ``uploadPath``.
    """
    if len(value) > MAX_UPLOAD_PATH_CHARS:
        raise PathError("uploadPath", f"is longer than {MAX_UPLOAD_PATH_CHARS} characters")
    problem = _bad_char(value)
    if problem:
        raise PathError("uploadPath", problem)
    stripped = value.strip("/")
    if not stripped:
        raise PathError("uploadPath", "must not be empty")
    for segment in stripped.split("/"):
        _check_segment("uploadPath", segment)
    return stripped


def clean_file_name(value: str) -> str:
    """``value`` as one file name, unchanged, or :class:`PathError` naming ``fileName``."""
    if not value:
        raise PathError("fileName", "must not be empty")
    if "/" in value:
        raise PathError("fileName", "must not contain '/'")
    problem = _bad_char(value)
    if problem:
        raise PathError("fileName", problem)
    if value in (".", ".."):
        raise PathError("fileName", "must not be '.' or '..'")
    if len(value.encode("utf-8")) > MAX_FILE_NAME_BYTES:
        raise PathError("fileName", f"is longer than {MAX_FILE_NAME_BYTES} bytes")
    return value


def generated_name(extension: str = "") -> str:
    """A fresh name ``file-<hex><extension>`` for uploads that come without one."""
    return f"file-{secrets.token_hex(6)}{extension}"


def derive_file_name(candidate: str | None, extension: str = "") -> str:
    """A safe name from a server-derived ``candidate`` (URL segment, multipart filename).

    Forbidden characters become ``_``; an over-long name is shortened keeping its extension;
    when nothing usable is left a :func:`generated_name` is returned.
    """
    if candidate:
        name = candidate.replace("\\", "/").rsplit("/", 1)[-1]
        name = "".join("_" if _bad_char(c) else c for c in name).strip()
        if name not in ("", ".", ".."):
            return _shorten(name)
    return generated_name(extension)


def _shorten(name: str) -> str:
    if len(name.encode("utf-8")) <= MAX_FILE_NAME_BYTES:
        return name
    stem, dot, ext = name.rpartition(".")
    suffix = f".{ext}" if dot and stem and len(ext.encode("utf-8")) <= 16 else ""
    base = name[: len(name) - len(suffix)] if suffix else name
    budget = MAX_FILE_NAME_BYTES - len(suffix.encode("utf-8"))
    cut = base.encode("utf-8")[:budget].decode("utf-8", errors="ignore")
    return cut + suffix


def inside(root: Path, *parts: str) -> Path:
    """``root`` joined with ``parts``, normalised, and guaranteed to lie inside ``root``.

    Raises :class:`PathError` (field ``uploadPath``) if the result would escape ``root``;
    with sanitised parts that never happens, and this is the belt to those braces. The check
    is on the text (``..`` folded, symlinks not followed): below ``root`` only the server makes
    entries, and resolving every path cost a system call per directory on every upload.
    """
    base = os.path.normpath(root)
    target = os.path.normpath(os.path.join(base, *parts))
    prefix = base if base.endswith(os.sep) else base + os.sep
    if not target.startswith(prefix) or target == base:
        raise PathError("uploadPath", "points outside the storage area")
    return Path(target)
