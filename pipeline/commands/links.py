"""One link of a result table, checked: is the download URL still serving the file?

``HEAD`` (redirects followed); a server that answers ``HEAD`` with 405 or 501 gets a one-byte
ranged ``GET`` (``Range: bytes=0-0``) instead. :func:`judge` turns the answer into a verdict;
:func:`check_link` retries what says nothing about the link, with the shared retry policy.

With ``content`` (``ferry verify --checksum``) the link is downloaded instead, streamed through
a :class:`~pipeline.upload.checksums.Digest`: bytes that disagree with the expected values make the
verdict ``mismatch`` (``error_kind = checksum_mismatch``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import aiohttp

from pipeline.core.errors import ChecksumMismatchError, RateLimitedError, ServerError, UploadError
from pipeline.core.settings import (
    DEFAULT_BACKOFF_BASE,
    VERIFY_DEFAULT_BACKOFF_CAP,
    VERIFY_DEFAULT_RETRIES,
)
from pipeline.upload.checksums import Digest, Expected
from pipeline.upload.retry import RetryPolicy, tries
from pipeline.upload.transport import session_timeout, transport_errors

#: HEAD answers that mean "this server does not do HEAD": try a ranged GET instead.
NO_HEAD_STATUSES = frozenset({405, 501})
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(?:\d+-\d+|\*)/(\d+)\s*$", re.IGNORECASE)
#: Client errors that say nothing about the link: try again, never declare it dead.
TRANSIENT_CLIENT_STATUSES = frozenset({408, 425, 429})
#: The retry policy of a link check when none is given.
DEFAULT_LINK_RETRY = RetryPolicy(
    VERIFY_DEFAULT_RETRIES, DEFAULT_BACKOFF_BASE, VERIFY_DEFAULT_BACKOFF_CAP
)


#: Bytes read at a time while a link is downloaded for its checksum.
DOWNLOAD_CHUNK_BYTES = 256 * 1024

Verdict = Literal["alive", "dead", "mismatch", "unknown"]


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
    with transport_errors():
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


@dataclass(frozen=True, slots=True)
class LinkCheck:
    """The verdict on one link; ``reason`` is the error text for dead, mismatched and unknown
    links."""

    verdict: Verdict
    http_status: int | None = None
    reason: str | None = None


def judge(answer: LinkAnswer, recorded_size: int | None) -> LinkCheck:
    """The verdict on one answer; raises a retryable :class:`UploadError` when it says nothing."""
    status = answer.status
    if 200 <= status < 300:
        if answer.size is not None and recorded_size is not None and answer.size != recorded_size:
            reason = f"size {answer.size} != {recorded_size} recorded"
            return LinkCheck("dead", status, reason)
        return LinkCheck("alive", status)
    if status == 429:
        raise RateLimitedError(f"download URL answered HTTP {status}", http_status=status)
    if 400 <= status < 500 and status not in TRANSIENT_CLIENT_STATUSES:
        return LinkCheck("dead", status, f"download URL answered HTTP {status}")
    raise ServerError(f"download URL answered HTTP {status}", http_status=status)


async def download_link(
    session: aiohttp.ClientSession, url: str, expected: Expected, *, timeout: float
) -> LinkCheck:
    """GET ``url`` and stream its body through a digest of ``expected``; ``timeout`` bounds
    the connect and every pause between bytes, not the whole (large) download."""
    limits = session_timeout(timeout)
    with transport_errors():
        async with session.get(url, timeout=limits) as resp:
            if not 200 <= resp.status < 300:
                return judge(LinkAnswer(resp.status, None), None)
            digest = Digest(expected)
            async for chunk in resp.content.iter_chunked(DOWNLOAD_CHUNK_BYTES):
                digest.update(chunk)
    try:
        digest.check()
    except ChecksumMismatchError as exc:
        return LinkCheck("mismatch", resp.status, str(exc))
    return LinkCheck("alive", resp.status)


async def check_link(
    session: aiohttp.ClientSession,
    url: str,
    recorded_size: int | None,
    *,
    retry: RetryPolicy = DEFAULT_LINK_RETRY,
    content: Expected | None = None,
    timeout: float = 30.0,
) -> LinkCheck:
    """Check one link, retrying network errors, timeouts, 5xx and 429 as ``retry`` allows;
    with ``content``, download it and compare its bytes (``timeout``: see
    :func:`download_link`).

    A link that still cannot be checked is ``unknown``, never ``dead``.
    """

    async def attempt() -> LinkCheck:
        if content is not None:
            return await download_link(session, url, content, timeout=timeout)
        return judge(await probe_link(session, url), recorded_size)

    outcome, _ = await tries(retry, attempt)
    if isinstance(outcome, UploadError):
        return LinkCheck("unknown", outcome.http_status, str(outcome))
    return outcome
