"""MIME type of an upload: magic bytes first, then the file name's extension, then a hint."""

from __future__ import annotations

import mimetypes
import re

import filetype

#: Bytes of the file's head that :func:`detect_mime` needs (``filetype`` reads 8 KiB at most).
HEAD_BYTES = 8192
FALLBACK_MIME = "application/octet-stream"
_GENERIC = {"", FALLBACK_MIME, "binary/octet-stream", "application/unknown"}
# RFC 6838 type/subtype names: a client's declared type is stored and sent back as a
# Content-Type header, so anything else (spaces, control characters, non-ASCII) is dropped.
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,62}/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}")


def detect_mime(head: bytes, file_name: str, hint: str | None = None) -> str:
    """The MIME type of a file whose first bytes are ``head`` and whose name is ``file_name``.

    Magic bytes win (via ``filetype``); else the extension (via ``mimetypes``); else ``hint``
    (a declared type such as a data URL's or a source's ``Content-Type``) unless it is
    generic; else ``application/octet-stream``.
    """
    kind = filetype.guess(head[:HEAD_BYTES]) if head else None
    if kind is not None:
        return str(kind.mime)
    guessed, _ = mimetypes.guess_type(file_name, strict=False)
    if guessed:
        return guessed
    declared = clean_hint(hint)
    return declared or FALLBACK_MIME


def clean_hint(hint: str | None) -> str | None:
    """The bare ``type/subtype`` of a declared ``Content-Type``, or ``None`` if generic or bad."""
    if not hint:
        return None
    bare = hint.split(";", 1)[0].strip().lower()
    if bare in _GENERIC or not _MEDIA_TYPE.fullmatch(bare):
        return None
    return bare


def extension_for(mime: str | None) -> str:
    """A file extension (with dot) for ``mime``, or ``""`` when none is known."""
    if not mime:
        return ""
    preferred = {"image/jpeg": ".jpg", "text/plain": ".txt", "audio/mpeg": ".mp3"}
    if mime in preferred:
        return preferred[mime]
    return mimetypes.guess_extension(mime, strict=False) or ""
