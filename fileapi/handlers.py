"""The read-side endpoints: the credit balance and the download URLs handed out.

A download URL is ``/{token}/{uploadPath}/{fileName}`` (as an attachment) or
``/files/{token}/{uploadPath}/{fileName}`` (inline). The token finds the upload; the rest of
the path must match it exactly (after percent-decoding). Expired uploads are 404 at once,
even before the sweeper has deleted them.
"""

from __future__ import annotations

from urllib.parse import unquote

from aiohttp import web

from fileapi.middleware import key_of
from fileapi.responses import ApiError, content_disposition
from fileapi.state import CREDITS, SETTINGS, STORAGE

TOKEN_PATTERN = "[0-9a-f]{32}"
NOT_FOUND_MSG = "File not found or expired"


async def credit(request: web.Request) -> web.Response:
    """``GET /api/v1/chat/credit``: ``{"code": 200, "msg": "success", "data": <credits>}``."""
    key = key_of(request) or ""
    balance = request.app[CREDITS].balance(key)
    return web.json_response({"success": True, "code": 200, "msg": "success", "data": balance})


def _tail_after_token(raw_path: str, token: str) -> str:
    marker = f"/{token}/"
    index = raw_path.find(marker)
    return raw_path[index + len(marker) :] if index >= 0 else ""


async def _serve(request: web.Request, disposition: str) -> web.StreamResponse:
    token = request.match_info["token"]
    storage = request.app[STORAGE]
    record = await storage.get(token)
    if record is None or record.expires_at <= request.app[SETTINGS].clock():
        raise ApiError(404, NOT_FOUND_MSG)
    tail = _tail_after_token(request.raw_path.split("?", 1)[0], token)
    if unquote(tail) != record.relative_path:
        raise ApiError(404, NOT_FOUND_MSG)
    path = storage.path_of(record.token, record.upload_path, record.file_name)
    headers = {
        "Content-Type": record.mime_type,
        "Content-Disposition": content_disposition(disposition, record.file_name),
        "X-Content-Type-Options": "nosniff",
    }
    return web.FileResponse(path, headers=headers)


async def download(request: web.Request) -> web.StreamResponse:
    """``GET /{token}/{uploadPath}/{fileName}``: the bytes as an attachment; Range, HEAD work."""
    return await _serve(request, "attachment")


async def file_view(request: web.Request) -> web.StreamResponse:
    """``GET /files/{token}/{uploadPath}/{fileName}``: the bytes, inline; Range and HEAD work."""
    return await _serve(request, "inline")
