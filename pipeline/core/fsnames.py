"""File names as a filesystem holds them (bytes) and as ferry writes them (text).

A POSIX file name is any bytes but ``/`` and NUL; ferry's tables, journals and messages are
UTF-8 text. A byte that is not part of valid UTF-8 is written ``%XX`` (``caf%E9.txt``) in an
identity, a target name and a message, and a path holding one travels as a ``file://`` URL,
whose escapes :func:`path_of_file_url` turns back into the very bytes. Every other character
is kept: an identity written before stays what it was.
"""

from __future__ import annotations

import codecs
import os
import re
from pathlib import Path
from typing import Final
from urllib.parse import unquote_to_bytes, urlsplit

_HANDLER: Final = "ferry-percent"


def _percent(error: UnicodeError) -> tuple[str, int]:
    """The codec error handler: each undecodable byte as ``%XX``."""
    if not isinstance(error, UnicodeDecodeError):  # pragma: no cover - registered for decoding
        raise error
    bad = error.object[error.start : error.end]
    return "".join(f"%{byte:02X}" for byte in bad), error.end


codecs.register_error(_HANDLER, _percent)

#: What a target name (``fileName``, an ``uploadPath`` segment) cannot hold: the API refuses
#: control characters and backslashes, so a file's name carries them escaped.
_NOT_IN_TARGET: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\\]")
#: What a ``file://`` URL's path cannot hold as itself.
_URL_SPECIAL: Final = ((b"%", b"%25"), (b"#", b"%23"), (b"?", b"%3F"))


def decoded(raw: bytes) -> str:
    """``raw`` as text, every byte that is not part of valid UTF-8 as ``%XX``."""
    return raw.decode("utf-8", _HANDLER)


def is_decodable(raw: bytes) -> bool:
    """True when ``raw`` is valid UTF-8 (its text is exact, with no escape)."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def target_name(raw: bytes) -> str:
    """A file or folder name as a target the API accepts: undecodable bytes, control
    characters and backslashes ``%XX``-escaped (``a\\tb`` → ``a%09b``)."""
    text = decoded(raw)
    if _NOT_IN_TARGET.search(text) is None:
        return text
    return _NOT_IN_TARGET.sub(lambda m: "".join(f"%{b:02X}" for b in m[0].encode()), text)


def file_url(raw_path: bytes) -> str:
    """A ``file://`` URL of the absolute path ``raw_path``: what a path that text cannot hold
    travels as (undecodable bytes, ``%``, ``#`` and ``?`` escaped)."""
    for char, escape in _URL_SPECIAL:
        raw_path = raw_path.replace(char, escape)
    return "file://" + decoded(raw_path)


def path_of_file_url(url: str) -> str:
    """The path a ``file://`` URL names, its escapes decoded to the bytes they stand for
    (as the OS's own ``str`` form: undecodable bytes as surrogates)."""
    return os.fsdecode(unquote_to_bytes(urlsplit(url).path))


def shown(path: Path | str) -> str:
    """``path`` for a message or a table: always valid text, undecodable bytes as ``%XX``."""
    return decoded(os.fsencode(path))
