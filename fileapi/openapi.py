"""``GET /openapi.json``: the server's own OpenAPI 3 document, kept in the package.

The document (``fileapi/openapi.json``) is written by hand, faithful to the spec and to what
this server answers; it is read once. Its ``servers`` entry is replaced by the base URL of
the server that answers, so a client or fuzzer loading it from a live server calls that one.
"""

from __future__ import annotations

import copy
import functools
import json
from importlib import resources
from typing import Any

from aiohttp import web

from fileapi.uploads import public_base

DOCUMENT_NAME = "openapi.json"


@functools.cache
def _packaged() -> dict[str, Any]:
    text = resources.files("fileapi").joinpath(DOCUMENT_NAME).read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def document(base_url: str | None = None) -> dict[str, Any]:
    """A fresh copy of the document; with ``base_url``, naming that server in ``servers``."""
    result = copy.deepcopy(_packaged())
    if base_url is not None:
        result["servers"] = [{"url": base_url, "description": "the server that answered"}]
    return result


async def openapi(request: web.Request) -> web.Response:
    """``GET /openapi.json``: the document, naming this server; no key needed."""
    return web.json_response(document(public_base(request)))
