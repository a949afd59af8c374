"""HTTP plumbing shared by every caller: the run's session, ``Retry-After``, and the one place
where aiohttp's exceptions become ferry's.

Like httpx's ``map_httpcore_exceptions``, :func:`transport_errors` is a context manager that
every request runs inside: the API client, the relay's source downloads, verify's link probes
and the credit check. Nothing else catches ``aiohttp.ClientError``.
"""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

from pipeline.core.errors import NetworkError, RequestTimeoutError, UploadError
from pipeline.version import __version__

USER_AGENT = f"ferry/{__version__}"


def make_session(*, timeout: float) -> aiohttp.ClientSession:
    """The one session of a run, keep-alive on, with no limit on its connection pool.

    ferry's own fan-out (a fixed ``--concurrency`` or the adaptive limit) is the one bound on
    requests in flight. A pool sized to it would deadlock relays: a relayed row holds its
    source's connection while it waits for one to the API, so N such rows in a pool of N wait
    for each other until ``--timeout``; and a pool sized at start would cap an adaptive limit.
    Each row holds at most two connections, so the pool stays within twice the bound.
    """
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=300)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=session_timeout(timeout),
        headers={"User-Agent": USER_AGENT},
        raise_for_status=False,
    )


def session_timeout(seconds: float) -> aiohttp.ClientTimeout:
    """``--timeout`` for aiohttp: connecting, and each wait for the answer's bytes; never a
    deadline for a whole request (a body going out is watched by :mod:`pipeline.upload.stall`)."""
    return aiohttp.ClientTimeout(total=None, sock_connect=seconds, sock_read=seconds)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """The seconds of a ``Retry-After: N`` header, or None when absent or not a number."""
    raw = headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


def translate_transport_error(exc: BaseException) -> UploadError:
    """The :class:`UploadError` for an aiohttp, socket or timeout exception."""
    if isinstance(exc, TimeoutError):  # aiohttp's timeouts are TimeoutErrors too
        return RequestTimeoutError(f"request timed out: {type(exc).__name__}")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return NetworkError(f"connection broke during the answer: {exc}")
    return NetworkError(f"{type(exc).__name__}: {exc}")


class transport_errors:  # lower case: it reads like a function, ``with transport_errors():``
    """Run a request inside this: transport failures leave it as :class:`UploadError`,
    raised ``from`` the original; ferry's own errors pass through untouched.

    A class rather than a ``@contextmanager`` generator: it wraps every request of a run, and
    this costs two plain calls instead of five.
    """

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, _type: object, exc: BaseException | None, _tb: object) -> None:
        if isinstance(exc, TimeoutError | aiohttp.ClientError | OSError):
            raise translate_transport_error(exc) from exc
