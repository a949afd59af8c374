"""SSRF-safe download of a URL upload's source.

Rules: ``http``/``https`` only; redirects are followed by hand (at most :data:`MAX_REDIRECTS`)
and every hop is checked again; unless private sources are allowed, a host that is, or
resolves to, a loopback, private, link-local, shared, reserved, multicast or unspecified
address is refused before any connection is made. IP literals are checked here; host names
are checked by :class:`GuardedResolver`, the connector's resolver, so the addresses that were
checked are the addresses connected to (no DNS rebinding window). One overall deadline
covers all hops and the body; the body is capped at ``max_bytes``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from urllib.parse import unquote

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from fileapi.sink import TempSink, TooLargeError

MAX_REDIRECTS = 5
MAX_URL_CHARS = 8192
CHUNK_BYTES = 256 * 1024
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
AddressPolicy = Callable[[IPAddress], bool]

log = logging.getLogger("fileapi.fetch")


def _user_agent() -> str:
    try:
        version = metadata.version("ferry")
    except metadata.PackageNotFoundError:
        version = "0"
    return f"ferry-fileapi/{version}"


USER_AGENT = _user_agent()


class SourceRefusedError(Exception):
    """The source URL is not allowed; ``str(exc)`` is the API's 400 ``msg``, naming fileUrl."""


class SourceFailedError(Exception):
    """The source could not be fetched; ``str(exc)`` starts ``File download failed``."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"File download failed: {reason}")


def is_public_address(address: IPAddress) -> bool:
    """Whether ``address`` is a globally routable unicast address a URL upload may reach.

    Refused: loopback, private (RFC 1918, ULA), link-local, shared (100.64/10), reserved,
    unspecified, multicast, and IPv4-mapped/6to4/Teredo forms of those.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return is_public_address(embedded)
        if address.teredo is not None:
            return is_public_address(address.teredo[1])
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        return False
    return bool(address.is_global)


def parse_address(text: str) -> IPAddress | None:
    """``text`` as an IP address (brackets and IPv6 zone allowed), or ``None`` for a name."""
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


class GuardedResolver(AbstractResolver):
    """A resolver that refuses a host if any of its addresses fails ``policy``."""

    def __init__(self, policy: AddressPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Resolve ``host`` and check every address before aiohttp may connect to one."""
        results = await self._inner.resolve(host, port, family)
        for result in results:
            address = parse_address(result["host"])
            if address is None or not self._policy(address):
                raise SourceRefusedError(
                    "Invalid parameter: fileUrl resolves to a private or loopback address"
                )
        return results

    async def close(self) -> None:
        """Close the wrapped resolver."""
        await self._inner.close()


@dataclass(frozen=True)
class Fetched:
    """A downloaded source: ``size`` bytes in the sink's file, plus what the source declared."""

    size: int
    head: bytes
    content_type: str | None
    name_hint: str | None


def url_name_hint(url: URL) -> str | None:
    """The percent-decoded last path segment of ``url``, or ``None`` if it has none."""
    segment = url.raw_path.rstrip("/").rsplit("/", 1)[-1]
    return unquote(segment) or None


def validate_source_url(text: str) -> URL:
    """``text`` as an absolute http(s) URL, or :class:`SourceRefusedError` naming fileUrl."""
    if len(text) > MAX_URL_CHARS:
        raise SourceRefusedError(
            f"Invalid parameter: fileUrl is longer than {MAX_URL_CHARS} characters"
        )
    try:
        url = URL(text)
    except (ValueError, TypeError):
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.raw_host:
        raise SourceRefusedError("Invalid parameter: fileUrl must be an http or https URL")
    return url


class Fetcher:
    """Downloads sources with one shared session; :meth:`start` and :meth:`close` bracket it.

    ``policy`` decides which addresses may be reached (default: public ones only);
    ``resolver`` makes the DNS resolver under that check (tests pass one that never leaves
    the machine).
    """

    def __init__(
        self,
        *,
        allow_private: bool,
        timeout_seconds: float,
        max_bytes: int,
        policy: AddressPolicy | None = None,
        resolver: Callable[[], AbstractResolver] = DefaultResolver,
    ) -> None:
        self.allow_private = allow_private
        self.timeout_seconds = timeout_seconds
        self.max_bytes = max_bytes
        self.policy: AddressPolicy = policy or is_public_address
        self.make_resolver = resolver
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the client session (inside the running loop)."""
        inner = self.make_resolver()
        resolver = inner if self.allow_private else GuardedResolver(self.policy, inner)
        connector = aiohttp.TCPConnector(resolver=resolver, limit=64)
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers={"User-Agent": USER_AGENT},
            trust_env=False,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.timeout_seconds),
        )

    async def close(self) -> None:
        """Close the client session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _check_hop(self, url: URL, *, first: bool) -> None:
        if url.scheme not in ("http", "https") or not url.raw_host:
            where = "must be" if first else "redirects to something that is not"
            raise SourceRefusedError(f"Invalid parameter: fileUrl {where} an http or https URL")
        if self.allow_private:
            return
        address = parse_address(url.raw_host)
        if address is not None and not self.policy(address):
            verb = "resolves" if first else "redirects"
            raise SourceRefusedError(
                f"Invalid parameter: fileUrl {verb} to a private or loopback address"
            )

    async def download(self, url: URL, sink: TempSink) -> Fetched:
        """Fetch ``url`` into ``sink``; raises the errors of this module or ``TooLargeError``."""
        try:
            async with asyncio.timeout(self.timeout_seconds):
                return await self._download(url, sink)
        except TimeoutError:
            raise SourceFailedError(f"timed out after {self.timeout_seconds:g} s") from None

    async def _download(self, url: URL, sink: TempSink) -> Fetched:
        if self._session is None:
            raise RuntimeError("Fetcher is not started")
        current = url
        for hop in range(MAX_REDIRECTS + 1):
            self._check_hop(current, first=hop == 0)
            try:
                async with self._session.get(current, allow_redirects=False) as response:
                    if response.status in REDIRECT_STATUSES and "Location" in response.headers:
                        location = URL(response.headers["Location"])
                        current = current.join(location)
                        log.debug("source redirect %d -> %s", hop + 1, current.with_query(None))
                        continue
                    return await self._receive(url, current, response, sink)
            except SourceRefusedError as exc:
                if hop > 0:
                    raise SourceRefusedError(
                        str(exc).replace("fileUrl resolves", "fileUrl redirects")
                    ) from None
                raise
            except (aiohttp.ClientError, OSError, ValueError) as exc:
                raise SourceFailedError(_describe(exc)) from None
        raise SourceFailedError(f"more than {MAX_REDIRECTS} redirects")

    async def _receive(
        self, url: URL, final: URL, response: aiohttp.ClientResponse, sink: TempSink
    ) -> Fetched:
        if not 200 <= response.status < 300:
            raise SourceFailedError(f"source answered HTTP {response.status}")
        if response.content_length is not None and response.content_length > self.max_bytes:
            raise TooLargeError(self.max_bytes)
        async for chunk in response.content.iter_chunked(CHUNK_BYTES):
            await sink.write(chunk)
        return Fetched(
            size=sink.size,
            head=sink.head,
            content_type=response.headers.get("Content-Type"),
            name_hint=url_name_hint(url) or url_name_hint(final),
        )


def _describe(exc: BaseException) -> str:
    """A short, secret-free reason for a transport failure."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {exc.host}:{exc.port}"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the source closed the connection before the body was complete"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"bad answer from source ({exc.status})"
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())[:200]
