"""The three upload endpoints: URL, multipart stream and Base64.

Each one checks its parameters, streams the bytes into a :class:`~fileapi.sink.TempSink`
(memory for a small upload, a temp file inside ``data_dir/tmp`` for a larger one) and then
hands the finished upload to :func:`store`, which names it, types it, puts it in place and
answers. A credit is reserved first and refunded if the upload fails; a failed upload leaves
no file behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from fileapi import base64data
from fileapi.fetch import SourceFailedError, SourceRefusedError, validate_source_url
from fileapi.forms import read_form
from fileapi.middleware import key_of
from fileapi.mime import clean_hint, detect_mime, extension_for
from fileapi.params import (
    file_name_param,
    missing,
    read_json,
    required_string,
    upload_path_param,
)
from fileapi.paths import derive_file_name
from fileapi.responses import ApiError, api_json, upload_data
from fileapi.sink import TempSink, TooLargeError
from fileapi.state import CREDITS, FETCHER, SETTINGS, STATS, STORAGE
from fileapi.storage import StoredFile, new_file_id, new_token

SUCCESS_MSG = "File uploaded successfully"
MAX_URL_BODY_BYTES = 64 * 1024
MULTIPART_OVERHEAD_BYTES = 1024 * 1024


def public_base(request: web.Request) -> str:
    """The base of the URLs handed out: ``public_url``, else ``http://HOST:PORT`` as bound."""
    settings = request.app[SETTINGS]
    if settings.public_url:
        return settings.public_url
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if not sockname:
        return str(request.url.origin())
    host = settings.host
    if host in ("0.0.0.0", "::", ""):
        host = str(sockname[0])
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{sockname[1]}"


@asynccontextmanager
async def charged(request: web.Request) -> AsyncIterator[None]:
    """Reserve one credit of the caller for the upload inside; refund it if that fails."""
    credits = request.app[CREDITS]
    key = key_of(request)
    if key is None or not credits.reserve(key):
        raise ApiError(402)
    try:
        yield
    except BaseException:
        credits.refund(key)
        raise


@asynccontextmanager
async def temp_sink(request: web.Request, limit: int) -> AsyncIterator[TempSink]:
    """A :class:`TempSink` in ``data_dir/tmp`` that is always deleted unless committed."""
    sink = TempSink(request.app[STORAGE].temp_path(), limit)
    async with sink:
        try:
            yield sink
        finally:
            await sink.discard()


async def store(
    request: web.Request,
    sink: TempSink,
    *,
    upload_path: str,
    file_name: str | None,
    name_hint: str | None,
    mime_hint: str | None,
) -> web.Response:
    """Name, type and keep the finished upload in ``sink``; answer with its ``data``."""
    settings = request.app[SETTINGS]
    if file_name is None:
        extension = extension_for(detect_mime(sink.head, "", mime_hint))
        file_name = derive_file_name(name_hint, extension)
    now = settings.clock()
    record = StoredFile(
        token=new_token(),
        file_id=new_file_id(),
        upload_path=upload_path,
        file_name=file_name,
        original_name=derive_file_name(name_hint) if name_hint else file_name,
        size=sink.size,
        mime_type=detect_mime(sink.head, file_name, mime_hint),
        uploaded_at=now,
        expires_at=now + settings.ttl_seconds,
    )
    await sink.finish()
    await request.app[STORAGE].commit(record, sink.place)
    request.app[STATS].stored += 1
    return api_json(200, SUCCESS_MSG, upload_data(public_base(request), record))


def too_large(limit: int) -> ApiError:
    """413 for an upload over ``limit`` bytes."""
    return ApiError(413, f"File too large: the limit is {limit} bytes")


async def url_upload(request: web.Request) -> web.Response:
    """``POST /api/file-url-upload``: fetch ``fileUrl`` (SSRF-safe) and keep it."""
    settings = request.app[SETTINGS]
    async with charged(request):
        params = await read_json(request, MAX_URL_BODY_BYTES, too_large="Request body too large")
        raw_url = required_string(params, "fileUrl")
        upload_path = upload_path_param(params)
        file_name = file_name_param(params)
        try:
            url = validate_source_url(raw_url)
        except SourceRefusedError as exc:
            raise ApiError(400, str(exc)) from None
        async with temp_sink(request, settings.max_url_bytes) as sink:
            try:
                fetched = await request.app[FETCHER].download(url, sink)
            except (SourceRefusedError, SourceFailedError) as exc:
                raise ApiError(400, str(exc)) from None
            except TooLargeError:
                raise too_large(settings.max_url_bytes) from None
            return await store(
                request,
                sink,
                upload_path=upload_path,
                file_name=file_name,
                name_hint=fetched.name_hint,
                mime_hint=clean_hint(fetched.content_type),
            )


async def base64_upload(request: web.Request) -> web.Response:
    """``POST /api/file-base64-upload``: decode ``base64Data`` (pure or data URL) and keep it."""
    settings = request.app[SETTINGS]
    limit = settings.max_base64_bytes
    body_limit = limit * 4 // 3 + MAX_URL_BODY_BYTES
    async with charged(request):
        params = await read_json(
            request, body_limit, too_large=f"File too large: the limit is {limit} bytes"
        )
        raw = required_string(params, "base64Data")
        upload_path = upload_path_param(params)
        file_name = file_name_param(params)
        try:
            payload = base64data.split_data_url(raw)
            if payload.decoded_size_bound() > limit + 3:
                raise too_large(limit)
            data = await asyncio.to_thread(base64data.decode, payload.text)
        except base64data.Base64Error as exc:
            raise ApiError(400, str(exc)) from None
        if len(data) > limit:
            raise too_large(limit)
        async with temp_sink(request, limit) as sink:
            await sink.write(data)
            del data
            return await store(
                request,
                sink,
                upload_path=upload_path,
                file_name=file_name,
                name_hint=file_name,
                mime_hint=clean_hint(payload.declared_type),
            )


async def stream_upload(request: web.Request) -> web.Response:
    """``POST /api/file-stream-upload``: multipart ``file`` streamed to disk in chunks.

    ``uploadPath`` and ``fileName`` may come before or after the file part: the file goes to
    a temp file first and is moved into place once every field is known.
    """
    settings = request.app[SETTINGS]
    limit = settings.max_stream_bytes
    if not request.content_type.startswith("multipart/"):
        raise ApiError(400, "Invalid content type: expected multipart/form-data")
    length = request.content_length
    if length is not None and length > limit + MULTIPART_OVERHEAD_BYTES:
        raise too_large(limit)
    async with charged(request), temp_sink(request, limit) as sink:
        try:
            form = await read_form(request, sink)
        except TooLargeError:
            raise too_large(limit) from None
        if not form.got_file:
            raise missing("file")
        upload_path = upload_path_param(form.fields)
        file_name = file_name_param(form.fields)
        return await store(
            request,
            sink,
            upload_path=upload_path,
            file_name=file_name,
            name_hint=form.file_name,
            mime_hint=clean_hint(form.content_type),
        )
