"""Request parameters: a size-capped JSON body and the checks every upload's fields share.

Each failure is an :class:`~fileapi.responses.ApiError` whose ``msg`` names the field, as
in the spec: ``Missing required parameter: uploadPath``. :func:`body_read_errors` is the one
place where aiohttp's exceptions for an unreadable request body become a 400.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
from aiohttp import http_exceptions, web

from fileapi.paths import PathError, clean_file_name, clean_upload_path
from fileapi.responses import ApiError

READ_CHUNK = 64 * 1024


CONNECTION_LOST_MSG = "Request incomplete: the connection was lost"

# What aiohttp raises while reading a body the client got wrong: a bad part header or
# Content-Encoding (HttpProcessingError), a payload the protocol could not decode
# (RequestPayloadError), and the multipart reader's own ValueError, KeyError, AssertionError
# and RuntimeError for a missing or broken boundary, part Content-Length or ``_charset_``.
# Its BadContentDisposition* warnings arrive here as exceptions when warnings are errors.
_MALFORMED = (
    http_exceptions.HttpProcessingError,
    web.RequestPayloadError,
    aiohttp.ClientPayloadError,
    aiohttp.BadContentDispositionHeader,
    aiohttp.BadContentDispositionParam,
    ValueError,
    KeyError,
    AssertionError,
    RuntimeError,
)


@contextmanager
def body_read_errors(what: str, *, lost: str = CONNECTION_LOST_MSG) -> Iterator[None]:
    """Answer 400 ``{what}: <reason>`` for a body aiohttp cannot read, 400 ``lost`` when the
    client goes away mid-body. ``ApiError`` and anything else pass through unchanged."""
    try:
        yield
    except ApiError:
        raise
    except ConnectionError:
        raise ApiError(400, lost) from None
    except _MALFORMED as exc:
        raise ApiError(400, f"{what}: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    """A short, printable reason naming no internals: aiohttp's message, else the class."""
    # a RequestPayloadError wraps the parser's error, whose message says what was wrong
    cause = exc if isinstance(exc, http_exceptions.HttpProcessingError) else exc.__cause__
    if isinstance(cause, http_exceptions.HttpProcessingError) and cause.message:
        text = cause.message
    else:
        text = type(exc).__name__
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    return " ".join(text.split())[:120]


def missing(name: str) -> ApiError:
    """The 400 for a required parameter that is absent, null or empty."""
    return ApiError(400, f"Missing required parameter: {name}")


async def read_json(request: web.Request, limit: int, *, too_large: str) -> dict[str, Any]:
    """The JSON object in ``request``'s body, read at most ``limit`` bytes far.

    400 ``Invalid content type ...`` unless the body is declared JSON, 400 ``Invalid JSON
    body`` if it does not parse to an object, 413 ``too_large`` past ``limit``.
    """
    if "json" not in request.content_type:
        raise ApiError(400, "Invalid content type: expected application/json")
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, too_large)
    body = bytearray()
    with body_read_errors("Invalid request body"):
        async for chunk in request.content.iter_chunked(READ_CHUNK):
            body += chunk
            if len(body) > limit:
                raise ApiError(413, too_large)
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        raise ApiError(400, "Invalid JSON body") from None
    if not isinstance(parsed, dict):
        raise ApiError(400, "Invalid JSON body: expected a JSON object")
    return parsed


def optional_string(params: dict[str, Any], name: str) -> str | None:
    """``params[name]`` as a string; ``None`` when absent, null or empty."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"Invalid parameter: {name} must be a string")
    return value


def required_string(params: dict[str, Any], name: str) -> str:
    """``params[name]`` as a non-empty string, else 400 ``Missing required parameter``."""
    value = optional_string(params, name)
    if value is None:
        raise missing(name)
    return value


def upload_path_param(params: dict[str, Any]) -> str:
    """The sanitised ``uploadPath``; a value that is only slashes counts as missing."""
    raw = required_string(params, "uploadPath")
    if not raw.strip("/"):
        raise missing("uploadPath")
    try:
        return clean_upload_path(raw)
    except PathError as exc:
        raise ApiError(400, str(exc)) from None


def file_name_param(params: dict[str, Any]) -> str | None:
    """The checked ``fileName``, or ``None`` when the client sent none (or null, or "")."""
    raw = optional_string(params, "fileName")
    if raw is None:
        return None
    try:
        return clean_file_name(raw)
    except PathError as exc:
        raise ApiError(400, str(exc)) from None
