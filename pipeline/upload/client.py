"""The File Upload API client: three upload endpoints on the run's ``aiohttp.ClientSession``.

Answers are classified by the body's ``code`` first (the live service sometimes answers HTTP 200
with an error code in the body), then by the HTTP status; a body that is not the API's JSON is a
``server_error``. Transport failures are mapped by
:func:`pipeline.upload.transport.transport_errors`. Where a stream upload's bytes come from is
:mod:`pipeline.upload.sources`' business.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import IO, Any, NamedTuple

import aiohttp
import orjson

from pipeline.core.errors import (
    AuthError,
    BadRequestError,
    CreditsError,
    RateLimitedError,
    ServerError,
    SourceError,
    TooLargeError,
    UploadError,
)
from pipeline.core.units import API_RETENTION_SECONDS
from pipeline.upload.stall import (
    PIECEWISE_BYTES,
    StallWatch,
    WatchedBytes,
    WatchedFile,
    watched_chunks,
)
from pipeline.upload.transport import retry_after, transport_errors

SOURCE_ERROR_PREFIX = "File download failed"


class Uploaded(NamedTuple):
    """What the API says about one successful upload (a tuple: one is built per row)."""

    download_url: str | None
    file_path: str | None
    file_size: int | None
    mime_type: str | None
    uploaded_at: datetime | None
    expires_at: datetime | None
    http_status: int


def parse_timestamp(value: object) -> datetime | None:
    """An aware UTC datetime from the API's ISO 8601 text (``...Z``), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)  # takes the trailing Z since Python 3.11
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed if parsed.tzinfo is UTC else parsed.astimezone(UTC)


def error_for_code(
    code: int, msg: str, *, http_status: int, retry_after: float | None = None
) -> UploadError:
    """The exception for an API error ``code`` (the body's, else the HTTP status)."""
    text = msg or f"HTTP {code}"
    if code == 400:
        if text.startswith(SOURCE_ERROR_PREFIX):
            return SourceError(text, http_status=code)
        return BadRequestError(text, http_status=code)
    if code == 401:
        return AuthError(text, http_status=code)
    if code == 402:
        return CreditsError(text, http_status=code)
    if code == 413:
        return TooLargeError(text, http_status=code)
    if code == 429:
        return RateLimitedError(text, http_status=code, retry_after=retry_after)
    if code == 455 or code >= 500:
        return ServerError(text, http_status=code)
    if 400 <= code < 500:
        return BadRequestError(text, http_status=code)
    return ServerError(f"unexpected answer code {code}: {text}", http_status=code)


def api_payload(body: bytes) -> dict[str, Any] | None:
    """The API's JSON envelope (an object with an integer ``code``), or None for anything else."""
    try:
        payload = orjson.loads(body)
    except ValueError:  # orjson.JSONDecodeError is one
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("code"), int):
        return None
    return payload


def payload_error(payload: dict[str, Any], headers: Mapping[str, str]) -> UploadError:
    """The exception for an envelope whose ``code`` is an error."""
    code: int = payload["code"]
    msg = str(payload.get("msg") or "")
    return error_for_code(code, msg, http_status=code, retry_after=retry_after(headers))


def interpret_answer(
    http_status: int, body: bytes, headers: Mapping[str, str], *, retention_seconds: float
) -> Uploaded:
    """Turn one HTTP answer of an upload endpoint into :class:`Uploaded` or raise its error."""
    payload = api_payload(body)
    if payload is None:
        snippet = body[:120].decode("utf-8", "replace")
        raise ServerError(
            f"HTTP {http_status}: answer is not the API's JSON: {snippet}", http_status=http_status
        )
    code: int = payload["code"]
    data = payload.get("data")
    if code != 200 or payload.get("success") is False or not isinstance(data, dict):
        if code == 200:
            msg = str(payload.get("msg") or "")
            raise ServerError(f"answer code 200 without file data: {msg}", http_status=code)
        raise payload_error(payload, headers)
    return _uploaded(data, code, retention_seconds)


def _uploaded(data: dict[str, Any], code: int, retention_seconds: float) -> Uploaded:
    uploaded_at = parse_timestamp(data.get("uploadedAt")) or parse_timestamp(data.get("uploadTime"))
    expires_at = parse_timestamp(data.get("expiresAt"))
    if expires_at is None:
        base = uploaded_at or datetime.now(UTC)
        expires_at = base + timedelta(seconds=retention_seconds)
    size = data.get("fileSize")
    return Uploaded(
        download_url=data.get("downloadUrl") or data.get("fileUrl"),
        file_path=data.get("filePath"),
        file_size=int(size) if isinstance(size, int | float) else None,
        mime_type=data.get("mimeType"),
        uploaded_at=uploaded_at,
        expires_at=expires_at,
        http_status=code,
    )


class ApiClient:
    """Calls the File Upload API with one shared session; the key lives only in a header."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        api_key: str,
        retention_seconds: float = API_RETENTION_SECONDS,
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._auth = {"Authorization": f"Bearer {api_key}"}
        self._json = {**self._auth, "Content-Type": "application/json"}
        self._retention = retention_seconds

    def __repr__(self) -> str:
        return f"ApiClient(base_url={self._base!r})"

    def _stall_watch(self) -> StallWatch | None:
        """A watch of a request whose body may take long to send: ``--timeout`` (the session's
        ``sock_read``) is then how long nothing may move (:mod:`pipeline.upload.stall`)."""
        seconds = self._session.timeout.sock_read
        return StallWatch(seconds) if seconds else None

    async def _post(
        self, endpoint: str, *, watch: StallWatch | None = None, **kwargs: Any
    ) -> Uploaded:
        if "json" in kwargs:  # orjson: a fifth of the cost of aiohttp's json.dumps per row
            data = orjson.dumps(kwargs.pop("json"))
            if len(data) > PIECEWISE_BYTES and watch is None:
                watch = self._stall_watch()
            kwargs["data"] = WatchedBytes(data, watch) if watch is not None else data
            headers = self._json
        else:
            headers = self._auth
        # a small body is in the socket's buffer at once: aiohttp's own timeouts (connecting,
        # reading the answer) bound the rest; a large one is watched while it goes out
        with transport_errors():
            async with (
                watch if watch is not None else contextlib.nullcontext(),
                self._session.post(f"{self._base}{endpoint}", headers=headers, **kwargs) as resp,
            ):
                if watch is not None:
                    watch.touch()
                body = await resp.read()
        return interpret_answer(resp.status, body, resp.headers, retention_seconds=self._retention)

    async def upload_url(self, file_url: str, upload_path: str, file_name: str | None) -> Uploaded:
        """``POST /api/file-url-upload``: the API fetches ``file_url`` itself."""
        body: dict[str, str] = {"fileUrl": file_url, "uploadPath": upload_path}
        if file_name:
            body["fileName"] = file_name
        return await self._post("/api/file-url-upload", json=body)

    async def upload_base64(
        self, base64_data: str, upload_path: str, file_name: str | None
    ) -> Uploaded:
        """``POST /api/file-base64-upload``: pure Base64 or a ``data:`` URL."""
        body: dict[str, str] = {"base64Data": base64_data, "uploadPath": upload_path}
        if file_name:
            body["fileName"] = file_name
        return await self._post("/api/file-base64-upload", json=body)

    async def upload_stream(
        self,
        body: AsyncIterator[bytes] | IO[bytes] | bytes,
        upload_path: str,
        file_name: str | None,
        *,
        part_name: str,
        content_type: str = "application/octet-stream",
    ) -> Uploaded:
        """``POST /api/file-stream-upload``: multipart, the file part streamed from ``body``.

        ``part_name`` is the multipart file name (the API's default name); ``file_name`` is sent
        as the ``fileName`` field only when the manifest asked for one.
        """
        watch = self._stall_watch()
        if watch is not None:
            if isinstance(body, WatchedFile):
                body.watch = watch
            elif isinstance(body, AsyncIterator):
                body = watched_chunks(body, watch)
        form = aiohttp.FormData(quote_fields=False)  # raw names, as browsers send them
        form.add_field("uploadPath", upload_path)
        if file_name:
            form.add_field("fileName", file_name)
        form.add_field("file", body, filename=part_name, content_type=content_type)
        return await self._post("/api/file-stream-upload", watch=watch, data=form)
