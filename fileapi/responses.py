"""The API's JSON envelope ``{"success", "code", "msg", "data"}`` and the upload ``data`` shape."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from aiohttp import web

from fileapi.storage import StoredFile

#: ``msg`` of the statuses the server answers on its own initiative.
MESSAGES: Mapping[int, str] = {
    400: "Bad request",
    401: "Authentication failed: Invalid API Key",
    402: "Insufficient credits",
    404: "Not found",
    405: "Method not allowed",
    413: "File too large",
    422: "Validation error",
    429: "Rate limit exceeded, please retry later",
    455: "Service unavailable: system maintenance",
    500: "Internal server error",
    503: "Service unavailable",
    505: "Feature disabled",
}


def default_message(code: int) -> str:
    """The ``msg`` for ``code`` when no more specific one is known."""
    if code in MESSAGES:
        return MESSAGES[code]
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Error"


class ApiError(Exception):
    """An answer other than success; the error middleware turns it into the JSON envelope."""

    def __init__(
        self, code: int, msg: str | None = None, *, headers: Mapping[str, str] | None = None
    ) -> None:
        self.code = code
        self.msg = msg if msg is not None else default_message(code)
        self.headers = dict(headers or {})
        super().__init__(self.msg)


def envelope(code: int, msg: str, data: Any = None) -> dict[str, Any]:
    """The JSON body every API answer has."""
    return {"success": code == 200, "code": code, "msg": msg, "data": data}


def api_json(
    code: int, msg: str, data: Any = None, *, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON answer whose HTTP status is ``code`` (the error middleware applies body mode)."""
    return web.json_response(envelope(code, msg, data), status=code, headers=headers)


def iso_utc(epoch: float) -> str:
    """``epoch`` as ISO 8601 UTC with milliseconds and ``Z``: ``2025-01-15T10:30:00.000Z``."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def quote_path(*parts: str) -> str:
    """``parts`` joined by ``/``, each of their segments percent-encoded."""
    segments = [segment for part in parts for segment in part.split("/")]
    return "/".join(quote(segment, safe="") for segment in segments)


def download_url(base: str, record: StoredFile) -> str:
    """``{base}/{token}/{uploadPath}/{fileName}``: serves the bytes as an attachment."""
    return f"{base}/{quote_path(record.token, record.upload_path, record.file_name)}"


def file_url(base: str, record: StoredFile) -> str:
    """``{base}/files/{token}/{uploadPath}/{fileName}``: serves the bytes inline."""
    return f"{base}/files/{quote_path(record.token, record.upload_path, record.file_name)}"


def upload_data(base: str, record: StoredFile) -> dict[str, Any]:
    """The ``data`` of a successful upload: the union of the spec's two shapes."""
    uploaded = iso_utc(record.uploaded_at)
    return {
        "fileId": record.file_id,
        "fileName": record.file_name,
        "originalName": record.original_name,
        "filePath": record.relative_path,
        "uploadPath": record.upload_path,
        "fileSize": record.size,
        "mimeType": record.mime_type,
        "fileUrl": file_url(base, record),
        "downloadUrl": download_url(base, record),
        "uploadedAt": uploaded,
        "uploadTime": uploaded,
        "expiresAt": iso_utc(record.expires_at),
    }


def content_disposition(disposition: str, file_name: str) -> str:
    """An RFC 6266 ``Content-Disposition`` with an ASCII fallback and ``filename*``."""
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\%' else "_" for c in file_name)
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(file_name, safe='')}"
