"""Where a manifest's bytes come from: a local file, standard input or a remote URL.

:func:`open_input` checks what it can before any parsing (the file exists, is regular and not
empty; the format is known), picks the format (``--format``, else the extension, else sniffed
from the first bytes for standard input and extension-less URLs) and hands the reader a
:class:`Input` whose ``read`` gives the decompressed bytes. Standard input and remote sources
are read once, as a stream; Parquet, which needs random access, is spooled to a temporary file.
"""

from __future__ import annotations

import gzip
import io
import logging
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from pipeline.core.errors import ManifestError
from pipeline.core.logs import fields
from pipeline.manifest.messages import quote
from pipeline.manifest.options import (
    KNOWN_EXTENSIONS,
    STDIN,
    Format,
    ManifestOptions,
    format_of_name,
    is_remote,
    remote_name,
)
from pipeline.manifest.sniff import SNIFF_BYTES, sniff_format
from pipeline.manifest.textio import GZIP_ERRORS, GZIP_MAGIC, gzip_error

log = logging.getLogger(__name__)


class ByteStream(Protocol):
    """What ferry reads a manifest's bytes from: a file, a pipe, a network stream."""

    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


@dataclass
class Input:
    """A manifest's bytes: ``label`` for messages, ``path`` when local, the chosen format."""

    label: str
    path: Path | None
    format: Format
    stream: ByteStream
    gz: bool
    file: IO[bytes] | None = None
    #: Say on stderr what is worth saying about the input (an ambiguous guess of its format,
    #: options ignored): true the first time a manifest is opened, false when it is read again.
    announce: bool = True
    #: How the format was guessed, when the guess could have gone another way.
    note: str | None = None
    _spool: IO[bytes] | None = None

    def keep_for_second_pass(self) -> None:
        """Make :meth:`rewind` possible: a stream is spooled to a temporary file as it is read
        (memory stays flat); a local file is simply opened again."""
        if self.file is None and self._spool is None:
            self._spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
            self.stream = _Tee(self.stream, self._spool)

    def rewind(self) -> None:
        """Start reading again from the first byte (after :meth:`keep_for_second_pass`)."""
        self.stream.close()
        if self._spool is not None:
            self._spool.seek(0)
            self.stream, self.gz = _Prefixed(b"", self._spool), False
            return
        assert self.path is not None, "keep_for_second_pass() first"
        if self.file is not None:
            self.file.close()
        try:
            self.file = self.path.open("rb")
        except OSError as exc:
            raise _os_error(self.label, exc) from exc
        self.stream = gzip.GzipFile(fileobj=self.file, mode="rb") if self.gz else self.file

    def read(self, size: int) -> bytes:
        """Up to ``size`` decompressed bytes; ``b""`` at the end."""
        try:
            return self.stream.read(size)
        except GZIP_ERRORS as exc:
            if self.gz and not isinstance(exc, PermissionError):
                raise gzip_error(self.label, exc) from exc
            raise _os_error(self.label, exc) from exc

    def seekable_file(self) -> IO[bytes]:
        """The (decompressed) bytes as a seekable file, for Parquet."""
        if self.file is not None and not self.gz:
            self.file.seek(0)  # its first bytes may have been read to tell the format
            return self.file
        spool = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the caller, closed with it
        try:
            shutil.copyfileobj(_Reader(self), spool, 1 << 20)
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool

    def close(self) -> None:
        """Close the underlying stream (never standard input itself) and any spool."""
        self.stream.close()
        if self.file is not None:
            self.file.close()  # a gzip stream leaves the file it reads open
        if self._spool is not None:
            self._spool.close()


class _Tee(io.RawIOBase):
    """``stream``, whose bytes are also written to ``copy`` as they are read."""

    def __init__(self, stream: ByteStream, copy: IO[bytes]) -> None:
        self._stream = stream
        self._copy = copy

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._copy.write(data)
        return data

    def close(self) -> None:
        self._stream.close()
        super().close()


class _Reader(io.RawIOBase):
    """``Input.read`` as a file object, for ``shutil.copyfileobj``."""

    def __init__(self, source: Input) -> None:
        self._source = source

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._source.read(size if size > 0 else 1 << 20)


def open_input(
    source: Path | str,
    options: ManifestOptions,
    *,
    opener: Callable[[str], ByteStream] | None,
    announce: bool = True,
) -> Input:
    """The :class:`Input` of a file path, ``-`` (standard input) or a remote URL.

    ``opener`` opens a remote URL as a byte stream (``None``: remote sources are refused);
    ``announce``: say an ambiguous guess of the format on stderr (the first opening only).
    """
    if isinstance(source, str) and source == STDIN:
        found = _sniffed(STDIN, None, _stdin(), options, name=None)
    elif isinstance(source, str) and is_remote(source):
        if opener is None:  # pragma: no cover - open_manifest always passes one
            raise ManifestError(source, "remote manifests are not supported here")
        name = remote_name(source)
        found = _sniffed(source, None, _Prefixed(b"", opener(source)), options, name=name)
    else:
        found = _local(Path(source), options)
    found.announce = announce
    if announce and found.note:
        log.warning(found.note, extra=fields(manifest=found.label, format=found.format))
    return found


def _local(path: Path, options: ManifestOptions) -> Input:
    label = str(path)
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise ManifestError(label, "no such file") from exc
    except PermissionError as exc:
        raise ManifestError(label, "permission denied") from exc
    except OSError as exc:
        raise ManifestError(label, f"cannot read: {exc.strerror or exc}") from exc
    fmt, gz = format_of_name(path.name)
    if options.format is not None:
        fmt = options.format
    if fmt is None:
        raise ManifestError(
            label, f"unknown extension {quote(path.suffix)}: use {KNOWN_EXTENSIONS}, or --format"
        )
    if not stat.S_ISREG(st.st_mode):
        raise ManifestError(label, "not a regular file")
    if st.st_size == 0:
        raise ManifestError(label, "empty file (0 bytes)")
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise _os_error(label, exc) from exc
    stream: ByteStream = gzip.GzipFile(fileobj=raw, mode="rb") if gz else raw
    found = Input(label=label, path=path, format=fmt, stream=stream, gz=gz, file=raw)
    if fmt == "txt" and options.format is None:  # a list saved as .txt may be any format
        found.stream = _Prefixed(b"", stream)
        head = found.read(SNIFF_BYTES)
        found.stream.unread(head)
        found.format, found.note = _sniff(head, label, options)
    return found


def _sniff(head: bytes, label: str, options: ManifestOptions) -> tuple[Format, str | None]:
    return sniff_format(head, label, url_column=options.columns.get("url"))


def _sniffed(
    label: str, path: Path | None, raw: _Prefixed, options: ManifestOptions, *, name: str | None
) -> Input:
    """An Input for a stream: gzip and the format found by name or by the first bytes."""
    fmt, gz_name = format_of_name(name) if name else (None, False)
    head = _peek(raw, label)
    if not head:
        where = "standard input" if label == STDIN else "the file"
        raise ManifestError(label, f"empty input (0 bytes on {where})")
    gz = gz_name or head.startswith(GZIP_MAGIC)
    stream = raw
    if gz:
        unpacked = _Prefixed(b"", gzip.GzipFile(fileobj=raw, mode="rb"))  # type: ignore[arg-type]
        head = Input(label, path, "csv", unpacked, gz=True).read(SNIFF_BYTES)
        unpacked.unread(head)
        stream = unpacked
    found = Input(
        label=label, path=path, format=options.format or fmt or "txt", stream=stream, gz=gz
    )
    if options.format is None and fmt in (None, "txt"):
        found.format, found.note = _sniff(head, label, options)
    return found


def _peek(raw: _Prefixed, label: str) -> bytes:
    """The first bytes of ``raw``, which stay readable."""
    try:
        head = raw.read(SNIFF_BYTES)
    except OSError as exc:
        raise _os_error(label, exc) from exc
    raw.unread(head)
    return head


def _stdin() -> _Prefixed:
    return _Prefixed(b"", sys.stdin.buffer, close=False)


class _Prefixed(io.RawIOBase):
    """A stream that first gives back ``prefix``: bytes already read to sniff the format."""

    def __init__(self, prefix: bytes, stream: ByteStream, *, close: bool = True) -> None:
        self._prefix = prefix
        self._stream = stream
        self._close = close

    def unread(self, data: bytes) -> None:
        self._prefix = data + self._prefix

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._prefix:
            if size < 0 or size >= len(self._prefix):
                data, self._prefix = self._prefix, b""
                if size < 0:
                    return data + self._stream.read()
                return data
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            return data
        return self._stream.read(size)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if self._close:
            self._stream.close()
        super().close()


def _os_error(label: str, exc: BaseException) -> ManifestError:
    if isinstance(exc, PermissionError):
        return ManifestError(label, "permission denied")
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return ManifestError(label, f"cannot read: {text}")
