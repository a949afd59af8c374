"""Settings of the File Upload API server: one frozen dataclass, validated in one place.

The environment is never read here: ``jobs/serve.py`` turns options and ``FERRY_SERVER_KEYS``
into a :class:`ServerSettings`, so the server is testable without environment variables.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pipeline.core.units import API_RETENTION_SECONDS, Rate

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_TTL_SECONDS = API_RETENTION_SECONDS
DEFAULT_CREDITS = 1_000_000
DEFAULT_LATENCY_MS = 0.0
DEFAULT_FAIL_RATE = 0.0
DEFAULT_STATUS_MODE: Literal["http", "body"] = "http"
DEFAULT_MAX_STREAM_BYTES = 1024**3
DEFAULT_MAX_URL_BYTES = 100 * 1000**2
DEFAULT_MAX_BASE64_BYTES = 10 * 1000**2
DEFAULT_URL_TIMEOUT_SECONDS = 30.0
DEFAULT_SWEEP_INTERVAL_SECONDS = 60.0

# scheme://host[:port], as a browser sends it in Origin (no path, no trailing slash)
_ORIGIN = re.compile(r"https?://[a-z0-9.-]+(:[0-9]{1,5})?|https?://\[[0-9a-f:.]+\](:[0-9]{1,5})?")


def normalize_origin(origin: str) -> str:
    """A web origin as browsers send it in ``Origin``: lower case, no trailing slash."""
    return origin.strip().rstrip("/").lower()


def origin_problem(origin: str) -> str | None:
    """Why ``origin`` cannot be a CORS origin setting, or ``None`` if it can (``*`` or
    ``scheme://host[:port]``)."""
    normal = normalize_origin(origin)
    if normal == "*" or _ORIGIN.fullmatch(normal):
        return None
    return (
        f"'{origin}' is not * or an origin such as https://example.com or"
        " http://localhost:3000 (scheme, host and port only)"
    )


StatusMode = Literal["http", "body"]
STATUS_MODES: tuple[str, ...] = ("http", "body")


class SettingsError(ValueError):
    """A :class:`ServerSettings` field has a value the server cannot use."""


@dataclass(frozen=True)
class ServerSettings:
    """Everything that shapes one File Upload API server.

    ``keys`` are the Bearer keys it accepts; each starts with ``credits`` credits and every
    successful upload consumes one. ``public_url`` is the base of the URLs handed out; ``None``
    means ``http://HOST:PORT`` of the socket that was actually bound (so port 0 works).
    The fault knobs (``latency_ms``, ``fail_rate``, ``rate_limit``, ``status_mode``,
    ``fail_sequence``) exist for testing clients: ``fail_sequence`` is the exact list of
    statuses answered to the first upload requests (``200`` lets a request through), so a
    test can replay e.g. ``(500, 429, 200)``. ``seed`` makes ``fail_rate`` reproducible.
    ``cors_origins`` are the web origins (``scheme://host[:port]``, or ``*`` for any) whose
    pages may call the server; empty (the default) sends no CORS header at all.
    ``capacity`` and ``queue`` make it an API with that many upload workers
    (:mod:`fileapi.capacity`).
    """

    data_dir: Path
    keys: tuple[str, ...]
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    public_url: str | None = None
    ttl_seconds: float = DEFAULT_TTL_SECONDS
    credits: int = DEFAULT_CREDITS
    latency_ms: float = DEFAULT_LATENCY_MS
    fail_rate: float = DEFAULT_FAIL_RATE
    rate_limit: Rate | None = None
    status_mode: StatusMode = DEFAULT_STATUS_MODE
    allow_private_sources: bool = False
    max_stream_bytes: int = DEFAULT_MAX_STREAM_BYTES
    max_url_bytes: int = DEFAULT_MAX_URL_BYTES
    max_base64_bytes: int = DEFAULT_MAX_BASE64_BYTES
    url_timeout_seconds: float = DEFAULT_URL_TIMEOUT_SECONDS
    sweep_interval_seconds: float = DEFAULT_SWEEP_INTERVAL_SECONDS
    fail_sequence: tuple[int, ...] = field(default=())
    seed: int | None = None
    cors_origins: tuple[str, ...] = field(default=())
    #: The wall clock (epoch seconds) uploads are stamped and expired by: tests pass their own.
    clock: Callable[[], float] = field(default=time.time, repr=False, compare=False)
    #: ``--capacity N``: upload workers (None: no limit); ``--queue M``: uploads that may wait
    #: for one (None: as many as there are workers); further uploads are answered 429.
    capacity: int | None = None
    queue: int | None = None

    @property
    def queue_places(self) -> int:
        """How many uploads may wait for a worker (``queue``, by default ``capacity``)."""
        if self.queue is not None:
            return self.queue
        return self.capacity or 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        object.__setattr__(self, "keys", tuple(self.keys))
        object.__setattr__(self, "fail_sequence", tuple(self.fail_sequence))
        origins = tuple(normalize_origin(o) for o in self.cors_origins)
        object.__setattr__(self, "cors_origins", origins)
        if self.public_url is not None:
            object.__setattr__(self, "public_url", self.public_url.rstrip("/"))
        self._validate()

    def _validate(self) -> None:
        if not self.keys:
            raise SettingsError("keys: at least one API key is required")
        for key in self.keys:
            if not isinstance(key, str) or not key or any(c.isspace() for c in key):
                raise SettingsError("keys: every key must be a non-empty string without spaces")
        if not self.host:
            raise SettingsError("host: must not be empty")
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"port: {self.port} is not between 0 and 65535")
        if self.public_url is not None and not self.public_url.startswith(("http://", "https://")):
            raise SettingsError(f"public_url: '{self.public_url}' must start with http(s)://")
        _positive("ttl_seconds", self.ttl_seconds)
        if self.credits < 0:
            raise SettingsError(f"credits: {self.credits} must not be negative")
        if self.latency_ms < 0:
            raise SettingsError(f"latency_ms: {self.latency_ms} must not be negative")
        if not 0.0 <= self.fail_rate <= 1.0:
            raise SettingsError(f"fail_rate: {self.fail_rate} is not between 0 and 1")
        if self.status_mode not in STATUS_MODES:
            raise SettingsError(f"status_mode: '{self.status_mode}' is not one of http, body")
        _positive("max_stream_bytes", self.max_stream_bytes)
        _positive("max_url_bytes", self.max_url_bytes)
        _positive("max_base64_bytes", self.max_base64_bytes)
        _positive("url_timeout_seconds", self.url_timeout_seconds)
        _positive("sweep_interval_seconds", self.sweep_interval_seconds)
        for status in self.fail_sequence:
            if not 100 <= status <= 599:
                raise SettingsError(f"fail_sequence: {status} is not an HTTP status")
        for origin in self.cors_origins:
            problem = origin_problem(origin)
            if problem:
                raise SettingsError(f"cors_origins: {problem}")
        if self.capacity is not None and self.capacity < 1:
            raise SettingsError(f"capacity: {self.capacity} must be at least 1")
        if self.queue is not None and (self.capacity is None or self.queue < 0):
            raise SettingsError("queue: needs a capacity, and must not be negative")


def _positive(name: str, value: float) -> None:
    if not value > 0:
        raise SettingsError(f"{name}: {value} must be greater than zero")
