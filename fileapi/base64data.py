"""Decoding of ``base64Data``: a pure Base64 string or a ``data:<type>;base64,<data>`` URL.

Lenient like browsers: whitespace is ignored, missing padding is added, the URL-safe
alphabet is accepted. Anything else is ``Base64 decoding failed: Invalid Base64 format``.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

_WHITESPACE = re.compile(r"\s+")
_URLSAFE = str.maketrans("-_", "+/")


class Base64Error(ValueError):
    """``base64Data`` cannot be decoded; ``str(exc)`` is the API's 400 ``msg``."""

    def __init__(self, detail: str = "Invalid Base64 format") -> None:
        super().__init__(f"Base64 decoding failed: {detail}")


@dataclass(frozen=True)
class Base64Payload:
    """The Base64 text to decode and the MIME type a data URL declared, if any."""

    text: str
    declared_type: str | None

    def decoded_size_bound(self) -> int:
        """An upper bound of the decoded size, known without decoding."""
        return (len(self.text) * 3) // 4


def split_data_url(value: str) -> Base64Payload:
    """Separate a data URL's header from its Base64 text (a pure string passes through)."""
    if value[:5].lower() != "data:":
        return Base64Payload(value, None)
    header, comma, data = value.partition(",")
    if not comma:
        raise Base64Error("data URL has no ',' before its data")
    meta = header[5:].split(";")
    if "base64" not in (part.strip().lower() for part in meta[1:]):
        raise Base64Error("data URL is not Base64-encoded (';base64' missing)")
    declared = meta[0].strip() or None
    return Base64Payload(data, declared)


def decode(text: str) -> bytes:
    """The bytes of Base64 ``text``; :class:`Base64Error` if it is not Base64.

    Copies of ``text`` are made only when needed (whitespace, URL-safe alphabet, padding
    missing): a 10 MB upload is ~13 MB of text.
    """
    compact = _WHITESPACE.sub("", text) if _WHITESPACE.search(text) else text
    if "-" in compact or "_" in compact:
        compact = compact.translate(_URLSAFE)
    missing = -len(compact) % 4
    if missing == 3:
        raise Base64Error()
    if missing:
        compact += "=" * missing
    try:
        data = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise Base64Error() from None
    if not data:
        raise Base64Error("no data")
    return data
