"""The File Upload API client: one ``aiohttp.ClientSession``, three uploads, the credit check.

Answers are classified by the body's ``code`` first (the live service sometimes answers HTTP 200
with an error code in the body), then by the HTTP status; a body that is not the API's JSON is a
``server_error``. aiohttp's exceptions become :mod:`pipeline.errors` here and only here.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, Any
from urllib.parse import unquote, urlsplit

import aiohttp

from pipeline import __version__
from pipeline.errors import (
    AuthError,
    BadRequestError,
    CreditsError,
    NetworkError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    SourceError,
    SourceUnavailableError,
    TooLargeError,
    UploadError,
)

USER_AGENT = f"ferry/{__version__}"
DEFAULT_BASE_URL = "https://kieai.redpandaai.co"
DEFAULT_ACCOUNT_URL = "https://api.kie.ai"
DEFAULT_RETENTION_SECONDS = 3 * 86400.0
SOURCE_ERROR_PREFIX = "File download failed"


@dataclass(frozen=True, slots=True)
class Uploaded:
    """What the API says about one successful upload."""

    download_url: str | None
    file_path: str | None
    file_size: int | None
    mime_type: str | None
    uploaded_at: datetime | None
    expires_at: datetime | None
    http_status: int


def make_session(*, concurrency: int, timeout: float) -> aiohttp.ClientSession:
    """The one session of a run: a connection pool as large as the concurrency, keep-alive on."""
    connector = aiohttp.TCPConnector(limit=max(concurrency, 1), limit_per_host=0, ttl_dns_cache=300)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout),
        headers={"User-Agent": USER_AGENT},
        raise_for_status=False,
    )


def parse_timestamp(value: object) -> datetime | None:
    """An aware UTC datetime from the API's ISO 8601 text (``...Z``), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    raw = headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


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


def interpret_answer(
    http_status: int, body: bytes, headers: Mapping[str, str], *, retention_seconds: float
) -> Uploaded:
    """Turn one HTTP answer of an upload endpoint into :class:`Uploaded` or raise its error."""
    retry_after = _retry_after(headers)
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    if not isinstance(payload, dict) or not isinstance(payload.get("code"), int):
        snippet = body[:120].decode("utf-8", "replace")
        raise ServerError(
            f"HTTP {http_status}: answer is not the API's JSON: {snippet}", http_status=http_status
        )
    code: int = payload["code"]
    msg = str(payload.get("msg") or "")
    data = payload.get("data")
    if code != 200 or payload.get("success") is False or not isinstance(data, dict):
        if code == 200:
            raise ServerError(f"answer code 200 without file data: {msg}", http_status=code)
        raise error_for_code(code, msg, http_status=code, retry_after=retry_after)
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


def translate_transport_error(exc: BaseException) -> UploadError:
    """The single place where aiohttp and socket exceptions become :class:`UploadError`."""
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return RequestTimeoutError(f"request timed out: {type(exc).__name__}")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return NetworkError(f"connection broke during the answer: {exc}")
    if isinstance(exc, aiohttp.ClientError | OSError):
        return NetworkError(f"{type(exc).__name__}: {exc}")
    return NetworkError(f"{type(exc).__name__}: {exc}")


class ApiClient:
    """Calls the File Upload API with one shared session; the key lives only in a header."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        api_key: str,
        retention_seconds: float = DEFAULT_RETENTION_SECONDS,
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._auth = {"Authorization": f"Bearer {api_key}"}
        self._retention = retention_seconds

    def __repr__(self) -> str:
        return f"ApiClient(base_url={self._base!r})"

    async def _post(self, endpoint: str, **kwargs: Any) -> Uploaded:
        try:
            async with self._session.post(
                f"{self._base}{endpoint}", headers=self._auth, **kwargs
            ) as resp:
                body = await resp.read()
                return interpret_answer(
                    resp.status, body, resp.headers, retention_seconds=self._retention
                )
        except UploadError:
            raise
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise translate_transport_error(exc) from exc

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
        form = aiohttp.FormData(quote_fields=False)  # raw names, as browsers send them
        form.add_field("uploadPath", upload_path)
        if file_name:
            form.add_field("fileName", file_name)
        form.add_field("file", body, filename=part_name, content_type=content_type)
        return await self._post("/api/file-stream-upload", data=form)

    async def relay(
        self,
        source_url: str,
        upload_path: str,
        file_name: str | None,
        *,
        source_headers: Mapping[str, str],
    ) -> Uploaded:
        """Download ``source_url`` here and stream it to the stream upload, chunk by chunk.

        The source sees ``source_headers`` and never the API key; no whole file is held in memory.
        """
        try:
            async with self._session.get(source_url, headers=dict(source_headers)) as source:
                if source.status >= 400:
                    raise source_failure(source.status, source_url)
                content_type = source.headers.get("Content-Type", "application/octet-stream")
                chunks = source.content.iter_chunked(RELAY_CHUNK_BYTES)
                return await self.upload_stream(
                    chunks,
                    upload_path,
                    file_name,
                    part_name=file_name or name_from_url(source_url),
                    content_type=content_type.split(";")[0].strip() or "application/octet-stream",
                )
        except UploadError:
            raise
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise translate_transport_error(exc) from exc


RELAY_CHUNK_BYTES = 256 * 1024


def name_from_url(url: str) -> str:
    """The last path segment of ``url``, percent-decoded; ``file`` when there is none."""
    segment = urlsplit(url).path.rsplit("/", 1)[-1]
    return unquote(segment) or "file"


def source_failure(status: int, url: str) -> UploadError:
    """The error for a source that answered ``status`` to ferry's own download (relay)."""
    where = urlsplit(url).netloc
    if status in (408, 425, 429) or status >= 500:
        return SourceUnavailableError(f"source {where} answered HTTP {status}", http_status=status)
    return SourceError(f"source {where} answered HTTP {status}", http_status=status)


#: HEAD answers that mean "this server does not do HEAD": try a ranged GET instead.
NO_HEAD_STATUSES = frozenset({405, 501})
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(?:\d+-\d+|\*)/(\d+)\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class LinkAnswer:
    """What a download URL said about itself: its status and, when known, the file's size."""

    status: int
    size: int | None


def content_range_total(header: str | None) -> int | None:
    """The complete length from ``Content-Range: bytes 0-0/1234`` (or ``bytes */1234``)."""
    match = _CONTENT_RANGE.match(header or "")
    return int(match.group(1)) if match else None


def _plain_length(resp: aiohttp.ClientResponse) -> int | None:
    """``Content-Length``, unless a content coding makes it the compressed size."""
    coding = resp.headers.get("Content-Encoding", "identity").strip().lower()
    return resp.content_length if coding in ("", "identity") else None


async def probe_link(session: aiohttp.ClientSession, url: str) -> LinkAnswer:
    """HEAD ``url``; a one-byte ranged GET when the server does not do HEAD."""
    try:
        async with session.head(url, allow_redirects=True) as resp:
            if resp.status not in NO_HEAD_STATUSES:
                return LinkAnswer(resp.status, _plain_length(resp) if resp.status < 300 else None)
        async with session.get(url, headers={"Range": "bytes=0-0"}) as resp:
            if resp.status in (206, 416):  # 416 to bytes=0-0: the file is there, and empty
                if resp.status == 206:
                    await resp.read()  # one byte: lets the connection go back to the pool
                return LinkAnswer(206, content_range_total(resp.headers.get("Content-Range")))
            # Range ignored (200): the length is the file's; the body is not read.
            return LinkAnswer(resp.status, _plain_length(resp) if resp.status < 300 else None)
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise translate_transport_error(exc) from exc


async def fetch_credits(session: aiohttp.ClientSession, *, account_url: str, api_key: str) -> int:
    """Remaining credits from ``GET {account_url}/api/v1/chat/credit``; raises on any error."""
    url = f"{account_url.rstrip('/')}/api/v1/chat/credit"
    try:
        async with session.get(url, headers={"Authorization": f"Bearer {api_key}"}) as resp:
            body = await resp.read()
            status, headers = resp.status, resp.headers
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise translate_transport_error(exc) from exc
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    if not isinstance(payload, dict) or not isinstance(payload.get("code"), int):
        raise ServerError(f"HTTP {status}: answer is not the API's JSON", http_status=status)
    if payload["code"] != 200 or not isinstance(payload.get("data"), int | float):
        raise error_for_code(
            payload["code"],
            str(payload.get("msg") or ""),
            http_status=payload["code"],
            retry_after=_retry_after(headers),
        )
    return int(payload["data"])
