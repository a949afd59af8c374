"""Text manifests read in blocks of whole lines, their bytes checked on the way.

A block ends at a line break outside quotes (for CSV: where the count of ``"`` so far is even,
which RFC 4180 quoting guarantees between records), so a parser sees whole records and
memory holds about one block, never the whole file. Every block is checked before it is
parsed: UTF-8 (a BOM at the start is dropped) and no NUL bytes, with the line of the first
bad byte in the message. The first bytes are checked for files of another kind (Parquet,
gzip, ZIP, UTF-16) given a text format's name.
"""

from __future__ import annotations

import codecs
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final

from pipeline.core.errors import ManifestError
from pipeline.manifest.messages import first_line

BLOCK_BYTES: Final = 4 << 20
#: The longest record (a row, or a line) read: a ``data:`` URL of 100 MB is one. A "record"
#: longer than this is a quote that never closes, or a row too large for ferry: said so.
MAX_RECORD_BYTES: Final = 256 << 20

PARQUET_MAGIC: Final = b"PAR1"
GZIP_MAGIC: Final = b"\x1f\x8b"
ZIP_MAGIC: Final = b"PK\x03\x04"

#: How each text format is named in messages, and the extension it should have.
KINDS: Final = {
    "csv": ("CSV", ".csv"),
    "tsv": ("TSV", ".tsv"),
    "txt": ("a URL list", ".txt"),
    "jsonl": ("JSON Lines", ".jsonl"),
}


@dataclass(frozen=True)
class Block:
    """Whole lines of a text manifest: ``data`` starts on line ``line`` (1-based)."""

    data: bytes
    line: int

    @property
    def lines(self) -> int:
        """How many line breaks the block holds."""
        return self.data.count(b"\n")


Reader = Callable[[int], bytes]


def blocks(
    read: Reader, label: str, fmt: str, *, quoted: bool, block_bytes: int | None = None
) -> Iterator[Block]:
    """The checked blocks of the text that ``read`` returns; the first has no BOM.

    ``block_bytes`` (default :data:`BLOCK_BYTES`) is how much is read at a time.
    """
    block_bytes = block_bytes or BLOCK_BYTES
    line = 1
    first = True
    for data in _cut(read, quoted=quoted, block_bytes=block_bytes):
        if data is None:
            hint = "a quote that never closes, or " if quoted else ""
            raise ManifestError(
                label,
                f"line {line}: a row longer than {MAX_RECORD_BYTES >> 20} MiB "
                f"({hint}a row too large for ferry)",
            )
        if first:
            data = check_start(label, data, fmt)
            first = False
        check_text(label, data, fmt, line)
        block = Block(data, line)
        line += block.lines
        yield block
    if first:
        raise ManifestError(label, "empty file (0 bytes)")


def _cut(read: Reader, *, quoted: bool, block_bytes: int) -> Iterator[bytes | None]:
    """Blocks of whole records; None for a record longer than :data:`MAX_RECORD_BYTES`.

    A record longer than a block is gathered piece by piece (its quotes counted as they come),
    and joined once, when it ends: never copied again for every block read.
    """
    carry = b""
    pieces: list[bytes] = []  # the start of a record longer than the blocks read so far
    odd = 0  # the parity of the quotes in ``pieces``
    held = 0
    while True:
        chunk = read(block_bytes)
        if not chunk:
            if pieces or carry:
                yield b"".join([*pieces, carry])
            return
        if not pieces:
            chunk = carry + chunk if carry else chunk
            carry = b""
        end = _last_record_end(chunk, quoted, odd)
        if end == 0:
            pieces.append(chunk)
            held += len(chunk)
            odd ^= chunk.count(b'"') % 2 if quoted else 0
            if held > max(MAX_RECORD_BYTES, block_bytes):
                yield None
                return
            continue
        yield b"".join([*pieces, chunk[:end]]) if pieces else chunk[:end]
        pieces, odd, held = [], 0, 0
        carry = chunk[end:]


def _last_record_end(data: bytes, quoted: bool, odd: int = 0) -> int:
    """The end of the last whole line of ``data`` (after its ``\\n``), or 0; ``odd``: a quote
    opened before ``data`` is still open."""
    end = data.rfind(b"\n")
    if end < 0:
        return 0
    if not quoted:
        return end + 1
    odd = (odd + data.count(b'"', 0, end)) % 2
    while odd:
        previous = data.rfind(b"\n", 0, end)
        if previous < 0:
            return 0
        odd ^= data.count(b'"', previous, end) % 2
        end = previous
    return end + 1


def first_record_end(data: bytes, quoted: bool) -> int:
    """The end of the first line of ``data`` outside quotes (after its ``\\n``)."""
    start = 0
    odd = 0
    while True:
        end = data.find(b"\n", start)
        if end < 0:
            return len(data)
        if quoted:
            odd ^= data.count(b'"', start, end) % 2
        if not odd:
            return end + 1
        start = end + 1


def check_start(label: str, data: bytes, fmt: str) -> bytes:
    """``data`` (the first block) without its UTF-8 BOM, once it is known to be text."""
    what, ext = KINDS[fmt]
    short = what.removeprefix("a ")
    if data.startswith(PARQUET_MAGIC):
        raise ManifestError(label, f"this is a Parquet file, not {short}: name it .parquet")
    if data.startswith(GZIP_MAGIC):
        raise ManifestError(label, f"this is gzip-compressed, not {short}: name it {ext}.gz")
    if data.startswith(ZIP_MAGIC):
        raise ManifestError(
            label,
            f"this is a ZIP archive (an Excel workbook?), not {short}: export it as CSV UTF-8",
        )
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ManifestError(label, "this is UTF-16 or UTF-32 text: save it as UTF-8")
    data = data.removeprefix(codecs.BOM_UTF8)
    return data


def check_text(label: str, data: bytes, fmt: str, line: int) -> None:
    """Refuse NUL bytes and bytes that are not UTF-8; ``data`` starts on line ``line``."""
    what = KINDS[fmt][0].removeprefix("a ")
    nul = data.find(b"\x00")
    if nul >= 0:
        at = line + data.count(b"\n", 0, nul)
        raise ManifestError(label, f"binary data, not {what} text (a NUL byte on line {at})")
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            at = line + data.count(b"\n", 0, exc.start)
            raise ManifestError(
                label,
                f"not UTF-8: byte 0x{data[exc.start]:02X} on line {at} cannot be decoded "
                "(save the file as UTF-8)",
            ) from exc


def gzip_error(label: str, exc: BaseException) -> ManifestError:
    """The message for a stream that is not valid gzip."""
    return ManifestError(label, f"not a valid gzip file ({first_line(exc)})")


GZIP_ERRORS: Final = (OSError, EOFError, zlib.error)
