"""CORS, so that web pages from the configured origins can call the API (``--cors-origin``).

Installed only when origins are configured: without them the server sends no CORS header and
a browser keeps other pages from reading its answers. With them, :func:`cors_middleware`
(outside authentication, which a preflight never passes: browsers send it without the key)

* answers a preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``)
  itself: 204 with the allowed methods and headers, or 403 for an origin not configured;
* adds ``Access-Control-Allow-Origin`` (the request's origin, or ``*``), ``-Methods``,
  ``-Headers`` and ``-Expose-Headers`` to every answer to an allowed origin: API answers,
  errors and downloads alike.

``Vary: Origin`` is sent whenever the answer depends on the origin (any list but ``*``), so a
shared cache never hands one origin's answer to another.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from fileapi.responses import api_json
from fileapi.settings import normalize_origin

ANY_ORIGIN = "*"
ALLOW_METHODS = "GET, HEAD, POST, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type, Range"
# What a page's script may read besides the CORS-safelisted headers: the back-off hint,
# the download's name and the size of a range.
EXPOSE_HEADERS = "Retry-After, Content-Disposition, Content-Length, Content-Range"
PREFLIGHT_MAX_AGE_SECONDS = 600


class CorsPolicy:
    """Which origins may call: ``*`` for any, else an exact list of ``scheme://host[:port]``."""

    def __init__(self, origins: tuple[str, ...]) -> None:
        self.any = ANY_ORIGIN in origins
        self.origins = frozenset(normalize_origin(o) for o in origins if o != ANY_ORIGIN)

    def allowed(self, origin: str | None) -> str | None:
        """The ``Access-Control-Allow-Origin`` value for a request from ``origin``, or ``None``."""
        if not origin:
            return None
        if self.any:
            return ANY_ORIGIN
        return origin if normalize_origin(origin) in self.origins else None

    def decorate(self, response: web.StreamResponse, allowed: str | None) -> None:
        """Add the CORS headers for ``allowed`` (and ``Vary``) to a not yet sent ``response``."""
        if response.prepared:
            return
        if not self.any:
            vary = response.headers.get("Vary")
            if vary is None:
                response.headers["Vary"] = "Origin"
            elif "origin" not in vary.lower():
                response.headers["Vary"] = f"{vary}, Origin"
        if allowed is None:
            return
        response.headers["Access-Control-Allow-Origin"] = allowed
        response.headers["Access-Control-Allow-Methods"] = ALLOW_METHODS
        response.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
        response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS


def is_preflight(request: web.Request) -> bool:
    """Whether ``request`` is a CORS preflight (not a plain ``OPTIONS``)."""
    return (
        request.method == "OPTIONS"
        and "Origin" in request.headers
        and "Access-Control-Request-Method" in request.headers
    )


def cors_middleware(origins: tuple[str, ...]) -> Middleware:
    """The middleware applying :class:`CorsPolicy` for ``origins`` (see the module docstring)."""
    policy = CorsPolicy(origins)

    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        allowed = policy.allowed(request.headers.get("Origin"))
        response: web.StreamResponse
        if is_preflight(request):
            if allowed is None:
                response = api_json(403, "CORS: this origin may not call the server")
            else:
                response = web.Response(status=204)
                response.headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE_SECONDS)
        else:
            response = await handler(request)
        policy.decorate(response, allowed)
        return response

    return cors
