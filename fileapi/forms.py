"""Reading a ``multipart/form-data`` upload: the ``file`` part streamed, small text fields kept.

This is the one boundary between aiohttp's multipart reader and the API: every way a client
can send a broken body (an undecodable or over-long part header, a truncated boundary, a
part that is not a form field, a field that is not UTF-8) becomes an
:class:`~fileapi.responses.ApiError` with a 4xx code here, never an exception the error
middleware would have to answer 500.

``Content-Disposition`` of a part is parsed with the standard library's lenient parser
rather than aiohttp's ``BodyPartReader.name``/``filename``: those report a malformed header
through ``warnings.warn``, so their outcome would depend on the process's warning filters
(an error under ``pytest -W error``, a stderr line in production).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from email.message import Message
from email.utils import collapse_rfc2231_value

import aiohttp
from aiohttp import web

from fileapi.params import body_read_errors
from fileapi.responses import ApiError
from fileapi.sink import TempSink

FILE_FIELD = "file"
TEXT_FIELDS = frozenset({"uploadPath", "fileName"})
MAX_FIELD_BYTES = 4096
STREAM_CHUNK_BYTES = 256 * 1024
UPLOAD_LOST_MSG = "Upload incomplete: the connection was lost"
_UTF8_NAMES = frozenset({"utf-8", "ascii"})


@dataclass
class Form:
    """What a stream upload sent: its text fields and, if there was one, the file part's
    declared name and type (the bytes themselves are in the sink)."""

    fields: dict[str, str] = field(default_factory=dict)
    got_file: bool = False
    file_name: str | None = None
    content_type: str | None = None


def disposition(part: aiohttp.BodyPartReader) -> tuple[str | None, str | None]:
    """The ``name`` and ``filename`` of ``part``'s ``Content-Disposition`` (``None`` if absent).

    RFC 2231 / 5987 forms (``filename*=UTF-8''...``) are decoded; undecodable bytes become
    U+FFFD, which the path rules then refuse or repair.
    """
    header = part.headers.get("Content-Disposition")
    if not header:
        return None, None
    message = Message()
    message["Content-Disposition"] = header
    raw_name = message.get_param("name", header="content-disposition")
    name = collapse_rfc2231_value(raw_name) if raw_name is not None else None
    return (name or None), message.get_filename()


async def read_form(request: web.Request, sink: TempSink) -> Form:
    """Stream the first ``file`` part of ``request`` into ``sink``; collect the text fields.

    Other parts are skipped. Raises :class:`ApiError` 400 for any malformed body and lets
    :class:`~fileapi.sink.TooLargeError` through for the caller to answer 413.
    """
    form = Form()
    with body_read_errors("Invalid multipart body", lost=UPLOAD_LOST_MSG):
        try:
            reader = await request.multipart()
        except (KeyError, ValueError, AssertionError):
            # aiohttp raises these for a missing or unusable boundary parameter
            raise ApiError(400, "Invalid multipart body: no usable boundary") from None
        while (part := await reader.next()) is not None:
            if not isinstance(part, aiohttp.BodyPartReader):
                raise ApiError(400, "Invalid multipart body: nested multipart is not supported")
            name, file_name = disposition(part)
            if name == FILE_FIELD and not form.got_file:
                form.got_file = True
                form.file_name = file_name
                form.content_type = part.headers.get("Content-Type")
                while chunk := await part.read_chunk(STREAM_CHUNK_BYTES):
                    await sink.write(chunk)
            elif name in TEXT_FIELDS and name not in form.fields:
                form.fields[name] = await _read_text(part, name)
            else:
                await part.release()
    return form


async def _read_text(part: aiohttp.BodyPartReader, name: str) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(MAX_FIELD_BYTES):
        data += chunk
        if len(data) > MAX_FIELD_BYTES:
            raise ApiError(400, f"Invalid parameter: {name} is too long")
    if _charset(part) not in _UTF8_NAMES:
        raise ApiError(400, f"Invalid parameter: {name} must be sent as UTF-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, f"Invalid parameter: {name} is not valid UTF-8") from None


def _charset(part: aiohttp.BodyPartReader) -> str:
    """The canonical codec name of the part's declared charset; UTF-8 when none is declared."""
    message = Message()
    message["Content-Type"] = part.headers.get("Content-Type", "text/plain")
    declared = message.get_content_charset("utf-8")
    try:
        return codecs.lookup(declared).name
    except (LookupError, ValueError):
        return declared
