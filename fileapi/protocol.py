"""Requests aiohttp cannot even parse still get the API's JSON error: :class:`ApiAppRunner`.

A request line, header or body framing that aiohttp's HTTP parser refuses (a header over
8190 bytes, a control character in a header value, a bad ``Content-Length`` or chunk) never
reaches the app's middlewares: aiohttp answers it from ``RequestHandler.handle_error`` with
a text/plain page. aiohttp has no public hook for that answer (aio-libs/aiohttp#3287), so
:class:`ApiAppRunner` builds its server with a ``RequestHandler`` whose ``handle_error``
answers ``{"success": false, "code": 400, "msg": ...}`` instead. The hook relies on
``web.Server``'s ``_loop`` and ``_kwargs`` (stable through aiohttp 3.x);
``tests/test_server_malformed.py`` fails if an upgrade bypasses it.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import http_exceptions, web
from aiohttp.web_request import BaseRequest

from fileapi.responses import api_json, default_message

log = logging.getLogger("fileapi.protocol")


class ApiRequestHandler(web.RequestHandler):
    """aiohttp's per-connection handler, answering unparsable requests with the API's JSON."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """The JSON error for a request aiohttp could not parse (or a crash outside the app)."""
        if request.writer.output_size > 0:
            raise ConnectionError("an answer was already being sent; the connection is broken")
        code = status if 400 <= status < 600 else 500
        if code >= 500:
            self.log_exception("error handling request from %s", request.remote, exc_info=exc)
            msg = default_message(code)
        else:
            # the client's mistake: one line, no traceback
            log.info("unparsable request from %s: %s", request.remote, _one_line(message))
            msg = f"Bad request: {_one_line(message) or default_message(code)}"
        response = api_json(code, msg)
        response.force_close()
        return response

    def log_exception(self, *args: Any, **kw: Any) -> None:
        """aiohttp's error log, except for a body the client got wrong.

        After answering 400 to an undecodable body, aiohttp drains what is left of it, meets
        the same decoding error again and would log it as an unhandled exception with a
        traceback: the client's mistake, already answered, becomes one info line instead.
        """
        exc = kw.get("exc_info")
        if isinstance(exc, (web.RequestPayloadError, http_exceptions.HttpProcessingError)):
            log.info("unreadable request body left unread: %s", _one_line(str(exc)))
            return
        super().log_exception(*args, **kw)


def _one_line(message: str | None) -> str:
    """aiohttp's multi-line parser message as one short printable line."""
    if not message:
        return ""
    first = message.strip().splitlines()[0] if message.strip() else ""
    return first.encode("ascii", "backslashreplace").decode("ascii").rstrip(":")[:120]


class ApiServer(web.Server):
    """A ``web.Server`` whose connections are handled by :class:`ApiRequestHandler`."""

    def __call__(self) -> web.RequestHandler:
        return ApiRequestHandler(self, loop=self._loop, **self._kwargs)


class ApiAppRunner(web.AppRunner):
    """``web.AppRunner`` serving the app through :class:`ApiServer`."""

    async def _make_server(self) -> web.Server:
        made = await super()._make_server()
        kwargs: dict[str, Any] = dict(made._kwargs)
        return ApiServer(
            made.request_handler,
            request_factory=made.request_factory,
            handler_cancellation=made.handler_cancellation,
            loop=made._loop,
            **kwargs,
        )
