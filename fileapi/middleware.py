"""The outer middlewares: access log and stats, errors as JSON (and status mode), authentication.

Order, outermost first: :func:`access_log_middleware`, ``fileapi.cors`` (only with CORS
origins configured), :func:`error_middleware`, :func:`auth_middleware`, ``fileapi.capacity``
(only with a capacity), then ``fileapi.faults``. Nothing here ever logs a header value: the
access log line is ``METHOD PATH STATUS MSms``.
"""

from __future__ import annotations

import hmac
import logging
import time

from aiohttp import http_exceptions, web
from aiohttp.typedefs import Handler, Middleware

from fileapi.faults import UPLOAD_PATHS
from fileapi.responses import ApiError, api_json, default_message
from fileapi.state import ServerStats

access_log = logging.getLogger("fileapi.access")
error_log = logging.getLogger("fileapi.error")

API_PREFIX = "/api/"
#: What a request that matches no route is counted under.
NO_ROUTE = "(no route)"


def access_log_middleware(stats: ServerStats) -> Middleware:
    """Count every request in ``stats`` and log one line per request when it is answered."""

    @web.middleware
    async def log_and_count(request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        stats.requests_by_route[resource.canonical if resource is not None else NO_ROUTE] += 1
        if request.method == "POST" and request.path in UPLOAD_PATHS:
            stats.uploads += 1
        started = time.perf_counter()
        status = 499  # the client went away before an answer
        try:
            response = await handler(request)
            status = response.status
            return response
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            access_log.info("%s %s %d %.1fms", request.method, request.path, status, elapsed_ms)

    return log_and_count


def error_middleware(status_mode: str) -> Middleware:
    """Turn every failure into the JSON envelope; never leak a traceback.

    With ``status_mode == "body"`` every answer under ``/api/`` is sent as HTTP 200 and the
    real status is only in the body's ``code`` (headers such as ``Retry-After`` are kept).
    Download URLs always answer with their real HTTP status.
    """

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except ApiError as exc:
            response = api_json(exc.code, exc.msg, headers=exc.headers)
        except web.HTTPException as exc:
            response = _from_http_exception(request, exc)
        except (http_exceptions.HttpProcessingError, web.RequestPayloadError) as exc:
            # A request aiohttp could not parse is the client's fault even where no body
            # reader mapped it (those are in fileapi.params and fileapi.forms): never a 500.
            error_log.warning("unreadable request %s %s: %r", request.method, request.path, exc)
            response = _unreadable(exc)
        except Exception:
            error_log.exception("unhandled error in %s %s", request.method, request.path)
            response = api_json(500, default_message(500))
        if (
            status_mode == "body"
            and request.path.startswith(API_PREFIX)
            and isinstance(response, web.Response)
            and not response.prepared
        ):
            response.set_status(200)
        return response

    return errors


def _unreadable(exc: Exception) -> web.Response:
    code = getattr(exc, "code", 400)
    if not isinstance(code, int) or not 400 <= code < 500:
        code = 400
    return api_json(code, f"Bad request: the request could not be read ({type(exc).__name__})")


def _from_http_exception(request: web.Request, exc: web.HTTPException) -> web.Response:
    code = exc.status
    headers: dict[str, str] = {}
    if isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(exc.allowed_methods))
        headers["Allow"] = allowed
        msg = f"Method not allowed: {request.method} {request.path} accepts {allowed}"
    elif isinstance(exc, web.HTTPNotFound):
        msg = f"Not found: {request.path}"
    elif code < 400:
        code, msg = 500, default_message(500)
    else:
        msg = default_message(code)
    return api_json(code, msg, headers=headers)


def bearer_key(header: str | None) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header value, or ``None`` if malformed."""
    if not header:
        return None
    scheme, _, key = header.strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key or " " in key:
        return None
    return key


def known_key(candidate: str, keys: tuple[str, ...]) -> bool:
    """Whether ``candidate`` is one of ``keys``, compared in constant time against every key."""
    given = candidate.encode("utf-8", "surrogateescape")
    found = False
    for key in keys:
        found |= hmac.compare_digest(given, key.encode("utf-8", "surrogateescape"))
    return found


def auth_middleware(keys: tuple[str, ...]) -> Middleware:
    """Refuse every matched ``/api/`` request without a known Bearer key: 401."""

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        routed = request.match_info.http_exception is None
        if routed and request.path.startswith(API_PREFIX):
            key = bearer_key(request.headers.get("Authorization"))
            if key is None or not known_key(key, keys):
                raise ApiError(401)
        return await handler(request)

    return authenticate


def key_of(request: web.Request) -> str | None:
    """The API key of a request that passed :func:`auth_middleware`; ``None`` outside ``/api/``."""
    if request.match_info.http_exception is not None or not request.path.startswith(API_PREFIX):
        return None
    return bearer_key(request.headers.get("Authorization"))
