"""A tiny source-file server for demos, tests and benchmarks: the "somewhere else" files live.

It serves a folder or an in-memory mapping of paths to bytes, can answer slowly, can demand a
request header (a private source), can play a script of answers per file (a status with
``Retry-After``, or a body cut off halfway) before it serves the file, and counts requests (with
their times) and the most it had in flight at once.
"""

from __future__ import annotations

import asyncio
import hmac
import mimetypes
import time
from collections import Counter, defaultdict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web


@dataclass
class SourceStats:
    """What the source server saw."""

    requests: Counter[str] = field(default_factory=Counter)
    #: ``time.monotonic()`` of every request, per path.
    times: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    in_flight: int = 0
    max_in_flight: int = 0
    refused: int = 0


SOURCE_STATS = web.AppKey("source_stats", SourceStats)


@dataclass(frozen=True)
class Scripted:
    """One scripted answer: ``status`` (with ``Retry-After`` when given), or with ``drop`` the
    file's headers and half its bytes, then the connection closed."""

    status: int = 200
    retry_after: str | None = None
    drop: bool = False


async def _dropped(request: web.Request, body: bytes) -> web.StreamResponse:
    """Announce all of ``body``, send half, close the connection: a source that broke off."""
    resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    resp.content_length = len(body)
    await resp.prepare(request)
    await resp.write(body[: len(body) // 2])
    if request.transport is not None:
        request.transport.close()
    return resp


def make_source_app(
    files: Mapping[str, bytes] | Path,
    *,
    delay_seconds: float = 0.0,
    required_header: tuple[str, str] | None = None,
    script: Mapping[str, Sequence[Scripted]] | None = None,
) -> web.Application:
    """An app that answers ``GET /<path>`` from ``files`` (a folder or a path→bytes mapping);
    ``script`` lists, per path, answers given (in order) before the file is served."""
    stats = SourceStats()
    pending = {name: deque(answers) for name, answers in (script or {}).items()}
    app = web.Application()
    app[SOURCE_STATS] = stats

    def lookup(name: str) -> bytes | Path | None:
        if isinstance(files, Path):
            root = files.resolve()
            candidate = (root / name).resolve()
            if candidate.is_relative_to(root) and candidate.is_file():
                return candidate
            return None
        return files.get(name)

    async def serve(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        stats.requests[name] += 1
        stats.times[name].append(time.monotonic())
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            if delay_seconds:
                await asyncio.sleep(delay_seconds)
            if required_header is not None:
                sent = request.headers.get(required_header[0], "")
                if not hmac.compare_digest(sent.encode(), required_header[1].encode()):
                    stats.refused += 1
                    raise web.HTTPForbidden(text="this source needs credentials")
            found = lookup(name)
            if found is None:
                raise web.HTTPNotFound(text=f"no such file: {name}")
            if pending.get(name):
                answer = pending[name].popleft()
                if answer.drop:
                    data = found.read_bytes() if isinstance(found, Path) else found
                    return await _dropped(request, data)
                if answer.status != 200:
                    headers = {"Retry-After": answer.retry_after} if answer.retry_after else {}
                    return web.Response(status=answer.status, text="scripted", headers=headers)
            if isinstance(found, Path):
                return web.FileResponse(found)
            content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
            return web.Response(body=found, content_type=content_type)
        finally:
            stats.in_flight -= 1

    app.router.add_get("/{name:.+}", serve)
    return app
